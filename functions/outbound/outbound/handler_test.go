package outbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	fn "github.com/moatmail/moat/functions/outbound/outbound"
	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/outboundstore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

type rig struct {
	t       *testing.T
	h       *fn.Handler
	invoke  func(payload []byte) error
	sqs     *sqs.Client
	queue   string
	track   *tracking.Store
	sending outboundstore.Sending
	tenant  outbound.Tenant
	logs    *bytes.Buffer
}

func newRig(t *testing.T, policy string) *rig {
	t.Helper()
	cfg := awstest.Config(t)
	res := awstest.Stack(t, cfg)
	q := sqs.NewFromConfig(cfg)
	queue := awstest.Subscribe(t, cfg, res.Topics[schema.Alerts.ID])
	env := res.Env()
	env[fn.TenantsEnvVar] = `[{"id":"acme","organisation":"Acme Ltd","domains":["acme.example"],"configurationSet":"moat-acme",
		"adminEmails":["it@acme.example"],"sendingIPs":["198.51.100.25"],"policy":` + policy + `}]`
	env[fn.SwitchEnvVar] = "table"
	c, err := fn.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	logs := &bytes.Buffer{}
	h := fn.New(c, fn.Clients{DynamoDB: db, SNS: sns.NewFromConfig(cfg)}, slog.New(slog.NewJSONHandler(logs, nil)))
	h.Metrics = &bytes.Buffer{}
	lh := lambda.NewHandler(h.Handle)
	r := &rig{t: t, h: h, sqs: q, queue: queue, track: tracking.New(db, res.Tables[schema.Tracking.ID], 0),
		sending: outboundstore.TableSending{Store: h.Store()}, tenant: c.Tenants[0], logs: logs}
	r.invoke = func(payload []byte) error {
		_, err := lh.Invoke(context.Background(), payload)
		return err
	}
	return r
}

// sesID matches the SES IDs of the samples (message IDs, and feedback IDs, which do not matter).
var sesID = regexp.MustCompile(`0102019371a2b3c4-[0-9a-f-]+-000000`)

// fixture returns a sample event from events/outbound with its message ID replaced.
func fixture(t *testing.T, name, messageID string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../events/outbound/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return sesID.ReplaceAll(b, []byte(messageID))
}

func (r *rig) replay(name, messageID string) {
	r.t.Helper()
	if err := r.invoke(fixture(r.t, name, messageID)); err != nil {
		r.t.Fatalf("%s %s: %v", name, messageID, err)
	}
}

type notification struct {
	Subject, Message string
	Tenant, Kind     string
}

// notifications drains the queue subscribed to the alert topic.
func (r *rig) notifications() []notification {
	r.t.Helper()
	var all []notification
	for {
		out, err := r.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &r.queue, MaxNumberOfMessages: 10})
		if err != nil {
			r.t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		for _, m := range out.Messages {
			var env struct {
				Subject, Message  string
				MessageAttributes map[string]struct{ Value string }
			}
			if err := json.Unmarshal([]byte(*m.Body), &env); err != nil {
				r.t.Fatal(err)
			}
			all = append(all, notification{env.Subject, env.Message, env.MessageAttributes["tenant"].Value, env.MessageAttributes["kind"].Value})
			if _, err := r.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &r.queue, ReceiptHandle: m.ReceiptHandle}); err != nil {
				r.t.Fatal(err)
			}
		}
	}
}

func (r *rig) state() outboundstore.State {
	r.t.Helper()
	st, err := r.h.Store().State(context.Background(), "acme")
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r *rig) sendingOn() bool {
	r.t.Helper()
	on, err := r.sending.SendingEnabled(context.Background(), "moat-acme")
	if err != nil {
		r.t.Fatal(err)
	}
	return on
}

