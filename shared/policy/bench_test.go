package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
)

// senderPolicy has n sender entries spread over the three scopes and the three pattern
// forms, across 10 served domains.
func senderPolicy(n int) *Policy {
	p := &Policy{Domains: map[string]Domain{}}
	for d := range 10 {
		p.Domains[fmt.Sprintf("customer%d.example", d)] = Domain{}
	}
	lists := []List{Approved, Blocked}
	for i := range n {
		e := SenderEntry{List: lists[i%2]}
		switch i % 3 {
		case 0:
			e.Pattern = fmt.Sprintf("user%d@host%d.sender%d.example", i, i%7, i)
		case 1:
			e.Pattern = fmt.Sprintf("*@sender%d.example", i)
		case 2:
			e.Pattern = fmt.Sprintf("*@*.sender%d.example", i)
		}
		switch i % 4 {
		case 1:
			e.Domain = fmt.Sprintf("customer%d.example", i%10)
		case 2:
			e.Recipient = fmt.Sprintf("user%d@customer%d.example", i%100, i%10)
		}
		p.Senders = append(p.Senders, e)
	}
	return p
}

func BenchmarkSenderLookup(b *testing.B) {
	c, err := Compile(senderPolicy(10000))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Sender(Blocked, false, "user1@customer1.example", "news@mail.unknown.example", "news@unknown.example"); ok {
				b.Fatal("unexpected hit")
			}
		}
	})
	b.Run("hit-subdomain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Sender(Approved, false, "user1@customer1.example", "a@mx.deep.sender9992.example"); !ok {
				b.Fatal("no hit")
			}
		}
	})
	b.Run("user-scope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Sender(Blocked, true, "user2@customer2.example", "user2@host2.sender2.example")
		}
	})
}

// BenchmarkSenderLinearScan is the baseline the index replaces: Pattern.Match over every
// entry.
func BenchmarkSenderLinearScan(b *testing.B) {
	p := senderPolicy(10000)
	pats := make([]Pattern, len(p.Senders))
	for i, e := range p.Senders {
		pats[i] = MustParsePattern(e.Pattern)
	}
	for b.Loop() {
		for _, pat := range pats {
			if pat.Match("news@mail.unknown.example") {
				b.Fatal("unexpected hit")
			}
		}
	}
}

const benchRules = `
domains:
  example.com: {}
rules:
  - name: block-disk-images
    criteria: [{field: attachment-name, op: matches, values: ["*.iso", "*.img", "*.vhd"]}]
    action: quarantine
  - name: overdue
    criteria:
      - {field: subject, op: contains, values: ["invoice overdue", "payment overdue", "final notice"]}
      - {field: from-mismatch, op: is}
    action: tag
  - name: wire-fraud
    match: any
    criteria:
      - {field: body, op: contains, values: ["wire transfer", "gift cards", "bitcoin wallet", "urgent payment"]}
      - {field: body, op: matches, values: ['account\s+number\s*:\s*\d{8,}']}
    action: quarantine
  - name: executables
    criteria: [{field: attachment-type, op: is, values: [pe, elf, mach-o, script, lnk]}]
    action: quarantine
  - name: mass-mailer
    criteria: [{field: "header:X-Mailer", op: contains, values: [mass mailer]}]
    action: tag
`

func benchMessage() *message.Message {
	return &message.Message{
		Header:  message.Header{{Name: "From", Value: "Alice <alice@partner.example>"}, {Name: "X-Mailer", Value: "Thunderbird 115"}},
		From:    message.Address{Name: "Alice", Addr: "alice@partner.example"},
		To:      []message.Address{{Addr: "bob@example.com"}},
		Subject: "Re: Quarterly report and the invoice for March",
		Text:    strings.Repeat("Hello Bob, please find the quarterly figures attached. Let me know if anything is unclear.\n", 100),
		Size:    48 << 10,
		Parts: []message.Part{
			{ContentType: "text/plain", Type: filetype.Text, Size: 9000},
			{Filename: "Report-Q1.xlsx", Type: filetype.OOXML, Size: 30000},
			{Filename: "photos.zip", Type: filetype.ZIP, Archive: &archive.Report{Format: filetype.ZIP, Entries: []archive.Entry{{Path: "a.jpg", Type: filetype.JPEG}, {Path: "b.jpg", Type: filetype.JPEG}}}},
		},
	}
}

// BenchmarkRuleMatch runs five typical rules over an ordinary 9 KB message that none of them
// matches, with a fresh RuleInput per message (so the texts are folded every time).
func BenchmarkRuleMatch(b *testing.B) {
	c := mustCompile(b, benchRules)
	rules := c.Rules("example.com")
	msg := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		in := RuleInput{Msg: msg, Sender: "alice@partner.example", RecipientCount: 1}
		for _, r := range rules {
			if r.Match(&in) {
				b.Fatalf("%s matched", r.Rule().Name)
			}
		}
	}
}

// BenchmarkRuleMatchCached is the cost of the rules once a message's texts are folded, as
// for its second and later recipients.
func BenchmarkRuleMatchCached(b *testing.B) {
	c := mustCompile(b, benchRules)
	rules := c.Rules("example.com")
	in := RuleInput{Msg: benchMessage(), Sender: "alice@partner.example", RecipientCount: 1}
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rules {
			r.Match(&in)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	p := senderPolicy(10000)
	p.Rules = mustParse(b, benchRules).Rules
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}

func mustParse(tb testing.TB, doc string) *Policy {
	tb.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
