package heuristic_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/archive/archivetest"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

func parse(t *testing.T, b *messagetest.Builder) *message.Message {
	t.Helper()
	m, err := message.Parse(bytes.NewReader(b.Bytes()), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ctx() *heuristic.Context {
	return &heuristic.Context{
		Domains:    []string{"example.com", "corp-bank.co.uk"},
		Executives: []string{"Jane Q. Doe"},
		Sender:     "bounces@partnerfirm.org",
	}
}

// msg is an ordinary message from a partner that trips no check.
func msg() *messagetest.Builder {
	return messagetest.New().From("Bob Partner <bob@partnerfirm.org>").To("jane@example.com").
		Subject("Minutes of Tuesday's meeting").
		Text("Hi Jane, the minutes are below. See https://www.partnerfirm.org/minutes for the rest.")
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name string
		code string // the check expected to fire, "" for none
		msg  *messagetest.Builder
		ctx  func(*heuristic.Context)
	}{
		{name: "clean", msg: msg()},

		{name: "executive name from outside", code: heuristic.DisplayNameSpoof,
			msg: msg().From("Jane Doe <ceo.office@gmail.com>")},
		{name: "protected address in display name", code: heuristic.DisplayNameSpoof,
			msg: msg().From(`"jane@example.com" <x@mailer.elsewhere.net>`)},
		{name: "executive name from inside", msg: msg().From("Jane Q Doe <jane@example.com>"),
			ctx: func(c *heuristic.Context) { c.Sender = "jane@example.com" }},
		{name: "other name from outside", msg: msg().From("Jane Dole <jd@partnerfirm.org>")},
		{name: "display name mentions a longer domain", msg: msg().From(`"news at example.com.au" <n@partnerfirm.org>`)},

		{name: "digit for letter", code: heuristic.LookalikeDomain, msg: msg().From("it@examp1e.com").ReplyTo("it@examp1e.com"),
			ctx: func(c *heuristic.Context) { c.Sender = "it@examp1e.com" }},
		{name: "rn for m", code: heuristic.LookalikeDomain, msg: msg().From("it@corp-bank.co.uk").ReplyTo("help@corp-bank-co.uk"),
			ctx: func(c *heuristic.Context) { c.Domains = []string{"modern.example"}; c.Sender = "x@rnodern.example" }},
		{name: "other top-level domain", code: heuristic.LookalikeDomain, msg: msg().From("pay@example.net"),
			ctx: func(c *heuristic.Context) { c.Sender = "pay@example.net" }},
		{name: "one letter swapped", code: heuristic.LookalikeDomain, msg: msg().From("pay@exmaple.com"),
			ctx: func(c *heuristic.Context) { c.Sender = "pay@exmaple.com" }},
		{name: "IDN homoglyph", code: heuristic.LookalikeDomain, msg: msg().From("pay@xn--xample-2of.com"),
			ctx: func(c *heuristic.Context) { c.Sender = "pay@xn--xample-2of.com" }},
		{name: "look-alike link", code: heuristic.LookalikeDomain,
			msg: msg().Text("Log in at https://secure.examp1e.com/login now")},
		{name: "subdomain of the protected domain", msg: msg().From("alerts@mail.example.com").Text("see https://www.example.com/"),
			ctx: func(c *heuristic.Context) { c.Sender = "alerts@mail.example.com" }},
		{name: "unrelated short domain", msg: msg().From("a@exam.org"),
			ctx: func(c *heuristic.Context) { c.Sender = "a@exam.org" }},

		{name: "link text shows another host", code: heuristic.LinkMismatch,
			msg: msg().Text("").HTML(`<p>Pay here: <a href="http://login.attacker.elsewhere.net/x">https://www.paypal.com/signin</a></p>`)},
		{name: "link text shows the same domain", msg: msg().Text("").HTML(`<a href="https://click.partnerfirm.org/track?u=1">www.partnerfirm.org</a>`)},
		{name: "link text is a brand name", msg: msg().Text("").HTML(`<p>Buy at <a href="https://shop.partnerfirm.org/w">Walmart.com</a></p>`)},
		{name: "link text is prose", msg: msg().Text("").HTML(`<a href="https://partnerfirm.org/x">read the minutes on partnerfirm.org</a>`)},

		{name: "shortener", code: heuristic.URLShortener, msg: msg().Text("Your parcel: https://bit.ly/3abcDEF")},
		{name: "IP literal link", code: heuristic.IPLink, msg: msg().Text("").HTML(`<a href="http://192.0.2.7/bank/">Sign in</a>`)},
		{name: "decimal IP link", code: heuristic.IPLink, msg: msg().Text("go to http://3221225991/x")},
		{name: "version number is no IP", msg: msg().Text("version 1.2.3.4 of www.partnerfirm.org")},

		{name: "link domain on a URI block list", code: heuristic.URIListed, msg: msg().Text("see https://www.bad-site.example.net/x"),
			ctx: func(c *heuristic.Context) {
				c.ListedDomains = []heuristic.Listing{{Domain: "bad-site.example.net", Zone: "spamhaus-dbl", Meaning: "Spamhaus DBL: phishing domain"}}
			}},
		{name: "password form", code: heuristic.PasswordForm,
			msg: msg().Text("").HTML(`<form action="https://x.elsewhere.net/p"><input name=u><input type="password" name=p></form>`)},
		{name: "search form", msg: msg().Text("").HTML(`Search the archive: <form action="https://www.partnerfirm.org/search"><input type=text name=q></form>`)},

		{name: "office macro", code: heuristic.OfficeMacro,
			msg: msg().Attach("invoice.docm", "application/octet-stream", archivetest.OOXML(3, true))},
		{name: "office without macro",
			msg: msg().Attach("invoice.docx", "application/octet-stream", archivetest.OOXML(3, false))},

		{name: "executable", code: heuristic.Executable, msg: msg().Attach("invoice.pdf", "application/pdf", append([]byte("MZ"), make([]byte, 200)...))},
		{name: "script in a zip", code: heuristic.Executable,
			msg: msg().Attach("docs.zip", "application/zip", archivetest.Zip(map[string][]byte{"run.txt": []byte("#!/bin/sh\necho hi\n")}))},
		{name: "pdf", msg: msg().Attach("report.pdf", "application/pdf", []byte("%PDF-1.7\n%...\n"))},

		{name: "reply-to elsewhere", code: heuristic.ReplyToMismatch, msg: msg().ReplyTo("bob.private@gmail.com")},
		{name: "reply-to same domain", msg: msg().ReplyTo("team@lists.partnerfirm.org")},

		{name: "envelope elsewhere", code: heuristic.FromMismatch, msg: msg(),
			ctx: func(c *heuristic.Context) { c.Sender = "bounce-123@esp.elsewhere.net" }},
		{name: "bounce has no envelope sender", msg: msg(), ctx: func(c *heuristic.Context) { c.Sender = "" }},

		{name: "empty subject", code: heuristic.EmptySubject, msg: msg().Subject("")},
		{name: "empty body", code: heuristic.EmptyBody, msg: msg().Text("  \r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx()
			if tt.ctx != nil {
				tt.ctx(c)
			}
			hits := heuristic.Check(parse(t, tt.msg), c)
			var codes []string
			for _, h := range hits {
				codes = append(codes, h.Code)
			}
			if tt.code == "" {
				if len(codes) > 0 {
					t.Errorf("hits %v, want none (%+v)", codes, hits)
				}
				return
			}
			if !slices.Contains(codes, tt.code) {
				t.Errorf("hits %v (%+v), want %s", codes, hits, tt.code)
			}
		})
	}
}

func TestRulesDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range heuristic.Rules {
		if seen[r.Code] || r.Doc == "" || r.Points < 0 || strings.ToLower(r.Code) != r.Code {
			t.Errorf("rule %+v: duplicate, undocumented or without points", r)
		}
		seen[r.Code] = true
	}
}

