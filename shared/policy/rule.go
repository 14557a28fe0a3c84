package policy

import (
	"errors"
	"maps"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/net/publicsuffix"

	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
)

// RuleInput is what content rules look at: the message and the envelope facts. It caches the
// lower-cased texts it derives from Msg on first use, so pass the same *RuleInput to every
// rule of a message; it is not safe for concurrent use. Changing Msg (to another message)
// resets the cache; changing the message Msg points to after the first Match does not.
type RuleInput struct {
	Msg            *message.Message
	Sender         string // envelope sender (MAIL FROM); empty for bounces
	RecipientCount int    // envelope recipients of the message

	cache ruleCache
}

type ruleCache struct {
	msg            *message.Message
	have           uint8 // bits: which of the fields below are filled
	subject, body  string
	from, to       string // folded
	fromRaw, toRaw string
	names          []string // lower-case base names of attachments and archive entries
	headers        []cachedHeader
}

const (
	haveSubject uint8 = 1 << iota
	haveBody
	haveFrom
	haveTo
	haveFromRaw
	haveToRaw
	haveNames
)

type cachedHeader struct {
	name, folded string
}

var emptyMessage = &message.Message{}

func (in *RuleInput) msg() *message.Message {
	if in.Msg == nil {
		return emptyMessage
	}
	return in.Msg
}

func (in *RuleInput) c() *ruleCache {
	if in.cache.msg != in.Msg {
		in.cache = ruleCache{msg: in.Msg}
	}
	return &in.cache
}

// raw returns the unfolded text of a text field (not header:, which has one value per field).
func (in *RuleInput) raw(k kind) string {
	m := in.msg()
	switch k {
	case kSubject:
		return m.Subject
	case kBody:
		return m.Text
	case kFrom:
		c := in.c()
		if c.have&haveFromRaw == 0 {
			c.fromRaw, c.have = formatAddrs([]message.Address{m.From}), c.have|haveFromRaw
		}
		return c.fromRaw
	case kTo:
		c := in.c()
		if c.have&haveToRaw == 0 {
			c.toRaw, c.have = formatAddrs(slices.Concat(m.To, m.Cc)), c.have|haveToRaw
		}
		return c.toRaw
	}
	return ""
}

// folded returns the lower-cased, space-collapsed text of a text field, computed once.
func (in *RuleInput) folded(k kind, header string) string {
	c := in.c()
	var slot *string
	var bit uint8
	switch k {
	case kSubject:
		slot, bit = &c.subject, haveSubject
	case kBody:
		slot, bit = &c.body, haveBody
	case kFrom:
		slot, bit = &c.from, haveFrom
	case kTo:
		slot, bit = &c.to, haveTo
	case kHeader:
		for _, h := range c.headers {
			if h.name == header {
				return h.folded
			}
		}
		var vals []string
		for _, f := range in.msg().Header {
			if strings.EqualFold(f.Name, header) {
				vals = append(vals, fold(message.DecodeWords(f.Value)))
			}
		}
		// NUL separates the fields: a phrase never spans two of them.
		h := cachedHeader{name: header, folded: strings.Join(vals, "\x00")}
		c.headers = append(c.headers, h)
		return h.folded
	default:
		return ""
	}
	if c.have&bit == 0 {
		*slot = fold(in.raw(k))
		c.have |= bit
	}
	return *slot
}

// names returns the lower-case base names of the attachments and of the archive entries.
func (in *RuleInput) names() []string {
	c := in.c()
	if c.have&haveNames != 0 {
		return c.names
	}
	var names []string
	for i := range in.msg().Parts {
		p := &in.msg().Parts[i]
		if n := baseName(p.Filename); n != "" {
			names = append(names, strings.ToLower(n))
		}
		if p.Archive != nil {
			for _, e := range p.Archive.Entries {
				if n := baseName(e.Path); n != "" {
					names = append(names, strings.ToLower(n))
				}
			}
		}
	}
	c.names, c.have = names, c.have|haveNames
	return names
}

