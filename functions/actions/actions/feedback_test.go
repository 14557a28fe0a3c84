package actions

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/functions/train/train"
	"github.com/moatmail/moat/shared/euq"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/submission"
	"github.com/moatmail/moat/shared/verdict"
)

// TestDecisionsTrainTheModel: "deliver" of an item held as spam stores a ham decision, "block
// sender" a spam decision, each a small object under submissions/feedback/ naming the
// quarantined copy; the train function reads the copies and learns them.
func TestDecisionsTrainTheModel(t *testing.T) {
	f := setup(t)
	f.h.Admin.Learn = Feedback{Decisions: &modelstore.Decisions{S3: f.S3, Bucket: f.Bucket}, Log: quiet}
	for _, id := range []string{"m1", "m2"} {
		f.Quarantine(t, admintest.Item{ID: id, Recipients: []string{f.alice}, Sender: "bounce@list.spam.example",
			From: "offers@spam.example", Subject: "Offer " + id, Reasons: []verdict.Code{verdict.Spam}, Time: at7.Add(-time.Hour)})
	}
	links := f.sendDigest(t)
	keys := map[string]string{}
	for _, id := range []string{"m1", "m2"} {
		rec, err := f.Admin.Record(t.Context(), id, f.alice)
		if err != nil || rec.QuarantineKey == "" {
			t.Fatalf("record of %s: %+v %v", id, rec, err)
		}
		keys[id] = rec.QuarantineKey
	}
	if _, done := f.follow(t, links["m1"][euq.Deliver]); done.StatusCode != http.StatusOK {
		t.Fatalf("deliver: %d", done.StatusCode)
	}
	if _, done := f.follow(t, links["m2"][euq.BlockSender]); done.StatusCode != http.StatusOK {
		t.Fatalf("block sender: %d", done.StatusCode)
	}

	out, err := f.S3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(f.Bucket), Prefix: aws.String(submission.FeedbackPrefix)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[submission.Decision]bool{}
	var ev events.S3Event
	for _, o := range out.Contents {
		obj, err := f.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(f.Bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		var d submission.Decision
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", aws.ToString(o.Key), err)
		}
		got[d] = true
		var rec events.S3EventRecord
		rec.S3.Bucket.Name, rec.S3.Object.Key = f.Bucket, aws.ToString(o.Key)
		ev.Records = append(ev.Records, rec)
	}
	want := []submission.Decision{{Key: keys["m1"], Label: submission.Ham}, {Key: keys["m2"], Label: submission.Spam}}
	if len(got) != len(want) || !got[want[0]] || !got[want[1]] {
		t.Fatalf("decisions %v, want %v", got, want)
	}

	tr := train.New(train.Config{Bucket: f.Bucket}, f.S3, quiet)
	if err := tr.Handle(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	m, _, err := tr.Model.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if m.Spam != 1 || m.Ham != 1 {
		t.Errorf("model after the decisions: %d spam, %d ham; want 1, 1", m.Spam, m.Ham)
	}
	// A repeated event (S3 delivers some twice) counts nothing again.
	if err := tr.Handle(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if m, _, _ = tr.Model.Load(t.Context()); m.Spam != 1 || m.Ham != 1 {
		t.Errorf("after a repeated event: %d spam, %d ham; want 1, 1", m.Spam, m.Ham)
	}
	// The same decision again is the same object: stored once.
	if err := (&modelstore.Decisions{S3: f.S3, Bucket: f.Bucket}).Learn(t.Context(), keys["m1"], false); err != nil {
		t.Errorf("repeated decision: %v", err)
	}
	out, _ = f.S3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(f.Bucket), Prefix: aws.String(submission.FeedbackPrefix)})
	if n := len(out.Contents); n != 2 {
		t.Errorf("%d decision objects after a repeat, want 2", n)
	}
}
