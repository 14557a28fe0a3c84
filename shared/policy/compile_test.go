package policy

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/moatmail/moat/shared/verdict"
)

func mustCompile(t testing.TB, doc string) *Compiled {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	c, err := Compile(p)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c
}

func TestCompileValidates(t *testing.T) {
	p := Default()
	zero := 0
	p.Defaults.MaxRecipients = &zero
	if _, err := Compile(p); err == nil {
		t.Fatal("Compile accepted an invalid policy")
	}
}

func TestEffective(t *testing.T) {
	c := mustCompile(t, `
defaults:
  maxRecipients: 50
  spamAction: tag
domains:
  example.com:
    maxRecipients: 10
    failOpen: false
    directory: true
    route: {host: mail.example.com}
  example.org:
    virusAction: delete
    route: {type: ses-forward, forward: {a@example.org: b@x.example}, fromAddress: f@example.org}
`)
	want := Builtin
	want.MaxRecipients, want.SpamAction = 10, verdict.Tag
	want.FailOpen, want.Directory = false, true
	got := c.Effective("example.com")
	if got.Route == nil || !reflect.DeepEqual(*got.Route, Route{Type: "smtp", Host: "mail.example.com", Port: 587, TLS: "required"}) {
		t.Errorf("route with defaults = %+v", got.Route)
	}
	got.Route = nil
	if got != want {
		t.Errorf("example.com:\n got %+v\nwant %+v", got, want)
	}
	if e := c.Effective("EXAMPLE.COM"); e.MaxRecipients != 10 {
		t.Errorf("Effective is case-sensitive: %d", e.MaxRecipients)
	}

	org := c.Effective("example.org")
	if org.MaxRecipients != 50 || org.VirusAction != verdict.Delete || org.Directory || org.Route.Type != "ses-forward" || org.Route.Port != 0 {
		t.Errorf("example.org = %+v route %+v", org, org.Route)
	}

	unknown := c.Effective("elsewhere.example")
	want = Builtin
	want.MaxRecipients, want.SpamAction = 50, verdict.Tag
	if unknown != want {
		t.Errorf("unknown domain:\n got %+v\nwant %+v", unknown, want)
	}
}

func TestBuiltin(t *testing.T) {
	b := Builtin
	if b.MaxMessageBytes != 50<<20 || b.MaxRecipients != 1000 || b.ArchiveMaxLayers != 20 ||
		b.ArchiveMaxBytes != 60<<20 || b.ArchiveMaxFiles != 353 || b.ArchiveMaxRatio != 100 ||
		b.ScanExceptionAction != verdict.Quarantine || b.ExecutableAction != verdict.Quarantine ||
		b.VirusAction != verdict.Quarantine || b.DMARC != "honor" || b.SpamAction != verdict.Quarantine ||
		b.SubjectTag != "[SPAM]" || b.Aggressiveness != 2 || !b.FailOpen || b.Sensitivity != "medium" ||
		b.BlockedSenderAction != verdict.Delete || b.BlockedIPAction != verdict.Delete {
		t.Errorf("Builtin = %+v", b)
	}
}

func TestServesAndDirectory(t *testing.T) {
	c := mustCompile(t, `
domains:
  example.com:
    directory: true
    recipients: [alice@example.com, Bob@Example.com]
  example.org: {}
  xn--mnchen-3ya.de:
    recipients: [jörg@münchen.de]
`)
	for d, want := range map[string]bool{"example.com": true, "Example.COM": true, "example.org": true, "sub.example.com": false, "example.net": false, "": false} {
		if got := c.Serves(d); got != want {
			t.Errorf("Serves(%q) = %v", d, got)
		}
	}
	for r, want := range map[string]bool{
		"alice@example.com": true, "ALICE@example.com": true, "bob@example.com": true,
		"carol@example.com": false, "alice@example.org": false, "alice": false,
		"jörg@xn--mnchen-3ya.de": true,
	} {
		if got := c.InDirectory(r); got != want {
			t.Errorf("InDirectory(%q) = %v", r, got)
		}
	}
}

