package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Pattern is a parsed sender pattern (DESIGN.md §3). The accepted forms:
//
//	name@host.example.com   that one address
//	*@example.com           any address at example.com exactly; not at its subdomains
//	*@server.example.com    any address at server.example.com exactly
//	*@*.example.com         any address at any subdomain of example.com, at any depth
//	                        (a.example.com, b.a.example.com), but NOT at example.com itself:
//	                        list *@example.com as well to cover both
//
// Matching is case-insensitive in the local part and the domain. Domains are compared in their
// ASCII (A-label, xn--) form; a pattern written with a Unicode domain is converted.
//
// Refused, each with its own message: *@* (every sender), a wildcard over a top-level domain
// or a public suffix (*@*.com, *@*.co.uk; *@*.example.co.uk is fine), a named local part
// with a wildcard domain (name@*.example.com), partial wildcards (*foo@example.com,
// *@*example.com, *@mail.*.example.com), a missing @, empty parts, spaces and invalid
// domain names.
type Pattern struct {
	local  string // lower case; empty for any local part (*)
	domain string // lower case, A-label form
	sub    bool   // strict subdomains of domain (*.domain)
}

// ParsePattern parses and normalises a sender pattern.
func ParsePattern(s string) (Pattern, error) {
	invalid := func(reason string) (Pattern, error) {
		return Pattern{}, fmt.Errorf("%q is not a valid sender pattern: %s", s, reason)
	}
	refused := func(reason string) (Pattern, error) {
		return Pattern{}, fmt.Errorf("%q is refused: %s", s, reason)
	}
	const forms = "write name@host.example.com, *@example.com or *@*.example.com"
	if s == "" {
		return invalid("it is empty: " + forms)
	}
	if r := badRune(s); r != "" {
		return invalid("it contains " + r)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return invalid("missing @: " + forms)
	}
	if strings.Count(s, "@") > 1 {
		return invalid("more than one @")
	}
	local, dom := s[:at], s[at+1:]
	if local == "" {
		return invalid("empty local part before @: use * for any sender at a domain")
	}
	if dom == "" {
		return invalid("empty domain after @")
	}
	anyLocal := local == "*"
	if !anyLocal && strings.Contains(local, "*") {
		return invalid("a wildcard must be the whole local part (*@example.com), not part of it")
	}
	if dom == "*" {
		if anyLocal {
			return refused("it would match every sender")
		}
		return refused("a named sender cannot have a wildcard domain: use " + local + "@host.example.com")
	}
	sub := strings.HasPrefix(dom, "*.")
	if sub {
		dom = dom[2:]
	}
	if strings.Contains(dom, "*") {
		return invalid("a wildcard in the domain must be a whole leading label (*@*.example.com)")
	}
	if sub && !anyLocal {
		return refused("a named sender cannot have a wildcard domain: use " + local + "@host." + dom + " for one address, or *@*." + dom + " for every sender at its subdomains")
	}
	if !anyLocal {
		if reason := checkLocal(local); reason != "" {
			return invalid(reason)
		}
	}
	ascii, reason := checkDomain(dom)
	if reason != "" {
		return invalid(fmt.Sprintf("the domain %q is not valid: %s", dom, reason))
	}
	if sub {
		if ps, _ := publicsuffix.PublicSuffix(ascii); ps == ascii {
			if !strings.Contains(ascii, ".") {
				return refused("a wildcard may not cover a whole top-level domain")
			}
			return refused("a wildcard may not cover the public suffix " + ascii + ", under which unrelated organisations register their names")
		}
	} else if !strings.Contains(ascii, ".") {
		return invalid("a mail domain has at least two labels (example.com)")
	}
	p := Pattern{domain: ascii, sub: sub}
	if !anyLocal {
		p.local = strings.ToLower(local)
	}
	return p, nil
}

