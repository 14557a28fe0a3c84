package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// localTarget creates the schema's resources in the test emulator and points moatctl --local
// at them through a stack.json in a temporary folder.
func localTarget(t *testing.T) (aws.Config, provision.Resources) {
	t.Helper()
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	dir := t.TempDir()
	b, _ := json.Marshal(localStack{Endpoint: os.Getenv("AWS_ENDPOINT_URL"), Region: awstest.Region, Env: r.Env()})
	if err := os.WriteFile(filepath.Join(dir, LocalFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	old := global
	global.Local, global.Dir = true, dir
	t.Cleanup(func() { global = old })
	return cfg, r
}

// expect runs moatctl and checks the exit code and that the output has every want.
func expect(t *testing.T, code int, want []string, args ...string) (string, string) {
	t.Helper()
	got, stdout, stderr := runCLI(t, args...)
	if got != code {
		t.Fatalf("moatctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stdout+stderr, w) {
			t.Errorf("moatctl %s: output lacks %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), w, stdout, stderr)
		}
	}
	return stdout, stderr
}

const testPolicy = `
domains:
  example.com:
    directory: true
    recipients: [alice@example.com]
  example.org: {}
`

func TestPolicyApplyGetDiff(t *testing.T) {
	localTarget(t)
	file := writeFile(t, "policy.yaml", testPolicy)
	expect(t, 4, []string{"+domains:", "+  example.com:", "policy apply -f"}, "policy", "diff", "-f", file)
	expect(t, 0, []string{"dry run", "version 0"}, "policy", "apply", "--dry-run", "-f", file)
	expect(t, 0, []string{"applied: policy version 1 (was 0)"}, "policy", "apply", "-f", file)
	expect(t, 0, []string{"no changes"}, "policy", "diff", "-f", file)
	expect(t, 0, []string{"no changes"}, "policy", "apply", "-f", file)

	out, _ := expect(t, 0, nil, "policy", "get", "--json")
	var got struct {
		Version int `json:"version"`
		Policy  struct {
			Domains map[string]any `json:"domains"`
		} `json:"policy"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Version != 1 || len(got.Policy.Domains) != 2 {
		t.Errorf("policy get --json: %v %+v\n%s", err, got, out)
	}
	out, _ = expect(t, 0, []string{"# policy version 1", "example.com:"}, "policy", "get", "--domain", "example.com")
	if strings.Contains(out, "example.org") {
		t.Errorf("policy get --domain example.com shows example.org:\n%s", out)
	}
	expect(t, 3, []string{`"nowhere.example" is not in the policy`, "example.com, example.org"}, "policy", "get", "--domain", "nowhere.example")

	// The stored file round-trips: get's output applies as no change.
	yaml, _ := expect(t, 0, nil, "policy", "get")
	expect(t, 0, []string{"no changes"}, "policy", "diff", "-f", writeFile(t, "got.yaml", yaml))

	bad := writeFile(t, "bad.yaml", "domains:\n  example.com:\n    maxRecipients: -5\n")
	expect(t, 2, []string{"maxRecipients", "-5", "nothing was changed"}, "policy", "apply", "-f", bad)
	expect(t, 2, []string{"-f FILE is required"}, "policy", "apply")
	expect(t, 0, []string{"no changes"}, "policy", "diff", "-f", file) // still version 1
}

func TestSenders(t *testing.T) {
	localTarget(t)
	expect(t, 0, nil, "policy", "apply", "-f", writeFile(t, "p.yaml", testPolicy))

	expect(t, 0, []string{"*@spam.example added to the global blocked list"}, "senders", "add", "--list", "blocked", "--comment", "spam run", "*@SPAM.example")
	expect(t, 0, []string{"already on"}, "senders", "add", "--list", "blocked", "*@spam.example")
	expect(t, 0, []string{"added to the example.com approved list"}, "senders", "add", "--list", "approved", "--domain", "example.com", "*@*.partner.example")
	expect(t, 0, []string{"added to the alice@example.com's blocked list"}, "senders", "add", "--list", "blocked", "--recipient", "alice@example.com", "ex@old.example")

	out, _ := expect(t, 0, nil, "senders", "list", "--json")
	var got struct {
		Senders []senderRow `json:"senders"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Senders) != 2 {
		t.Fatalf("senders list --json: %v\n%s", err, out)
	}
	if s := got.Senders[0]; s.Pattern != "*@spam.example" || s.Scope != "global" || s.Source != "policy" || s.Comment != "spam run" {
		t.Errorf("first entry %+v", s)
	}
	expect(t, 0, []string{"ex@old.example", "recipient", "user"}, "senders", "list", "--recipient", "alice@example.com")
	expect(t, 0, []string{"*@*.partner.example", "domain"}, "senders", "list", "--domain", "example.com")

	// The pattern rules and the scopes are enforced.
	expect(t, 2, []string{`"*@*"`}, "senders", "add", "--list", "blocked", "*@*")
	expect(t, 2, []string{`"*@*.com"`}, "senders", "add", "--list", "blocked", "*@*.com")
	expect(t, 2, []string{`"name@*.example.com"`}, "senders", "add", "--list", "approved", "name@*.example.com")
	expect(t, 2, []string{`--list "grey"`}, "senders", "add", "--list", "grey", "*@x.example")
	expect(t, 2, []string{`--domain "other.example" is not served`}, "senders", "add", "--list", "blocked", "--domain", "other.example", "*@x.example")
	expect(t, 2, []string{"not both"}, "senders", "add", "--list", "blocked", "--domain", "example.com", "--recipient", "alice@example.com", "*@x.example")

	expect(t, 0, []string{"removed from the global blocked list"}, "senders", "remove", "--list", "blocked", "*@spam.example")
	expect(t, 3, []string{"not on the global blocked list"}, "senders", "remove", "--list", "blocked", "*@spam.example")
	expect(t, 0, []string{"removed from"}, "senders", "remove", "--list", "blocked", "--recipient", "alice@example.com", "ex@old.example")
	expect(t, 3, []string{"not on"}, "senders", "remove", "--list", "blocked", "--recipient", "alice@example.com", "ex@old.example")
}

func TestDirectoryImport(t *testing.T) {
	localTarget(t)
	expect(t, 0, nil, "policy", "apply", "-f", writeFile(t, "p.yaml", testPolicy))

	// Every bad row is reported with its line, and nothing is written.
	bad := writeFile(t, "bad.csv", "Name,E-mail Address\nAlice,alice@example.com\nBob,bob@example.org\nCarol,not-an-address\n\nDan,dan@example.com\n")
	expect(t, 2, []string{"bad.csv:3: bob@example.org is not at example.com", "bad.csv:4:", "not-an-address", "nothing was imported"},
		"directory", "import", "--domain", "example.com", bad)
	expect(t, 0, []string{"0 addresses in the directory of example.com"}, "directory", "list", "--domain", "example.com")

	good := writeFile(t, "users.csv", "email\nalice@example.com\nBob@Example.com\nbob@example.com\ncarol@example.com\n")
	expect(t, 0, []string{"3 added, 0 removed, 0 unchanged", "holds 3 addresses"}, "directory", "import", "--domain", "example.com", good)
	expect(t, 0, []string{"0 added, 0 removed, 3 unchanged"}, "directory", "import", "--domain", "example.com", good)

	ldif := writeFile(t, "export.ldif", strings.Join([]string{
		"version: 1",
		"",
		"dn: cn=Dan,dc=example,dc=com",
		"objectClass: person",
		"mail: dan@exam",
		" ple.com",
		"proxyAddresses: SMTP:dan@example.com",
		"proxyAddresses: smtp:dan@legacy.example",
		"",
		"# a comment",
		"dn: cn=Erin,dc=example,dc=com",
		"mail:: " + "ZXJpbkBleGFtcGxlLmNvbQ==", // erin@example.com
		"",
	}, "\n"))
	out, _ := expect(t, 0, nil, "directory", "import", "--domain", "example.com", "--replace", "--dry-run", "--json", ldif)
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["added"] != 2.0 || res["removed"] != 3.0 || res["skipped"] != 1.0 {
		t.Errorf("dry run: %v %v", err, res)
	}
	expect(t, 0, []string{"2 added, 3 removed", "holds 2 addresses"}, "directory", "import", "--domain", "example.com", "--replace", ldif)
	out, _ = expect(t, 0, nil, "directory", "list", "--domain", "example.com", "--json")
	if !strings.Contains(out, `"dan@example.com"`) || !strings.Contains(out, `"erin@example.com"`) || strings.Contains(out, "alice") {
		t.Errorf("after replace: %s", out)
	}
	expect(t, 2, []string{"bad.ldif:2:", "bad base64"}, "directory", "import", "--domain", "example.com",
		writeFile(t, "bad.ldif", "dn: cn=x\nmail:: !!!\n"))
	expect(t, 2, []string{"would empty the directory"}, "directory", "import", "--domain", "example.com", "--replace", writeFile(t, "empty.csv", "email\n"))
	expect(t, 2, []string{`--domain "example.net" is not served`}, "directory", "import", "--domain", "example.net", good)
	expect(t, 0, []string{"does not enforce the directory of example.org"}, "directory", "import", "--domain", "example.org", "--skip-other-domains", good)
}

func TestTracking(t *testing.T) {
	cfg, r := localTarget(t)
	store := tracking.New(dynamodb.NewFromConfig(cfg), r.Tables["Tracking"], 0)
	base := time.Now().UTC().Add(-time.Hour)
	recs := []tracking.Record{
		{MessageID: "m1", Recipient: "alice@example.com", Sender: "carol@sender.example", ClientIP: "192.0.2.7", Traffic: tracking.Accepted, Status: tracking.Delivered, Action: verdict.Deliver},
		{MessageID: "m2", Recipient: "alice@example.com", Sender: "x@spam.example", ClientIP: "203.0.113.9", Traffic: tracking.Blocked, Status: tracking.Deleted, Action: verdict.Delete,
			Reasons: []verdict.Reason{{Code: "sender-blocked"}}},
		{MessageID: "m2", Recipient: "bob@example.com", Sender: "x@spam.example", ClientIP: "203.0.113.9", Traffic: tracking.Blocked, Status: tracking.Deleted, Action: verdict.Delete},
		{MessageID: "m3", Recipient: "bob@example.com", Sender: "dave@sender.example", ClientIP: "192.0.2.7", Traffic: tracking.Accepted, Status: tracking.Queued, Action: verdict.Deliver},
	}
	for i, rec := range recs {
		rec.Time = base.Add(time.Duration(i) * time.Minute)
		rec.Direction = tracking.Inbound
		rec.Events = []tracking.Event{{Time: rec.Time, Status: tracking.Received, Detail: string(rec.Action)}}
		if _, err := store.Create(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	search := func(args ...string) []tracking.Record {
		t.Helper()
		out, _ := expect(t, 0, nil, append([]string{"tracking", "search", "--json"}, args...)...)
		var page tracking.Page
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return page.Records
	}
	if got := search(); len(got) != 4 || got[0].MessageID != "m3" {
		t.Errorf("all: %d records, newest %+v", len(got), got)
	}
	if got := search("--type", "blocked"); len(got) != 2 {
		t.Errorf("blocked: %d", len(got))
	}
	if got := search("--recipient", "ALICE@example.com"); len(got) != 2 {
		t.Errorf("alice: %d", len(got))
	}
	if got := search("--client-ip", "192.0.2.7", "--sender", "dave@sender.example"); len(got) != 1 || got[0].MessageID != "m3" {
		t.Errorf("client IP and sender: %+v", got)
	}
	if got := search("--since", "30m"); len(got) != 0 {
		t.Errorf("since 30m: %d", len(got))
	}
	// Paging: one record per read, progress on stderr, all four found.
	expect(t, 0, []string{"page 4: 4 records"}, "tracking", "search", "--page-size", "1", "--json")
	expect(t, 0, []string{"sender-blocked", "203.0.113.9"}, "tracking", "search", "--recipient", "alice@example.com", "--type", "blocked")
	out, stderr := expect(t, 0, []string{"MESSAGE ID", "m3", "x@spam.example"}, "tracking", "search", "--limit", "2", "--page-size", "1")
	if strings.Count(out, "\n") != 3 || !strings.Contains(stderr, "--cursor ") {
		t.Errorf("limit 2 table:\n%s\nstderr: %s", out, stderr)
	}

	expect(t, 0, []string{"message   m2", "recipient alice@example.com: blocked, deleted", "reason  sender-blocked", "recipient bob@example.com"}, "tracking", "show", "m2")
	expect(t, 3, []string{"no tracking records for message nope"}, "tracking", "show", "nope")
	out, _ = expect(t, 0, nil, "tracking", "blocked-ips", "--json", "--day", base.Format("2006-01-02"))
	if !strings.Contains(out, `"ip": "203.0.113.9"`) || !strings.Contains(out, `"count": 2`) {
		t.Errorf("blocked-ips: %s", out)
	}

	expect(t, 2, []string{`--type "spam"`}, "tracking", "search", "--type", "spam")
	expect(t, 2, []string{`--client-ip "1.2.3"`}, "tracking", "search", "--client-ip", "1.2.3")
	expect(t, 2, []string{`--since "yesterday"`}, "tracking", "search", "--since", "yesterday")
	expect(t, 2, []string{"--day"}, "tracking", "blocked-ips", "--day", "22/11/2026")
}

func TestRedrive(t *testing.T) {
	cfg, r := localTarget(t)
	q := sqs.NewFromConfig(cfg)
	for i := 0; i < 13; i++ {
		if _, err := q.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(r.DLQs["Delivery"]), MessageBody: aws.String(`{"n":` + string(rune('a'+i)) + `}`)}); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, 0, []string{"13 dead letters wait", "dry run"}, "redrive", "--dry-run")
	expect(t, 0, []string{"moved 13 dead letters back to the delivery queue"}, "redrive", "--queue", "delivery")
	expect(t, 0, []string{"no dead letters"}, "redrive")
	n, err := approxMessages(context.Background(), q, r.Queues["Delivery"])
	if err != nil || n != 13 {
		t.Errorf("delivery queue holds %d, want 13 (%v)", n, err)
	}
	expect(t, 2, []string{`--queue "inbox"`}, "redrive", "--queue", "inbox")
}

func TestNoLocalStack(t *testing.T) {
	old := global
	global.Local, global.Dir = true, t.TempDir()
	t.Cleanup(func() { global = old })
	expect(t, 1, []string{"no local stack", "make local"}, "tracking", "search")
	expect(t, 1, []string{"make local"}, "policy", "get")
}
