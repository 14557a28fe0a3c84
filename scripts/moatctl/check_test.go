package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../shared/filter/testdata/"

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type checkJSON struct {
	Messages []struct {
		File       string `json:"file"`
		Recipients []struct {
			Recipient    string `json:"recipient"`
			Action       string `json:"action"`
			SMTPCode     int    `json:"smtpCode"`
			EnhancedCode string `json:"enhancedCode"`
			BlockType    string `json:"blockType"`
			Reasons      []struct {
				Code   string `json:"code"`
				Detail string `json:"detail"`
			} `json:"reasons"`
		} `json:"recipients"`
	} `json:"messages"`
}

func TestCheckJSON(t *testing.T) {
	pol := writeFile(t, "policy.yaml", `
domains:
  example.com:
    directory: true
    recipients: [alice@example.com, bob@example.com]
senders:
  - {pattern: "*@sender.example", list: blocked, recipient: bob@example.com}
`)
	code, stdout, stderr := runCLI(t, "check", "--policy", pol, "--to", "alice@example.com", "--to", "bob@example.com",
		"--to", "ghost@example.com", "--json", fixtures+"clean.eml", fixtures+"exe-disguised.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got checkJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if len(got.Messages) != 2 || len(got.Messages[0].Recipients) != 3 {
		t.Fatalf("unexpected shape: %s", stdout)
	}
	clean := got.Messages[0].Recipients
	if clean[0].Action != "deliver" {
		t.Errorf("alice: %+v", clean[0])
	}
	if clean[1].Action != "delete" || clean[1].Reasons[0].Code != "sender-blocked-user" {
		t.Errorf("bob: %+v", clean[1])
	}
	if g := clean[2]; g.Action != "bounce" || g.SMTPCode != 550 || g.EnhancedCode != "5.1.1" || g.BlockType != "permanent" || g.Reasons[0].Code != "recipient-invalid" {
		t.Errorf("ghost: %+v", g)
	}
	if exe := got.Messages[1].Recipients[0]; exe.Action != "quarantine" || exe.Reasons[0].Code != "executable-attachment" {
		t.Errorf("exe: %+v", exe)
	}
}

func TestCheckDefaultsAndTable(t *testing.T) {
	// No policy, no event: the defaults apply, the header recipients are served, verdicts GRAY.
	code, stdout, stderr := runCLI(t, "check", fixtures+"clean.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"RECIPIENT", "alice@example.com", "deliver", "clean"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestCheckEvent(t *testing.T) {
	code, stdout, stderr := runCLI(t, "check", "--event", "../../events/dmarc-reject.json", "--json", fixtures+"clean.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got checkJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	v := got.Messages[0].Recipients[0]
	if v.Action != "bounce" || v.EnhancedCode != "5.7.1" {
		t.Errorf("DMARC reject event: %+v", v)
	}
}

func TestCheckClientIP(t *testing.T) {
	pol := writeFile(t, "policy.json", `{"domains":{"example.com":{}},"ips":{"block":["192.0.2.0/24"]}}`)
	code, stdout, _ := runCLI(t, "check", "--policy", pol, "--client-ip", "192.0.2.5", "--json", fixtures+"clean.eml")
	if code != 0 || !strings.Contains(stdout, `"ip-blocked"`) {
		t.Errorf("exit %d, want ip-blocked:\n%s", code, stdout)
	}
}

func TestCheckErrors(t *testing.T) {
	badPolicy := writeFile(t, "bad.yaml", "domains:\n  example.com:\n    maxRecipients: -5\n")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"invalid policy names field and value", []string{"check", "--policy", badPolicy, fixtures + "clean.eml"}, 2, "maxRecipients"},
		{"invalid policy shows value", []string{"check", "--policy", badPolicy, fixtures + "clean.eml"}, 2, "-5"},
		{"bad client ip", []string{"check", "--client-ip", "300.1.1.1", fixtures + "clean.eml"}, 2, "300.1.1.1"},
		{"no files", []string{"check"}, 2, "no message files"},
		{"missing file", []string{"check", "/nonexistent.eml"}, 1, "nonexistent.eml"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad event", []string{"check", "--event", writeFile(t, "ev.json", `{"Records":[{"ses":{"mail":{"messageId":"../x"}}}]}`), fixtures + "clean.eml"}, 2, "messageId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tt.code, tt.want, stdout, stderr)
			}
		})
	}
}
