package classify

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"

	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
)

// MaxTextTokenized bounds how much of a message's text is tokenized: the opening of a message
// tells spam from ham; the rest would only cost time.
const MaxTextTokenized = 128 << 10

// Token kinds: a token is a kind prefix and a value, hashed to 32 bits. A hash collision
// merges two rare tokens' counts, which costs nothing measurable at the model sizes here.
const (
	kWord      = "w:" // a word of the text
	kSkip      = "k:" // a long word: its first character and length class
	kSubject   = "s:" // a word of the subject
	kFromName  = "fn:"
	kFromDom   = "fd:"
	kNoName    = "fn-none"
	kReplyDom  = "rd:"
	kEmailDom  = "ed:" // the domain of an address written in the text
	kURLHost   = "uh:"
	kURLDomain = "ud:"
	kPart      = "pt:" // declared type of a MIME part
	kCharset   = "cs:"
	kTrueType  = "tt:"
	kExt       = "fx:" // an attachment's file name extension
	kTopType   = "ct:"
	kCTE       = "te:"
	kMailer    = "xm:"
	kPriority  = "pr:"
	kPresent   = "h:" // presence of a header field from headersPresent
	kDefect    = "df:"
	kHTMLOnly  = "html-only"
	kRcpts     = "rc:"  // recipient count class
	kHit       = "hit:" // a heuristic check fired
	kURLPath   = "up:"  // a word of a link's path
	kCaps      = "caps" // a word in capitals
	kFromAddr  = "fa:"
	kShape     = "sh:" // size classes of the text and the links
)

// headersPresent are fields whose presence is a generic signal (replies, mailing lists). No
// field a particular receiving system adds is used: such tokens would learn where a
// training corpus was collected, not what spam is.
var headersPresent = []string{"In-Reply-To", "References", "List-Id", "List-Unsubscribe", "Organization", "MIME-Version"}

// Analyze tokenizes m and runs the heuristic checks; each hit is also a token, so the
// classifier learns how much the weaker checks say about this tenant's mail.
func Analyze(m *message.Message, ctx *heuristic.Context, dst []uint32) ([]uint32, []heuristic.Hit) {
	hits := heuristic.Check(m, ctx)
	toks := Tokens(m, dst)
	if len(hits) == 0 {
		return toks, nil
	}
	t := tokenizer{dst: toks}
	for _, h := range hits {
		t.add(kHit, h.Code)
	}
	slices.Sort(t.dst)
	return slices.Compact(t.dst), hits
}

// Tokens returns the sorted, distinct token hashes of m, appended to dst[:0]. Only presence
// counts, not frequency. The features: header fields (subject words, the From display name,
// address and domain, Reply-To domain, the mailer, priority, content types, charsets, the
// presence of reply and list fields), the decoded text of every text part (HTML reduced to
// text, in any charset; lower-cased words of 3–20 characters and pairs of adjacent words,
// numbers dropped), the hosts, registrable domains and path words of links, addresses'
// domains, attachments' true types and extensions, MIME defects, and the order of magnitude
// of the text's length and of the number of links. Date, Received, Message-ID and the
// recipients' addresses are not used: they tell where and when mail was collected, not
// whether it is spam.
func Tokens(m *message.Message, dst []uint32) []uint32 {
	t := tokenizer{dst: dst[:0]}
	t.words(kSubject, m.Subject)
	if m.From.Name == "" {
		t.add(kNoName, "")
	} else {
		t.words(kFromName, m.From.Name)
	}
	if d := domainOf(m.From.Addr); d != "" {
		t.add(kFromDom, registered(d))
		t.add(kFromAddr, strings.ToLower(m.From.Addr))
	}
	for _, a := range m.ReplyTo {
		if d := domainOf(a.Addr); d != "" {
			t.add(kReplyDom, registered(d))
		}
	}
	n := len(m.To) + len(m.Cc)
	t.add(kRcpts, rcptClass(n))
	for _, f := range m.Header {
		switch {
		case strings.EqualFold(f.Name, "X-Mailer"), strings.EqualFold(f.Name, "User-Agent"):
			t.words(kMailer, f.Value)
		case strings.EqualFold(f.Name, "X-Priority"), strings.EqualFold(f.Name, "Importance"), strings.EqualFold(f.Name, "X-MSMail-Priority"):
			t.add(kPriority, strings.ToLower(strings.TrimSpace(f.Value)))
		case strings.EqualFold(f.Name, "Content-Type"):
			v := f.Value
			if i := strings.IndexByte(v, ';'); i >= 0 {
				v = v[:i]
			}
			t.add(kTopType, strings.ToLower(strings.TrimSpace(v)))
		case strings.EqualFold(f.Name, "Content-Transfer-Encoding"):
			t.add(kCTE, strings.ToLower(strings.TrimSpace(f.Value)))
		default:
			for _, h := range headersPresent {
				if strings.EqualFold(f.Name, h) {
					t.add(kPresent, h)
				}
			}
		}
	}
	plain, html := false, false
	for i := range m.Parts {
		p := &m.Parts[i]
		t.add(kPart, p.ContentType)
		if p.Charset != "" {
			t.add(kCharset, strings.ToLower(p.Charset))
		}
		t.add(kTrueType, string(p.Type))
		if p.Attachment {
			if j := strings.LastIndexByte(p.Filename, '.'); j >= 0 && len(p.Filename)-j <= 6 {
				t.add(kExt, strings.ToLower(p.Filename[j+1:]))
			}
		}
		switch p.ContentType {
		case "text/plain":
			plain = true
		case "text/html":
			html = true
		}
		if p.Archive != nil {
			for _, e := range p.Archive.Entries {
				t.add(kTrueType, string(e.Type))
			}
		}
	}
	if html && !plain {
		t.add(kHTMLOnly, "")
	}
	t.add(kShape, "text:"+sizeClass(len(m.Text)))
	t.add(kShape, "links:"+sizeClass(len(m.Links)))
	for _, d := range m.Defects {
		t.add(kDefect, d)
	}
	for _, u := range heuristic.URLs(m) {
		t.add(kURLHost, u.Host)
		t.add(kURLDomain, registered(u.Host))
	}
	for i, l := range m.Links {
		if i >= 100 {
			break
		}
		t.urlPath(l.Href)
	}
	for i, u := 0, m.Text; i < 100; i++ {
		k := strings.Index(u, "://")
		if k < 0 {
			break
		}
		end := strings.IndexAny(u[k:], " \t\r\n<>\"'")
		if end < 0 {
			end = len(u) - k
		}
		t.urlPath(u[k+1 : k+end])
		u = u[k+end:]
	}
	text := m.Text
	if len(text) > MaxTextTokenized {
		text = text[:MaxTextTokenized]
	}
	t.text(text)
	slices.Sort(t.dst)
	return slices.Compact(t.dst)
}