// MustParsePattern is ParsePattern for patterns known to be valid; it panics otherwise.
func MustParsePattern(s string) Pattern {
	p, err := ParsePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern in its normal form: lower case, A-label domain.
func (p Pattern) String() string {
	local := p.local
	if local == "" {
		local = "*"
	}
	if p.sub {
		return local + "@*." + p.domain
	}
	return local + "@" + p.domain
}

// Match reports whether addr (local@domain) matches the pattern, ignoring case. It does not
// allocate. The zero Pattern matches nothing.
func (p Pattern) Match(addr string) bool {
	if p.domain == "" {
		return false
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	if p.local != "" && !strings.EqualFold(addr[:at], p.local) {
		return false
	}
	d := addr[at+1:]
	if !p.sub {
		return strings.EqualFold(d, p.domain)
	}
	n := len(d) - len(p.domain)
	return n > 1 && d[n-1] == '.' && strings.EqualFold(d[n:], p.domain)
}

// ParseAddress validates a mailbox address (local@domain, no display name, no angle
// brackets) and returns it normalised: surrounding space trimmed, the domain lower case in
// its A-label form. The local part keeps its case.
func ParseAddress(s string) (string, error) {
	orig := s
	s = strings.TrimSpace(s)
	invalid := func(reason string) (string, error) {
		return "", fmt.Errorf("%q is not a valid address: %s", orig, reason)
	}
	if s == "" {
		return invalid("it is empty")
	}
	if r := badRune(s); r != "" {
		return invalid("it contains " + r)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return invalid("missing @")
	}
	if strings.Count(s, "@") > 1 {
		return invalid("more than one @")
	}
	local, dom := s[:at], s[at+1:]
	if local == "" {
		return invalid("empty local part before @")
	}
	if dom == "" {
		return invalid("empty domain after @")
	}
	if strings.Contains(local, "*") || strings.Contains(dom, "*") {
		return invalid("an address has no wildcards")
	}
	if reason := checkLocal(local); reason != "" {
		return invalid(reason)
	}
	ascii, reason := checkDomain(dom)
	if reason != "" {
		return invalid(fmt.Sprintf("the domain %q is not valid: %s", dom, reason))
	}
	if !strings.Contains(ascii, ".") {
		return invalid("a mail domain has at least two labels (example.com)")
	}
	return local + "@" + ascii, nil
}

// badRune describes the first space or control character in s, or returns "".
func badRune(s string) string {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return "invalid UTF-8"
		case unicode.IsSpace(r):
			return "a space"
		case unicode.IsControl(r):
			return fmt.Sprintf("the control character %U", r)
		}
	}
	return ""
}

// checkLocal checks a literal local part: a dot-atom (RFC 5322 atext and dots) of at most 64
// octets; UTF-8 letters are allowed (RFC 6531). Quoted local parts are not supported.
func checkLocal(local string) string {
	if len(local) > 64 {
		return "the local part is longer than 64 characters"
	}
	if strings.HasPrefix(local, "\"") {
		return "quoted local parts are not supported"
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "the local part " + fmt.Sprintf("%q", local) + " has a misplaced dot"
	}
	for _, r := range local {
		if r >= utf8.RuneSelf || r == '.' || isAtext(byte(r)) {
			continue
		}
		return fmt.Sprintf("the local part may not contain %q", r)
	}
	return ""
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// domainProfile validates domain names as IDNA 2008 (UTS #46 non-transitional) with STD3
// rules (letters, digits, hyphens), DNS length limits and the bidi rule.
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
)

// checkDomain validates a domain name and returns its lower-case A-label form, or the reason
// it is not valid (a phrase to follow "is not valid: "). It does not require two labels:
// callers decide.
func checkDomain(d string) (string, string) {
	if d == "" {
		return "", "it is empty"
	}
	if strings.HasSuffix(d, ".") {
		return "", "it ends with a dot"
	}
	if strings.HasPrefix(d, "[") {
		return "", "address literals ([192.0.2.1]) are not supported"
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "", "it is an IP address, not a name"
	}
	ascii, err := domainProfile.ToASCII(d)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "idna: ")
		if hex, ok := strings.CutPrefix(msg, "disallowed rune U+"); ok {
			if n, perr := strconv.ParseUint(hex, 16, 32); perr == nil {
				return "", fmt.Sprintf("the character %q (U+%s) is not allowed in a domain name", rune(n), hex)
			}
		}
		if label, ok := strings.CutPrefix(msg, "invalid label "); ok {
			return "", "the label " + label + " is not valid (letters, digits and inner hyphens; at most 63 characters; no empty labels)"
		}
		return "", msg
	}
	ascii = strings.ToLower(ascii)
	tld := ascii[strings.LastIndexByte(ascii, '.')+1:]
	if strings.Trim(tld, "0123456789") == "" {
		return "", "the top-level label " + tld + " is all digits"
	}
	return ascii, ""
}
