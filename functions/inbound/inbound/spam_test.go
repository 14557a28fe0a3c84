package inbound

import (
	"bytes"
	"context"
	"testing"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// TestSpamModelFromBucket: the function scores with the model the training function keeps in
// the bucket, without a restart.
func TestSpamModelFromBucket(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev := event(t, "clean.json")
	id := ev.Records[0].SES.Mail.MessageID
	e.store(ev, "Winner! Claim your free prize now, cheap offer, act now, click here.\r\n")

	model := classify.NewModel()
	for range 10 {
		for spam, text := range map[bool]string{
			true:  "Winner! Claim your free prize, cheap offer, act now, limited time, click here.",
			false: "Hi, the notes from the meeting are attached; the review moves to Thursday.",
		} {
			m, err := message.Parse(bytes.NewReader(messagetest.New().From("x@example.org").Subject("s").Text(text).Bytes()), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			toks, _ := classify.Analyze(m, &heuristic.Context{}, nil)
			model.Learn(toks, spam)
		}
	}
	if _, err := (&modelstore.Store{S3: e.s3, Bucket: e.res.Bucket}).Add(ctx, model); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	recs := e.tracked(id)
	if len(recs) == 0 {
		t.Fatal("no tracking records")
	}
	for rcpt, r := range recs {
		if r.Status != tracking.Quarantined || !hasReason(r, verdict.Spam) {
			t.Errorf("%s: status %s, reasons %v; want quarantined as spam by the stored model", rcpt, r.Status, r.Reasons)
		}
	}
}