func rcptClass(n int) string {
	switch {
	case n == 0:
		return "0"
	case n == 1:
		return "1"
	case n <= 5:
		return "few"
	default:
		return "many"
	}
}

type tokenizer struct {
	dst []uint32
}

// FNV-1a, 32 bits.
const (
	offset32 = 2166136261
	prime32  = 16777619
)

func (t *tokenizer) add(kind, value string) {
	h := uint32(offset32)
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint32(kind[i])) * prime32
	}
	for i := 0; i < len(value); i++ {
		h = (h ^ uint32(value[i])) * prime32
	}
	t.dst = append(t.dst, h)
}

// addLower adds kind+value with ASCII letters lower-cased (value is lower-cased already when
// it holds non-ASCII).
func (t *tokenizer) addLower(kind, value string) {
	h := uint32(offset32)
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint32(kind[i])) * prime32
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint32(c)) * prime32
	}
	t.dst = append(t.dst, h)
}

// words adds the words of a header value.
func (t *tokenizer) words(kind, s string) {
	for _, w := range strings.Fields(s) {
		t.word(kind, w)
	}
}

// text adds the words of the body text and the pairs of adjacent words.
func (t *tokenizer) text(s string) {
	var prev uint32
	for len(s) > 0 {
		i := 0
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		if j > i {
			if t.word(kWord, s[i:j]) {
				h := t.dst[len(t.dst)-1]
				if prev != 0 {
					t.dst = append(t.dst, (prev*31+h)^0x9e3779b9)
				}
				prev = h
			} else {
				prev = 0
			}
		}
		s = s[j:]
	}
}

// isPunct marks the characters trimmed from the ends of words.
var isPunct = func() (t [256]bool) {
	for _, c := range []byte(".,;:!?\"'()[]<>{}*-_=+#|~`") {
		t[c] = true
	}
	return t
}()

func trimPunct(w string) string {
	i, j := 0, len(w)
	for i < j && isPunct[w[i]] {
		i++
	}
	for j > i && isPunct[w[j-1]] {
		j--
	}
	return w[i:j]
}

// word adds one whitespace-separated word: trimmed of punctuation, lower-cased, numbers and
// URLs dropped (links are tokenized by host), addresses reduced to their domain, long words
// reduced to their first character and length class.
func (t *tokenizer) word(kind, w string) bool {
	w = trimPunct(w)
	if len(w) < 3 {
		return false
	}
	if i := strings.IndexByte(w, '@'); i >= 0 {
		if d := w[i+1:]; strings.IndexByte(d, '.') > 0 {
			t.addLower(kEmailDom, registered(strings.ToLower(d)))
		}
		return false
	}
	if hasPrefixFold(w, "http") || hasPrefixFold(w, "www.") {
		return false
	}
	digits := 0
	ascii := true
	for i := 0; i < len(w); i++ {
		c := w[i]
		if '0' <= c && c <= '9' || c == '.' || c == ',' || c == '/' || c == ':' {
			digits++
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if digits == len(w) {
		return false // numbers, dates and times
	}
	if !ascii {
		w = strings.ToLower(w)
	} else if kind == kWord && len(w) >= 4 && isUpper(w) {
		t.add(kCaps, "")
	}
	if n := utf8.RuneCountInString(w); n > 20 {
		t.add(kSkip, string([]byte{w[0] | 0x20, byte('0' + min(n/10, 9))}))
		return false
	}
	t.addLower(kind, w)
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

func registered(host string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

func isUpper(w string) bool {
	for i := 0; i < len(w); i++ {
		if 'a' <= w[i] && w[i] <= 'z' {
			return false
		}
	}
	return true
}

// urlPath adds the words of a link's path and query.
func (t *tokenizer) urlPath(href string) {
	i := strings.Index(href, "//")
	if i < 0 {
		return
	}
	rest := href[i+2:]
	j := strings.IndexAny(rest, "/?")
	if j < 0 {
		return
	}
	for _, w := range strings.FieldsFunc(rest[j:], func(r rune) bool {
		return !('a' <= r|0x20 && r|0x20 <= 'z')
	}) {
		if len(w) >= 3 && len(w) <= 20 {
			t.addLower(kURLPath, w)
		}
	}
}

// sizeClass is the order of magnitude of n: "0", "1", "10", "100", ...
func sizeClass(n int) string {
	c := "0"
	for v := 1; n >= v && len(c) < 8; v *= 10 {
		c = strconv.Itoa(v)
	}
	return c
}