const sendersDoc = `
domains:
  example.com: {}
  example.org: {}
senders:
  - {pattern: "*@spam.example", list: blocked, comment: g0}
  - {pattern: "*@*.partner.example", list: approved, comment: g1}
  - {pattern: "boss@partner.example", list: blocked, comment: g2}
  - {pattern: "*@friend.example", list: blocked, domain: example.com, comment: d3}
  - {pattern: "*@friend.example", list: approved, domain: example.org, comment: d4}
  - {pattern: "*@partner.example", list: approved, domain: example.com, comment: d5}
  - {pattern: "pal@friend.example", list: approved, recipient: alice@example.com, comment: u6}
  - {pattern: "*@*.news.example", list: blocked, recipient: Alice@Example.com, comment: u7}
  - {pattern: "*@spam.example", list: blocked, comment: g8-duplicate}
  - {pattern: "*@*.example.co.uk", list: blocked, comment: g9}
  - {pattern: "*@a.example.co.uk", list: blocked, comment: g10}
`

func TestSender(t *testing.T) {
	c := mustCompile(t, sendersDoc)
	tests := []struct {
		name  string
		list  List
		user  bool
		rcpt  string
		addrs []string
		want  string // the comment of the entry found, "" for none
	}{
		{"global exact domain", Blocked, false, "x@example.com", []string{"a@spam.example"}, "g0"},
		{"global applies to every domain", Blocked, false, "x@example.org", []string{"a@spam.example"}, "g0"},
		{"case-insensitive", Blocked, false, "X@EXAMPLE.COM", []string{"A@SPAM.Example"}, "g0"},
		{"exact domain is not subdomain", Blocked, false, "x@example.com", []string{"a@mx.spam.example"}, ""},
		{"wildcard subdomain", Approved, false, "x@example.com", []string{"a@mail.partner.example"}, "g1"},
		{"wildcard deep subdomain", Approved, false, "x@example.com", []string{"a@x.y.partner.example"}, "g1"},
		{"wildcard not the parent", Approved, false, "x@example.org", []string{"a@partner.example"}, ""},
		{"domain entry for its domain", Approved, false, "x@example.com", []string{"a@partner.example"}, "d5"},
		{"single address", Blocked, false, "x@example.org", []string{"boss@partner.example"}, "g2"},
		{"other list not searched", Approved, false, "x@example.org", []string{"a@spam.example"}, ""},
		{"domain scope", Blocked, false, "x@example.com", []string{"pal@friend.example"}, "d3"},
		{"domain scope not elsewhere", Blocked, false, "x@example.org", []string{"pal@friend.example"}, ""},
		{"other domain's approval", Approved, false, "x@example.org", []string{"pal@friend.example"}, "d4"},
		{"admin search skips user entries", Approved, false, "alice@example.com", []string{"pal@friend.example"}, ""},
		{"user entry", Approved, true, "alice@example.com", []string{"pal@friend.example"}, "u6"},
		{"user entry any case", Approved, true, "ALICE@example.com", []string{"PAL@friend.example"}, "u6"},
		{"user entry, recipient written in mixed case", Blocked, true, "alice@example.com", []string{"n@weekly.news.example"}, "u7"},
		{"user search skips admin entries", Blocked, true, "alice@example.com", []string{"a@spam.example"}, ""},
		{"user entry of another user", Approved, true, "bob@example.com", []string{"pal@friend.example"}, ""},
		{"any of the addresses", Blocked, false, "x@example.com", []string{"ok@fine.example", "a@spam.example"}, "g0"},
		{"first in document order wins", Blocked, false, "x@example.com", []string{"pal@friend.example", "a@spam.example"}, "g0"},
		{"first in document order across scopes", Approved, false, "x@example.com", []string{"a@partner.example", "a@b.partner.example"}, "g1"},
		{"duplicate: the first", Blocked, false, "x@example.com", []string{"a@spam.example"}, "g0"},
		{"public suffix walk", Blocked, false, "x@example.com", []string{"a@mx.a.example.co.uk"}, "g9"},
		{"exact before broader when earlier", Blocked, false, "x@example.com", []string{"a@a.example.co.uk"}, "g9"},
		{"no addresses", Blocked, false, "x@example.com", nil, ""},
		{"malformed addresses", Blocked, false, "x@example.com", []string{"", "spam.example", "a@", "@spam.example"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := c.Sender(tt.list, tt.user, tt.rcpt, tt.addrs...)
			if ok != (tt.want != "") || e.Comment != tt.want {
				t.Errorf("Sender = %q, %v; want %q", e.Comment, ok, tt.want)
			}
			if ok && e.List != tt.list {
				t.Errorf("entry on list %q", e.List)
			}
		})
	}
}

