package outboundstore

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/schema"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	cfg := awstest.Config(t)
	res := awstest.Stack(t, cfg)
	return New(dynamodb.NewFromConfig(cfg), res.Tables[schema.Reputation.ID])
}

func tenant() outbound.Tenant {
	return outbound.Tenant{ID: "acme", Organisation: "Acme", Domains: []string{"acme.example"}, ConfigurationSet: "moat-acme"}.WithDefaults()
}

var t0 = time.Date(2026, 11, 29, 10, 0, 30, 0, time.UTC)

func TestSlidingWindows(t *testing.T) {
	s, ctx, ten := newStore(t), context.Background(), tenant()
	// Per sender: 10-minute window of 1-minute buckets. Two copies at t0, three at +4m, one at +9m.
	for _, step := range []struct {
		at   time.Duration
		n    int
		want int
	}{{0, 2, 2}, {4 * time.Minute, 3, 5}, {9 * time.Minute, 1, 6}, {10 * time.Minute, 1, 5}, {14 * time.Minute, 1, 3}, {30 * time.Minute, 1, 1}} {
		c, err := s.CountSend(ctx, ten, 0, "Alice@acme.example", "198.51.100.25", step.n, t0.Add(step.at))
		if err != nil {
			t.Fatal(err)
		}
		if c.SenderCount != step.want {
			t.Errorf("at +%s: sender count %d, want %d", step.at, c.SenderCount, step.want)
		}
		// The IP's window is 5 minutes.
		// The IP's window is 5 minutes: at +9m (10:09:30) it holds the buckets 10:05 to 10:09.
		if step.at == 9*time.Minute && c.IPCount != 1 {
			t.Errorf("at +9m: IP count %d, want 1 (the copies at +4m are in the 10:04 bucket)", c.IPCount)
		}
		if step.at == 4*time.Minute && c.IPCount != 5 {
			t.Errorf("at +4m: IP count %d, want 5", c.IPCount)
		}
		if c.BaselineDays != 0 {
			t.Errorf("baseline days %d without history", c.BaselineDays)
		}
	}
	// Another generation starts empty.
	c, err := s.CountSend(ctx, ten, 1, "alice@acme.example", "198.51.100.25", 1, t0.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.SenderCount != 1 || c.IPCount != 1 {
		t.Errorf("generation 1: %+v, want fresh counts", c)
	}
	// Next day: yesterday is the baseline (9 copies in generation 0 and 1, over 24 hours).
	c, err = s.CountSend(ctx, ten, 1, "alice@acme.example", "198.51.100.25", 1, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaselineDays != 1 || c.BaselineHourly != 10.0/24 {
		t.Errorf("baseline %d days %.3f/h, want 1 day of 10 copies", c.BaselineDays, c.BaselineHourly)
	}
	// Outcomes: sends in the 24-hour window, bounces and complaints.
	o, err := s.CountOutcome(ctx, ten, 1, Bounced, 1, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The 24-hour window at 10:00:30 the next day starts with the 11:00 bucket of the day before.
	if o.Sends != 1 || o.Bounces != 1 || o.Complaints != 0 {
		t.Errorf("outcome counts %+v, want 1 send (generation 1, within 24 h), 1 bounce", o)
	}
}

func TestSuspendOnceResume(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	st, err := s.State(ctx, "acme")
	if err != nil || st.Suspended || st.Suspension != nil {
		t.Fatalf("fresh state %+v, %v", st, err)
	}
	sp := outbound.Suspension{Tenant: "acme", Since: t0, Rule: outbound.RuleSenderRate, By: "outbound function",
		Violations: []outbound.Violation{{Rule: outbound.RuleSenderRate, Observed: 501, Limit: 500}}, MessageID: "m1"}
	if ok, err := s.Suspend(ctx, sp); err != nil || !ok {
		t.Fatalf("first suspend: %t, %v", ok, err)
	}
	sp2 := sp
	sp2.Since = t0.Add(time.Second)
	if ok, err := s.Suspend(ctx, sp2); err != nil || ok {
		t.Fatalf("second suspend: %t, %v; want false", ok, err)
	}
	st, err = s.State(ctx, "acme")
	if err != nil || !st.Suspended || st.Suspension == nil || st.Suspension.MessageID != "m1" || st.Suspension.Violations[0].Observed != 501 {
		t.Fatalf("state %+v, %v", st, err)
	}
	// Unsuspend of another suspension changes nothing.
	if err := s.Unsuspend(ctx, sp2); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(ctx, "acme"); !st.Suspended {
		t.Fatal("unsuspend of another suspension lifted it")
	}
	st, err = s.Resume(ctx, "acme", "arn:aws:iam::123456789012:user/ops", t0.Add(time.Hour))
	if err != nil || st.Suspended || st.Generation != 1 || st.ResumedBy != "arn:aws:iam::123456789012:user/ops" || !st.ResumedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after resume %+v, %v", st, err)
	}
	if st.Suspension == nil || st.Suspension.Rule != outbound.RuleSenderRate {
		t.Error("resume forgot the last suspension")
	}
	h, err := s.History(ctx, "acme", 0)
	if err != nil || len(h) != 2 || h[0].Action != "resume" || h[1].Action != "suspend" || h[1].Detail == nil || h[1].Detail.MessageID != "m1" {
		t.Fatalf("history %+v, %v", h, err)
	}
	// Suspend again after a resume, then take it back.
	sp3 := sp
	sp3.Since = t0.Add(2 * time.Hour)
	if ok, err := s.Suspend(ctx, sp3); err != nil || !ok {
		t.Fatalf("suspend after resume: %t, %v", ok, err)
	}
	if err := s.Unsuspend(ctx, sp3); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(ctx, "acme"); st.Suspended {
		t.Fatal("unsuspend did not take the suspension back")
	}
	if _, err := s.Resume(ctx, "acme", "", t0); err == nil {
		t.Error("resume without who: accepted")
	}
}

func TestClaim(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	if ok, err := s.Claim(ctx, "k1", t0); err != nil || !ok {
		t.Fatalf("first claim %t %v", ok, err)
	}
	if ok, err := s.Claim(ctx, "k1", t0); err != nil || ok {
		t.Fatalf("duplicate claim %t %v", ok, err)
	}
	if err := s.Release(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Claim(ctx, "k1", t0); err != nil || !ok {
		t.Fatalf("claim after release %t %v", ok, err)
	}
}

func TestTableSending(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	sw := TableSending{Store: s}
	if on, err := sw.SendingEnabled(ctx, "moat-acme"); err != nil || !on {
		t.Fatalf("default %t %v", on, err)
	}
	if err := sw.SetSending(ctx, "moat-acme", false); err != nil {
		t.Fatal(err)
	}
	if on, _ := sw.SendingEnabled(ctx, "moat-acme"); on {
		t.Error("still on")
	}
	if on, _ := sw.SendingEnabled(ctx, "moat-other"); !on {
		t.Error("another set switched off")
	}
}

type fakeSES struct {
	put *sesv2.PutConfigurationSetSendingOptionsInput
	on  bool
}

func (f *fakeSES) PutConfigurationSetSendingOptions(_ context.Context, in *sesv2.PutConfigurationSetSendingOptionsInput, _ ...func(*sesv2.Options)) (*sesv2.PutConfigurationSetSendingOptionsOutput, error) {
	f.put = in
	f.on = in.SendingEnabled
	return &sesv2.PutConfigurationSetSendingOptionsOutput{}, nil
}

func (f *fakeSES) GetConfigurationSet(_ context.Context, in *sesv2.GetConfigurationSetInput, _ ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error) {
	return &sesv2.GetConfigurationSetOutput{ConfigurationSetName: in.ConfigurationSetName, SendingOptions: &sestypes.SendingOptions{SendingEnabled: f.on}}, nil
}

func TestSESSending(t *testing.T) {
	f := &fakeSES{on: true}
	sw := SES{Client: f}
	if err := sw.SetSending(context.Background(), "moat-acme", false); err != nil {
		t.Fatal(err)
	}
	if f.put == nil || *f.put.ConfigurationSetName != "moat-acme" || f.put.SendingEnabled {
		t.Fatalf("request %+v", f.put)
	}
	if on, err := sw.SendingEnabled(context.Background(), "moat-acme"); err != nil || on {
		t.Errorf("enabled %t %v", on, err)
	}
}