// TestSenderLimitSuspendsOnce: each Send sample has two recipients; with a limit of 5 copies
// per sender, the third message crosses it, and not the second, even when a Send is delivered
// twice. Later events do not notify again; resume switches sending on and starts afresh.
func TestSenderLimitSuspendsOnce(t *testing.T) {
	r := newRig(t, `{"perSender":{"limit":5,"window":"10m"}}`)
	r.replay("send.json", "m-1")
	r.replay("send.json", "m-1") // a duplicate: counted once
	r.replay("send.json", "m-2")
	if st := r.state(); st.Suspended || !r.sendingOn() {
		t.Fatalf("suspended at 4 copies: %+v", st)
	}
	if n := r.notifications(); len(n) != 0 {
		t.Fatalf("notified before the threshold: %+v", n)
	}
	r.replay("send.json", "m-3")
	st := r.state()
	if !st.Suspended || r.sendingOn() {
		t.Fatalf("not suspended at 6 copies: %+v, sending %t", st, r.sendingOn())
	}
	sp := st.Suspension
	if sp.Rule != outbound.RuleSenderRate || sp.MessageID != "m-3" || sp.Counts.SenderCount != 6 || sp.By != fn.MonitorName {
		t.Errorf("suspension %+v", sp)
	}
	r.replay("send.json", "m-4")
	r.replay("bounce-domain.json", "m-1")
	n := r.notifications()
	if len(n) != 1 {
		t.Fatalf("%d notifications, want 1: %+v", len(n), n)
	}
	if n[0].Tenant != "acme" || n[0].Kind != outboundstore.NotificationKind || !strings.Contains(n[0].Subject, "Acme Ltd") {
		t.Errorf("notification %+v", n[0])
	}
	for _, want := range []string{"sender-rate", "6 messages from one sender address within 10m0s (limit 5)", "m-3", "open relay", "compromised accounts", "outbound spam", "another smart host"} {
		if !strings.Contains(n[0].Message, want) {
			t.Errorf("notification lacks %q:\n%s", want, n[0].Message)
		}
	}

	st, err := outboundstore.Resume(context.Background(), r.h.Store(), r.sending, r.tenant, "ops@example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Suspended || !r.sendingOn() || st.ResumedBy != "ops@example.com" || st.Generation != 1 {
		t.Fatalf("after resume: %+v, sending %t", st, r.sendingOn())
	}
	// Fresh windows: two more messages stay under the limit, the third crosses it again.
	r.replay("send.json", "m-5")
	r.replay("send.json", "m-6")
	if r.state().Suspended {
		t.Fatal("suspended again by the counts of before the resume")
	}
	r.replay("send.json", "m-7")
	if !r.state().Suspended || len(r.notifications()) != 1 {
		t.Fatal("the second crossing did not suspend and notify once")
	}
	h, err := r.h.Store().History(context.Background(), "acme", 0)
	if err != nil || len(h) != 3 {
		t.Fatalf("history %+v, %v", h, err)
	}
}

// TestBounceRate: with a minimum volume of 4 copies and 20 %, one permanent bounce among four
// copies crosses the bounce rate; the same bounce among two copies does not count (volume).
func TestBounceRate(t *testing.T) {
	r := newRig(t, `{"bounceRate":0.2,"minVolume":4}`)
	r.replay("send.json", "m-1")
	r.replay("bounce-domain.json", "m-1")
	if r.state().Suspended {
		t.Fatal("suspended under the minimum volume")
	}
	r.replay("send.json", "m-2")
	r.replay("delivery.json", "m-2")
	if r.state().Suspended {
		t.Fatal("suspended by a send or a delivery")
	}
	r.replay("sns-bounce.json", "m-2") // through SNS this time
	st := r.state()
	if !st.Suspended || st.Suspension.Rule != outbound.RuleBounceRate || st.Suspension.Counts.Bounces != 2 || st.Suspension.Counts.Sends != 4 {
		t.Fatalf("state %+v", st)
	}
	if n := r.notifications(); len(n) != 1 || !strings.Contains(n[0].Message, "2 permanent bounces among 4 messages") {
		t.Fatalf("notifications %+v", n)
	}
}

