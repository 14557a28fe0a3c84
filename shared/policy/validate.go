package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"

	"github.com/moatmail/moat/shared/verdict"
)

// Limits on Settings values.
const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30

	minMessageBytes   = 1 * kib
	maxMessageBytes   = 150 * mib
	maxRecipients     = 100000
	maxArchiveLayers  = 100
	minArchiveBytes   = 1 * kib
	maxArchiveBytes   = 1 * gib
	maxArchiveFiles   = 100000
	maxAggressiveness = 4
	maxSubjectTag     = 64 // characters
)

// The words the string settings take.
var (
	DMARCModes    = []string{"honor", "quarantine", "tag", "ignore"}
	Sensitivities = []string{"low", "medium", "high"}
	RouteTypes    = []string{"smtp", "ses-forward"}
	TLSModes      = []string{"required", "opportunistic", "verify"}
)

// Validate checks the whole document and returns a *ValidationError listing every problem,
// or nil.
func (p *Policy) Validate() error {
	if p == nil {
		return errors.New("no policy")
	}
	var ps problems
	p.validate(&ps)
	return ps.err()
}

func (p *Policy) validate(ps *problems) {
	p.Defaults.validate(ps, "defaults")
	for _, name := range sortedKeys(p.Domains) {
		path := key("domains", name)
		validDomainName(ps, path, name)
		p.validateDomain(ps, path, name, p.Domains[name])
	}
	for i, e := range p.Senders {
		p.validateSender(ps, index("senders", i), e)
	}
	validateIPs(ps, "ips", p.IPs)
	names := map[string]int{}
	for i, r := range p.Rules {
		path := index("rules", i)
		if j, dup := names[r.Name]; dup && r.Name != "" {
			ps.add(field(path, "name"), "%q is already the name of rules[%d]: rule names must be unique", r.Name, j)
		} else {
			names[r.Name] = i
		}
		p.validateRule(ps, path, r)
	}
}

// validDomainName checks a served domain's name: lower case, IDNA-valid in its A-label form,
// no wildcard, at least two labels, not a public suffix.
func validDomainName(ps *problems, path, name string) {
	if strings.Contains(name, "*") {
		ps.add(path, "%q is not allowed: a served domain is one exact name, not a wildcard; list each domain", name)
		return
	}
	ascii, reason := checkDomain(name)
	switch {
	case reason != "":
		ps.add(path, "%q is not a valid domain name: %s", name, reason)
	case !strings.Contains(ascii, "."):
		ps.add(path, "%q is not allowed: a mail domain has at least two labels (example.com)", name)
	case ascii != name && strings.ToLower(name) == name:
		ps.add(path, "%q is not allowed: write the domain in its ASCII form %q", name, ascii)
	case ascii != name:
		ps.add(path, "%q is not allowed: write domain names in lower case (%q)", name, ascii)
	default:
		if s, _ := publicsuffix.PublicSuffix(ascii); s == ascii {
			ps.add(path, "%q is not allowed: it is a public suffix, not a domain one can receive mail for", name)
		}
	}
}

