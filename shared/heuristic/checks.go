package heuristic

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"

	"github.com/moatmail/moat/shared/message"
)

// displayName: the From display name names a protected executive, or shows an address or
// domain of a protected domain, while the From address is outside the protected domains.
func displayName(m *message.Message, ctx *Context, protected map[string]bool) (Hit, bool) {
	name, addr := m.From.Name, m.From.Addr
	if name == "" || addr == "" || protected[registered(domainOf(addr))] {
		return Hit{}, false
	}
	if n := normName(name); n != "" {
		for _, e := range ctx.Executives {
			if normName(e) == n {
				return hit(DisplayNameSpoof, "display name of a protected executive"), true
			}
		}
	}
	lower := strings.ToLower(name)
	for d := range protected {
		if i := strings.Index(lower, d); i >= 0 && (i == 0 || !isHostByte(lower[i-1]) || lower[i-1] == '.' || lower[i-1] == '@') {
			end := i + len(d)
			if end == len(lower) || !isHostByte(lower[end]) || lower[end] == '.' && end+1 == len(lower) {
				return hit(DisplayNameSpoof, "display name shows "+d), true
			}
		}
	}
	return Hit{}, false
}

// normName lowers a name and keeps its words of letters and digits, one space between them,
// dropping initials ("Jane Q. Doe" is "jane doe").
func normName(s string) string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	words = slices.DeleteFunc(words, func(w string) bool { return utf8.RuneCountInString(w) == 1 })
	return strings.Join(words, " ")
}

// lookalike: a sender or link domain imitates a protected domain.
func lookalike(m *message.Message, ctx *Context, protected map[string]bool, urls []URL) (Hit, bool) {
	if len(protected) == 0 {
		return Hit{}, false
	}
	check := func(where, host string) (Hit, bool) {
		if host == "" {
			return Hit{}, false
		}
		reg := registered(host)
		if protected[reg] {
			return Hit{}, false
		}
		for p := range protected {
			if how := imitates(reg, p); how != "" {
				return hit(LookalikeDomain, where+" "+reg+" imitates "+p+" ("+how+")"), true
			}
		}
		return Hit{}, false
	}
	if h, ok := check("From", domainOf(m.From.Addr)); ok {
		return h, ok
	}
	for _, a := range m.ReplyTo {
		if h, ok := check("Reply-To", domainOf(a.Addr)); ok {
			return h, ok
		}
	}
	if h, ok := check("envelope sender", domainOf(ctx.Sender)); ok {
		return h, ok
	}
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u.Host] || isIPHost(u.Host) {
			continue
		}
		seen[u.Host] = true
		if h, ok := check("link", u.Host); ok {
			return h, ok
		}
	}
	return Hit{}, false
}

// linkMismatch: an HTML link whose text shows a host (or URL) of another domain than the one
// it goes to.
func linkMismatch(m *message.Message) (Hit, bool) {
	for _, l := range m.Links {
		shown, ok := shownHost(l.Text)
		if !ok {
			continue
		}
		target, ok := urlHost(l.Href)
		if !ok {
			continue
		}
		if rs, rt := registered(unicodeHost(shown)), registered(unicodeHost(target)); rs != rt {
			return hit(LinkMismatch, "text shows "+rs+", link goes to "+rt), true
		}
	}
	return Hit{}, false
}

// shownHost returns the host a link text shows when the whole text is a URL ("https://host/…"
// or "www.host…"): a bare name such as "Example.com" in a sentence is often a brand, not a
// promise of where the link goes.
func shownHost(text string) (string, bool) {
	t := strings.TrimSpace(text)
	if t == "" || strings.ContainsAny(t, " \t\n") {
		return "", false
	}
	h, ok := urlHost(t)
	if !ok || !looksLikeHost(h) {
		return "", false
	}
	return h, true
}

// looksLikeHost: an IP address, or dot-separated labels of host characters under an ICANN
// public suffix.
func looksLikeHost(h string) bool {
	if isIPHost(h) {
		return strings.ContainsAny(h, ".:")
	}
	if !strings.Contains(h, ".") {
		return false
	}
	for i := 0; i < len(h); i++ {
		if !isHostByte(h[i]) {
			return false
		}
	}
	u := unicodeHost(h)
	s, icann := publicsuffix.PublicSuffix(u)
	return icann && s != u
}

func passwordForm(m *message.Message) (Hit, bool) {
	for _, f := range m.Forms {
		if f.Password {
			detail := "password field"
			if h, ok := urlHost(f.Action); ok {
				detail += ", posts to " + registered(h)
			}
			return hit(PasswordForm, detail), true
		}
	}
	return Hit{}, false
}

func ipLink(urls []URL) (Hit, bool) {
	for _, u := range urls {
		if isIPHost(u.Host) {
			return hit(IPLink, u.Host), true
		}
	}
	return Hit{}, false
}

func shortener(urls []URL) (Hit, bool) {
	for _, u := range urls {
		if shorteners[u.Host] || shorteners[strings.TrimPrefix(u.Host, "www.")] {
			return hit(URLShortener, u.Host), true
		}
	}
	return Hit{}, false
}

func macro(m *message.Message) (Hit, bool) {
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.Archive != nil && p.Archive.Macros {
			return hit(OfficeMacro, partName(p)), true
		}
	}
	return Hit{}, false
}

func executable(m *message.Message) (Hit, bool) {
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.Type.Executable() {
			return hit(Executable, partName(p)+" ("+string(p.Type)+")"), true
		}
		if p.Archive == nil {
			continue
		}
		for _, e := range p.Archive.Entries {
			if e.Type.Executable() {
				return hit(Executable, partName(p)+"/"+e.Path+" ("+string(e.Type)+")"), true
			}
		}
	}
	return Hit{}, false
}

func partName(p *message.Part) string {
	if p.Filename != "" {
		return p.Filename
	}
	return p.ContentType
}

func replyTo(m *message.Message) (Hit, bool) {
	from := registered(domainOf(m.From.Addr))
	if from == "" {
		return Hit{}, false
	}
	for _, a := range m.ReplyTo {
		if d := registered(domainOf(a.Addr)); d != "" && d != from {
			return hit(ReplyToMismatch, "Reply-To "+d+", From "+from), true
		}
	}
	return Hit{}, false
}

func fromMismatch(m *message.Message, sender string) (Hit, bool) {
	from, env := registered(domainOf(m.From.Addr)), registered(domainOf(sender))
	if from == "" || env == "" || from == env {
		return Hit{}, false
	}
	return hit(FromMismatch, "From "+from+", envelope "+env), true
}

func uriListed(ls []Listing) (Hit, bool) {
	if len(ls) == 0 {
		return Hit{}, false
	}
	l := ls[0]
	for _, x := range ls {
		if bad(x.Meaning) {
			l = x
			break
		}
	}
	h := hit(URIListed, l.Domain+" on "+l.Zone)
	if l.Meaning != "" {
		h.Detail += " (" + l.Meaning + ")"
	}
	h.Phish = bad(l.Meaning)
	return h, true
}

// bad: a listing that says phishing or malware.
func bad(meaning string) bool {
	m := strings.ToLower(meaning)
	return strings.Contains(m, "phish") || strings.Contains(m, "malware")
}
