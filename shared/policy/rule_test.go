package policy

import (
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/verdict"
)

// rule compiles a one-rule policy for example.com.
func rule(t testing.TB, match string, crit ...Criterion) *CompiledRule {
	t.Helper()
	p := &Policy{
		Domains: map[string]Domain{"example.com": {}},
		Rules:   []Rule{{Name: "r", Match: match, Criteria: crit, Action: verdict.Quarantine}},
	}
	c, err := Compile(p)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c.Rules("example.com")[0]
}

func crit(field, op string, values ...string) Criterion {
	return Criterion{Field: field, Op: op, Values: values}
}

func TestCriteria(t *testing.T) {
	zipWith := func(entries ...archive.Entry) []message.Part {
		return []message.Part{{Filename: "docs.zip", Type: filetype.ZIP, Archive: &archive.Report{Format: filetype.ZIP, Entries: entries}}}
	}
	tests := []struct {
		name string
		c    Criterion
		in   RuleInput
		want bool
	}{
		// subject contains: whole words or phrases, case-insensitive, any white space.
		{"subject word", crit("subject", "contains", "invoice"), RuleInput{Msg: &message.Message{Subject: "Your Invoice is ready"}}, true},
		{"subject phrase", crit("subject", "contains", "invoice overdue"), RuleInput{Msg: &message.Message{Subject: "Re: INVOICE   overdue!"}}, true},
		{"subject phrase across a line break", crit("subject", "contains", "invoice overdue"), RuleInput{Msg: &message.Message{Subject: "invoice\r\n\toverdue"}}, true},
		{"subject phrase spaced in value", crit("subject", "contains", "invoice  overdue"), RuleInput{Msg: &message.Message{Subject: "invoice overdue"}}, true},
		{"subject not a part of a word", crit("subject", "contains", "invoice"), RuleInput{Msg: &message.Message{Subject: "invoices"}}, false},
		{"subject not inside a word", crit("subject", "contains", "voice"), RuleInput{Msg: &message.Message{Subject: "invoice"}}, false},
		{"subject phrase needs its words", crit("subject", "contains", "invoice overdue"), RuleInput{Msg: &message.Message{Subject: "invoices overdue"}}, false},
		{"subject later occurrence", crit("subject", "contains", "pay"), RuleInput{Msg: &message.Message{Subject: "payment: please pay"}}, true},
		{"subject any value", crit("subject", "contains", "lottery", "winner"), RuleInput{Msg: &message.Message{Subject: "You are a WINNER"}}, true},
		{"subject punctuation boundary", crit("subject", "contains", "urgent"), RuleInput{Msg: &message.Message{Subject: "[URGENT]"}}, true},
		{"subject underscore is a word character", crit("subject", "contains", "urgent"), RuleInput{Msg: &message.Message{Subject: "urgent_reply"}}, false},
		{"subject symbols", crit("subject", "contains", "$$$"), RuleInput{Msg: &message.Message{Subject: "win$$$now"}}, true},
		{"subject c++", crit("subject", "contains", "c++"), RuleInput{Msg: &message.Message{Subject: "I like C++."}}, true},
		{"subject unicode", crit("subject", "contains", "überweisung"), RuleInput{Msg: &message.Message{Subject: "Dringende ÜBERWEISUNG"}}, true},
		{"subject unicode word boundary", crit("subject", "contains", "über"), RuleInput{Msg: &message.Message{Subject: "Überweisung"}}, false},
		{"subject empty", crit("subject", "contains", "x"), RuleInput{Msg: &message.Message{}}, false},
		{"subject matches", crit("subject", "matches", `^re:\s+\d+`), RuleInput{Msg: &message.Message{Subject: "RE: 42 things"}}, true},
		{"subject matches case-sensitive opt-out", crit("subject", "matches", `(?-i)^re:`), RuleInput{Msg: &message.Message{Subject: "RE: x"}}, false},
		{"subject matches none", crit("subject", "matches", `^\d+$`), RuleInput{Msg: &message.Message{Subject: "abc"}}, false},

		// body.
		{"body contains", crit("body", "contains", "top secret"), RuleInput{Msg: &message.Message{Text: "this is\nTOP\n\nSECRET stuff"}}, true},
		{"body contains not", crit("body", "contains", "secret"), RuleInput{Msg: &message.Message{Text: "secretary"}}, false},
		{"body matches", crit("body", "matches", `account\s+number\s*:\s*\d{8}`), RuleInput{Msg: &message.Message{Text: "Account Number: 12345678"}}, true},
		{"body matches required literal absent", crit("body", "matches", `account\s+number`), RuleInput{Msg: &message.Message{Text: "Account Nr: 12345678"}}, false},
		{"body matches alternation", crit("body", "matches", `(wire|bank) transfer`), RuleInput{Msg: &message.Message{Text: "a BANK  transfer"}}, false},
		{"body matches alternation single space", crit("body", "matches", `(wire|bank) transfer`), RuleInput{Msg: &message.Message{Text: "a BANK transfer"}}, true},
		{"body matches optional literal", crit("body", "matches", `pay(ment)? now`), RuleInput{Msg: &message.Message{Text: "pay now"}}, true},
		{"body matches across case folding orbits", crit("body", "matches", `transfer|σοφος`), RuleInput{Msg: &message.Message{Text: "ΣΟΦΟΣ"}}, true},
		{"body matches long s", crit("body", "matches", `transfer`), RuleInput{Msg: &message.Message{Text: "tranſfer"}}, true},
		{"body matches final sigma", crit("body", "matches", `σοφοσ`), RuleInput{Msg: &message.Message{Text: "σοφος"}}, true},
		{"body contains final sigma", crit("body", "contains", "σοφοσ"), RuleInput{Msg: &message.Message{Text: "ΣΟΦΟΣ"}}, true},
		{"body matches case-sensitive literal", crit("body", "matches", `(?-i)URGENT`), RuleInput{Msg: &message.Message{Text: "very URGENT"}}, true},

		// header:<Name>.
		{"header contains", crit("header:X-Mailer", "contains", "mass mailer"), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "x-mailer", Value: "Mass Mailer 3.0"}}}}, true},
		{"header any field of that name", crit("header:Received", "contains", "evil"), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "Received", Value: "from good"}, {Name: "Received", Value: "from evil"}}}}, true},
		{"header phrase does not span fields", crit("header:Received", "contains", "good from"), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "Received", Value: "from good"}, {Name: "Received", Value: "from evil"}}}}, false},
		{"header encoded words", crit("header:X-Note", "contains", "überweisung sofort"), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "X-Note", Value: "=?utf-8?q?=C3=9Cberweisung_sofort?="}}}}, true},
		{"header matches encoded words", crit("header:X-Note", "matches", `^Überweisung`), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "X-Note", Value: "=?utf-8?q?=C3=9Cberweisung_sofort?="}}}}, true},
		{"header absent", crit("header:X-Mailer", "contains", "x"), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "Subject", Value: "x"}}}}, false},
		{"header matches", crit("header:X-Spam-Score", "matches", `^[5-9]\.`), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "X-Spam-Score", Value: "7.5"}}}}, true},
		{"header matches other field", crit("header:X-Spam-Score", "matches", `.`), RuleInput{Msg: &message.Message{Header: message.Header{{Name: "X-Other", Value: "7.5"}}}}, false},

		// from, to.
		{"from contains domain", crit("from", "contains", "example.net"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "bob@example.net"}}}, true},
		{"from contains display name", crit("from", "contains", "ceo"), RuleInput{Msg: &message.Message{From: message.Address{Name: "The CEO", Addr: "x@evil.example"}}}, true},
		{"from contains not a subdomain part", crit("from", "contains", "example.net"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "bob@example.network"}}}, false},
		{"from matches", crit("from", "matches", `@evil\.example>?$`), RuleInput{Msg: &message.Message{From: message.Address{Name: "X", Addr: "x@evil.example"}}}, true},
		{"to contains", crit("to", "contains", "all-staff@example.com"), RuleInput{Msg: &message.Message{To: []message.Address{{Addr: "a@example.com"}}, Cc: []message.Address{{Addr: "all-staff@example.com"}}}}, true},
		{"to contains not", crit("to", "contains", "all-staff@example.com"), RuleInput{Msg: &message.Message{To: []message.Address{{Addr: "a@example.com"}}}}, false},
		{"to matches", crit("to", "matches", `^a@`), RuleInput{Msg: &message.Message{To: []message.Address{{Addr: "a@example.com"}, {Addr: "b@example.com"}}}}, true},

		// attachment-name.
		{"attachment name", crit("attachment-name", "matches", "*.iso"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "disk.iso"}}}}, true},
		{"attachment name case", crit("attachment-name", "matches", "*.ISO"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "Disk.Iso"}}}}, true},
		{"attachment name exact", crit("attachment-name", "matches", "Invoice.PDF"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "invoice.pdf"}}}}, true},
		{"attachment name glob", crit("attachment-name", "matches", "invoice_??.[pd][dco]*"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "INVOICE_12.docm"}}}}, true},
		{"attachment name any glob", crit("attachment-name", "matches", "*.img", "*.iso"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "a.txt"}, {Filename: "b.iso"}}}}, true},
		{"attachment name no match", crit("attachment-name", "matches", "*.iso"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "iso.txt"}, {ContentType: "text/plain"}}}}, false},
		{"attachment name in archive", crit("attachment-name", "matches", "*.iso"), RuleInput{Msg: &message.Message{Parts: zipWith(archive.Entry{Path: "inner.zip/deep/Disk.ISO"})}}, true},
		{"attachment name base only", crit("attachment-name", "matches", "deep*"), RuleInput{Msg: &message.Message{Parts: zipWith(archive.Entry{Path: "deep/file.txt"})}}, false},
		{"attachment name windows path", crit("attachment-name", "matches", "*.exe"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: `C:\temp\run.exe`}}}}, true},
		{"attachment name star", crit("attachment-name", "matches", "*"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "x"}}}}, true},
		{"attachment name star needs a name", crit("attachment-name", "matches", "*"), RuleInput{Msg: &message.Message{Parts: []message.Part{{ContentType: "text/plain"}}}}, false},

		// attachment-type.
		{"attachment type", crit("attachment-type", "is", "pe"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "invoice.pdf", Type: filetype.PE}}}}, true},
		{"attachment type in archive", crit("attachment-type", "is", "elf", "pe"), RuleInput{Msg: &message.Message{Parts: zipWith(archive.Entry{Path: "a/run", Type: filetype.PE})}}, true},
		{"attachment type the archive itself", crit("attachment-type", "is", "zip"), RuleInput{Msg: &message.Message{Parts: zipWith()}}, true},
		{"attachment type upper case value", crit("attachment-type", "is", "PE"), RuleInput{Msg: &message.Message{Parts: []message.Part{{Type: filetype.PE}}}}, true},
		{"attachment type no match", crit("attachment-type", "is", "pe"), RuleInput{Msg: &message.Message{Parts: zipWith(archive.Entry{Path: "a.pdf", Type: filetype.PDF})}}, false},

		// size, recipient-count.
		{"size gt", crit("size", "gt", "10MB"), RuleInput{Msg: &message.Message{Size: 10<<20 + 1}}, true},
		{"size gt at the value", crit("size", "gt", "10MB"), RuleInput{Msg: &message.Message{Size: 10 << 20}}, false},
		{"size lt bytes", crit("size", "lt", "1000"), RuleInput{Msg: &message.Message{Size: 999}}, true},
		{"size lt kb", crit("size", "lt", "1 KB"), RuleInput{Msg: &message.Message{Size: 1024}}, false},
		{"size gt fraction", crit("size", "gt", "1.5gb"), RuleInput{Msg: &message.Message{Size: 1<<30 + 1<<29 + 1}}, true},
		{"recipient count gt", crit("recipient-count", "gt", "50"), RuleInput{Msg: &message.Message{}, RecipientCount: 51}, true},
		{"recipient count gt not", crit("recipient-count", "gt", "50"), RuleInput{Msg: &message.Message{}, RecipientCount: 50}, false},
		{"recipient count lt", crit("recipient-count", "lt", "2"), RuleInput{Msg: &message.Message{}, RecipientCount: 1}, true},

		// Blank.
		{"subject blank", crit("subject-blank", "is"), RuleInput{Msg: &message.Message{Subject: " \t "}}, true},
		{"subject not blank", crit("subject-blank", "is"), RuleInput{Msg: &message.Message{Subject: "."}}, false},
		{"body blank", crit("body-blank", "is"), RuleInput{Msg: &message.Message{Text: "\r\n\r\n"}}, true},
		{"body not blank", crit("body-blank", "is"), RuleInput{Msg: &message.Message{Text: "hi"}}, false},

		// from-mismatch.
		{"from mismatch", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "ceo@example.com"}}, Sender: "x@evil.example"}, true},
		{"from match", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "a@example.net"}}, Sender: "b@EXAMPLE.net"}, false},
		{"from same organisation", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "a@example.net"}}, Sender: "bounces@mail.example.net"}, false},
		{"from same organisation under a public suffix", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "a@shop.example.co.uk"}}, Sender: "b@mail.example.co.uk"}, false},
		{"from other organisation under a public suffix", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "a@one.co.uk"}}, Sender: "b@two.co.uk"}, true},
		{"from mismatch bounce", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "postmaster@example.com"}}, Sender: ""}, false},
		{"from mismatch no From", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{}, Sender: "x@evil.example"}, false},
		{"from mismatch sender without domain", crit("from-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "a@example.com"}}, Sender: "MAILER-DAEMON"}, false},

		// reply-to-mismatch.
		{"reply-to mismatch", crit("reply-to-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "ceo@example.com"}, ReplyTo: []message.Address{{Addr: "ceo@freemail.example"}}}}, true},
		{"reply-to any", crit("reply-to-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "ceo@example.com"}, ReplyTo: []message.Address{{Addr: "a@example.com"}, {Addr: "b@freemail.example"}}}}, true},
		{"reply-to same", crit("reply-to-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "ceo@example.com"}, ReplyTo: []message.Address{{Addr: "help@support.example.com"}}}}, false},
		{"reply-to none", crit("reply-to-mismatch", "is"), RuleInput{Msg: &message.Message{From: message.Address{Addr: "ceo@example.com"}}}, false},
		{"reply-to no From", crit("reply-to-mismatch", "is"), RuleInput{Msg: &message.Message{ReplyTo: []message.Address{{Addr: "a@x.example"}}}}, false},

		// Negate.
		{"negate", Criterion{Field: "subject", Op: "contains", Values: []string{"invoice"}, Negate: true}, RuleInput{Msg: &message.Message{Subject: "hello"}}, true},
		{"negate a match", Criterion{Field: "subject-blank", Op: "is", Negate: true}, RuleInput{Msg: &message.Message{}}, false},

		// A missing message is an empty one.
		{"nil message", crit("subject-blank", "is"), RuleInput{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rule(t, "", tt.c)
			in := tt.in
			if got := r.Match(&in); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			// The cached second call answers the same.
			if got := r.Match(&in); got != tt.want {
				t.Errorf("second Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchAllAny(t *testing.T) {
	yes := crit("subject", "contains", "yes")
	no := crit("subject", "contains", "no")
	in := RuleInput{Msg: &message.Message{Subject: "yes"}}
	for _, tt := range []struct {
		match string
		c     []Criterion
		want  bool
	}{
		{"", []Criterion{yes, yes}, true},
		{"all", []Criterion{yes, no}, false},
		{"any", []Criterion{no, yes}, true},
		{"any", []Criterion{no, no}, false},
	} {
		if got := rule(t, tt.match, tt.c...).Match(&in); got != tt.want {
			t.Errorf("match %q %v = %v", tt.match, tt.c, got)
		}
	}
}

func TestRuleInputCacheFollowsMessage(t *testing.T) {
	r := rule(t, "", crit("subject", "contains", "invoice"))
	in := RuleInput{Msg: &message.Message{Subject: "invoice"}}
	if !r.Match(&in) {
		t.Fatal("no match")
	}
	in.Msg = &message.Message{Subject: "hello"}
	if r.Match(&in) {
		t.Error("the cache kept the previous message's subject")
	}
}

func TestRuleMatchAllocations(t *testing.T) {
	r := rule(t, "", crit("subject", "contains", "invoice overdue", "payment"), crit("body", "contains", "wire transfer"))
	in := RuleInput{Msg: &message.Message{Subject: "Invoice overdue", Text: strings.Repeat("Please make the wire transfer today. ", 100)}}
	r.Match(&in) // fills the cache
	if n := testing.AllocsPerRun(100, func() { r.Match(&in) }); n != 0 {
		t.Errorf("Match allocates %v times once the texts are folded", n)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"  Hello\r\n\tWORLD  ": "hello world",
		"ÜBER\u00a0Straße":     "über straße",
		"":                     "",
		"a\xffb":               "a\ufffdb",
		"ΣΟΦΟΣ σοφος":          "σοφοσ σοφοσ",
		"Straſſe \u212aelvin":  "strasse kelvin",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1000": 1000, "10KB": 10240, "10kb": 10240, "10 MB": 10 << 20, "1GB": 1 << 30,
		"2MiB": 2 << 20, "1.5KB": 1536, "5M": 5 << 20, "7B": 7, " 3 k ": 3072,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1", "1e6", "0x10", "1.", ".5", "ten", "10TB", "inf", "NaN", "99999999999999999999", "1,000", "1_000"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}