// baseName is the last element of a path written with / or \.
func baseName(p string) string {
	return p[strings.LastIndexAny(p, `/\`)+1:]
}

func formatAddrs(as []message.Address) string {
	var b strings.Builder
	for _, a := range as {
		if a.Addr == "" && a.Name == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		switch {
		case a.Name == "":
			b.WriteString(a.Addr)
		case a.Addr == "":
			b.WriteString(a.Name)
		default:
			b.WriteString(a.Name + " <" + a.Addr + ">")
		}
	}
	return b.String()
}

// fold lower-cases s (by Unicode simple case folding, see foldRune) and collapses every run
// of white space into one space, trimming both ends: the form keywords are compared in.
func fold(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			i++
			l := asciiFold[c]
			if l == 0 && c != 0 {
				space = true
				continue
			}
			if space && len(b) > 0 {
				b = append(b, ' ')
			}
			space = false
			b = append(b, l)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		space = false
		b = utf8.AppendRune(b, foldRune(r))
	}
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b)) // b is not touched again: no copy needed
}

// foldRune maps every rune of a Unicode simple case folding orbit to one rune, the lower case
// of the orbit's smallest: K, k and the Kelvin sign K give k; S, s and ſ give s; Σ, σ and ς
// give σ. So texts that match case-insensitively (as regexp's (?i) does) fold the same.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return unicode.ToLower(m)
}

// asciiFold maps an ASCII byte to its lower case, and white space to 0.
var asciiFold = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		switch {
		case c == ' ', c == '\t', c == '\n', c == '\r', c == '\v', c == '\f':
			t[c] = 0
		case 'A' <= c && c <= 'Z':
			t[c] = byte(c) + 'a' - 'A'
		default:
			t[c] = byte(c)
		}
	}
	return t
}()

// kind is a criterion's field.
type kind uint8

const (
	kSubject kind = iota
	kBody
	kHeader
	kFrom
	kTo
	kAttachmentName
	kAttachmentType
	kSize
	kRecipientCount
	kSubjectBlank
	kBodyBlank
	kFromMismatch
	kReplyToMismatch
)

var kinds = map[string]kind{
	fieldSubject: kSubject, fieldBody: kBody, fieldFrom: kFrom, fieldTo: kTo,
	fieldAttachmentName: kAttachmentName, fieldAttachmentType: kAttachmentType,
	fieldSize: kSize, fieldRecipientCount: kRecipientCount, fieldSubjectBlank: kSubjectBlank,
	fieldBodyBlank: kBodyBlank, fieldFromMismatch: kFromMismatch, fieldReplyToMismatch: kReplyToMismatch,
}

// criterion is a compiled Criterion.
type criterion struct {
	kind    kind
	header  string // header:<Name>
	op      string
	negate  bool
	phrases []phrase
	res     []regex
	globs   []glob
	types   []filetype.Type
	n       int64
}

// phrase is a folded keyword or phrase; the flags say whether its ends are word characters
// and so need a word boundary in the text.
type phrase struct {
	s              string
	wordStart, end bool
}

// CompiledRule is a content rule ready to match.
type CompiledRule struct {
	rule Rule
	any  bool
	crit []criterion
}

// compileRule compiles a validated rule, copying it.
func compileRule(r *Rule) *CompiledRule {
	cr := &CompiledRule{rule: *r, any: r.Match == "any"}
	cr.rule.Domains = slices.Clone(r.Domains)
	cr.rule.Criteria = slices.Clone(r.Criteria)
	for i := range cr.rule.Criteria {
		cr.rule.Criteria[i].Values = slices.Clone(r.Criteria[i].Values)
	}
	cr.rule.Headers = maps.Clone(r.Headers)
	cr.rule.Notify = slices.Clone(r.Notify)
	for _, c := range r.Criteria {
		cc := criterion{op: c.Op, negate: c.Negate}
		if h, ok := strings.CutPrefix(c.Field, fieldHeader); ok {
			cc.kind, cc.header = kHeader, h
		} else {
			cc.kind = kinds[c.Field]
		}
		switch cc.kind {
		case kAttachmentName:
			for _, v := range c.Values {
				g, _ := compileGlob(v)
				cc.globs = append(cc.globs, g)
			}
		case kAttachmentType:
			for _, v := range c.Values {
				cc.types = append(cc.types, filetype.Type(strings.ToLower(v)))
			}
		case kSize:
			cc.n, _ = ParseSize(c.Values[0])
		case kRecipientCount:
			cc.n, _ = strconv.ParseInt(c.Values[0], 10, 64)
		case kSubject, kBody, kHeader, kFrom, kTo:
			for _, v := range c.Values {
				if c.Op == "matches" {
					re, _ := compileRegexp(v)
					cc.res = append(cc.res, regex{re: re, need: requiredLiterals(v)})
					continue
				}
				f := fold(v)
				first, _ := utf8.DecodeRuneInString(f)
				last, _ := utf8.DecodeLastRuneInString(f)
				cc.phrases = append(cc.phrases, phrase{s: f, wordStart: isWord(first), end: isWord(last)})
			}
		}
		cr.crit = append(cr.crit, cc)
	}
	return cr
}

// Rule returns the rule as written in the document (a copy).
func (r *CompiledRule) Rule() Rule { return r.rule }

// Match reports whether the message in in meets the rule: every criterion for match "all",
// one for match "any". Criteria are tested in order and testing stops once the outcome is
// known. The fields mean:
//
//   - subject, body (the message's decoded text), header:<Name> (each field of that name, its
//     value with RFC 2047 encoded words decoded), from (header From as "Name <addr>"), to
//     (header To and Cc, the same way, comma-separated):
//     "contains" is true when any value occurs as a whole word or phrase, ignoring case, with
//     any run of white space in the text matching one space in the value: "invoice overdue"
//     matches "Re: INVOICE\n  overdue!" but not "invoices overdue". A value starting or ending
//     in a letter, digit or underscore needs a non-word character (or the end of the text)
//     beside it there; "c++" matches "I like c++." and "$$$" matches "win$$$now".
//     "matches" is true when any regular expression matches anywhere in the unfolded text,
//     ignoring case unless the expression starts with (?-i).
//   - attachment-name "matches": a glob (path.Match syntax, ignoring case) matches the base
//     name of an attachment's file name or of any file inside an archive, at any depth.
//   - attachment-type "is": an attachment's true type, or that of any file inside an archive,
//     is one of the values.
//   - size "gt"/"lt": the raw message size in bytes is greater/less than the value.
//   - recipient-count "gt"/"lt": the number of envelope recipients is greater/less.
//   - subject-blank, body-blank: the subject/text is empty or only white space.
//   - from-mismatch: the header From's domain and the envelope sender's domain belong to
//     different organisations (registrable domains, as DMARC's relaxed alignment: From
//     example.com with sender bounces.example.com is not a mismatch). A bounce (empty
//     envelope sender), a sender without a domain, or a message without a From is never a
//     mismatch.
//   - reply-to-mismatch: a Reply-To address's domain belongs to another organisation than
//     the From's; never when there is no From or no Reply-To.
//
// Negate inverts a criterion's result. A nil Msg is an empty message.
func (r *CompiledRule) Match(in *RuleInput) bool {
	if in == nil {
		in = &RuleInput{}
	}
	for i := range r.crit {
		c := &r.crit[i]
		if c.match(in) != c.negate {
			if r.any {
				return true
			}
		} else if !r.any {
			return false
		}
	}
	return !r.any
}

func (c *criterion) match(in *RuleInput) bool {
	m := in.msg()
	switch c.kind {
	case kSubject, kBody, kFrom, kTo, kHeader:
		if c.op == "matches" {
			return c.matchRegexp(in)
		}
		text := in.folded(c.kind, c.header)
		for _, p := range c.phrases {
			if containsPhrase(text, p) {
				return true
			}
		}
		return false
	case kAttachmentName:
		for _, n := range in.names() {
			for _, g := range c.globs {
				if g.match(n) {
					return true
				}
			}
		}
		return false
	case kAttachmentType:
		for i := range m.Parts {
			p := &m.Parts[i]
			if slices.Contains(c.types, p.Type) {
				return true
			}
			if p.Archive != nil {
				for _, e := range p.Archive.Entries {
					if slices.Contains(c.types, e.Type) {
						return true
					}
				}
			}
		}
		return false
	case kSize:
		return compare(m.Size, c.op, c.n)
	case kRecipientCount:
		return compare(int64(in.RecipientCount), c.op, c.n)
	case kSubjectBlank:
		return strings.TrimSpace(m.Subject) == ""
	case kBodyBlank:
		return strings.TrimSpace(m.Text) == ""
	case kFromMismatch:
		at := strings.LastIndexByte(in.Sender, '@')
		from := addrDomain(m.From.Addr)
		if at < 0 || at == len(in.Sender)-1 || from == "" {
			return false
		}
		return !sameOrganisation(strings.TrimSuffix(in.Sender[at+1:], ">"), from)
	case kReplyToMismatch:
		from := addrDomain(m.From.Addr)
		if from == "" {
			return false
		}
		for _, a := range m.ReplyTo {
			if d := addrDomain(a.Addr); d != "" && !sameOrganisation(d, from) {
				return true
			}
		}
		return false
	}
	return false
}

func (c *criterion) matchRegexp(in *RuleInput) bool {
	folded := in.folded(c.kind, c.header)
	for _, r := range c.res {
		if !r.possible(folded) {
			continue
		}
		if c.kind != kHeader {
			if r.re.MatchString(in.raw(c.kind)) {
				return true
			}
			continue
		}
		for _, f := range in.msg().Header {
			if strings.EqualFold(f.Name, c.header) && r.re.MatchString(message.DecodeWords(f.Value)) {
				return true
			}
		}
	}
	return false
}

// regex is a compiled "matches" expression with the literals every match contains, folded.
// Go's regexp cannot skip ahead to a case-insensitive literal, so a 10 KB body costs it
// hundreds of microseconds; looking for the literals in the folded text first rules most
// texts out in a few.
type regex struct {
	re   *regexp.Regexp
	need []string
}

func (r regex) possible(folded string) bool {
	for _, l := range r.need {
		if !strings.Contains(folded, l) {
			return false
		}
	}
	return true
}

// requiredLiterals returns the literal strings (folded) that any match of expr contains: the
// literals in the expression's top-level sequence, also inside groups and repetitions of at
// least one. If the text holds a literal, its folded form holds the folded literal, so a
// folded text without one cannot match.
func requiredLiterals(expr string) []string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			if l := fold(string(r.Rune)); l != "" {
				out = append(out, l)
			}
		case syntax.OpConcat:
			for _, sub := range r.Sub {
				walk(sub)
			}
		case syntax.OpCapture, syntax.OpPlus:
			walk(r.Sub[0])
		case syntax.OpRepeat:
			if r.Min >= 1 {
				walk(r.Sub[0])
			}
		}
	}
	walk(re.Simplify())
	return out
}

func compare(v int64, op string, n int64) bool {
	if op == "gt" {
		return v > n
	}
	return v < n
}

// addrDomain is the domain of an address, or "" when it has none.
func addrDomain(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return ""
	}
	return a[at+1:]
}

// sameOrganisation reports whether two domains share their registrable domain (public
// suffix plus one label), ignoring case.
func sameOrganisation(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	return strings.EqualFold(orgDomain(a), orgDomain(b))
}

func orgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

// containsPhrase reports whether p occurs in the folded text with word boundaries where p
// starts or ends with a word character.
func containsPhrase(text string, p phrase) bool {
	if p.s == "" {
		return false
	}
	for off := 0; off < len(text); {
		i := strings.Index(text[off:], p.s)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(p.s)
		if (!p.wordStart || i == 0 || !lastIsWord(text[:i])) && (!p.end || j == len(text) || !firstIsWord(text[j:])) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		off = i + size
	}
	return false
}

func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func firstIsWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWord(r)
}

func lastIsWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isWord(r)
}

// glob is a lower-case file name pattern. Patterns of the common forms "*.ext" and "name.ext"
// are matched without path.Match.
type glob struct {
	pattern string
	suffix  string // for "*literal"
	exact   bool   // no metacharacters
}

func compileGlob(s string) (glob, error) {
	if s == "" {
		return glob{}, errors.New("it is empty")
	}
	if strings.Contains(s, "/") {
		return glob{}, errors.New("it matches file names, not paths: leave out the /")
	}
	p := strings.ToLower(s)
	if _, err := path.Match(p, ""); err != nil {
		return glob{}, errors.New("unbalanced [ ] or a trailing \\")
	}
	g := glob{pattern: p}
	const meta = `*?[\`
	switch {
	case !strings.ContainsAny(p, meta):
		g.exact = true
	case p[0] == '*' && !strings.ContainsAny(p[1:], meta):
		g.suffix = p[1:]
	}
	return g, nil
}

func (g glob) match(name string) bool {
	switch {
	case g.exact:
		return name == g.pattern
	case g.suffix != "" || g.pattern == "*":
		return strings.HasSuffix(name, g.suffix)
	}
	ok, _ := path.Match(g.pattern, name)
	return ok
}

// fileTypes are the true file types a rule can name.
var fileTypes = []filetype.Type{
	filetype.Unknown, filetype.Text, filetype.HTML, filetype.PDF, filetype.ZIP, filetype.GZIP,
	filetype.TAR, filetype.RAR, filetype.SevenZip, filetype.BZIP2, filetype.XZ, filetype.OLE,
	filetype.OOXML, filetype.PE, filetype.ELF, filetype.MachO, filetype.Script, filetype.PNG,
	filetype.JPEG, filetype.GIF, filetype.ISO, filetype.LNK,
}

func knownType(s string) bool {
	return slices.Contains(fileTypes, filetype.Type(strings.ToLower(s)))
}

func typeNames() []string {
	s := make([]string, len(fileTypes))
	for i, t := range fileTypes {
		s[i] = string(t)
	}
	return s
}