// TestTracking: outbound records for every recipient with the status and reason of the last
// event, whatever the order of arrival, searchable by direction.
func TestTracking(t *testing.T) {
	r := newRig(t, `{}`)
	ctx := context.Background()
	r.replay("delivery.json", "m-1") // before its Send
	r.replay("send.json", "m-1")
	r.replay("bounce-domain.json", "m-1")
	r.replay("reject-virus.json", "m-9")
	r.replay("delivery-delay.json", "m-10")
	r.replay("complaint.json", "m-11")

	get := func(id, rcpt string) tracking.Record {
		t.Helper()
		rec, err := r.track.Get(ctx, id, rcpt)
		if err != nil {
			t.Fatalf("%s %s: %v", id, rcpt, err)
		}
		if rec.Direction != tracking.Outbound || rec.Sender != "alice@acme.example" || rec.ClientIP != "198.51.100.25" {
			t.Errorf("%s %s: %+v", id, rcpt, rec)
		}
		return rec
	}
	bob := get("m-1", "bob@example.net")
	if bob.Status != tracking.Delivered || len(bob.Events) != 2 || bob.From != "alice@acme.example" {
		t.Errorf("bob: status %s, %d events; want delivered after the late Send", bob.Status, len(bob.Events))
	}
	carol := get("m-1", "carol@example.org")
	if carol.Status != tracking.Bounced || len(carol.Reasons) != 1 || carol.Reasons[0].Code != fn.CodeBounce ||
		!strings.Contains(carol.Reasons[0].Detail, "recipient domain not resolvable") {
		t.Errorf("carol: %+v", carol)
	}
	erin := get("m-9", "erin@example.net")
	if erin.Traffic != tracking.Blocked || erin.Status != tracking.Deleted || erin.Reasons[0].Code != verdict.Virus ||
		!strings.Contains(erin.Reasons[0].Detail, "virus") {
		t.Errorf("erin: %+v", erin)
	}
	if len(erin.Events) != 1 {
		t.Errorf("erin: events %+v", erin.Events)
	}
	if ips, err := r.track.BlockedIPs(ctx, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)); err != nil || len(ips) != 0 {
		t.Errorf("an outbound reject counts as a blocked client IP: %v %v", ips, err)
	}
	if frank := get("m-10", "frank@example.org"); frank.Status != tracking.Deferred {
		t.Errorf("frank: %+v", frank)
	}
	if dave := get("m-11", "dave@example.net"); dave.Reasons[0].Code != fn.CodeComplaint {
		t.Errorf("dave: %+v", dave)
	}
	page, err := r.track.Search(ctx, tracking.Query{Direction: tracking.Outbound, Domain: "acme.example",
		Since: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 5 {
		t.Errorf("search found %d outbound records, want 5", len(page.Records))
	}
	if strings.Contains(r.logs.String(), "alice@") || strings.Contains(r.logs.String(), "Quarterly") {
		t.Error("logs hold an address or a subject")
	}
}

// TestUnknownAndBroken: events of no tenant and undecodable payloads are dropped without a retry.
func TestUnknownAndBroken(t *testing.T) {
	r := newRig(t, `{}`)
	other := bytes.ReplaceAll(fixture(t, "send.json", "m-1"), []byte("moat-acme"), []byte("moat-other"))
	other = bytes.ReplaceAll(other, []byte("acme.example"), []byte("other.example"))
	if err := r.invoke(other); err != nil {
		t.Fatal(err)
	}
	if err := r.invoke([]byte(`{"detail-type":"Email Sent","source":"aws.ses","detail":{"eventType":"Send"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.track.Get(context.Background(), "m-1", "bob@example.net"); err == nil {
		t.Error("tracked the mail of no tenant")
	}
}

func TestLoadConfig(t *testing.T) {
	_, err := fn.LoadConfig(func(k string) string {
		return map[string]string{fn.TenantsEnvVar: `[{"id":"acme","organisation":"A","domains":["acme.example"]}]`, fn.SwitchEnvVar: "api", "TRACKING_TTL_DAYS": "0"}[k]
	})
	for _, want := range []string{schema.Reputation.EnvVar, schema.Tracking.EnvVar, schema.Alerts.EnvVar,
		"tenants[0].configurationSet is empty", `SENDING_SWITCH "api"`, `TRACKING_TTL_DAYS "0"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %s", err, want)
		}
	}
}

type failingSNS struct{ calls int }

func (f *failingSNS) Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.calls++
	return nil, errors.New("throttled")
}

