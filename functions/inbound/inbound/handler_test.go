package inbound

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

const testPolicy = `
domains:
  example.com:
    directory: true
    recipients: [alice@example.com, bob@example.com]
`

// env is one test's gateway in moto with the handler wired as main wires it.
type env struct {
	t       *testing.T
	cfg     aws.Config
	res     awstest.Resources
	h       *Handler
	s3      *s3.Client
	sqs     *sqs.Client
	metrics bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := awstest.Config(t)
	res := awstest.Stack(t, cfg)
	e := &env{t: t, cfg: cfg, res: res, s3: awstest.S3(cfg), sqs: sqs.NewFromConfig(cfg)}
	vars := res.Env()
	vars["BOUNCE_SENDER"] = "mailer-daemon@example.com"
	vars["BOUNCE_MODE"] = "dsn" // moto has no SendBounce; the DSN goes through SendRawEmail
	vars["POLICY_CACHE_SECONDS"] = "0"
	c, err := LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	awstest.VerifySender(t, cfg, "example.com")
	db := dynamodb.NewFromConfig(cfg)
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policystore.New(db, c.PolicyTable).Put(context.Background(), pol, 0); err != nil {
		t.Fatal(err)
	}
	e.h = New(c, Clients{S3: e.s3, DynamoDB: db, SQS: e.sqs, SES: ses.NewFromConfig(cfg)},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	e.h.Metrics = &e.metrics
	return e
}

// event reads a sample event from events/.
func event(t *testing.T, name string) events.SimpleEmailEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SimpleEmailEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// store puts the message the event describes where SES would: its headers from the event,
// then a body.
func (e *env) store(ev events.SimpleEmailEvent, body string) {
	e.t.Helper()
	m := ev.Records[0].SES.Mail
	var b strings.Builder
	for _, h := range m.Headers {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	b.WriteString("\r\n" + body)
	_, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.res.Bucket, Key: aws.String(schema.IncomingPrefix + m.MessageID),
		Body: strings.NewReader(b.String()),
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) tracked(id string) map[string]tracking.Record {
	e.t.Helper()
	recs, err := e.h.Tracking.ByMessage(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]tracking.Record{}
	for _, r := range recs {
		out[r.Recipient] = r
	}
	return out
}

func (e *env) jobs() []delivery.Job {
	e.t.Helper()
	var jobs []delivery.Job
	for {
		out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.res.Queues[schema.Delivery.ID]), MaxNumberOfMessages: 10,
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return jobs
		}
		for _, m := range out.Messages {
			j, err := delivery.Decode([]byte(*m.Body))
			if err != nil {
				e.t.Fatal(err)
			}
			jobs = append(jobs, j)
		}
	}
}

