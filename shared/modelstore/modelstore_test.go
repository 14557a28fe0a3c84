package modelstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/submission"
)

func store(t *testing.T) *modelstore.Store {
	t.Helper()
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	return &modelstore.Store{S3: &awstest.AtomicS3{Client: awstest.S3(cfg)}, Bucket: r.Env()[schema.BucketEnvVar]}
}

// delta is a model of one message.
func delta(t *testing.T, i int, spam bool) *classify.Model {
	t.Helper()
	raw := messagetest.New().From(fmt.Sprintf("sender%d@example.org", i)).Subject(fmt.Sprintf("word%d", i)).
		Text(fmt.Sprintf("distinct token%d and common words", i)).Bytes()
	m, err := message.Parse(bytes.NewReader(raw), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := classify.Analyze(m, &heuristic.Context{}, nil)
	d := classify.NewModel()
	d.Learn(toks, spam)
	return d
}

func TestAddAndLoad(t *testing.T) {
	s := store(t)
	ctx := context.Background()
	if _, _, err := s.Load(ctx); !errors.Is(err, modelstore.ErrNotFound) {
		t.Fatalf("Load before any model: %v, want ErrNotFound", err)
	}
	e1, err := s.Add(ctx, delta(t, 1, true))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := s.Add(ctx, delta(t, 2, false))
	if err != nil {
		t.Fatal(err)
	}
	if e1 == "" || e1 == e2 {
		t.Errorf("versions %q, %q: want two distinct ETags", e1, e2)
	}
	m, etag, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Spam != 1 || m.Ham != 1 || etag != e2 {
		t.Errorf("loaded %d spam, %d ham, version %q; want 1, 1, %q", m.Spam, m.Ham, etag, e2)
	}
}

// TestConcurrentTrainingsKeepEveryCount runs trainings at once against the emulator: each
// adds one message; the stored model must count all of them.
func TestConcurrentTrainingsKeepEveryCount(t *testing.T) {
	s := store(t)
	ctx := context.Background()
	const n = 12
	want := classify.NewModel()
	deltas := make([]*classify.Model, n)
	for i := range n {
		deltas[i] = delta(t, i, i%3 == 0)
		want.Merge(deltas[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Add(ctx, deltas[i]); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, _, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := got.MarshalBinary()
	b, _ := want.MarshalBinary()
	if got.Spam != want.Spam || got.Ham != want.Ham || !bytes.Equal(a, b) {
		t.Errorf("stored %d spam, %d ham, %d tokens; want %d, %d, %d: a training's counts were lost",
			got.Spam, got.Ham, got.Tokens(), want.Spam, want.Ham, want.Tokens())
	}
}

func TestCache(t *testing.T) {
	s := store(t)
	ctx := context.Background()
	c := modelstore.NewCache(s, time.Minute)
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	if m, err := c.Model(ctx, t0); m != nil || err != nil {
		t.Fatalf("no model stored: %v, %v; want nil, nil", m, err)
	}
	if _, err := s.Add(ctx, delta(t, 1, true)); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.Model(ctx, t0.Add(30*time.Second)); m != nil {
		t.Error("the cache read the store again within its TTL")
	}
	m1, err := c.Model(ctx, t0.Add(2*time.Minute))
	if err != nil || m1 == nil || m1.Spam != 1 {
		t.Fatalf("after the TTL: %v, %v; want the stored model", m1, err)
	}
	m2, _ := c.Model(ctx, t0.Add(4*time.Minute))
	if m2 != m1 {
		t.Error("an unchanged model was read again instead of kept")
	}
	s.Add(ctx, delta(t, 2, false))
	m3, _ := c.Model(ctx, t0.Add(6*time.Minute))
	if m3 == m1 || m3.Ham != 1 {
		t.Errorf("new version not picked up: %+v", m3)
	}
}

func TestDamagedModel(t *testing.T) {
	s := store(t)
	ctx := context.Background()
	_, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(modelstore.DefaultKey), Body: bytes.NewReader([]byte("junk"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(ctx); err == nil || errors.Is(err, modelstore.ErrNotFound) || !errors.Is(err, classify.ErrFormat) {
		t.Errorf("Load of a damaged model: %v, want ErrFormat", err)
	}
	if _, err := s.Add(ctx, delta(t, 1, true)); err == nil {
		t.Error("Add over a damaged model: want an error, not an overwrite")
	}
}

func TestSamplesFromQuarantine(t *testing.T) {
	s := store(t)
	ctx := context.Background()
	raw := messagetest.New().From("a@example.org").Subject("released").Text("wanted after all").Bytes()
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("quarantine/m1"), Body: bytes.NewReader(raw)}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	samples := &modelstore.Samples{S3: s.S3, Bucket: s.Bucket, Now: func() time.Time { return now }}
	if err := samples.Learn(ctx, "quarantine/m1", false); err != nil {
		t.Fatal(err)
	}
	key := submission.Key(submission.Ham, raw, now)
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("sample %s: %v", key, err)
	}
	out.Body.Close()
	if err := samples.Learn(ctx, "quarantine/missing", true); err == nil {
		t.Error("Learn of a missing copy: want an error")
	}
}
