package policy

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
	"golang.org/x/net/publicsuffix"
)

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"name@host.example.com", "*@example.com", "*@server.example.com", "*@*.example.com",
		"*@*", "*@*.com", "*@*.co.uk", "*@*.example.co.uk", "name@*.example.com", "*foo@example.com",
		"example.com", "@example.com", "a@", "a b@example.com", "*@münchen.de", "*@xn--mnchen-3ya.de",
		"a..b@example.com", "*@*.*.example.com", "*@192.0.2.1", "\"q\"@example.com",
	} {
		f.Add(s, "someone@mail.example.com")
	}
	f.Fuzz(func(t *testing.T, s, addr string) {
		p, err := ParsePattern(s)
		if err != nil {
			if !strings.Contains(err.Error(), "is not a valid sender pattern") && !strings.Contains(err.Error(), "is refused") {
				t.Fatalf("error %q is neither invalid nor refused", err)
			}
			if p != (Pattern{}) {
				t.Fatalf("a failed parse returned %+v", p)
			}
			return
		}
		norm := p.String()
		q, err := ParsePattern(norm)
		if err != nil || q != p {
			t.Fatalf("ParsePattern(%q) = %+v; its String %q reparses to %+v, %v", s, p, norm, q, err)
		}
		if p.domain == "" || strings.Contains(p.domain, "*") || strings.Contains(p.local, "*") {
			t.Fatalf("%q parsed to %+v", s, p)
		}
		if p.sub {
			if ps, _ := publicsuffix.PublicSuffix(p.domain); ps == p.domain {
				t.Fatalf("%q: a wildcard over the public suffix %s was accepted", s, p.domain)
			}
			if p.local != "" {
				t.Fatalf("%q: a named sender with a wildcard domain was accepted", s)
			}
			if !p.Match("x@a."+p.domain) || p.Match("x@"+p.domain) {
				t.Fatalf("%s does not match as documented", norm)
			}
		} else if p.local != "" && !p.Match(norm) {
			t.Fatalf("%s does not match itself", norm)
		}
		p.Match(addr) // must not panic
	})
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	invalid, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, file := range append(seeds, invalid...) {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"{}", "defaults: {maxRecipients: 5}", `{"domains": {"example.com": {"directory": true}}}`,
		"domains:\n  example.com:\n    recipients: []\n", "rules: [{name: r, criteria: [{field: size, op: gt, values: [1]}], action: tag}]\ndomains: {a.example: {}}",
		"ips: {block: ['::ffff:1.2.3.4/128']}", "defaults: {subjectTag: 'on'}", "senders: [{pattern: '*@x.example', list: blocked}]",
	} {
		f.Add([]byte(s))
	}
	msg := &message.Message{
		Header:  message.Header{{Name: "X-Mailer", Value: "Fuzz 1.0"}},
		From:    message.Address{Name: "A", Addr: "a@example.com"},
		ReplyTo: []message.Address{{Addr: "r@example.net"}},
		To:      []message.Address{{Addr: "b@example.com"}},
		Subject: "Invoice overdue", Text: "please pay", Size: 12345,
		Parts: []message.Part{{Filename: "a.zip", Type: filetype.ZIP, Archive: &archive.Report{Entries: []archive.Entry{{Path: "x/disk.iso", Type: filetype.ISO}}}}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a policy with an error")
			}
			return
		}
		c, err := Compile(p)
		if err != nil {
			t.Fatalf("a parsed policy does not compile: %v", err)
		}
		out, err := Marshal(p)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		again, err := Marshal(q)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("Marshal is not canonical:\n%s\n---\n%s", out, again)
		}
		// The lookups never panic.
		domains := append(sortedKeys(p.Domains), "unserved.example")
		for _, d := range domains {
			c.Effective(d)
			c.InDirectory("a@" + d)
			c.Sender(Blocked, false, "a@"+d, "a@example.com", "x@sub.example.net")
			c.Sender(Approved, true, "a@"+d, "a@example.com")
			c.IP(d, netip.MustParseAddr("192.0.2.1"))
			c.IP(d, netip.MustParseAddr("2001:db8::1"))
			in := RuleInput{Msg: msg, Sender: "s@example.org", RecipientCount: 3}
			for _, r := range c.Rules(d) {
				r.Match(&in)
			}
		}
	})
}

// FuzzRegexPrefilter checks that the literal prefilter never rules out a text the expression
// matches.
func FuzzRegexPrefilter(f *testing.F) {
	f.Add(`account\s+number`, "ACCOUNT  Number")
	f.Add(`(?i)transfer`, "TRANſFER")
	f.Add(`σοφος`, "ΣΟΦΟΣ")
	f.Add(`(wire|bank)\ntransfer`, "bank\ntransfer")
	f.Add(`(?-i)a b{2,}c`, " A bbc")
	f.Fuzz(func(t *testing.T, expr, text string) {
		re, err := compileRegexp(expr)
		if err != nil {
			return
		}
		r := regex{re: re, need: requiredLiterals(expr)}
		if re.MatchString(text) && !r.possible(fold(text)) {
			t.Fatalf("%q matches %q but the prefilter %q rules it out (folded %q)", expr, text, r.need, fold(text))
		}
	})
}
