package train

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/submission"
)

// putAt stores a message at key and returns its event record.
func putAt(t *testing.T, h *Handler, key, subject string) events.S3EventRecord {
	t.Helper()
	raw := messagetest.New().From("s@example.org").To("a@example.com").Subject(subject).Text("words of " + subject).Bytes()
	_, err := h.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(h.Bucket), Key: aws.String(key), Body: bytes.NewReader(raw)})
	if err != nil {
		t.Fatal(err)
	}
	var rec events.S3EventRecord
	rec.S3.Bucket.Name = h.Bucket
	rec.S3.Object.Key = key
	return rec
}

// TestRoutesByTenantPrefix: samples under submissions/tenants/<tenant>/ train that tenant's
// model (which starts from the default's counts), the others the default model; a key with an
// invalid tenant is ignored.
func TestRoutesByTenantPrefix(t *testing.T) {
	h := handler(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	acmeKey, err := submission.ForTenant("acme", submission.Key(submission.Ham, []byte("acme ham"), day))
	if err != nil {
		t.Fatal(err)
	}
	ev := events.S3Event{Records: []events.S3EventRecord{
		putAt(t, h, acmeKey, "acme ham"),
		putAt(t, h, submission.Key(submission.Spam, []byte("default spam"), day), "default spam"),
		putAt(t, h, "submissions/tenants/Bad_ID/spam/2026-11-29/x.eml", "bad tenant"),
	}}
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	def, _, err := h.Model.Load(ctx)
	if err != nil || def.Spam != 1 || def.Ham != 0 {
		t.Fatalf("default model: %+v, %v; want the one default spam sample only", def, err)
	}
	acme, err := modelstore.ForTenant(h.S3, h.Bucket, "acme")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := acme.Load(ctx)
	if err != nil || m.Spam != 1 || m.Ham != 1 {
		t.Fatalf("acme's model: %+v, %v; want the default's spam and its own ham", m, err)
	}
	// Delivered again: learned once.
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := acme.Load(ctx); m.Ham != 1 {
		t.Errorf("a redelivered tenant sample was learned again: %d ham", m.Ham)
	}
}
