package deliver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
)

const bounceFrom = "MAILER-DAEMON@mail.example.net"

var idSeq atomic.Int64

// env is one test's gateway: moto resources, a handler wired as in production, and helpers.
type env struct {
	t     *testing.T
	cfg   aws.Config
	res   awstest.Resources
	h     *Handler
	sqs   *sqs.Client
	track *tracking.Store
	s3    *s3.Client
	// another builds a second handler over the same resources, as a second Lambda instance.
	another func() *Handler
}

func newEnv(t *testing.T, route *policy.Route) *env {
	cfg := awstest.Config(t)
	res := awstest.Stack(t, cfg)
	ctx := context.Background()
	getenv := func(k string) string {
		if k == "BOUNCE_SENDER" {
			return bounceFrom
		}
		return res.Getenv(k)
	}
	c, err := LoadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	c.Retry.Base, c.Retry.Cap = time.Second, time.Second
	c.ConnectTimeout, c.CommandTimeout, c.AttemptTimeout = 2*time.Second, 2*time.Second, 20*time.Second
	db := dynamodb.NewFromConfig(cfg)
	p := &policy.Policy{Domains: map[string]policy.Domain{"example.com": {Route: route}, "example.net": {}}}
	if _, err := policystore.New(db, res.Tables[schema.Policies.ID]).Put(ctx, p, 0); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	awstest.VerifySender(t, cfg, "mail.example.net")
	awstest.VerifySender(t, cfg, "example.com")
	another := func() *Handler {
		h := New(c, Clients{
			S3: awstest.S3(cfg), DynamoDB: db, SQS: sqs.NewFromConfig(cfg), SES: ses.NewFromConfig(cfg),
			SESv2: sesv2.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg), SecretsManager: secretsmanager.NewFromConfig(cfg),
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		h.Metrics = nil
		return h
	}
	return &env{t: t, cfg: cfg, res: res, h: another(), sqs: sqs.NewFromConfig(cfg),
		track: tracking.New(db, res.Tables[schema.Tracking.ID], 0), s3: awstest.S3(cfg), another: another}
}

// queue stores msg, tracks its recipients as queued and queues the job; it returns the job.
func (e *env) queue(msg string, j delivery.Job) delivery.Job {
	e.t.Helper()
	ctx := context.Background()
	if j.MessageID == "" {
		j.MessageID = fmt.Sprintf("deliver-test-%d-%d", time.Now().UnixNano(), idSeq.Add(1))
	}
	j.Key = "incoming/" + j.MessageID
	if j.Enqueued.IsZero() {
		j.Enqueued = time.Now()
	}
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.res.Bucket), Key: aws.String(j.Key), Body: strings.NewReader(msg)}); err != nil {
		e.t.Fatal(err)
	}
	for _, r := range j.Recipients {
		if _, err := e.track.Create(ctx, tracking.Record{MessageID: j.MessageID, Recipient: r, Time: j.Enqueued,
			Direction: tracking.Inbound, Sender: j.Sender, Traffic: tracking.Accepted, Status: tracking.Queued, Key: j.Key}); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := delivery.NewQueue(e.sqs, e.res.Queues[schema.Delivery.ID]).Enqueue(ctx, j); err != nil {
		e.t.Fatal(err)
	}
	return j
}

// receive waits for the next job on the queue, as the Lambda event source would hand it over.
func (e *env) receive(wait time.Duration) events.SQSEvent {
	e.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.res.Queues[schema.Delivery.ID]), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		var ev events.SQSEvent
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Attributes: map[string]string{"ApproximateReceiveCount": m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]},
			})
		}
		return ev
	}
	e.t.Fatalf("no job on the queue within %s", wait)
	return events.SQSEvent{}
}

