package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/submission"
)

func handler(t *testing.T) *Handler {
	t.Helper()
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	c, err := LoadConfig(func(k string) string { return r.Env()[k] })
	if err != nil {
		t.Fatal(err)
	}
	return New(c, &awstest.AtomicS3{Client: awstest.S3(cfg)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// put stores a sample as moatctl submit does and returns its event record.
func put(t *testing.T, h *Handler, label submission.Label, i int) events.S3EventRecord {
	t.Helper()
	raw := messagetest.New().From(fmt.Sprintf("s%d@example.org", i)).To("a@example.com").
		Subject(fmt.Sprintf("sample %d", i)).Text("words of the sample " + string(label)).Bytes()
	key := submission.Key(label, raw, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))
	_, err := h.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(h.Bucket), Key: aws.String(key), Body: bytes.NewReader(raw)})
	if err != nil {
		t.Fatal(err)
	}
	var rec events.S3EventRecord
	rec.S3.Bucket.Name = h.Bucket
	rec.S3.Object.Key = key
	return rec
}

func TestLearnsSubmissions(t *testing.T) {
	h := handler(t)
	ctx := context.Background()
	other := events.S3EventRecord{}
	other.S3.Object.Key = "incoming/abc"
	ev := events.S3Event{Records: []events.S3EventRecord{put(t, h, submission.Spam, 1), put(t, h, submission.Ham, 2), other}}
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	m, _, err := h.Model.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Spam != 1 || m.Ham != 1 {
		t.Fatalf("model has %d spam, %d ham; want 1, 1", m.Spam, m.Ham)
	}
	// S3 delivers an event twice now and then: learned samples are not counted again.
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	m, _, _ = h.Model.Load(ctx)
	if m.Spam != 1 || m.Ham != 1 {
		t.Errorf("after a repeated event: %d spam, %d ham; want 1, 1", m.Spam, m.Ham)
	}
}

func TestConcurrentInvocationsKeepEveryCount(t *testing.T) {
	h := handler(t)
	ctx := context.Background()
	const n = 10
	recs := make([]events.S3EventRecord, n)
	for i := range n {
		recs[i] = put(t, h, submission.Spam, i)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Handle(ctx, events.S3Event{Records: recs[i : i+1]}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	m, _, err := h.Model.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Spam != n {
		t.Errorf("model has %d spam after %d concurrent trainings", m.Spam, n)
	}
}

func TestConfig(t *testing.T) {
	if _, err := LoadConfig(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), schema.BucketEnvVar) {
		t.Errorf("LoadConfig without a bucket: %v, want an error naming %s", err, schema.BucketEnvVar)
	}
}

func TestEventBridgeEvent(t *testing.T) {
	h := handler(t)
	ctx := context.Background()
	rec := put(t, h, submission.Ham, 7)
	raw := fmt.Sprintf(`{"version":"0","detail-type":"Object Created","source":"aws.s3",
		"detail":{"bucket":{"name":%q},"object":{"key":%q,"size":100}}}`, h.Bucket, rec.S3.Object.Key)
	if err := h.HandleRaw(ctx, json.RawMessage(raw)); err != nil {
		t.Fatal(err)
	}
	s3ev, _ := json.Marshal(events.S3Event{Records: []events.S3EventRecord{put(t, h, submission.Spam, 8)}})
	if err := h.HandleRaw(ctx, s3ev); err != nil {
		t.Fatal(err)
	}
	if err := h.HandleRaw(ctx, json.RawMessage(`{"detail-type":"Scheduled Event","detail":{}}`)); err != nil {
		t.Errorf("unrelated event: %v, want it ignored", err)
	}
	m, _, err := h.Model.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Ham != 1 || m.Spam != 1 {
		t.Errorf("model has %d spam, %d ham; want 1, 1", m.Spam, m.Ham)
	}
}

// TestDecisions: an end user's decision names a quarantined copy; the function reads the copy
// and learns it with the decision's label. Decisions that are invalid or name anything
// outside quarantine/ are skipped.
func TestDecisions(t *testing.T) {
	h := handler(t)
	ctx := context.Background()
	raw := messagetest.New().From("offers@spam.example").To("a@example.com").Subject("offer").Text("cheap offer now").Bytes()
	for key, body := range map[string][]byte{"quarantine/q1": raw, "incoming/i1": raw} {
		if _, err := h.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var ev events.S3Event
	store := func(key, body string) {
		if _, err := h.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.Bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		var rec events.S3EventRecord
		rec.S3.Bucket.Name, rec.S3.Object.Key = h.Bucket, key
		ev.Records = append(ev.Records, rec)
	}
	good := submission.Decision{Key: "quarantine/q1", Label: submission.Spam}
	store(submission.DecisionKey(good), `{"key":"quarantine/q1","label":"spam"}`)
	store(submission.FeedbackPrefix+"outside.json", `{"key":"incoming/i1","label":"ham"}`)
	store(submission.FeedbackPrefix+"label.json", `{"key":"quarantine/q1","label":"maybe"}`)
	store(submission.FeedbackPrefix+"junk.json", `not json`)
	store(submission.FeedbackPrefix+"gone.json", `{"key":"quarantine/nosuch","label":"ham"}`)
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	m, _, err := h.Model.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Spam != 1 || m.Ham != 0 {
		t.Errorf("model has %d spam, %d ham; want 1, 0 (only the valid decision)", m.Spam, m.Ham)
	}
	for _, bad := range []string{`{"key":"incoming/i1","label":"ham"}`, `{"key":"quarantine/../models/x","label":"ham"}`, `{"key":"quarantine/q1","label":"maybe"}`} {
		if _, err := submission.ParseDecision([]byte(bad)); err == nil {
			t.Errorf("ParseDecision(%s) accepted", bad)
		}
	}
}
