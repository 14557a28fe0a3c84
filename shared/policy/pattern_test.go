package policy

import (
	"strings"
	"testing"
)

func TestParsePatternValid(t *testing.T) {
	tests := []struct{ in, want string }{
		// DESIGN.md §3.
		{"name@host.example.com", "name@host.example.com"},
		{"*@example.com", "*@example.com"},
		{"*@server.example.com", "*@server.example.com"},
		{"*@*.example.com", "*@*.example.com"},
		// Normalised.
		{"Name@Host.Example.COM", "name@host.example.com"},
		{"*@*.EXAMPLE.co.uk", "*@*.example.co.uk"},
		{"*@münchen.de", "*@xn--mnchen-3ya.de"},
		{"first.last+tag@example.com", "first.last+tag@example.com"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"*@*.lists.example", "*@*.lists.example"},
		{"*@a-b.example.com", "*@a-b.example.com"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePattern(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParsePatternRefused(t *testing.T) {
	tests := []struct {
		in   string
		want string // the distinct reason
	}{
		// DESIGN.md §3.
		{"*@*", `"*@*" is refused: it would match every sender`},
		{"*@*.com", `"*@*.com" is refused: a wildcard may not cover a whole top-level domain`},
		{"name@*.example.com", `"name@*.example.com" is refused: a named sender cannot have a wildcard domain`},
		// Public suffixes.
		{"*@*.co.uk", `"*@*.co.uk" is refused: a wildcard may not cover the public suffix co.uk`},
		{"*@*.example", `"*@*.example" is refused: a wildcard may not cover a whole top-level domain`},
		{"*@*.github.io", `"*@*.github.io" is refused: a wildcard may not cover the public suffix github.io`},
		{"name@*", `"name@*" is refused: a named sender cannot have a wildcard domain`},
		// Partial wildcards.
		{"*foo@example.com", `"*foo@example.com" is not a valid sender pattern: a wildcard must be the whole local part`},
		{"foo*@example.com", `a wildcard must be the whole local part`},
		{"f*o@example.com", `a wildcard must be the whole local part`},
		{"**@example.com", `a wildcard must be the whole local part`},
		{"*@*example.com", `a wildcard in the domain must be a whole leading label`},
		{"*@mail.*.example.com", `a wildcard in the domain must be a whole leading label`},
		{"*@example.*", `a wildcard in the domain must be a whole leading label`},
		{"*@*.*.example.com", `a wildcard in the domain must be a whole leading label`},
		// Shape.
		{"", `"" is not a valid sender pattern: it is empty`},
		{"example.com", `"example.com" is not a valid sender pattern: missing @`},
		{"a@b@example.com", `more than one @`},
		{"@example.com", `empty local part before @: use * for any sender`},
		{"name@", `empty domain after @`},
		{"*@", `empty domain after @`},
		{"na me@example.com", `it contains a space`},
		{" *@example.com", `it contains a space`},
		{"*@example.com\n", `it contains a space`},
		{"a\x00@example.com", `it contains the control character U+0000`},
		{"\xff@example.com", `invalid UTF-8`},
		// Domain labels.
		{"*@exa_mple.com", `the domain "exa_mple.com" is not valid: the character '_' (U+005F) is not allowed`},
		{"*@-example.com", `the domain "-example.com" is not valid: the label "-example" is not valid`},
		{"*@example..com", `the domain "example..com" is not valid: the label`},
		{"*@example.com.", `the domain "example.com." is not valid: it ends with a dot`},
		{"*@" + strings.Repeat("a", 64) + ".com", `is not valid: the label`},
		{"*@192.0.2.1", `it is an IP address, not a name`},
		{"*@[192.0.2.1]", `address literals`},
		{"*@example.123", `the top-level label 123 is all digits`},
		{"*@localhost", `a mail domain has at least two labels`},
		{"*@*.-x.com", `is not valid: the label "-x"`},
		// Local parts.
		{"a..b@example.com", `has a misplaced dot`},
		{".a@example.com", `has a misplaced dot`},
		{`"a"@example.com`, `quoted local parts are not supported`},
		{"a(b)@example.com", `the local part may not contain '('`},
		{strings.Repeat("a", 65) + "@example.com", `the local part is longer than 64 characters`},
	}
	for _, tt := range tests {
		_, err := ParsePattern(tt.in)
		if err == nil {
			t.Errorf("ParsePattern(%q) accepted", tt.in)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePattern(%q) = %q, want it to say %q", tt.in, err, tt.want)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		addr    string
		want    bool
	}{
		{"name@host.example.com", "name@host.example.com", true},
		{"name@host.example.com", "NAME@HOST.Example.com", true},
		{"Name@Host.example.com", "name@host.example.com", true},
		{"name@host.example.com", "other@host.example.com", false},
		{"name@host.example.com", "name@example.com", false},
		{"name@host.example.com", "name@x.host.example.com", false},
		{"name@example.com", "name+tag@example.com", false},

		{"*@example.com", "anyone@example.com", true},
		{"*@example.com", "Anyone@EXAMPLE.COM", true},
		{"*@example.com", "a@sub.example.com", false}, // exactly example.com
		{"*@example.com", "a@notexample.com", false},
		{"*@example.com", "a@example.com.evil.example", false},

		{"*@server.example.com", "a@server.example.com", true},
		{"*@server.example.com", "a@example.com", false},

		{"*@*.example.com", "a@sub.example.com", true},
		{"*@*.example.com", "a@deep.sub.example.com", true},
		{"*@*.example.com", "a@SUB.Example.Com", true},
		{"*@*.example.com", "a@example.com", false}, // not the parent itself
		{"*@*.example.com", "a@badexample.com", false},
		{"*@*.example.com", "a@.example.com", false},
		{"*@*.example.co.uk", "a@mail.example.co.uk", true},

		{"*@example.com", "example.com", false}, // no @
		{"*@example.com", "", false},
		{"*@xn--mnchen-3ya.de", "a@xn--mnchen-3ya.de", true},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		if got := p.Match(tt.addr); got != tt.want {
			t.Errorf("%s.Match(%q) = %v, want %v", tt.pattern, tt.addr, got, tt.want)
		}
	}
	if (Pattern{}).Match("a@b.example") || (Pattern{}).Match("a@") {
		t.Error("the zero Pattern matched")
	}
}

func TestPatternMatchDoesNotAllocate(t *testing.T) {
	p := MustParsePattern("*@*.example.com")
	n := testing.AllocsPerRun(100, func() { p.Match("Someone@Mail.Example.COM") })
	if n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

func TestParseAddress(t *testing.T) {
	valid := map[string]string{
		"alice@example.com":      "alice@example.com",
		"Alice@Example.COM":      "Alice@example.com",
		"  bob@example.com\t":    "bob@example.com",
		"jörg@münchen.de":        "jörg@xn--mnchen-3ya.de",
		"first.last+x@a.example": "first.last+x@a.example",
		"a@exa\u200bmple.com":    "a@example.com", // IDNA mapping drops invisible characters
	}
	for in, want := range valid {
		got, err := ParseAddress(in)
		if err != nil || got != want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	invalid := map[string]string{
		"":                  "it is empty",
		"alice":             "missing @",
		"@example.com":      "empty local part",
		"alice@":            "empty domain",
		"a b@example.com":   "it contains a space",
		"*@example.com":     "an address has no wildcards",
		"a@*.example.com":   "an address has no wildcards",
		"a@b@example.com":   "more than one @",
		"a@exa_mple.com":    "is not valid",
		"a@localhost":       "at least two labels",
		"<a@example.com>":   "may not contain '<'",
		"Alice <a@b.com>":   "it contains a space",
		"a..b@example.com":  "misplaced dot",
		"a@192.0.2.1":       "IP address",
		"a@example.com.":    "ends with a dot",
		"a\r\n@example.com": "a space",
	}
	for in, want := range invalid {
		_, err := ParseAddress(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "is not a valid address") {
			t.Errorf("ParseAddress(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}