// handle runs the handler on ev and deletes the messages it did not report, as Lambda does.
func (e *env) handle(ev events.SQSEvent) events.SQSEventResponse {
	e.t.Helper()
	resp, err := e.h.Handle(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range ev.Records {
		if !failed[m.MessageId] {
			if _, err := e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
				QueueUrl: aws.String(e.res.Queues[schema.Delivery.ID]), ReceiptHandle: aws.String(m.ReceiptHandle)}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return resp
}

func (e *env) status(id, rcpt string) tracking.Record {
	e.t.Helper()
	r, err := e.track.Get(context.Background(), id, rcpt)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) dsnsFor(id string) []awstest.SentEmail {
	var out []awstest.SentEmail
	for _, m := range awstest.SentEmails(e.t) {
		if strings.Contains(m.Raw, id) && strings.Contains(m.Raw, "multipart/report") {
			out = append(out, m)
		}
	}
	return out
}

func lastEvent(r tracking.Record) tracking.Event {
	if len(r.Events) == 0 {
		return tracking.Event{}
	}
	return r.Events[len(r.Events)-1]
}

const original = "Received: from mx.example.org\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Offer\r\nX-Moat-Verdict: clean\r\nMessage-ID: <orig-1@example.org>\r\n\r\nBuy now.\r\n"

func TestHandlerDeliversWithModifications(t *testing.T) {
	pki := newPKI(t)
	s := startSink(t, &sink{}, pki, "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com",
		Recipients: []string{"bob@example.com", "carol@example.com"}, SubjectTag: "[SPAM] ",
		Headers: map[string]string{"X-Moat-Verdict": "tag; reason=spam"}})

	ev := e.receive(10 * time.Second)
	if resp := e.handle(ev); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures %v", resp.BatchItemFailures)
	}
	got := s.messages()
	if len(got) != 1 {
		t.Fatalf("server got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.From != "alice@example.org" || strings.Join(m.Rcpts, ",") != "bob@example.com,carol@example.com" || !m.TLS {
		t.Errorf("envelope %q %v TLS %t", m.From, m.Rcpts, m.TLS)
	}
	for _, want := range []string{"Subject: [SPAM] Offer\r\n", "X-Moat-Verdict: tag; reason=spam\r\n", "Received: by mail.example.net (Moat) with ESMTP id", j.MessageID + "; ", "\r\n\r\nBuy now.\r\n"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, m.Data)
		}
	}
	if strings.Contains(m.Data, "X-Moat-Verdict: clean") {
		t.Error("the sender's forged X-Moat-Verdict reached the server")
	}
	// The stored original is untouched.
	obj, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.res.Bucket), Key: aws.String(j.Key)})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(obj.Body)
	if string(stored) != original {
		t.Errorf("stored original changed")
	}
	for _, r := range j.Recipients {
		rec := e.status(j.MessageID, r)
		if rec.Status != tracking.Delivered || !strings.Contains(lastEvent(rec).Detail, "attempt 1 to 127.0.0.1:") || !strings.Contains(lastEvent(rec).Detail, ": 250 ") {
			t.Errorf("%s: status %s detail %q", r, rec.Status, lastEvent(rec).Detail)
		}
	}

	// At-least-once: the same job again (a redelivered message) sends nothing.
	if resp := e.handle(ev); len(resp.BatchItemFailures) != 0 {
		t.Errorf("redelivery: batch failures %v", resp.BatchItemFailures)
	}
	if n := len(s.messages()); n != 1 {
		t.Errorf("redelivered job sent again: %d messages", n)
	}
}

func TestHandlerRetriesThroughTheQueue(t *testing.T) {
	s := startSink(t, &sink{dataReply: func(n int) error {
		if n == 0 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Queue full, try later"}
		}
		return nil
	}}, newPKI(t), "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com", Recipients: []string{"bob@example.com"}})

	resp := e.handle(e.receive(10 * time.Second))
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("first attempt: batch failures %v, want the job back", resp.BatchItemFailures)
	}
	rec := e.status(j.MessageID, "bob@example.com")
	if rec.Status != tracking.Deferred || !strings.Contains(lastEvent(rec).Detail, "451 4.3.0 Queue full") {
		t.Errorf("after 4xx: %s %q", rec.Status, lastEvent(rec).Detail)
	}
	ev := e.receive(15 * time.Second) // back after the backoff (1 s here)
	if ev.Records[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Errorf("receive count %q", ev.Records[0].Attributes["ApproximateReceiveCount"])
	}
	if resp := e.handle(ev); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second attempt: batch failures %v", resp.BatchItemFailures)
	}
	rec = e.status(j.MessageID, "bob@example.com")
	if rec.Status != tracking.Delivered || !strings.HasPrefix(lastEvent(rec).Detail, "attempt 2 ") {
		t.Errorf("after retry: %s %q", rec.Status, lastEvent(rec).Detail)
	}
	var seen []tracking.Status
	for _, ev := range rec.Events {
		seen = append(seen, ev.Status)
	}
	if fmt.Sprint(seen) != "[deferred delivered]" {
		t.Errorf("events %v, want [deferred delivered]", seen)
	}
	if len(s.messages()) != 1 {
		t.Errorf("server got %d messages", len(s.messages()))
	}
}