func (s *Settings) validate(ps *problems, path string) {
	intRange(ps, field(path, "maxMessageBytes"), s.MaxMessageBytes, minMessageBytes, maxMessageBytes, "between 1024 (1 KiB) and 157286400 (150 MiB); SES itself refuses mail over 40 MB")
	intRange(ps, field(path, "maxRecipients"), s.MaxRecipients, 1, maxRecipients, "")
	intRange(ps, field(path, "archiveMaxLayers"), s.ArchiveMaxLayers, 1, maxArchiveLayers, "")
	intRange(ps, field(path, "archiveMaxBytes"), s.ArchiveMaxBytes, minArchiveBytes, maxArchiveBytes, "between 1024 (1 KiB) and 1073741824 (1 GiB)")
	intRange(ps, field(path, "archiveMaxFiles"), s.ArchiveMaxFiles, 1, maxArchiveFiles, "")
	if r := s.ArchiveMaxRatio; r != nil && !(*r >= 1 && *r <= 1e9) {
		ps.add(field(path, "archiveMaxRatio"), "%v is not allowed: must be at least 1 (uncompressed size / compressed size)", *r)
	}
	action(ps, field(path, "scanExceptionAction"), s.ScanExceptionAction)
	action(ps, field(path, "executableAction"), s.ExecutableAction)
	if a := s.VirusAction; a != nil && *a != verdict.Delete && *a != verdict.Quarantine {
		ps.add(field(path, "virusAction"), "%q is not allowed: must be delete or quarantine (a virus is never delivered)", *a)
	}
	oneOf(ps, field(path, "dmarc"), s.DMARC, DMARCModes)
	if a := s.SpamAction; a != nil && *a != verdict.Quarantine && *a != verdict.Delete && *a != verdict.Tag && *a != verdict.Deliver {
		ps.add(field(path, "spamAction"), "%q is not allowed: must be quarantine (default), delete, tag (tag the subject and deliver) or deliver (record only); spam is never bounced, its sender is usually forged", *a)
	}
	if t := s.SubjectTag; t != nil {
		subjectTag(ps, field(path, "subjectTag"), *t)
	}
	intRange(ps, field(path, "aggressiveness"), s.Aggressiveness, 0, maxAggressiveness, "between 0 (look up, never block) and 4 (most aggressive)")
	action(ps, field(path, "reputationAction"), s.ReputationAction)
	if s.FailClosedOnTimeout != nil && *s.FailClosedOnTimeout && s.FailOpen != nil && *s.FailOpen {
		ps.add(field(path, "failClosedOnTimeout"), "true is not allowed with failOpen: true: a timeout can only block when DNS failures do; set failOpen: false too")
	}
	oneOf(ps, field(path, "sensitivity"), s.Sensitivity, Sensitivities)
	action(ps, field(path, "blockedSenderAction"), s.BlockedSenderAction)
	action(ps, field(path, "blockedIPAction"), s.BlockedIPAction)
	if h := s.DigestHours; h != nil {
		seen := map[int]bool{}
		for i, v := range *h {
			switch {
			case v < 0 || v > 23:
				ps.add(fmt.Sprintf("%s[%d]", field(path, "digestHours"), i), "%d is not allowed: must be an hour of the day, 0 to 23 (UTC)", v)
			case seen[v]:
				ps.add(fmt.Sprintf("%s[%d]", field(path, "digestHours"), i), "%d is listed twice", v)
			}
			seen[v] = true
		}
	}
}

func intRange[T int | int64](ps *problems, path string, v *T, lo, hi T, allowed string) {
	if v == nil || (*v >= lo && *v <= hi) {
		return
	}
	if allowed == "" {
		allowed = fmt.Sprintf("between %d and %d", lo, hi)
	}
	ps.add(path, "%d is not allowed: must be %s", *v, allowed)
}

func action(ps *problems, path string, a *verdict.Action) {
	if a != nil && !a.Valid() {
		ps.add(path, "%q is not allowed: must be one of %s", *a, actionList())
	}
}

func actionList() string {
	s := make([]string, len(verdict.Actions))
	for i, a := range verdict.Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func oneOf(ps *problems, path string, v *string, allowed []string) {
	if v == nil {
		return
	}
	for _, a := range allowed {
		if *v == a {
			return
		}
	}
	msg := fmt.Sprintf("%q is not allowed: must be one of %s", *v, strings.Join(allowed, ", "))
	if s := suggest(*v, allowed); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	ps.add(path, "%s", msg)
}

func subjectTag(ps *problems, path, t string) {
	switch {
	case utf8.RuneCountInString(t) > maxSubjectTag:
		ps.add(path, "%q is not allowed: must be at most %d characters", t, maxSubjectTag)
	case hasControl(t):
		ps.add(path, "%q is not allowed: must not contain line breaks or control characters", t)
	}
}

// hasControl reports whether s has a control character (including CR and LF) or invalid UTF-8.
func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return true
		}
	}
	return false
}

