package modelstore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/submission"
)

func TestTenantDomainsJSON(t *testing.T) {
	js := modelstore.TenantDomainsJSON([]outbound.Tenant{{ID: "acme", Domains: []string{"example.com", "example.net"}}, {ID: "beta", Domains: []string{"beta.example"}}})
	m, err := modelstore.ParseTenantDomains(js)
	if err != nil || len(m) != 3 || m["example.net"] != "acme" || m["beta.example"] != "beta" {
		t.Errorf("round trip of %s: %v, %v", js, m, err)
	}
	if js := modelstore.TenantDomainsJSON(nil); js != "" {
		t.Errorf("no tenants: %q, want empty", js)
	}
	if m, err := modelstore.ParseTenantDomains(""); err != nil || len(m) != 0 {
		t.Errorf("empty: %v, %v", m, err)
	}
}

// TestTenantFeedback: decisions and samples of a tenant's recipient go under the tenant's
// prefix; others under the default one; a repeated sample is stored once.
func TestTenantFeedback(t *testing.T) {
	s := store(t)
	ctx := context.Background()
	raw := messagetest.New().From("a@example.org").Subject("released").Text("wanted after all").Bytes()
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("quarantine/m1"), Body: bytes.NewReader(raw)}); err != nil {
		t.Fatal(err)
	}
	tenants := map[string]string{"acme.example": "acme"}
	d := &modelstore.Decisions{S3: s.S3, Bucket: s.Bucket, Tenants: tenants}
	if err := d.LearnFor(ctx, "quarantine/m1", "bob@ACME.example", false); err != nil {
		t.Fatal(err)
	}
	if err := d.LearnFor(ctx, "quarantine/m1", "carol@other.example", false); err != nil {
		t.Fatal(err)
	}
	dec := submission.DecisionKey(submission.Decision{Key: "quarantine/m1", Label: submission.Ham})
	tdec, _ := submission.ForTenant("acme", dec)
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	samples := &modelstore.Samples{S3: s.S3, Bucket: s.Bucket, Now: func() time.Time { return now }, Tenants: tenants}
	for range 2 {
		if err := samples.LearnFor(ctx, "quarantine/m1", "bob@acme.example", true); err != nil {
			t.Fatalf("sample (stored twice): %v", err)
		}
	}
	sample, _ := submission.ForTenant("acme", submission.Key(submission.Spam, raw, now))
	for _, key := range []string{dec, tdec, sample} {
		out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		out.Body.Close()
	}
	if modelstore.TenantOf(tenants, "x") != "" || modelstore.TenantOf(tenants, "a@b@acme.example") != "acme" {
		t.Error("TenantOf")
	}
}
