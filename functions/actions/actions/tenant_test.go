package actions

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/functions/train/train"
	"github.com/moatmail/moat/shared/euq"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/verdict"
)

// TestTenantDecisionTrainsTenantModel: an end user's decision on mail to a tenant's domain is
// stored under the tenant's feedback prefix and trains the tenant's model, not the default.
func TestTenantDecisionTrainsTenantModel(t *testing.T) {
	f := setup(t)
	domain := strings.ToLower(f.alice[strings.LastIndexByte(f.alice, '@')+1:])
	f.h.Admin.Learn = Feedback{Decisions: &modelstore.Decisions{S3: f.S3, Bucket: f.Bucket, Tenants: map[string]string{domain: "acme"}}, Log: quiet}
	f.Quarantine(t, admintest.Item{ID: "m1", Recipients: []string{f.alice}, Sender: "bounce@list.spam.example",
		From: "offers@spam.example", Subject: "Offer m1", Reasons: []verdict.Code{verdict.Spam}, Time: at7.Add(-time.Hour)})
	links := f.sendDigest(t)
	if _, done := f.follow(t, links["m1"][euq.Deliver]); done.StatusCode != http.StatusOK {
		t.Fatalf("deliver: %d", done.StatusCode)
	}
	out, err := f.S3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(f.Bucket), Prefix: aws.String("submissions/")})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.S3Event
	for _, o := range out.Contents {
		if !strings.HasPrefix(aws.ToString(o.Key), "submissions/tenants/acme/feedback/") {
			t.Errorf("decision at %s, want under submissions/tenants/acme/feedback/", aws.ToString(o.Key))
		}
		var rec events.S3EventRecord
		rec.S3.Bucket.Name, rec.S3.Object.Key = f.Bucket, aws.ToString(o.Key)
		ev.Records = append(ev.Records, rec)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("%d decision objects, want 1", len(ev.Records))
	}
	tr := train.New(train.Config{Bucket: f.Bucket}, f.S3, quiet)
	if err := tr.Handle(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	acme, _ := modelstore.ForTenant(f.S3, f.Bucket, "acme")
	if m, _, err := acme.Load(t.Context()); err != nil || m.Ham != 1 || m.Spam != 0 {
		t.Errorf("acme's model: %+v, %v; want 1 ham", m, err)
	}
	if _, _, err := tr.Model.Load(t.Context()); !errors.Is(err, modelstore.ErrNotFound) {
		t.Errorf("default model: %v; want none (the decision was acme's)", err)
	}
}

func TestTenantsConfig(t *testing.T) {
	vars := map[string]string{modelstore.TenantsEnvVar: `{"acme":["bad domain"]}`}
	if _, err := LoadConfig(func(k string) string { return vars[k] }); err == nil || !strings.Contains(err.Error(), `"bad domain"`) {
		t.Errorf("bad MODEL_TENANTS: %v; want an error naming the domain", err)
	}
	vars[modelstore.TenantsEnvVar] = `{"acme":["Example.com"]}`
	if c, _ := LoadConfig(func(k string) string { return vars[k] }); c.Tenants["example.com"] != "acme" {
		t.Errorf("tenants %v", c.Tenants)
	}
}