// sentTo returns the messages moto recorded as sent through SES to addr.
func sentTo(t *testing.T, addr string) []awstest.SentEmail {
	var out []awstest.SentEmail
	for _, m := range awstest.SentEmails(t) {
		for _, d := range m.Destinations {
			if strings.EqualFold(d, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

func TestMultiRecipient(t *testing.T) {
	e := newEnv(t)
	ev := event(t, "multi-recipient.json")
	id := ev.Records[0].SES.Mail.MessageID
	e.store(ev, "The report is attached.\r\n")
	dsnsBefore := len(sentTo(t, "carol@sender.example"))

	if err := e.h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := e.tracked(id)
	if len(got) != 3 {
		t.Fatalf("%d tracking records, want 3 (the matched recipients): %v", len(got), got)
	}
	for _, rcpt := range []string{"alice@example.com", "bob@example.com"} {
		r := got[rcpt]
		if r.Status != tracking.Queued || r.Action != verdict.Deliver || r.ClientIP != "198.51.100.23" {
			t.Errorf("%s: status %s action %s client %q; want queued deliver 198.51.100.23", rcpt, r.Status, r.Action, r.ClientIP)
		}
	}
	nobody := got["nobody@example.com"]
	if nobody.Status != tracking.Bounced || nobody.Action != verdict.Bounce || !hasReason(nobody, verdict.RecipientInvalid) {
		t.Errorf("nobody: status %s action %s reasons %v; want bounced for %s", nobody.Status, nobody.Action, nobody.Reasons, verdict.RecipientInvalid)
	}

	jobs := e.jobs()
	if len(jobs) != 1 || len(jobs[0].Recipients) != 2 || jobs[0].Sender != "carol@sender.example" || jobs[0].Key != schema.IncomingPrefix+id {
		t.Fatalf("jobs %+v; want one job for alice and bob from carol, key incoming/%s", jobs, id)
	}
	dsns := sentTo(t, "carol@sender.example")
	if len(dsns) != dsnsBefore+1 {
		t.Fatalf("%d DSNs to the sender, want 1", len(dsns)-dsnsBefore)
	}
	dsn := dsns[len(dsns)-1].Raw
	for _, want := range []string{"multipart/report", "report-type=delivery-status", "nobody@example.com", "5.1.1"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
	if strings.Contains(dsn, "Final-Recipient: rfc822; alice@example.com") {
		t.Errorf("DSN names a delivered recipient:\n%s", dsn)
	}
	if !strings.Contains(e.metrics.String(), `"Action":"deliver"`) {
		t.Errorf("no deliver metric in %s", e.metrics.String())
	}

	// The same event again (Lambda's at-least-once invocation) changes nothing.
	if err := e.h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	again := e.tracked(id)
	for rcpt, r := range got {
		if again[rcpt].Version != r.Version || again[rcpt].Status != r.Status {
			t.Errorf("%s changed on the duplicate event: version %d→%d, status %s→%s", rcpt, r.Version, again[rcpt].Version, r.Status, again[rcpt].Status)
		}
	}
	if j := e.jobs(); len(j) != 0 {
		t.Errorf("duplicate event queued %d more jobs", len(j))
	}
	if n := len(sentTo(t, "carol@sender.example")); n != len(dsns) {
		t.Errorf("duplicate event sent %d more DSNs", n-len(dsns))
	}
}

func hasReason(r tracking.Record, c verdict.Code) bool {
	for _, x := range r.Reasons {
		if x.Code == c {
			return true
		}
	}
	return false
}

func TestVirusQuarantined(t *testing.T) {
	e := newEnv(t)
	ev := event(t, "virus-fail.json")
	id := ev.Records[0].SES.Mail.MessageID
	e.store(ev, "see attachment\r\n")
	if err := e.h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for rcpt, r := range e.tracked(id) {
		if r.Status != tracking.Quarantined || r.QuarantineKey != schema.QuarantinePrefix+id || !hasReason(r, verdict.Virus) {
			t.Errorf("%s: status %s key %q reasons %v; want quarantined at quarantine/%s for a virus", rcpt, r.Status, r.QuarantineKey, r.Reasons, id)
		}
	}
	obj, err := e.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.res.Bucket, Key: aws.String(schema.QuarantinePrefix + id)})
	if err != nil {
		t.Fatalf("quarantine copy: %v", err)
	}
	if *obj.ContentLength == 0 {
		t.Error("quarantine copy is empty")
	}
	if j := e.jobs(); len(j) != 0 {
		t.Errorf("a virus was queued for delivery: %+v", j)
	}
}

func TestDMARCRejectBounces(t *testing.T) {
	e := newEnv(t)
	ev := event(t, "dmarc-reject.json")
	id := ev.Records[0].SES.Mail.MessageID
	e.store(ev, "Please pay the invoice.\r\n")
	if err := e.h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for rcpt, r := range e.tracked(id) {
		if r.Status != tracking.Bounced || r.Action != verdict.Bounce || !hasReason(r, verdict.DMARCReject) {
			t.Errorf("%s: status %s action %s reasons %v; want bounced for DMARC", rcpt, r.Status, r.Action, r.Reasons)
		}
	}
	if j := e.jobs(); len(j) != 0 {
		t.Errorf("a DMARC reject was queued for delivery: %+v", j)
	}
}

// A missing stored message is tracked and retried (an error for Lambda), never dropped; once
// the object is there, the retry filters it normally.
func TestMissingObject(t *testing.T) {
	e := newEnv(t)
	ev := event(t, "clean.json")
	id := ev.Records[0].SES.Mail.MessageID
	err := e.h.Handle(context.Background(), ev)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want an error saying the object is missing (so Lambda retries)", err)
	}
	recs := e.tracked(id)
	if len(recs) == 0 {
		t.Fatal("the missing message was not tracked")
	}
	for rcpt, r := range recs {
		if r.Status != tracking.Received || !hasReason(r, verdict.Malformed) {
			t.Errorf("%s: status %s reasons %v; want received with %s", rcpt, r.Status, r.Reasons, verdict.Malformed)
		}
	}

	e.store(ev, "hello\r\n")
	if err := e.h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for rcpt, r := range e.tracked(id) {
		if r.Status != tracking.Queued || r.Action != verdict.Deliver || hasReason(r, verdict.Malformed) {
			t.Errorf("%s after retry: status %s action %s reasons %v; want queued deliver", rcpt, r.Status, r.Action, r.Reasons)
		}
		if len(r.Events) < 2 {
			t.Errorf("%s: events %v; want the first attempt kept", rcpt, r.Events)
		}
	}
	if j := e.jobs(); len(j) != 1 {
		t.Errorf("%d jobs after the retry, want 1", len(j))
	}
}

func TestInvalidEventSkipped(t *testing.T) {
	e := newEnv(t)
	ev := event(t, "clean.json")
	ev.Records[0].SES.Mail.MessageID = "../../etc/passwd"
	if err := e.h.Handle(context.Background(), ev); err != nil {
		t.Errorf("an invalid event cannot be retried into shape; got error %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	_, err := LoadConfig(func(k string) string {
		return map[string]string{"BOUNCE_MODE": "carrier-pigeon", "TRACKING_TTL_DAYS": "0", "LOG_LEVEL": "loud"}[k]
	})
	if err == nil {
		t.Fatal("empty configuration accepted")
	}
	for _, want := range []string{schema.BucketEnvVar, schema.Policies.EnvVar, schema.Tracking.EnvVar, schema.Delivery.EnvVar,
		"BOUNCE_SENDER", `BOUNCE_MODE "carrier-pigeon"`, `TRACKING_TTL_DAYS "0"`, `LOG_LEVEL "loud"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	vars := map[string]string{
		schema.BucketEnvVar: "b", schema.Policies.EnvVar: "p", schema.Tracking.EnvVar: "t",
		schema.Delivery.EnvVar: "q", "BOUNCE_SENDER": "mailer-daemon@example.com", "TRACKING_TTL_DAYS": "30",
	}
	c, err := LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.BounceMode != "ses" || c.TrackingTTL != 30*24*time.Hour || c.PolicyCache != time.Minute {
		t.Errorf("config %+v; want ses bounces, 30-day tracking, 1-minute policy cache", c)
	}
}

// fastDelivery delivers each job as soon as it is queued, before Enqueue returns, as a warm
// delivery function can.
type fastDelivery struct {
	Queue
	tracking Tracking
}

func (q fastDelivery) Enqueue(ctx context.Context, jobs ...delivery.Job) error {
	if err := q.Queue.Enqueue(ctx, jobs...); err != nil {
		return err
	}
	for _, j := range jobs {
		for _, r := range j.Recipients {
			if err := q.tracking.SetStatus(ctx, j.MessageID, r, tracking.Delivered, "250 ok", time.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// A delivery that finishes before the inbound function marks the job queued keeps its status.
func TestQueuedNeverOverwritesDelivered(t *testing.T) {
	e := newEnv(t)
	e.h.Queue = fastDelivery{Queue: e.h.Queue, tracking: e.h.Tracking}
	ev := event(t, "clean.json")
	e.store(ev, "hello\r\n")
	if err := e.h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for rcpt, r := range e.tracked(ev.Records[0].SES.Mail.MessageID) {
		if r.Status != tracking.Delivered {
			t.Errorf("%s: status %s, want delivered (written by the delivery before queued)", rcpt, r.Status)
		}
	}
}