func (p *Policy) validateDomain(ps *problems, path, name string, d Domain) {
	d.Settings.validate(ps, path)
	for i, r := range d.Recipients {
		rp := index(field(path, "recipients"), i)
		addr, err := ParseAddress(r)
		if err != nil {
			ps.add(rp, "%v", err)
			continue
		}
		if dom := domainOf(addr); dom != name {
			ps.add(rp, "%q is not allowed: the directory of %s holds addresses in %s only", r, name, name)
		}
	}
	for i, e := range d.Executives {
		if n := len(strings.Fields(e)); n < 2 || utf8.RuneCountInString(e) > 100 {
			ps.add(index(field(path, "executives"), i), "%q is not allowed: give a full name of at least two words and at most 100 characters (\"Jane Doe\")", e)
		}
	}
	validateIPs(ps, field(path, "ips"), d.IPs)
	if d.Route != nil {
		validateRoute(ps, field(path, "route"), name, *d.Route)
	}
}

func validateRoute(ps *problems, path, domain string, r Route) {
	typ := r.Type
	if typ == "" {
		typ = "smtp"
	}
	switch typ {
	case "smtp":
		if r.Host == "" {
			ps.add(field(path, "host"), "is required for an smtp route: the customer mail server's name or IP address")
		} else if _, err := netip.ParseAddr(r.Host); err != nil {
			if _, _, err := net.SplitHostPort(r.Host); err == nil {
				ps.add(field(path, "host"), "%q is not allowed: give the port in port, not in host", r.Host)
			} else if _, reason := checkDomain(r.Host); reason != "" {
				ps.add(field(path, "host"), "%q is not a valid host name or IP address: %s", r.Host, reason)
			}
		}
		switch {
		case r.Port == 25:
			ps.add(field(path, "port"), "25 is not allowed: AWS Lambda cannot open connections to port 25; have the mail server listen on 587, 465 or another port for Moat")
		case r.Port < 0 || r.Port > 65535:
			ps.add(field(path, "port"), "%d is not allowed: must be between 1 and 65535 (default 587)", r.Port)
		}
		if r.TLS != "" {
			oneOf(ps, field(path, "tls"), &r.TLS, TLSModes)
		}
		if r.TLS == "verify" && r.CAParam == "" {
			ps.add(field(path, "caParam"), "is required with tls: verify: the SSM parameter holding the CA certificate (PEM)")
		}
		if len(r.Forward) > 0 {
			ps.add(field(path, "forward"), "is only for type ses-forward")
		}
		if r.FromAddress != "" {
			ps.add(field(path, "fromAddress"), "is only for type ses-forward")
		}
	case "ses-forward":
		for _, f := range []struct{ name, value string }{
			{"host", r.Host}, {"tls", r.TLS}, {"caParam", r.CAParam}, {"authSecret", r.AuthSecret},
		} {
			if f.value != "" {
				ps.add(field(path, f.name), "is only for type smtp")
			}
		}
		if r.Port != 0 {
			ps.add(field(path, "port"), "is only for type smtp")
		}
		if len(r.Forward) == 0 {
			ps.add(field(path, "forward"), "is required for a ses-forward route: a mapping of recipient to forwarding address")
		}
		for _, rcpt := range sortedKeys(r.Forward) {
			fp := key(field(path, "forward"), rcpt)
			if addr, err := ParseAddress(rcpt); err != nil {
				ps.add(fp, "%v", err)
			} else if domainOf(addr) != domain {
				ps.add(fp, "%q is not allowed: forwarded recipients must be addresses in %s", rcpt, domain)
			}
			if _, err := ParseAddress(r.Forward[rcpt]); err != nil {
				ps.add(fp, "%v", err)
			}
		}
		if r.FromAddress == "" {
			ps.add(field(path, "fromAddress"), "is required for a ses-forward route: the verified address forwarded mail is sent from")
		} else if _, err := ParseAddress(r.FromAddress); err != nil {
			ps.add(field(path, "fromAddress"), "%v", err)
		}
	default:
		oneOf(ps, field(path, "type"), &r.Type, RouteTypes)
	}
}

