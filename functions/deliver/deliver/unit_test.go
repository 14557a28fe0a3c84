package deliver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/shared/bounce"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/tracking"
)

// recQueue records the visibility changes.
type recQueue struct {
	mu      sync.Mutex
	changes []int32
}

func (q *recQueue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.changes = append(q.changes, in.VisibilityTimeout)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// recBouncer records bounces and fails as told.
type recBouncer struct {
	mu   sync.Mutex
	sent []bounce.Bounce
	err  error
}

func (b *recBouncer) Send(_ context.Context, bo bounce.Bounce) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.sent = append(b.sent, bo)
	return nil
}

func unitHandler(t *testing.T, s *sink) (*Handler, *memTracking, *recQueue, *recBouncer) {
	tr := &memTracking{recs: map[string]tracking.Record{}}
	q, bo := &recQueue{}, &recBouncer{}
	return &Handler{
		Mail:     memMail{[]byte(testMsg)},
		Routes:   fixedRoute{&policy.Route{Type: "smtp", Host: s.Host, Port: s.Port, TLS: TLSRequired}},
		Tracking: tr, Queue: q, Bouncer: bo,
		SMTP:  &SMTP{HeloName: "gw.example.net", ConnectTimeout: 2 * time.Second, CommandTimeout: 2 * time.Second},
		Retry: Retry{MaxAge: DefaultMaxAge, Base: 5 * time.Minute, Cap: 4 * time.Hour, MaxReceives: 50},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
	}, tr, q, bo
}

func withReceives(m events.SQSMessage, n int) events.SQSMessage {
	m.Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(n)}
	return m
}

func tempFail(int) error {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}
}

// The backoff doubles with the receive count and the job comes back as a batch item failure.
func TestBackoffThroughVisibility(t *testing.T) {
	s := startSink(t, &sink{dataReply: tempFail}, newPKI(t), "starttls")
	h, tr, q, bo := unitHandler(t, s)
	for n := 1; n <= 3; n++ {
		m := withReceives(benchJob(1), n)
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{m}})
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != m.MessageId {
			t.Fatalf("receive %d: %v", n, resp)
		}
	}
	if got := q.changes; len(got) != 3 || got[0] != 300 || got[1] != 600 || got[2] != 1200 {
		t.Errorf("visibility timeouts %v, want [300 600 1200]", got)
	}
	recs, _ := tr.ByMessage(context.Background(), "bench-1")
	if len(recs) != 1 || recs[0].Status != tracking.Deferred || len(recs[0].Events) != 3 || len(bo.sent) != 0 {
		t.Errorf("records %+v, DSNs %d", recs, len(bo.sent))
	}
}

// One receive short of the dead-letter queue, the job gives up with a DSN instead.
func TestGivesUpBeforeTheDeadLetterQueue(t *testing.T) {
	s := startSink(t, &sink{dataReply: tempFail}, newPKI(t), "starttls")
	h, tr, _, bo := unitHandler(t, s)
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{withReceives(benchJob(2), 49)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v", resp)
	}
	recs, _ := tr.ByMessage(context.Background(), "bench-2")
	if len(recs) != 1 || recs[0].Status != tracking.DeliveryFailed || len(bo.sent) != 1 || bo.sent[0].Recipients[0].Status.Enhanced != "5.4.7" {
		t.Errorf("records %+v, DSNs %+v", recs, bo.sent)
	}
}

// A DSN that cannot be sent yet (SES throttling) keeps the job: nothing is marked final.
func TestDSNThrottledKeepsTheJob(t *testing.T) {
	s := startSink(t, &sink{rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	}}, newPKI(t), "starttls")
	h, tr, q, bo := unitHandler(t, s)
	bo.err = &smithy.GenericAPIError{Code: "Throttling", Message: "Maximum sending rate exceeded", Fault: smithy.FaultServer}
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{withReceives(benchJob(3), 1)}})
	if len(resp.BatchItemFailures) != 1 || len(q.changes) != 1 {
		t.Fatalf("%v %v", resp, q.changes)
	}
	recs, _ := tr.ByMessage(context.Background(), "bench-3")
	if len(recs) == 1 && recs[0].Status == tracking.Bounced {
		t.Errorf("marked bounced without a DSN: %+v", recs[0])
	}
	bo.err = nil
	resp, _ = h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{withReceives(benchJob(3), 2)}})
	recs, _ = tr.ByMessage(context.Background(), "bench-3")
	if len(resp.BatchItemFailures) != 0 || len(recs) != 1 || recs[0].Status != tracking.Bounced || len(bo.sent) != 1 {
		t.Errorf("second attempt: %v %+v", resp, recs)
	}
}

