package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/functions/inbound/inbound"
	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

func TestQuarantineCommands(t *testing.T) {
	cfg, r := localTarget(t)
	e := admintest.Over(cfg, r)
	recent := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e.Quarantine(t, admintest.Item{ID: "q1", Recipients: []string{"alice@example.com", "bob@example.com"}, Sender: "bulk@spam.example",
		From: "offers@spam.example", Subject: "Cheap \x1b[31mwatches", Reasons: []verdict.Code{verdict.Spam}, Time: recent})
	e.Quarantine(t, admintest.Item{ID: "q2", Recipients: []string{"alice@example.com"}, Sender: "x@bad.example",
		From: "x@bad.example", Subject: "Invoice", Reasons: []verdict.Code{verdict.Virus}, Time: recent.Add(time.Minute)})

	// list: JSON and table, by domain, recipient and reason.
	out, _ := expect(t, 0, nil, "quarantine", "list", "--domain", "example.com", "--json")
	var page struct {
		Items []tracking.Record `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 3 || page.Items[0].MessageID != "q2" {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	out, _ = expect(t, 0, []string{"MESSAGE ID", "q2", "virus"}, "quarantine", "list", "--reason", "virus")
	if strings.Contains(out, "q1") || strings.Contains(out, "\x1b") {
		t.Errorf("list --reason virus:\n%s", out)
	}
	out, _ = expect(t, 0, []string{"q1", "spam"}, "quarantine", "list", "--recipient", "bob@example.com")
	if strings.Contains(out, "q2") {
		t.Errorf("bob's list shows alice's virus:\n%s", out)
	}
	expect(t, 0, []string{"q1"}, "quarantine", "list", "--end-user", "--recipient", "alice@example.com")
	expect(t, 2, []string{`"bogus"`}, "quarantine", "list", "--reason", "bogus")
	expect(t, 2, []string{"--since"}, "quarantine", "list", "--since", "yesterday")
	expect(t, 2, []string{"list, show, release or delete"}, "quarantine", "purge")

	// show: trail, headers and a clean preview.
	out, _ = expect(t, 0, []string{"verdict trail", "spam", "Headers:", "Subject: Cheap [31mwatches", "Text preview", "Hello from offers@spam.example"}, "quarantine", "show", "q1")
	if strings.Contains(out, "\x1b") {
		t.Errorf("show prints an escape character:\n%q", out)
	}
	out, _ = expect(t, 0, nil, "quarantine", "show", "--json", "--recipient", "bob@example.com", "q1")
	var d struct {
		Available bool              `json:"available"`
		Records   []tracking.Record `json:"records"`
		Preview   string            `json:"preview"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || !d.Available || len(d.Records) != 1 || d.Preview == "" {
		t.Errorf("show --json: %v %+v", err, d)
	}
	expect(t, 3, []string{"no such quarantined message"}, "quarantine", "show", "nope")
	expect(t, 2, []string{"invalid message id"}, "quarantine", "show", "../x")

	// release with approval: a job, a status, an approved sender.
	expect(t, 2, []string{"not both"}, "quarantine", "release", "--approve-sender", "--approve-domain", "q1")
	expect(t, 0, []string{"alice@example.com", "released", "offers@spam.example"}, "quarantine", "release", "--approve-sender", "--by", "ops", "--recipient", "alice@example.com", "q1")
	if jobs := e.Jobs(t); len(jobs) != 1 || !jobs[0].Released || len(jobs[0].Recipients) != 1 {
		t.Errorf("jobs after release: %+v", jobs)
	}
	if st := e.Status(t, "q1", "alice@example.com"); st != tracking.Released {
		t.Errorf("alice: %s", st)
	}
	s, err := e.Policies.UserSenders(context.Background(), "alice@example.com")
	if err != nil || len(s) != 1 || s[0].Pattern != "offers@spam.example" || s[0].List != policy.Approved {
		t.Errorf("alice's approved senders: %+v %v", s, err)
	}
	out, _ = expect(t, 0, nil, "quarantine", "release", "--json", "--recipient", "alice@example.com", "q1", "q1")
	if !strings.Contains(out, `"note": "already released"`) {
		t.Errorf("release again:\n%s", out)
	}
	expect(t, 3, []string{"no such quarantined message"}, "quarantine", "release", "nope")

	// delete: bob's copy (alice's was released), the shared object stays for delivery.
	expect(t, 0, []string{"bob@example.com", "deleted", "not in quarantine"}, "quarantine", "delete", "q1")
	if !e.Exists(t, "q1") {
		t.Error("delete removed a copy a released recipient still needs")
	}
	out, _ = expect(t, 0, nil, "quarantine", "delete", "--json", "q2")
	if !strings.Contains(out, `"status": "deleted"`) || e.Exists(t, "q2") {
		t.Errorf("delete q2:\n%s (copy exists %t)", out, e.Exists(t, "q2"))
	}
	expect(t, 0, []string{"nothing quarantined"}, "quarantine", "list", "--domain", "example.com")
	expect(t, 0, []string{"q1", "released", "deleted"}, "quarantine", "list", "--all", "--domain", "example.com")
}

// TestReleasedIsNotQuarantinedAgain replays SES's event after a release through the inbound
// function (a duplicate delivery, or a redrive): the released copy is not quarantined again.
func TestReleasedIsNotQuarantinedAgain(t *testing.T) {
	cfg, r := localTarget(t)
	ctx := context.Background()
	vars := r.Env()
	vars["BOUNCE_SENDER"], vars["BOUNCE_MODE"], vars["POLICY_CACHE_SECONDS"] = "mailer-daemon@example.com", "dsn", "0"
	c, err := inbound.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	pol, _ := policy.Parse([]byte("domains:\n  example.com: {}\n"))
	e := admintest.Over(cfg, r)
	if _, err := e.Policies.Put(ctx, pol, 0); err != nil {
		t.Fatal(err)
	}
	h := inbound.New(c, inbound.Clients{S3: awstest.S3(cfg), DynamoDB: db, SQS: sqs.NewFromConfig(cfg), SES: ses.NewFromConfig(cfg)},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	h.Metrics = io.Discard

	raw, err := os.ReadFile("../../events/spam-fail.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SimpleEmailEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	m := ev.Records[0].SES.Mail
	var msg strings.Builder
	for _, f := range m.Headers {
		msg.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	msg.WriteString("\r\nBuy now\r\n")
	if _, err := e.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(schema.IncomingPrefix + m.MessageID), Body: strings.NewReader(msg.String())}); err != nil {
		t.Fatal(err)
	}
	rcpt := ev.Records[0].SES.Receipt.Recipients[0]

	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(t, m.MessageID, rcpt); st != tracking.Quarantined {
		t.Fatalf("first pass: %s, want quarantined (spam FAIL)", st)
	}
	expect(t, 0, []string{"released"}, "quarantine", "release", m.MessageID)
	if err := h.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	rec, err := e.Tracking.Get(ctx, m.MessageID, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range rec.Events {
		if ev.Status == tracking.Quarantined {
			n++
		}
	}
	if rec.Status != tracking.Released || n != 1 {
		t.Errorf("after the replay: status %s, %d quarantine events; want released and 1", rec.Status, n)
	}
	if jobs := e.Jobs(t); len(jobs) != 1 || !jobs[0].Released {
		t.Errorf("jobs %+v: want only the release's", jobs)
	}
}