func (p *Policy) validateSender(ps *problems, path string, e SenderEntry) {
	if _, err := ParsePattern(e.Pattern); err != nil {
		ps.add(field(path, "pattern"), "%v", err)
	}
	if e.List != Approved && e.List != Blocked {
		if e.List == "" {
			ps.add(field(path, "list"), "is required: approved or blocked")
		} else {
			ps.add(field(path, "list"), "%q is not allowed: must be approved or blocked", e.List)
		}
	}
	if e.Domain != "" && e.Recipient != "" {
		ps.add(path, "an entry has one scope: set domain or recipient, not both (a recipient's entries already apply to that recipient only)")
		return
	}
	if e.Domain != "" && !p.serves(e.Domain) {
		ps.add(field(path, "domain"), "%q is not allowed: it is not one of the served domains%s", e.Domain, p.domainHint(e.Domain))
	}
	if e.Recipient != "" {
		addr, err := ParseAddress(e.Recipient)
		switch {
		case err != nil:
			ps.add(field(path, "recipient"), "%v", err)
		case !p.serves(domainOf(addr)):
			ps.add(field(path, "recipient"), "%q is not allowed: its domain is not one of the served domains", e.Recipient)
		}
	}
}

// serves reports whether d (any case) is a served domain of the document.
func (p *Policy) serves(d string) bool {
	_, ok := p.Domains[strings.ToLower(d)]
	return ok
}

func (p *Policy) domainHint(d string) string {
	if s := suggest(strings.ToLower(d), sortedKeys(p.Domains)); s != "" {
		return " (did you mean " + s + "?)"
	}
	return ""
}

func validateIPs(ps *problems, path string, l IPLists) {
	for i, s := range l.Allow {
		if _, reason := parseIPEntry(s); reason != "" {
			ps.add(index(field(path, "allow"), i), "%q is not allowed: %s", s, reason)
		}
	}
	for i, s := range l.Block {
		p, reason := parseIPEntry(s)
		if reason == "" && p.Bits() == 0 {
			reason = "it would block every IPv" + map[bool]string{true: "4", false: "6"}[p.Addr().Is4()] +
				" client; to stop receiving mail for a domain, remove the domain"
		}
		if reason != "" {
			ps.add(index(field(path, "block"), i), "%q is not allowed: %s", s, reason)
		}
	}
}

// parseIPEntry parses a CIDR or a bare IP (a /32 or /128), IPv4 or IPv6, and normalises it:
// host bits cleared, IPv4-mapped IPv6 turned into IPv4.
func parseIPEntry(s string) (netip.Prefix, string) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, "must be an IP address or a CIDR prefix (192.0.2.0/24, 2001:db8::/32)"
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, "must be an IP address or a CIDR prefix (192.0.2.0/24, 2001:db8::/32)"
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return p, "an IPv4-mapped IPv6 prefix must be at least /96"
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), ""
}

// Rule fields.
const (
	fieldSubject         = "subject"
	fieldBody            = "body"
	fieldHeader          = "header:"
	fieldFrom            = "from"
	fieldTo              = "to"
	fieldAttachmentName  = "attachment-name"
	fieldAttachmentType  = "attachment-type"
	fieldSize            = "size"
	fieldRecipientCount  = "recipient-count"
	fieldSubjectBlank    = "subject-blank"
	fieldBodyBlank       = "body-blank"
	fieldFromMismatch    = "from-mismatch"
	fieldReplyToMismatch = "reply-to-mismatch"
)

// CriterionFields lists the criterion fields ("header:" takes a header name after the colon).
var CriterionFields = []string{
	fieldSubject, fieldBody, fieldHeader + "<Name>", fieldFrom, fieldTo, fieldAttachmentName,
	fieldAttachmentType, fieldSize, fieldRecipientCount, fieldSubjectBlank, fieldBodyBlank,
	fieldFromMismatch, fieldReplyToMismatch,
}

// opsFor returns the operators a criterion field takes; nil for an unknown field.
func opsFor(f string) []string {
	switch {
	case f == fieldSubject, f == fieldBody, f == fieldFrom, f == fieldTo, strings.HasPrefix(f, fieldHeader):
		return []string{"contains", "matches"}
	case f == fieldAttachmentName:
		return []string{"matches"}
	case f == fieldAttachmentType:
		return []string{"is"}
	case f == fieldSize, f == fieldRecipientCount:
		return []string{"gt", "lt"}
	case f == fieldSubjectBlank, f == fieldBodyBlank, f == fieldFromMismatch, f == fieldReplyToMismatch:
		return []string{"is"}
	}
	return nil
}

