package inbound

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// prizeModel learns prize mail as spam and meeting notes as ham, or the other way round.
func prizeModel(t *testing.T, prizeIsSpam bool) *classify.Model {
	t.Helper()
	model := classify.NewModel()
	for range 10 {
		for spam, text := range map[bool]string{
			prizeIsSpam:  "Winner! Claim your free prize, cheap offer, act now, limited time, click here.",
			!prizeIsSpam: "Hi, the notes from the meeting are attached; the review moves to Thursday.",
		} {
			m, err := message.Parse(bytes.NewReader(messagetest.New().From("x@example.org").Subject("s").Text(text).Bytes()), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			toks, _ := classify.Analyze(m, &heuristic.Context{}, nil)
			model.Learn(toks, spam)
		}
	}
	return model
}

// TestSpamModelPerTenant: one message to two recipients whose domains belong to two tenants;
// each is scored with its tenant's model (acme's calls prizes spam, beta's calls them ham).
func TestSpamModelPerTenant(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pol, err := policy.Parse([]byte(testPolicy + "  example.net: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policystore.New(dynamodb.NewFromConfig(e.cfg), e.res.Env()[schema.Policies.EnvVar]).Put(ctx, pol, 1); err != nil {
		t.Fatal(err)
	}
	e.h.Tenants = map[string]string{"example.com": "acme", "example.net": "beta"}
	for tenant, prizeIsSpam := range map[string]bool{"acme": true, "beta": false} {
		s, err := modelstore.ForTenant(e.s3, e.res.Bucket, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, prizeModel(t, prizeIsSpam)); err != nil {
			t.Fatal(err)
		}
	}
	ev := event(t, "clean.json")
	rcpts := []string{"alice@example.com", "carol@example.net"}
	ev.Records[0].SES.Receipt.Recipients = rcpts
	ev.Records[0].SES.Mail.Destination = rcpts
	id := ev.Records[0].SES.Mail.MessageID
	e.store(ev, "Winner! Claim your free prize now, cheap offer, act now, click here.\r\n")
	if err := e.h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	recs := e.tracked(id)
	if r := recs["alice@example.com"]; r.Status != tracking.Quarantined || !hasReason(r, verdict.Spam) {
		t.Errorf("acme's recipient: status %s, reasons %v; want quarantined as spam by acme's model", r.Status, r.Reasons)
	}
	if r := recs["carol@example.net"]; r.Status == tracking.Quarantined || hasReason(r, verdict.Spam) {
		t.Errorf("beta's recipient: status %s, reasons %v; want delivered: beta's model calls it ham", r.Status, r.Reasons)
	}
}

func TestTenantsConfig(t *testing.T) {
	vars := map[string]string{"MAIL_BUCKET": "b"}
	get := func(k string) string { return vars[k] }
	vars[modelstore.TenantsEnvVar] = `{"acme":["Example.com"],"beta":["example.net"]}`
	c, _ := LoadConfig(get)
	if c.Tenants["example.com"] != "acme" || c.Tenants["example.net"] != "beta" {
		t.Errorf("tenants %v", c.Tenants)
	}
	for bad, want := range map[string]string{
		`{"Bad_ID":["example.com"]}`:                      `tenant "Bad_ID"`,
		`{"acme":["not a domain"]}`:                       `"not a domain"`,
		`{"acme":["example.com"],"beta":["example.com"]}`: `"example.com" belongs to tenants acme and beta`,
		`[1]`: modelstore.TenantsEnvVar,
	} {
		vars[modelstore.TenantsEnvVar] = bad
		if _, err := LoadConfig(get); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error with %q", bad, err, want)
		}
	}
}