func TestHandlerBouncesRefusedRecipients(t *testing.T) {
	s := startSink(t, &sink{rcpt: func(a string) error {
		if strings.HasPrefix(a, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
		}
		return nil
	}}, newPKI(t), "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com", Recipients: []string{"bob@example.com", "gone@example.com"}})

	if resp := e.handle(e.receive(10 * time.Second)); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures %v", resp.BatchItemFailures)
	}
	if st := e.status(j.MessageID, "bob@example.com").Status; st != tracking.Delivered {
		t.Errorf("bob: %s", st)
	}
	gone := e.status(j.MessageID, "gone@example.com")
	if gone.Status != tracking.Bounced || !strings.Contains(lastEvent(gone).Detail, "550 5.1.1 User unknown; DSN sent") {
		t.Errorf("gone: %s %q", gone.Status, lastEvent(gone).Detail)
	}
	dsns := e.dsnsFor(j.MessageID)
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	raw := dsns[0].Raw
	for _, want := range []string{"Final-Recipient: rfc822; gone@example.com", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 User unknown", "To: alice@example.org", "Subject: Offer"} {
		if !strings.Contains(raw, want) {
			t.Errorf("DSN lacks %q", want)
		}
	}
	if strings.Contains(raw, "Final-Recipient: rfc822; bob@") {
		t.Error("DSN names the delivered recipient")
	}
}

func TestHandlerGivesUpAtMaxAge(t *testing.T) {
	e := newEnv(t, &policy.Route{Host: "127.0.0.1", Port: closedPort(t)})
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com",
		Recipients: []string{"bob@example.com"}, Enqueued: time.Now().Add(-5*24*time.Hour - time.Minute)})

	if resp := e.handle(e.receive(10 * time.Second)); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures %v: an expired job must not come back", resp.BatchItemFailures)
	}
	rec := e.status(j.MessageID, "bob@example.com")
	if rec.Status != tracking.DeliveryFailed || !strings.Contains(lastEvent(rec).Detail, "gave up after 5 days; DSN sent") {
		t.Errorf("status %s %q", rec.Status, lastEvent(rec).Detail)
	}
	dsns := e.dsnsFor(j.MessageID)
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	raw := dsns[0].Raw
	if !strings.Contains(raw, "Status: 5.4.7") || !strings.Contains(raw, "No answer from the destination server") || strings.Contains(raw, "127.0.0.1") {
		t.Errorf("DSN:\n%s", raw)
	}
}

func TestHandlerWaitsForAMissingRoute(t *testing.T) {
	e := newEnv(t, nil)
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.net", Recipients: []string{"bob@example.net"}})
	if resp := e.handle(e.receive(10 * time.Second)); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("batch failures %v, want the job back", resp.BatchItemFailures)
	}
	rec := e.status(j.MessageID, "bob@example.net")
	if rec.Status != tracking.Deferred || !strings.Contains(lastEvent(rec).Detail, "no route for example.net") {
		t.Errorf("status %s %q", rec.Status, lastEvent(rec).Detail)
	}
}

func TestHandlerMissingMessage(t *testing.T) {
	s := startSink(t, &sink{}, newPKI(t), "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com", Recipients: []string{"bob@example.com"}})
	if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(e.res.Bucket), Key: aws.String(j.Key)}); err != nil {
		t.Fatal(err)
	}
	if resp := e.handle(e.receive(10 * time.Second)); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures %v", resp.BatchItemFailures)
	}
	if rec := e.status(j.MessageID, "bob@example.com"); rec.Status != tracking.DeliveryFailed {
		t.Errorf("status %s %q", rec.Status, lastEvent(rec).Detail)
	}
	if len(s.messages()) != 0 {
		t.Error("something was sent")
	}
}

func TestHandlerInvalidJobGoesBack(t *testing.T) {
	e := newEnv(t, nil)
	resp, _ := e.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: `{"messageId":"../x"}`}}})
	if len(resp.BatchItemFailures) != 1 {
		t.Errorf("an unreadable job must stay on the queue for its dead-letter queue: %v", resp)
	}
}