func (p *Policy) validateRule(ps *problems, path string, r Rule) {
	if strings.TrimSpace(r.Name) == "" {
		ps.add(field(path, "name"), "is required: a unique name, shown in the verdict trail")
	} else if hasControl(r.Name) || utf8.RuneCountInString(r.Name) > 128 {
		ps.add(field(path, "name"), "%q is not allowed: at most 128 characters, no line breaks", r.Name)
	}
	for i, d := range r.Domains {
		if !p.serves(d) {
			ps.add(index(field(path, "domains"), i), "%q is not allowed: it is not one of the served domains%s", d, p.domainHint(d))
		}
	}
	if r.Match != "" && r.Match != "all" && r.Match != "any" {
		ps.add(field(path, "match"), "%q is not allowed: must be all (every criterion) or any (one criterion)", r.Match)
	}
	if len(r.Criteria) == 0 {
		ps.add(field(path, "criteria"), "a rule needs at least one criterion")
	}
	for i, c := range r.Criteria {
		validateCriterion(ps, index(field(path, "criteria"), i), c)
	}
	switch {
	case r.Action == "":
		ps.add(field(path, "action"), "is required: one of %s", actionList())
	case !r.Action.Valid():
		ps.add(field(path, "action"), "%q is not allowed: must be one of %s", r.Action, actionList())
	}
	if r.SubjectTag != "" {
		if r.Action != verdict.Tag {
			ps.add(field(path, "subjectTag"), "%q is not allowed: a subject tag goes with action tag", r.SubjectTag)
		}
		subjectTag(ps, field(path, "subjectTag"), r.SubjectTag)
	}
	for _, h := range sortedKeys(r.Headers) {
		hp := key(field(path, "headers"), h)
		switch {
		case !validHeaderName(h) || !strings.HasPrefix(strings.ToLower(h), "x-"):
			ps.add(hp, "%q is not allowed: inserted header names start with X- and use letters, digits and hyphens", h)
		case strings.HasPrefix(strings.ToLower(h), "x-moat-"):
			ps.add(hp, "%q is not allowed: X-Moat- headers are Moat's own verdict headers", h)
		}
		if v := r.Headers[h]; hasControl(v) || len(v) > 900 {
			ps.add(hp, "the value %q is not allowed: at most 900 characters, no line breaks", v)
		}
	}
	for i, a := range r.Notify {
		if _, err := ParseAddress(a); err != nil {
			ps.add(index(field(path, "notify"), i), "%v", err)
		}
	}
}