// TestSuspendTakenBack: when the notification cannot be sent, the suspension is taken back
// (state and sending) so that the retried event suspends and notifies again.
func TestSuspendTakenBack(t *testing.T) {
	r := newRig(t, `{}`)
	ctx := context.Background()
	sp := outbound.Suspension{Tenant: "acme", Since: time.Now(), Rule: outbound.RuleIPRate, By: "test"}
	f := &failingSNS{}
	err := outboundstore.Suspend(ctx, r.h.Store(), r.sending, f, "arn:aws:sns:us-east-1:123456789012:x", r.tenant, sp)
	if err == nil || f.calls != 1 {
		t.Fatalf("err %v after %d publishes", err, f.calls)
	}
	if r.state().Suspended || !r.sendingOn() {
		t.Fatal("a failed suspension left the tenant suspended")
	}
	if err := outboundstore.Suspend(ctx, r.h.Store(), r.sending, f, "x", r.tenant, sp); err == nil || errors.Is(err, outboundstore.ErrAlreadySuspended) {
		t.Fatalf("second attempt: %v, want another try", err)
	}
}

// TestVolumeSpike: a day with one message is the baseline; the next day, the first message
// stays under the rule's minimum volume and the second crosses it.
func TestVolumeSpike(t *testing.T) {
	r := newRig(t, `{"spike":{"factor":2,"minVolume":4,"baselineDays":1}}`)
	at := func(name, id, day string) {
		t.Helper()
		b := bytes.ReplaceAll(fixture(t, name, id), []byte("2026-11-29T10:15:00.123Z"), []byte(day+"T10:15:00.123Z"))
		if err := r.invoke(b); err != nil {
			t.Fatal(err)
		}
	}
	at("send.json", "m-1", "2026-11-28")
	at("send.json", "m-2", "2026-11-29")
	if r.state().Suspended {
		t.Fatal("suspended under the spike's minimum volume")
	}
	at("send.json", "m-3", "2026-11-29")
	st := r.state()
	if !st.Suspended || st.Suspension.Rule != outbound.RuleVolumeSpike || st.Suspension.Counts.LastHour != 4 || st.Suspension.Counts.BaselineDays != 1 {
		t.Fatalf("state %+v", st)
	}
}

// TestDefaultSenderLimit: against the default policy (500 copies per sender in 10 minutes), a
// sender with 498 copies counted in the window reaches the limit with the next two-recipient
// message and crosses it with the one after.
func TestDefaultSenderLimit(t *testing.T) {
	r := newRig(t, `{}`)
	at := time.Date(2026, 11, 29, 10, 14, 10, 0, time.UTC) // the minute before the samples' Send
	if _, err := r.h.Store().CountSend(context.Background(), r.tenant, 0, "alice@acme.example", "198.51.100.25", 498, at); err != nil {
		t.Fatal(err)
	}
	r.replay("send.json", "m-1")
	if r.state().Suspended || len(r.notifications()) != 0 {
		t.Fatal("suspended at the limit")
	}
	r.replay("send.json", "m-2")
	st := r.state()
	if !st.Suspended || st.Suspension.Rule != outbound.RuleSenderRate || st.Suspension.Counts.SenderCount != 502 ||
		len(st.Suspension.Violations) != 1 {
		t.Fatalf("suspension %+v", st.Suspension)
	}
	if n := r.notifications(); len(n) != 1 || !strings.Contains(n[0].Message, "502 messages from one sender address within 10m0s (limit 500)") {
		t.Fatalf("notifications %+v", n)
	}
}
