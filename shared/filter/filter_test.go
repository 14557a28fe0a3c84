package filter

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/verdict"
)

const testPolicy = `
defaults:
  maxRecipients: 5
domains:
  example.com:
    directory: true
    recipients: [alice@example.com, bob@example.com, carol@example.com]
    maxMessageBytes: 1048576
    archiveMaxLayers: 3
  tagged.example:
    spamAction: tag
    dmarc: quarantine
    virusAction: delete
    subjectTag: "[SUSPECT]"
senders:
  - {pattern: "*@blocked.example", list: blocked}
  - {pattern: "*@partner.example", list: approved}
  - {pattern: "boss@partner.example", list: blocked, recipient: bob@example.com}
  - {pattern: "*@friend.example", list: approved, recipient: alice@example.com}
  - {pattern: "*@friend.example", list: blocked, domain: example.com}
  - {pattern: "*@*.lists.example", list: approved, recipient: carol@example.com}
ips:
  block: [203.0.113.0/24]
  allow: [198.51.100.7]
rules:
  - name: no-iso
    criteria: [{field: attachment-name, op: matches, values: ["*.iso"]}]
    action: quarantine
  - name: overdue-tag
    criteria: [{field: subject, op: contains, values: ["invoice overdue"]}]
    action: tag
    subjectTag: "[EXTERNAL]"
    headers: {X-Rule: overdue}
  - name: secret-bounce
    criteria: [{field: body, op: contains, values: ["top secret"]}]
    action: bounce
`

func compile(t testing.TB, doc string) *policy.Compiled {
	t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("parse policy: %v", err)
	}
	c, err := policy.Compile(p)
	if err != nil {
		t.Fatalf("compile policy: %v", err)
	}
	return c
}

// msg builds a small clean message.
func msg(mods ...func(*message.Message)) *message.Message {
	m := &message.Message{
		From:    message.Address{Addr: "carol@sender.example"},
		Subject: "Hello",
		Text:    "Just saying hello.",
		Size:    2048,
		Parts:   []message.Part{{ContentType: "text/plain", Type: filetype.Text, Size: 18}},
	}
	for _, f := range mods {
		f(m)
	}
	return m
}

func attach(name string, typ filetype.Type, rep *archive.Report) func(*message.Message) {
	return func(m *message.Message) {
		m.Parts = append(m.Parts, message.Part{Filename: name, Attachment: true, Type: typ, Archive: rep, Size: 100})
	}
}

func codes(v verdict.Verdict) string {
	var s []string
	for _, r := range v.Reasons {
		s = append(s, string(r.Code))
	}
	return strings.Join(s, ",")
}