// validHeaderName reports whether s is a header field name made of letters, digits and
// hyphens (a stricter form of RFC 5322's ftext, which is all that inserted headers need).
func validHeaderName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validMatchHeaderName reports whether s is a header field name (RFC 5322 ftext: printable
// ASCII except colon).
func validMatchHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

func validateCriterion(ps *problems, path string, c Criterion) {
	fp := field(path, "field")
	ops := opsFor(c.Field)
	switch {
	case c.Field == "":
		ps.add(fp, "is required: one of %s", strings.Join(CriterionFields, ", "))
		return
	case ops == nil:
		msg := fmt.Sprintf("%q is not allowed: must be one of %s", c.Field, strings.Join(CriterionFields, ", "))
		if s := suggest(c.Field, CriterionFields); s != "" && !strings.HasPrefix(s, fieldHeader) {
			msg += " (did you mean " + s + "?)"
		}
		ps.add(fp, "%s", msg)
		return
	case strings.HasPrefix(c.Field, fieldHeader) && !validMatchHeaderName(c.Field[len(fieldHeader):]):
		ps.add(fp, "%q is not allowed: write header:<Name>, e.g. header:X-Mailer", c.Field)
		return
	}
	op := field(path, "op")
	if !slices.Contains(ops, c.Op) {
		if c.Op == "" {
			ps.add(op, "is required for %s: %s", c.Field, strings.Join(ops, " or "))
		} else {
			ps.add(op, "%q is not allowed for %s: must be %s", c.Op, c.Field, strings.Join(ops, " or "))
		}
		return
	}
	vp := field(path, "values")
	switch c.Field {
	case fieldSubjectBlank, fieldBodyBlank, fieldFromMismatch, fieldReplyToMismatch:
		if len(c.Values) > 0 {
			ps.add(vp, "%s takes no values", c.Field)
		}
		return
	case fieldSize, fieldRecipientCount:
		if len(c.Values) != 1 {
			ps.add(vp, "%s %s takes exactly one value, got %d", c.Field, c.Op, len(c.Values))
			return
		}
		v := c.Values[0]
		if c.Field == fieldSize {
			if _, err := ParseSize(v); err != nil {
				ps.add(index(vp, 0), "%v", err)
			}
		} else if n, err := strconv.Atoi(v); err != nil || n < 0 {
			ps.add(index(vp, 0), "%q is not allowed: must be a whole number of recipients", v)
		}
		return
	}
	if len(c.Values) == 0 {
		ps.add(vp, "%s %s needs at least one value", c.Field, c.Op)
		return
	}
	for i, v := range c.Values {
		ip := index(vp, i)
		switch {
		case c.Field == fieldAttachmentName:
			if _, err := compileGlob(v); err != nil {
				ps.add(ip, "%q is not a valid file name pattern: %s", v, err)
			}
		case c.Field == fieldAttachmentType:
			if !knownType(v) {
				msg := fmt.Sprintf("%q is not allowed: must be a true file type, one of %s", v, strings.Join(typeNames(), ", "))
				if s := typeHints[strings.ToLower(strings.TrimPrefix(v, "."))]; s != "" {
					msg += " (a ." + strings.ToLower(strings.TrimPrefix(v, ".")) + " file is of type " + s + ")"
				} else if s := suggest(v, typeNames()); s != "" {
					msg += " (did you mean " + s + "?)"
				}
				ps.add(ip, "%s", msg)
			}
		case c.Op == "matches":
			if _, err := compileRegexp(v); err != nil {
				ps.add(ip, "%q is not a valid regular expression: %s", v, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
		default: // contains
			if strings.TrimSpace(v) == "" || hasControl(v) {
				ps.add(ip, "%q is not allowed: a keyword or phrase with no line breaks or control characters", v)
			}
		}
	}
}

// typeHints maps file name extensions people write for true types.
var typeHints = map[string]string{
	"exe": "pe", "dll": "pe", "scr": "pe", "sys": "pe", "com": "pe", "cpl": "pe",
	"doc": "ole", "xls": "ole", "ppt": "ole", "msg": "ole", "msi": "ole",
	"docx": "ooxml", "xlsx": "ooxml", "pptx": "ooxml", "docm": "ooxml", "xlsm": "ooxml",
	"jpg": "jpeg", "7zip": "7z", "gz": "gzip", "bz2": "bzip2",
	"sh": "script", "bat": "script", "cmd": "script", "js": "script", "vbs": "script", "ps1": "script",
	"macho": "mach-o", "txt": "text", "htm": "html",
}

// compileRegexp compiles a criterion's regular expression, case-insensitive unless it opts
// out with (?-i).
func compileRegexp(s string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(s); err != nil {
		return nil, err // report the expression as written
	}
	return regexp.Compile("(?i)" + s)
}

// ParseSize parses a size in bytes: a whole or decimal number with an optional unit B, KB,
// MB or GB (binary: 1 KB = 1024 bytes; KiB, MiB, GiB are accepted too), case-insensitive.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", kib}, {"mib", mib}, {"gib", gib}, {"kb", kib}, {"mb", mib}, {"gb", gib}, {"k", kib}, {"m", mib}, {"g", gib}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	bad := fmt.Errorf("%q is not a valid size: write bytes, or a number with KB, MB or GB (e.g. 10MB)", s)
	whole, frac, dot := strings.Cut(t, ".")
	if whole == "" || !allDigits(whole) || (dot && (frac == "" || !allDigits(frac))) {
		return 0, bad
	}
	if !dot {
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || n > (1<<53)/mult {
			return 0, bad
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f*float64(mult) > 1<<53 {
		return 0, bad
	}
	return int64(f * float64(mult)), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// domainOf returns the part after the last @, as it is.
func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