// TestSenderMatchesPattern cross-checks the index with Pattern.Match on every entry.
func TestSenderMatchesPattern(t *testing.T) {
	p, err := Parse([]byte(sendersDoc))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Compile(p)
	addrs := []string{"a@spam.example", "a@mx.spam.example", "a@partner.example", "boss@partner.example",
		"a@b.partner.example", "pal@friend.example", "x@friend.example", "n@a.news.example", "a@a.example.co.uk",
		"a@b.a.example.co.uk", "a@example.co.uk"}
	for _, rcpt := range []string{"alice@example.com", "bob@example.com", "x@example.org"} {
		for _, user := range []bool{false, true} {
			for _, list := range []List{Approved, Blocked} {
				for _, a := range addrs {
					want := ""
					for _, e := range p.Senders {
						inScope := e.Recipient == "" && (e.Domain == "" || e.Domain == domainOf(rcpt))
						if user {
							inScope = e.Recipient != "" && equalFold(e.Recipient, rcpt)
						}
						if e.List == list && inScope && MustParsePattern(e.Pattern).Match(a) {
							want = e.Comment
							break
						}
					}
					got, _ := c.Sender(list, user, rcpt, a)
					if got.Comment != want {
						t.Errorf("Sender(%s, user=%v, %s, %s) = %q, want %q", list, user, rcpt, a, got.Comment, want)
					}
				}
			}
		}
	}
}

func equalFold(a, b string) bool { return len(a) == len(b) && toLower(a) == toLower(b) }

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestIP(t *testing.T) {
	c := mustCompile(t, `
domains:
  example.com:
    ips:
      allow: [203.0.113.7, "2001:db8:1::/64"]
      block: [198.51.100.128/25, 192.0.2.0/24]
  example.org: {}
ips:
  allow: [198.51.100.0/24, 192.0.2.0/24, 10.0.0.0/8]
  block: [203.0.113.0/24, "2001:db8::/32", 10.1.0.0/16, 10.1.2.3]
`)
	tests := []struct {
		domain, ip string
		want       IPMatch
	}{
		{"example.org", "203.0.113.7", IPMatch{Blocked: true, CIDR: "203.0.113.0/24"}},
		{"example.com", "203.0.113.7", IPMatch{Allowed: true, CIDR: "203.0.113.7/32"}}, // domain /32 beats global /24
		{"example.com", "203.0.113.8", IPMatch{Blocked: true, CIDR: "203.0.113.0/24"}},
		{"example.org", "198.51.100.200", IPMatch{Allowed: true, CIDR: "198.51.100.0/24"}},
		{"example.com", "198.51.100.200", IPMatch{Blocked: true, CIDR: "198.51.100.128/25"}}, // domain /25 beats global /24
		{"example.com", "198.51.100.5", IPMatch{Allowed: true, CIDR: "198.51.100.0/24"}},
		{"example.com", "192.0.2.1", IPMatch{Blocked: true, CIDR: "192.0.2.0/24"}}, // equal length: block wins
		{"example.org", "192.0.2.1", IPMatch{Allowed: true, CIDR: "192.0.2.0/24"}},
		{"example.org", "10.9.9.9", IPMatch{Allowed: true, CIDR: "10.0.0.0/8"}},
		{"example.org", "10.1.9.9", IPMatch{Blocked: true, CIDR: "10.1.0.0/16"}},
		{"example.org", "10.1.2.3", IPMatch{Blocked: true, CIDR: "10.1.2.3/32"}},
		{"example.org", "2001:db8:5::1", IPMatch{Blocked: true, CIDR: "2001:db8::/32"}},
		{"example.com", "2001:db8:1::1", IPMatch{Allowed: true, CIDR: "2001:db8:1::/64"}},
		{"example.com", "::ffff:203.0.113.9", IPMatch{Blocked: true, CIDR: "203.0.113.0/24"}}, // IPv4-mapped
		{"unserved.example", "203.0.113.7", IPMatch{Blocked: true, CIDR: "203.0.113.0/24"}},   // global lists only
		{"example.org", "172.16.0.1", IPMatch{}},
		{"example.org", "2001:db9::1", IPMatch{}},
	}
	for _, tt := range tests {
		if got := c.IP(tt.domain, netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("IP(%s, %s) = %+v, want %+v", tt.domain, tt.ip, got, tt.want)
		}
	}
	if got := c.IP("example.com", netip.Addr{}); got != (IPMatch{}) {
		t.Errorf("invalid IP matched %+v", got)
	}
}