func TestURLs(t *testing.T) {
	m := parse(t, messagetest.New().From("a@partnerfirm.org").
		Text("").HTML(`<a href="HTTPS://User@WWW.Example.ORG:8443/a?b#c">x</a> <a href="mailto:a@b.example">m</a>
		text: http://[2001:db8::1]/x and www.elsewhere.net/path, (https://t.example.com).`))
	var hosts []string
	for _, u := range heuristic.URLs(m) {
		hosts = append(hosts, u.Host)
	}
	want := []string{"www.example.org", "2001:db8::1", "www.elsewhere.net", "t.example.com"}
	if !slices.Equal(hosts, want) {
		t.Errorf("hosts %q, want %q", hosts, want)
	}
}

func TestURIListedPhish(t *testing.T) {
	m := parse(t, msg())
	for _, tc := range []struct {
		meaning string
		phish   bool
	}{{"Spamhaus DBL: phishing domain", true}, {"SURBL MW: malware site", true}, {"URIBL black", false}} {
		hits := heuristic.Check(m, &heuristic.Context{ListedDomains: []heuristic.Listing{{Domain: "x.example", Zone: "z", Meaning: tc.meaning}}})
		i := slices.IndexFunc(hits, func(h heuristic.Hit) bool { return h.Code == heuristic.URIListed })
		if i < 0 || hits[i].Phish != tc.phish || !strings.Contains(hits[i].Detail, "x.example on z") {
			t.Errorf("%q: hits %+v, want uri-listed with phish %v", tc.meaning, hits, tc.phish)
		}
	}
}

func TestLinkDomains(t *testing.T) {
	m := parse(t, messagetest.New().From("a@example.org").Text("").
		HTML(`<a href="https://a.shop.example.co.uk/x">1</a> <a href="http://192.0.2.1/">2</a> <a href="https://b.shop.example.co.uk/">3</a>
		and www.other.example.com, https://third.example.net/`))
	got := heuristic.LinkDomains(m, 2)
	if want := []string{"example.co.uk", "example.com"}; !slices.Equal(got, want) {
		t.Errorf("LinkDomains = %q, want %q", got, want)
	}
}
