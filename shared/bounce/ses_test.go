package bounce

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"

	"github.com/moatmail/moat/shared/awserr"
	"github.com/moatmail/moat/shared/awstest"
)

// fakeSES records requests and answers with err.
type fakeSES struct {
	bounces []*ses.SendBounceInput
	raws    []*ses.SendRawEmailInput
	err     error
}

func (f *fakeSES) SendBounce(_ context.Context, in *ses.SendBounceInput, _ ...func(*ses.Options)) (*ses.SendBounceOutput, error) {
	f.bounces = append(f.bounces, in)
	if f.err != nil {
		return nil, f.err
	}
	return &ses.SendBounceOutput{MessageId: aws.String("bounce-1")}, nil
}

func (f *fakeSES) SendRawEmail(_ context.Context, in *ses.SendRawEmailInput, _ ...func(*ses.Options)) (*ses.SendRawEmailOutput, error) {
	f.raws = append(f.raws, in)
	if f.err != nil {
		return nil, f.err
	}
	return &ses.SendRawEmailOutput{MessageId: aws.String("raw-1")}, nil
}

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestSESSenderRequest(t *testing.T) {
	f := &fakeSES{}
	s := NewSESSender(f, from)
	s.Now = clock(now)
	if err := s.Send(context.Background(), sample(t)); err != nil {
		t.Fatal(err)
	}
	if len(f.bounces) != 1 {
		t.Fatalf("%d SendBounce calls, want 1", len(f.bounces))
	}
	in := f.bounces[0]
	if aws.ToString(in.OriginalMessageId) != sesID || aws.ToString(in.BounceSender) != from {
		t.Errorf("OriginalMessageId %q BounceSender %q", aws.ToString(in.OriginalMessageId), aws.ToString(in.BounceSender))
	}
	if aws.ToString(in.Explanation) != Explanation {
		t.Errorf("Explanation %q", aws.ToString(in.Explanation))
	}
	if in.MessageDsn == nil || aws.ToString(in.MessageDsn.ReportingMta) != "dns; mx.mail.example.com" || !aws.ToTime(in.MessageDsn.ArrivalDate).Equal(arrival) {
		t.Errorf("MessageDsn %+v", in.MessageDsn)
	}
	want := []struct{ rcpt, status, diag string }{
		{"bob@example.com", "5.1.1", "smtp; 550 5.1.1 Recipient address rejected: user unknown"},
		{"carol@example.com", "5.3.4", "smtp; 552 5.3.4 Message size exceeds fixed maximum message size"},
	}
	if len(in.BouncedRecipientInfoList) != len(want) {
		t.Fatalf("%d bounced recipients, want %d", len(in.BouncedRecipientInfoList), len(want))
	}
	for i, w := range want {
		r := in.BouncedRecipientInfoList[i]
		d := r.RecipientDsnFields
		if aws.ToString(r.Recipient) != w.rcpt || d == nil || d.Action != types.DsnActionFailed ||
			aws.ToString(d.Status) != w.status || aws.ToString(d.DiagnosticCode) != w.diag {
			t.Errorf("recipient %d: %s %+v, want %+v", i, aws.ToString(r.Recipient), d, w)
		}
	}
}

func TestSESSenderRefuses(t *testing.T) {
	f := &fakeSES{}
	s := NewSESSender(f, from)
	s.Now = clock(now)
	b := sample(t)
	b.Sender = ""
	if err := s.Send(context.Background(), b); !errors.Is(err, ErrNoBounce) {
		t.Errorf("null sender: %v, want ErrNoBounce", err)
	}
	b = sample(t)
	b.Arrival = now.Add(-BounceWindow - time.Second)
	if err := s.Send(context.Background(), b); !errors.Is(err, ErrExpired) {
		t.Errorf("after 24 h: %v, want ErrExpired", err)
	}
	if err := NewSESSender(f, "nobody").Send(context.Background(), sample(t)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad bounce sender: %v, want ErrInvalid", err)
	}
	if len(f.bounces) != 0 {
		t.Errorf("%d SendBounce calls for refused bounces", len(f.bounces))
	}
}

// Throttling (SendBounce allows one call a second) comes back at once, classified temporary;
// a rejection is permanent.
func TestSESSenderErrors(t *testing.T) {
	for _, tc := range []struct {
		err       error
		temporary bool
	}{
		{&smithy.OperationError{ServiceID: "SES", OperationName: "SendBounce", Err: &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}}, true},
		{&smithy.OperationError{ServiceID: "SES", OperationName: "SendBounce", Err: &types.MessageRejected{Message: aws.String("not verified")}}, false},
	} {
		s := NewSESSender(&fakeSES{err: tc.err}, from)
		s.Now = clock(now)
		start := time.Now()
		err := s.Send(context.Background(), sample(t))
		if err == nil || awserr.IsTemporary(err) != tc.temporary {
			t.Errorf("Send with %v: %v, temporary %t, want %t", tc.err, err, awserr.IsTemporary(err), tc.temporary)
		}
		if time.Since(start) > 100*time.Millisecond {
			t.Error("Send waited")
		}
	}
}

func TestRawSenderRequest(t *testing.T) {
	f := &fakeSES{}
	s := NewRawSender(f, from)
	s.Now = clock(now)
	if err := s.Send(context.Background(), sample(t)); err != nil {
		t.Fatal(err)
	}
	in := f.raws[0]
	if aws.ToString(in.Source) != from || !slices.Equal(in.Destinations, []string{"alice@example.org"}) {
		t.Errorf("Source %q Destinations %v", aws.ToString(in.Source), in.Destinations)
	}
	want, _ := BuildDSN(sample(t), from, now)
	if string(in.RawMessage.Data) != string(want) {
		t.Error("the raw message is not BuildDSN's report")
	}
	b := sample(t)
	b.Sender = "MAILER-DAEMON@example.org"
	if err := s.Send(context.Background(), b); !errors.Is(err, ErrNoBounce) || len(f.raws) != 1 {
		t.Errorf("bounce of a bounce: %v, %d calls", err, len(f.raws))
	}
}

// The report sent through the SES API arrives, to the original sender, as a multipart/report.
func TestRawSenderThroughSES(t *testing.T) {
	cfg := awstest.Config(t)
	awstest.VerifySender(t, cfg, "mail.example.com")
	b := sample(t)
	b.Sender = "alice-" + strings.ToLower(awstest.Name(t, "raw")) + "@example.org" // unique among sent mail
	s := NewRawSender(ses.NewFromConfig(cfg), from)
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatalf("send: %v", err)
	}
	var sent []awstest.SentEmail
	for _, m := range awstest.SentEmails(t) {
		if slices.Contains(m.Destinations, b.Sender) {
			sent = append(sent, m)
		}
	}
	if len(sent) != 1 {
		t.Fatalf("%d reports sent to %s, want 1", len(sent), b.Sender)
	}
	if sent[0].Source != from {
		t.Errorf("Source %q, want %q", sent[0].Source, from)
	}
	r := parseDSN(t, []byte(sent[0].Raw))
	if r.header.Get("To") != b.Sender || r.header.Get("Subject") != Subject {
		t.Errorf("To %q Subject %q", r.header.Get("To"), r.header.Get("Subject"))
	}
	if len(r.recipients) != 2 || r.recipients[0].Get("Final-Recipient") != "rfc822; bob@example.com" ||
		r.recipients[0].Get("Status") != "5.1.1" || r.recipients[1].Get("Status") != "5.3.4" {
		t.Errorf("recipient groups %v", r.recipients)
	}
	if !strings.Contains(r.original, "Subject: Quarterly figures") {
		t.Error("original headers missing")
	}
}