func TestHandlerCredentialsAndCA(t *testing.T) {
	awstest.Config(t) // skips without the emulator
	pki := newPKI(t)
	s := startSink(t, &sink{users: map[string]string{"moat": "pw-1"}}, pki, "starttls")
	for _, name := range []string{"/moat/test/smtp", "moat/test/smtp"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port, TLS: "verify", CAParam: "/moat/test/ca", AuthSecret: name})
			ctx := context.Background()
			creds := `{"username":"moat","password":"pw-1"}`
			sm := ssm.NewFromConfig(e.cfg)
			if _, err := sm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/moat/test/ca"), Value: aws.String(pki.CAPEM), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			if IsParameter(name) {
				if _, err := sm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(creds), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
			} else {
				sec := secretsmanager.NewFromConfig(e.cfg)
				sec.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
				if _, err := sec.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(creds)}); err != nil {
					t.Fatal(err)
				}
			}
			j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com", Recipients: []string{"bob@example.com"}})
			if resp := e.handle(e.receive(10 * time.Second)); len(resp.BatchItemFailures) != 0 {
				t.Fatalf("batch failures %v: %q", resp.BatchItemFailures, lastEvent(e.status(j.MessageID, "bob@example.com")).Detail)
			}
			if rec := e.status(j.MessageID, "bob@example.com"); rec.Status != tracking.Delivered {
				t.Errorf("status %s %q", rec.Status, lastEvent(rec).Detail)
			}
		})
	}
	if got := s.messages(); len(got) != 2 || got[0].User != "moat" || !got[0].TLS {
		t.Errorf("server got %+v", got)
	}
}

func TestHandlerForwardsThroughSES(t *testing.T) {
	e := newEnv(t, &policy.Route{Type: "ses-forward", FromAddress: "forwarder@example.com",
		Forward: map[string]string{"bob@example.com": "bob.external@example.org"}})
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com",
		Recipients: []string{"bob@example.com"}, SubjectTag: "[SPAM]"})
	if resp := e.handle(e.receive(10 * time.Second)); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures %v: %q", resp.BatchItemFailures, lastEvent(e.status(j.MessageID, "bob@example.com")).Detail)
	}
	rec := e.status(j.MessageID, "bob@example.com")
	if rec.Status != tracking.Delivered || !strings.Contains(lastEvent(rec).Detail, "SES message") {
		t.Errorf("status %s %q", rec.Status, lastEvent(rec).Detail)
	}
	var sent *awstest.SentEmail
	for _, m := range awstest.SentEmails(t) {
		if strings.Contains(m.Raw, j.MessageID) && !strings.Contains(m.Raw, "multipart/report") {
			sent = &m
		}
	}
	if sent == nil {
		t.Fatal("no forwarded message in SES's sent mail")
	}
	for _, want := range []string{`From: "Alice via example.com" <forwarder@example.com>`, "Reply-To: Alice <alice@example.org>", "Subject: [SPAM] Offer"} {
		if !strings.Contains(sent.Raw, want) {
			t.Errorf("forwarded message lacks %q:\n%s", want, sent.Raw)
		}
	}
	if !bytes.Contains([]byte(fmt.Sprint(sent.Destinations)), []byte("bob.external@example.org")) {
		t.Errorf("destinations %v", sent.Destinations)
	}
}

// A message released from quarantine is read from its quarantine/ copy.
func TestHandlerDeliversReleasedCopy(t *testing.T) {
	s := startSink(t, &sink{}, newPKI(t), "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	id := fmt.Sprintf("deliver-released-%d", time.Now().UnixNano())
	ctx := context.Background()
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.res.Bucket), Key: aws.String("quarantine/" + id), Body: strings.NewReader(original)}); err != nil {
		t.Fatal(err)
	}
	j := delivery.Job{MessageID: id, Key: "quarantine/" + id, Released: true, Sender: "alice@example.org",
		Domain: "example.com", Recipients: []string{"bob@example.com"}, Enqueued: time.Now()}
	if err := delivery.NewQueue(e.sqs, e.res.Queues[schema.Delivery.ID]).Enqueue(ctx, j); err != nil {
		t.Fatal(err)
	}
	if resp := e.handle(e.receive(10 * time.Second)); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures %v", resp.BatchItemFailures)
	}
	if got := s.messages(); len(got) != 1 || !strings.Contains(got[0].Data, "Buy now.") {
		t.Fatalf("server got %+v", got)
	}
	// No tracking record existed (its TTL passed, say): delivery creates one.
	if rec := e.status(id, "bob@example.com"); rec.Status != tracking.Delivered || rec.Key != "quarantine/"+id {
		t.Errorf("status %s key %s", rec.Status, rec.Key)
	}
}
