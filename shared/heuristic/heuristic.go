// Package heuristic holds the header and content checks of spam and phishing detection
// (DESIGN.md §3 step 6): display-name spoofing of a protected domain's people, look-alike
// domains, From ≠ envelope sender, From ≠ Reply-To, links whose text shows another host,
// URL shorteners and IP-literal links, HTML forms asking for a password, Office macros,
// executables by true type (also in archives), an empty subject or body.
//
// Each check reports a Hit with a stable code, a detail for the verdict trail, the points it
// adds to the message's score, and whether it points at phishing (or malware) rather than
// spam. The checks are pure and cheap: no network, no clock.
package heuristic

import (
	"strings"

	"github.com/moatmail/moat/shared/message"
)

// Context is what the checks know beyond the message.
type Context struct {
	// Domains are the protected (served) domains, lower case, ASCII form.
	Domains []string
	// Executives are display names of the protected domains' people that impersonators use
	// ("Jane Doe"); matched case-insensitively with punctuation and spacing ignored.
	Executives []string
	// Sender is the envelope sender (MAIL FROM); empty for bounces.
	Sender string
	// ListedDomains are the link domains (from LinkDomains) that URI block lists list.
	ListedDomains []Listing
}

// Listing is a link domain on a URI block list (Spamhaus DBL, SURBL, URIBL).
type Listing struct {
	Domain  string
	Zone    string // the list's name
	Meaning string // what the listing says ("phishing site", ...)
}

// Hit is one check that fired.
type Hit struct {
	Code   string  `json:"code"`
	Detail string  `json:"detail,omitempty"`
	Points float64 `json:"points"`
	Phish  bool    `json:"phish,omitempty"`
}

// Check codes.
const (
	DisplayNameSpoof = "display-name-spoof"
	LookalikeDomain  = "lookalike-domain"
	FromMismatch     = "from-envelope-mismatch"
	ReplyToMismatch  = "reply-to-mismatch"
	LinkMismatch     = "link-text-mismatch"
	URLShortener     = "url-shortener"
	IPLink           = "ip-literal-link"
	PasswordForm     = "password-form"
	OfficeMacro      = "office-macro"
	URIListed        = "uri-listed"
	Executable       = "executable"
	EmptySubject     = "empty-subject"
	EmptyBody        = "empty-body"
)

// Rules documents every check: its points and whether it marks phishing. The README table
// comes from it.
var Rules = []struct {
	Code   string
	Points float64
	Phish  bool
	Doc    string
}{
	{DisplayNameSpoof, 60, true, "the From display name is a protected domain's executive or shows a protected address or domain, while the address is outside the protected domains (BEC)"},
	{LookalikeDomain, 60, true, "the From, Reply-To, envelope sender or a link uses a domain that imitates a protected one (homoglyphs, IDN/punycode, one or two edits, another top-level domain)"},
	{LinkMismatch, 30, true, "a link's visible text shows one host while the link goes to another domain"},
	{PasswordForm, 40, true, "an HTML part holds a form with a password field"},
	{IPLink, 20, true, "a link goes to an IP address instead of a host name"},
	{URIListed, 50, false, "a link's domain is on a URI block list (Spamhaus DBL, SURBL, URIBL); phishing when the listing says phishing or malware"},
	{OfficeMacro, 40, true, "an Office document (also inside an archive report) contains VBA macros"},
	{Executable, 50, true, "an attachment or a file inside an archive is an executable or script by its true type"},
	{URLShortener, 10, false, "a link goes through a URL shortener, hiding its target"},
	{ReplyToMismatch, 0, false, "replies go to a domain other than the From domain (common in mailing lists: no points, the classifier learns its weight)"},
	{FromMismatch, 0, false, "the From domain differs from the envelope sender's domain (normal for mailing lists and bulk senders: no points, the classifier learns its weight)"},
	{EmptySubject, 5, false, "the subject is empty"},
	{EmptyBody, 5, false, "the message has no text"},
}

var rules = func() map[string]int {
	m := map[string]int{}
	for i, r := range Rules {
		m[r.Code] = i
	}
	return m
}()

func hit(code, detail string) Hit {
	r := Rules[rules[code]]
	return Hit{Code: code, Detail: detail, Points: r.Points, Phish: r.Phish}
}

// Check runs every check on m and returns the hits, each code at most once, in the order of
// Rules.
func Check(m *message.Message, ctx *Context) []Hit {
	var hits []Hit
	add := func(h Hit, ok bool) {
		if ok {
			hits = append(hits, h)
		}
	}
	protected := protectedSet(ctx.Domains)
	urls := URLs(m)

	add(displayName(m, ctx, protected))
	add(lookalike(m, ctx, protected, urls))
	add(linkMismatch(m))
	add(passwordForm(m))
	add(ipLink(urls))
	add(uriListed(ctx.ListedDomains))
	add(macro(m))
	add(executable(m))
	add(shortener(urls))
	add(replyTo(m))
	add(fromMismatch(m, ctx.Sender))
	if strings.TrimSpace(m.Subject) == "" {
		hits = append(hits, hit(EmptySubject, ""))
	}
	if strings.TrimSpace(m.Text) == "" {
		hits = append(hits, hit(EmptyBody, ""))
	}
	return hits
}

func protectedSet(domains []string) map[string]bool {
	s := make(map[string]bool, len(domains))
	for _, d := range domains {
		s[registered(strings.ToLower(d))] = true
	}
	return s
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
	}
	return ""
}