func TestIPNormalised(t *testing.T) {
	c := mustCompile(t, "ips:\n  block: [192.0.2.77/24, '::ffff:198.51.100.0/120', 'fe80::1/10']\n")
	for ip, cidr := range map[string]string{"192.0.2.1": "192.0.2.0/24", "198.51.100.9": "198.51.100.0/24", "fe80::9": "fe80::/10"} {
		if m := c.IP("x.example", netip.MustParseAddr(ip)); !m.Blocked || m.CIDR != cidr {
			t.Errorf("IP(%s) = %+v, want blocked by %s", ip, m, cidr)
		}
	}
}

func TestRulesPerDomain(t *testing.T) {
	c := mustCompile(t, `
domains:
  example.com: {}
  example.org: {}
rules:
  - {name: all-1, criteria: [{field: subject-blank, op: is}], action: tag}
  - {name: com-2, domains: [example.com], criteria: [{field: subject-blank, op: is}], action: tag}
  - {name: org-3, domains: [example.org], criteria: [{field: subject-blank, op: is}], action: tag}
  - {name: all-4, criteria: [{field: subject-blank, op: is}], action: tag}
`)
	names := func(rs []*CompiledRule) []string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Rule().Name)
		}
		return s
	}
	for d, want := range map[string][]string{
		"example.com": {"all-1", "com-2", "all-4"},
		"EXAMPLE.org": {"all-1", "org-3", "all-4"},
		"example.net": nil,
	} {
		if got := names(c.Rules(d)); !equalStrings(got, want) {
			t.Errorf("Rules(%s) = %v, want %v", d, got, want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCompileKeepsNoReference: changing the document after Compile changes nothing.
func TestCompileKeepsNoReference(t *testing.T) {
	p, err := Parse([]byte(`
domains:
  example.com:
    route: {type: ses-forward, forward: {a@example.com: b@x.example}, fromAddress: f@example.com}
senders: [{pattern: "*@spam.example", list: blocked}]
rules: [{name: r, criteria: [{field: subject, op: contains, values: [x]}], action: tag, notify: [n@example.com]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Compile(p)
	p.Senders[0].Pattern = "*@other.example"
	p.Rules[0].Name = "changed"
	p.Rules[0].Notify[0] = "changed@example.com"
	p.Domains["example.com"].Route.Forward["a@example.com"] = "changed@x.example"
	if _, ok := c.Sender(Blocked, false, "x@example.com", "a@spam.example"); !ok {
		t.Error("sender index changed with the document")
	}
	if r := c.Rules("example.com")[0].Rule(); r.Name != "r" || r.Notify[0] != "n@example.com" {
		t.Errorf("rule changed with the document: %+v", r)
	}
	if f := c.Effective("example.com").Route.Forward["a@example.com"]; f != "b@x.example" {
		t.Errorf("route changed with the document: %s", f)
	}
}

func TestExecutives(t *testing.T) {
	p, err := Parse([]byte("domains:\n  example.com:\n    executives: [Jane Doe]\n  example.org: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Executives("Example.COM"); len(got) != 1 || got[0] != "Jane Doe" {
		t.Errorf("Executives(example.com) = %q, want [Jane Doe]", got)
	}
	if got := c.Executives("example.org"); len(got) != 0 {
		t.Errorf("Executives(example.org) = %q, want none", got)
	}
}
