package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/scripts/local/localstack"
	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/tracking"
)

// TestEndToEnd starts the local stack in-process on free ports against the test emulator,
// drives it over SMTP (with swaks when installed) and checks the outcome through the mail
// sink, the emulator's sent mail and moatctl --local.
func TestEndToEnd(t *testing.T) {
	s, id := startLocal(t)
	send := smtpSender(t, s.SMTPAddr)

	// The operator tightens the sample policy with moatctl: a 20 KB limit for example.com, a
	// content rule that holds mail for review, and a blocked sender domain.
	yaml, _ := expect(t, 0, []string{"example.com", "directory: true"}, "policy", "get")
	yaml = strings.Replace(yaml, "  example.com:\n", "  example.com:\n    maxMessageBytes: 20480\n", 1)
	yaml += "rules:\n  - name: hold for review\n    criteria:\n      - {field: subject, op: contains, values: [hold-me]}\n    action: quarantine\n"
	expect(t, 0, []string{"applied: policy version 2"}, "policy", "apply", "-f", writeFile(t, "policy.yaml", yaml))
	expect(t, 0, []string{"added to the global blocked list"}, "senders", "add", "--list", "blocked", "*@blocked.example")

	carol, dave, erin := "carol-"+id+"@sender.example", "dave-"+id+"@sender.example", "erin-"+id+"@sender.example"
	msg := func(from, to, subject, body string) string {
		return fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s.%s@sender.example>\r\nDate: %s\r\n\r\n%s\r\n",
			from, to, subject, subject, id, time.Now().UTC().Format(time.RFC1123Z), body)
	}
	cases := []struct {
		from string
		to   []string
		data string
		want string // the listener's reply
	}{
		{carol, []string{"alice@example.com"}, msg(carol, "alice@example.com", "clean", "Hello Alice."), "250"},
		{carol, []string{"alice@example.com", "bob@example.com"}, msg(carol, "alice@example.com, bob@example.com", "both", "Hello both."), "250"},
		{"x@blocked.example", []string{"bob@example.com"}, msg("x@blocked.example", "bob@example.com", "blocked", "Buy now."), "250"},
		{dave, []string{"ghost@example.com"}, msg(dave, "ghost@example.com", "ghost", "Anyone there?"), "250"},
		{carol, []string{"bob@example.com"}, msg(carol, "bob@example.com", "hold-me", "Please review."), "250"},
		{erin, []string{"alice@example.com"}, msg(erin, "alice@example.com", "big", strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuv\r\n", 400)), "250"},
		{carol, []string{"someone@not-served.example"}, msg(carol, "someone@not-served.example", "relay", "Relay me."), "550 5.7.1"},
	}
	for _, c := range cases {
		if got := send(c.from, c.to, c.data); !strings.HasPrefix(got, c.want) {
			t.Fatalf("send %s → %v: reply %q, want %s", c.from, c.to, got, c.want)
		}
	}
	s.Wait()

	// Clean mail reaches the sink with the verdict headers; nothing else does.
	t.Cleanup(func() {
		if t.Failed() {
			_, out, _ := runCLI(t, "tracking", "search", "--since", "1h")
			t.Logf("tracking at the failure:\n%s", out)
			for _, r := range trackingAll(t) {
				if len(r.Events) > 0 {
					t.Logf("%s %s: %+v", r.MessageID, r.Recipient, r.Events[len(r.Events)-1])
				}
			}
		}
	})
	delivered := waitFor(t, "deliveries to the sink", func() (map[string][]string, bool) {
		got := sinkSubjects(t, s.Delivered)
		return got, len(got["alice@example.com"]) == 2 && len(got["bob@example.com"]) == 1
	})
	if want := []string{"both", "clean"}; strings.Join(delivered["alice@example.com"], ",") != strings.Join(want, ",") || delivered["bob@example.com"][0] != "both" {
		t.Errorf("delivered %v", delivered)
	}
	files, _ := filepath.Glob(filepath.Join(s.Delivered, "alice@example.com", "*.eml"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !regexp.MustCompile(`(?m)^X-Moat-Verdict: deliver\r?$`).Match(b) || !strings.Contains(string(b), "X-Moat-ID: ") {
			t.Errorf("%s lacks the X-Moat-* headers:\n%.600s", f, b)
		}
	}

	// The held message is in quarantine; released, it reaches the sink.
	out, _ := expect(t, 0, nil, "quarantine", "list", "--domain", "example.com", "--json")
	var held struct {
		Items []tracking.Record `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &held); err != nil || len(held.Items) != 1 || held.Items[0].Recipient != "bob@example.com" {
		t.Fatalf("quarantine list: %v\n%s", err, out)
	}
	expect(t, 0, []string{"released"}, "quarantine", "release", held.Items[0].MessageID)
	waitFor(t, "the released message in the sink", func() (map[string][]string, bool) {
		got := sinkSubjects(t, s.Delivered)
		return got, len(got["bob@example.com"]) == 2
	})
	if got := sinkSubjects(t, s.Delivered)["bob@example.com"]; strings.Join(got, ",") != "both,hold-me" {
		t.Errorf("bob's mail after the release: %v", got)
	}

	// The blocked sender shows as blocked in moatctl --local tracking search --json.
	out, _ = expect(t, 0, nil, "tracking", "search", "--json", "--sender", "x@blocked.example")
	var page tracking.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 || page.Records[0].Traffic != tracking.Blocked || page.Records[0].Recipient != "bob@example.com" ||
		page.Records[0].Reasons[0].Code != "sender-blocked" || page.Records[0].ClientIP != "127.0.0.1" {
		t.Errorf("blocked sender's tracking: %+v", page.Records)
	}

	// The invalid recipient and the over-limit message get DSNs (sent through the emulator).
	dsn := func(to, status string) {
		t.Helper()
		waitFor(t, "a DSN to "+to, func() (bool, bool) {
			for _, m := range awstest.SentEmails(t) {
				if strings.Contains(m.Raw, "Final-Recipient") && strings.Contains(m.Raw, to) {
					if !strings.Contains(m.Raw, "Status: "+status) {
						t.Errorf("DSN to %s lacks Status: %s:\n%.1500s", to, status, m.Raw)
					}
					return true, true
				}
			}
			return false, false
		})
	}
	dsn(dave, "5.1.1")
	dsn(erin, "5.3.4")
	// The local stack copies what it sent through SES where an operator can read it.
	waitFor(t, "the DSN in the stack's sent folder", func() ([]string, bool) {
		files, _ := filepath.Glob(filepath.Join(s.Sent, dave, "*.eml"))
		return files, len(files) == 1
	})

	// Every message is tracked exactly once per recipient, with its final status.
	waitFor(t, "final statuses", func() (bool, bool) {
		recs := trackingAll(t)
		for _, r := range recs {
			if r.Status == tracking.Received || r.Status == tracking.Queued {
				return false, false
			}
		}
		return true, len(recs) == 7
	})
	recs := trackingAll(t)
	seen := map[string]int{}
	got := map[string]string{}
	for _, r := range recs {
		seen[r.MessageID+" "+r.Recipient]++
		got[r.Sender+" → "+r.Recipient] += string(r.Status) + " "
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s tracked %d times", k, n)
		}
	}
	want := map[string]string{
		carol + " → alice@example.com":        "delivered delivered ",
		carol + " → bob@example.com":          "delivered delivered ",
		"x@blocked.example → bob@example.com": "deleted ",
		dave + " → ghost@example.com":         "bounced ",
		erin + " → alice@example.com":         "bounced ",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: statuses %q, want %q", k, got[k], v)
		}
	}
	if len(recs) != 7 {
		t.Errorf("%d tracking records, want 7: %v", len(recs), got)
	}
}

// startLocal starts the local stack on free ports against the test emulator and points
// moatctl --local at it; it returns the stack and the suffix of its resource names.
func startLocal(t *testing.T) (*localstack.Stack, string) {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		t.Skip("end-to-end test: AWS_ENDPOINT_URL is not set (run make test, which starts moto_server; moto is missing)")
	}
	awstest.Config(t)
	id := strings.TrimPrefix(awstest.Name(t, "e2e"), "e2e-")
	dir := t.TempDir()
	s, err := localstack.Start(context.Background(), localstack.Options{
		Dir: dir, Endpoint: os.Getenv("AWS_ENDPOINT_URL"), SMTPAddr: "127.0.0.1:0", SinkAddr: "127.0.0.1:0", ActionsAddr: "127.0.0.1:0",
		Suffix: id, PolicyCache: time.Millisecond, RetryDelay: time.Millisecond, Log: testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	old := global
	global.Local, global.Dir = true, dir
	t.Cleanup(func() { global = old })
	return s, id
}

// TestRedriveInbound: an event the inbound function fails three times (its message is missing
// from S3) lands in the failure queue; once the message is back, redrive --queue inbound
// replays it through the local Invoke endpoint and the mail is delivered.
func TestRedriveInbound(t *testing.T) {
	s, id := startLocal(t)
	msgID := "replay" + strings.ReplaceAll(id, "-", "")
	ev, err := os.ReadFile("../../events/clean.json")
	if err != nil {
		t.Fatal(err)
	}
	ev = []byte(strings.ReplaceAll(string(ev), "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1", msgID))
	var st localStack
	b, _ := os.ReadFile(filepath.Join(global.Dir, LocalFile))
	json.Unmarshal(b, &st)
	req, _ := http.NewRequest(http.MethodPost, st.Env[provision.LambdaEndpointKey]+"/2015-03-31/functions/moat-local-inbound/invocations", strings.NewReader(string(ev)))
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	resp, err := http.DefaultClient.Do(req)
	if err == nil && resp.StatusCode != http.StatusAccepted {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	resp.Body.Close()
	s.Wait()
	expect(t, 0, []string{"1 failed inbound events wait"}, "redrive", "--queue", "inbound", "--dry-run")

	raw := "Received: from mail.sender.example (mail.sender.example [198.51.100.23])\r\n by inbound-smtp.us-east-1.amazonaws.com with SMTP id " + msgID +
		";\r\n Sun, 22 Nov 2026 09:14:02 +0000 (UTC)\r\nFrom: carol@sender.example\r\nTo: alice@example.com\r\nSubject: replayed\r\n\r\nHello again.\r\n"
	if _, err := provision.S3(s.AWS).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(s.Resources.Bucket), Key: aws.String("incoming/" + msgID), Body: strings.NewReader(raw),
	}); err != nil {
		t.Fatal(err)
	}
	expect(t, 0, []string{"replayed 1 failed inbound events"}, "redrive", "--queue", "inbound")
	expect(t, 0, []string{"no failed inbound events"}, "redrive", "--queue", "inbound")
	s.Wait()
	waitFor(t, "the replayed message in the sink", func() (map[string][]string, bool) {
		got := sinkSubjects(t, s.Delivered)
		return got, len(got["alice@example.com"]) == 1 && got["alice@example.com"][0] == "replayed"
	})
	expect(t, 0, []string{"recipient alice@example.com: accepted, delivered"}, "tracking", "show", msgID)
}

func trackingAll(t *testing.T) []tracking.Record {
	t.Helper()
	out, _ := expect(t, 0, nil, "tracking", "search", "--json", "--since", "1h", "--limit", "0")
	var page tracking.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatal(err)
	}
	return page.Records
}

// waitFor polls check until it reports done, for at most a minute (delivery is asynchronous).
func waitFor[T any](t *testing.T, what string, check func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, ok := check()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s; last: %v", what, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sinkSubjects returns the subjects the sink stored per recipient, sorted.
func sinkSubjects(t *testing.T, dir string) map[string][]string {
	out := map[string][]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.eml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^Subject: (\S+)`).FindSubmatch(b)
		if m == nil {
			continue
		}
		rcpt := filepath.Base(filepath.Dir(f))
		out[rcpt] = append(out[rcpt], string(m[1]))
	}
	for _, v := range out {
		sortStrings(v)
	}
	return out
}

// smtpSender returns a function that sends a message and returns the server's reply to it
// ("250 ..." or the refusal): swaks when it is installed (as an operator would try it), else
// net/smtp.
func smtpSender(t *testing.T, addr string) func(from string, to []string, data string) string {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Log("swaks is not installed (apt-get install swaks): sending with net/smtp")
		return func(from string, to []string, data string) string {
			err := smtp.SendMail(addr, nil, from, to, []byte(data))
			var te *textproto.Error
			if errors.As(err, &te) {
				return fmt.Sprintf("%d %s", te.Code, te.Msg)
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			return "250"
		}
	}
	return func(from string, to []string, data string) string {
		f := filepath.Join(t.TempDir(), "msg.eml")
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(swaks, "--server", addr, "--from", from, "--to", strings.Join(to, ","), "--data", "@"+f, "--suppress-data").CombinedOutput()
		// "<** " marks a refusal; the reply to the data ends with "<-  250".
		for _, l := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(l, "<** "); ok {
				return strings.TrimSpace(rest)
			}
		}
		if strings.Contains(string(out), "<-  250 2.0.0 Ok ") {
			return "250"
		}
		t.Fatalf("swaks: unexpected output:\n%s", out)
		return ""
	}
}

// testLog shows the stack's log with go test -v.
func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