type fakeSSM struct {
	calls  int
	values map[string]string
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.calls++
	if !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("not decrypted")
	}
	v, ok := f.values[aws.ToString(in.Name)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ParameterNotFound"}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v)}}, nil
}

type fakeSM struct{ values map[string]string }

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := f.values[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException"}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func TestSecrets(t *testing.T) {
	pki := newPKI(t)
	now := time.Now()
	f := &fakeSSM{values: map[string]string{
		"/moat/smtp": `{"username":"u","password":"p"}`, "/moat/ca": pki.CAPEM,
		"/moat/bad": `user:pass`, "/moat/notpem": "hello",
	}}
	s := &Secrets{SSM: f, SecretsManager: &fakeSM{values: map[string]string{"moat/smtp": `{"username":"v","password":"q"}`}},
		TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	if c, err := s.Credentials(ctx, "/moat/smtp"); err != nil || c.Username != "u" {
		t.Errorf("SSM credentials %+v %v", c, err)
	}
	if c, err := s.Credentials(ctx, "moat/smtp"); err != nil || c.Username != "v" {
		t.Errorf("Secrets Manager credentials %+v %v", c, err)
	}
	s.Credentials(ctx, "/moat/smtp")
	if f.calls != 1 {
		t.Errorf("%d SSM calls within the TTL, want 1", f.calls)
	}
	now = now.Add(2 * time.Minute)
	s.Credentials(ctx, "/moat/smtp")
	if f.calls != 2 {
		t.Errorf("%d SSM calls after the TTL, want 2", f.calls)
	}
	p1, err := s.CA(ctx, "/moat/ca")
	p2, _ := s.CA(ctx, "/moat/ca")
	if err != nil || p1 != p2 {
		t.Errorf("CA pools %p %p %v: want the same pool for the same PEM", p1, p2, err)
	}
	for name, want := range map[string]string{"/moat/bad": `want JSON {"username"`, "/moat/none": "ParameterNotFound", "moat/none": "ResourceNotFoundException"} {
		if _, err := s.Credentials(ctx, name); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming it with %q", name, err, want)
		}
	}
	if _, err := s.CA(ctx, "/moat/notpem"); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("not PEM: %v", err)
	}
	if strings.Contains(func() string { _, err := s.Credentials(ctx, "/moat/bad"); return err.Error() }(), "user:pass") {
		t.Error("an error shows the secret's value")
	}
}

type fakeSES struct {
	calls [][]string
	err   error
}

func (f *fakeSES) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	f.calls = append(f.calls, in.Destination.ToAddresses)
	if f.err != nil {
		return nil, f.err
	}
	return &sesv2.SendEmailOutput{MessageId: aws.String("ses-1")}, nil
}

func TestForwarder(t *testing.T) {
	ctx := context.Background()
	fwd := map[string]string{"a@example.com": "x@example.org", "B@example.com": "x@example.org", "c@example.com": "y@example.org"}
	rcpts := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"}
	f := &fakeSES{}
	res := (&Forwarder{SES: f}).Send(ctx, "fw@example.com", fwd, rcpts, []byte(testMsg))
	if outcomes(res) != "delivered,delivered,delivered,deferred" || res[3].Enhanced != "4.3.5" {
		t.Errorf("%s %+v", outcomes(res), res)
	}
	if len(f.calls) != 1 || strings.Join(f.calls[0], ",") != "x@example.org,y@example.org" {
		t.Errorf("SES calls %v: want one, each forwarding address once", f.calls)
	}
	big := make([]byte, MaxForwardBytes+1)
	if res := (&Forwarder{SES: f}).Send(ctx, "fw@example.com", fwd, rcpts[:1], big); outcomes(res) != "failed" || res[0].Enhanced != "5.3.4" {
		t.Errorf("over 40 MB: %+v", res)
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&smithy.GenericAPIError{Code: "MessageRejected", Message: "Email address is not verified."}, "deferred"},
		{&smithy.GenericAPIError{Code: "MessageRejected", Message: "Illegal header"}, "failed"},
		{&smithy.GenericAPIError{Code: "TooManyRequestsException"}, "deferred"},
		{&smithy.GenericAPIError{Code: "AccountSuspendedException"}, "deferred"},
	} {
		f := &fakeSES{err: tt.err}
		if res := (&Forwarder{SES: f}).Send(ctx, "fw@example.com", fwd, rcpts[:1], []byte(testMsg)); outcomes(res) != tt.want {
			t.Errorf("%v: %s, want %s", tt.err, outcomes(res), tt.want)
		}
	}
}