func TestEvaluate(t *testing.T) {
	pol := compile(t, testPolicy)
	gray := SES{Spam: Gray, Virus: Gray, SPF: Gray, DKIM: Gray, DMARC: Gray}
	tests := []struct {
		name      string
		sender    string
		rcpt      string
		msg       *message.Message
		ses       *SES
		facts     Facts
		rcptCount int
		action    verdict.Action
		smtp      string // "550 5.1.1"
		block     verdict.BlockType
		codes     string // the reason trail, comma-joined
		tag       string
	}{
		{name: "clean", rcpt: "alice@example.com", msg: msg(), action: verdict.Deliver},
		// Step 1.
		{name: "domain not served", rcpt: "x@elsewhere.example", msg: msg(), action: verdict.Bounce, smtp: "550 5.1.1", block: verdict.Permanent, codes: "domain-not-served"},
		{name: "not in directory", rcpt: "nobody@example.com", msg: msg(), action: verdict.Bounce, smtp: "550 5.1.1", block: verdict.Permanent, codes: "recipient-invalid"},
		{name: "in stored directory", rcpt: "dave@example.com", msg: msg(), facts: Facts{Directory: map[string]bool{"dave@example.com": true}}, action: verdict.Deliver},
		{name: "no directory on domain", rcpt: "anyone@tagged.example", msg: msg(), action: verdict.Deliver},
		{name: "recipient case folded", rcpt: "Alice@Example.COM", msg: msg(), action: verdict.Deliver},
		// Step 2.
		{name: "admin blocked", sender: "x@blocked.example", rcpt: "alice@example.com", msg: msg(), action: verdict.Delete, block: verdict.Permanent, codes: "sender-blocked"},
		{name: "blocked by header From", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.From.Addr = "y@blocked.example" }), action: verdict.Delete, block: verdict.Permanent, codes: "sender-blocked"},
		{name: "user blocked beats admin approved", sender: "boss@partner.example", rcpt: "bob@example.com", msg: msg(), action: verdict.Delete, block: verdict.Permanent, codes: "sender-blocked-user"},
		{name: "admin approved for others", sender: "boss@partner.example", rcpt: "alice@example.com", msg: msg(), action: verdict.Deliver, codes: "sender-approved"},
		{name: "user approval never overrides admin block", sender: "pal@friend.example", rcpt: "alice@example.com", msg: msg(), action: verdict.Delete, block: verdict.Permanent, codes: "sender-blocked"},
		{name: "user approved wildcard subdomain", sender: "news@weekly.lists.example", rcpt: "carol@example.com", msg: msg(), action: verdict.Deliver, codes: "sender-approved-user"},
		{name: "stored user block", sender: "pest@annoy.example", rcpt: "alice@example.com", msg: msg(),
			facts:  Facts{UserSenders: map[string][]policy.SenderEntry{"alice@example.com": {{Pattern: "*@annoy.example", List: policy.Blocked, Recipient: "alice@example.com"}}}},
			action: verdict.Delete, block: verdict.Permanent, codes: "sender-blocked-user"},
		{name: "approved skips spam", sender: "x@partner.example", rcpt: "alice@example.com", msg: msg(), ses: &SES{Spam: Fail}, action: verdict.Deliver, codes: "sender-approved"},
		{name: "approved skips IP block", sender: "x@partner.example", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.ClientIP = netip.MustParseAddr("203.0.113.9") }), action: verdict.Deliver, codes: "sender-approved"},
		{name: "approved does not skip virus", sender: "x@partner.example", rcpt: "alice@example.com", msg: msg(), ses: &SES{Virus: Fail}, action: verdict.Quarantine, block: verdict.Permanent, codes: "sender-approved,virus"},
		{name: "approved does not skip content rules", sender: "x@partner.example", rcpt: "alice@example.com", msg: msg(attach("disk.ISO", filetype.Unknown, nil)), action: verdict.Quarantine, block: verdict.Permanent, codes: "sender-approved,content-rule"},
		{name: "approval ignored when DMARC fails", sender: "x@partner.example", rcpt: "alice@example.com", msg: msg(), ses: &SES{DMARC: Fail, DMARCPolicy: "none"}, action: verdict.Deliver, codes: "sender-approval-ignored"},
		// Step 3.
		{name: "over size limit", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.Size = 2 << 20 }), action: verdict.Bounce, smtp: "552 5.3.4", block: verdict.SizeLimit, codes: "size-limit"},
		{name: "at size limit", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.Size = 1 << 20 }), action: verdict.Deliver},
		{name: "default size limit elsewhere", rcpt: "x@tagged.example", msg: msg(func(m *message.Message) { m.Size = 2 << 20 }), action: verdict.Deliver},
		{name: "too many recipients", rcpt: "alice@example.com", msg: msg(), rcptCount: 6, action: verdict.Bounce, smtp: "550 5.5.3", block: verdict.Permanent, codes: "recipient-limit"},
		{name: "recipients at limit", rcpt: "alice@example.com", msg: msg(), rcptCount: 5, action: verdict.Deliver},
		// Step 4.
		{name: "admin IP block", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.ClientIP = netip.MustParseAddr("203.0.113.9") }), action: verdict.Delete, block: verdict.Permanent, codes: "ip-blocked"},
		{name: "admin IP allow", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.ClientIP = netip.MustParseAddr("198.51.100.7") }), action: verdict.Deliver, codes: "ip-allowed"},
		// Step 5.
		{name: "virus quarantined", rcpt: "alice@example.com", msg: msg(), ses: &SES{Virus: Fail}, action: verdict.Quarantine, block: verdict.Permanent, codes: "virus"},
		{name: "virus deleted by domain policy", rcpt: "x@tagged.example", msg: msg(), ses: &SES{Virus: Fail}, action: verdict.Delete, block: verdict.Permanent, codes: "virus"},
		{name: "virus scan failed is a scan exception", rcpt: "alice@example.com", msg: msg(), ses: &SES{Virus: ProcessingFailed}, action: verdict.Quarantine, block: verdict.Permanent, codes: "virus-scan-failed"},
		{name: "DMARC reject honoured", rcpt: "alice@example.com", msg: msg(), ses: &SES{SPF: Fail, DKIM: Fail, DMARC: Fail, DMARCPolicy: "reject"}, action: verdict.Bounce, smtp: "550 5.7.1", block: verdict.Permanent, codes: "spf-fail,dkim-fail,dmarc-reject"},
		{name: "DMARC quarantine honoured", rcpt: "alice@example.com", msg: msg(), ses: &SES{DMARC: Fail, DMARCPolicy: "quarantine"}, action: verdict.Quarantine, block: verdict.Permanent, codes: "dmarc-quarantine"},
		{name: "DMARC none delivers", rcpt: "alice@example.com", msg: msg(), ses: &SES{DMARC: Fail, DMARCPolicy: "none"}, action: verdict.Deliver},
		{name: "DMARC reject quarantined by domain policy", rcpt: "x@tagged.example", msg: msg(), ses: &SES{DMARC: Fail, DMARCPolicy: "reject"}, action: verdict.Quarantine, block: verdict.Permanent, codes: "dmarc-reject"},
		{name: "SPF fail alone is informational", rcpt: "alice@example.com", msg: msg(), ses: &SES{SPF: Fail}, action: verdict.Deliver, codes: "spf-fail"},
		// Step 6.
		{name: "SES spam quarantined", rcpt: "alice@example.com", msg: msg(), ses: &SES{Spam: Fail}, action: verdict.Quarantine, block: verdict.Permanent, codes: "spam"},
		{name: "SES spam tagged by domain policy", rcpt: "x@tagged.example", msg: msg(), ses: &SES{Spam: Fail}, action: verdict.Tag, codes: "spam", tag: "[SUSPECT]"},
		{name: "tagged spam still hits a content rule", rcpt: "x@tagged.example", msg: msg(attach("a.iso", filetype.Unknown, nil)), ses: &SES{Spam: Fail}, action: verdict.Quarantine, block: verdict.Permanent, codes: "spam,content-rule", tag: "[SUSPECT]"},
		// Step 7.
		{name: "executable attachment", rcpt: "alice@example.com", msg: msg(attach("invoice.pdf", filetype.PE, nil)), action: verdict.Quarantine, block: verdict.Permanent, codes: "executable-attachment"},
		{name: "executable inside archive", rcpt: "alice@example.com", msg: msg(attach("docs.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 2, Files: 2, Entries: []archive.Entry{{Path: "inner.zip/run.exe", Type: filetype.PE, Depth: 2}}})), action: verdict.Quarantine, block: verdict.Permanent, codes: "executable-attachment"},
		{name: "archive within domain layers", rcpt: "alice@example.com", msg: msg(attach("n.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 3, Files: 3})), action: verdict.Deliver},
		{name: "archive over domain layers", rcpt: "alice@example.com", msg: msg(attach("n.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 4, Files: 4})), action: verdict.Quarantine, block: verdict.Permanent, codes: "archive-depth"},
		{name: "archive depth default 20 elsewhere", rcpt: "x@tagged.example", msg: msg(attach("n.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 20, Files: 20})), action: verdict.Deliver},
		{name: "inspection stopped at depth", rcpt: "x@tagged.example", msg: msg(attach("n.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 20, Exceeded: []archive.Limit{archive.LimitDepth}})), action: verdict.Quarantine, block: verdict.Permanent, codes: "archive-depth"},
		{name: "zip bomb by size", rcpt: "alice@example.com", msg: msg(attach("b.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 1, Files: 1, Bytes: 60 << 20, Exceeded: []archive.Limit{archive.LimitBytes}})), action: verdict.Quarantine, block: verdict.SizeLimit, codes: "archive-size"},
		{name: "zip bomb by ratio", rcpt: "alice@example.com", msg: msg(attach("b.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 1, Files: 1, MaxRatio: 1000})), action: verdict.Quarantine, block: verdict.Permanent, codes: "archive-ratio"},
		{name: "too many files", rcpt: "alice@example.com", msg: msg(attach("f.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 1, Files: 354})), action: verdict.Quarantine, block: verdict.Permanent, codes: "archive-files"},
		{name: "password-protected archive", rcpt: "alice@example.com", msg: msg(attach("p.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Depth: 1, Files: 1, Encrypted: true})), action: verdict.Quarantine, block: verdict.Permanent, codes: "archive-encrypted"},
		{name: "corrupt archive", rcpt: "alice@example.com", msg: msg(attach("c.zip", filetype.ZIP, &archive.Report{Format: filetype.ZIP, Corrupt: "zip: not a valid zip file"})), action: verdict.Quarantine, block: verdict.Permanent, codes: "archive-corrupt"},
		{name: "unscannable message", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.Unscannable = "header-too-large" }), action: verdict.Quarantine, block: verdict.Permanent, codes: "message-malformed"},
		// Step 8.
		{name: "content rule quarantine", rcpt: "alice@example.com", msg: msg(attach("image.iso", filetype.Unknown, nil)), action: verdict.Quarantine, block: verdict.Permanent, codes: "content-rule"},
		{name: "content rule tag", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.Subject = "Re: Invoice overdue!" }), action: verdict.Tag, codes: "content-rule", tag: "[EXTERNAL]"},
		{name: "content rule bounce", rcpt: "alice@example.com", msg: msg(func(m *message.Message) { m.Text = "this is TOP SECRET stuff" }), action: verdict.Bounce, smtp: "550 5.7.1", block: verdict.Permanent, codes: "content-rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ses := gray
			if tt.ses != nil {
				ses = *tt.ses
			}
			env := Envelope{MessageID: "m1", Sender: tt.sender, Recipients: []string{tt.rcpt}}
			for i := 1; i < tt.rcptCount; i++ {
				env.Destination = append(env.Destination, "x@x.example")
			}
			if tt.rcptCount > 0 {
				env.Destination = append(env.Destination, tt.rcpt)
			}
			got := Evaluate(pol, Input{Msg: tt.msg, Envelope: env, SES: ses, Facts: tt.facts})
			if len(got) != 1 {
				t.Fatalf("%d verdicts, want 1", len(got))
			}
			v := got[0]
			smtp := ""
			if v.SMTPCode != 0 {
				smtp = fmt.Sprintf("%d %s", v.SMTPCode, v.EnhancedCode)
			}
			if v.Action != tt.action || smtp != tt.smtp || v.BlockType != tt.block || codes(v) != tt.codes || v.SubjectTag != tt.tag {
				t.Errorf("got action=%s smtp=%q block=%q codes=%q tag=%q\nwant action=%s smtp=%q block=%q codes=%q tag=%q\nreasons: %+v",
					v.Action, smtp, v.BlockType, codes(v), v.SubjectTag, tt.action, tt.smtp, tt.block, tt.codes, tt.tag, v.Reasons)
			}
			if v.Recipient != strings.ToLower(tt.rcpt) {
				t.Errorf("recipient = %q", v.Recipient)
			}
		})
	}
}

func TestVerdictHeaders(t *testing.T) {
	pol := compile(t, testPolicy)
	m := msg(func(m *message.Message) { m.Subject = "invoice overdue" })
	got := Evaluate(pol, Input{Msg: m, Envelope: Envelope{MessageID: "abc", Recipients: []string{"alice@example.com", "nobody@example.com"}}})
	tag, bounced := got[0], got[1]
	if tag.Headers[HeaderVerdict] != "tag" || tag.Headers[HeaderReasons] != "content-rule" || tag.Headers[HeaderID] != "abc" || tag.Headers["X-Rule"] != "overdue" {
		t.Errorf("tagged headers = %v", tag.Headers)
	}
	if bounced.Headers != nil {
		t.Errorf("a bounced recipient carries no delivery headers, got %v", bounced.Headers)
	}
	clean := Evaluate(pol, Input{Msg: msg(), Envelope: Envelope{Recipients: []string{"bob@example.com"}}})[0]
	if clean.Headers[HeaderReasons] != "clean" {
		t.Errorf("clean reasons header = %q", clean.Headers[HeaderReasons])
	}
}

func TestParseOptionsTakesWidestLimits(t *testing.T) {
	pol := compile(t, testPolicy)
	if got := ParseOptions(pol, []string{"alice@example.com"}).Archive.MaxDepth; got != 3 {
		t.Errorf("example.com depth = %d, want 3", got)
	}
	if got := ParseOptions(pol, []string{"alice@example.com", "x@tagged.example"}).Archive.MaxDepth; got != 20 {
		t.Errorf("mixed depth = %d, want 20", got)
	}
}
