package message

import (
	"encoding/base64"
	"net/mail"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Get returns the raw value of the first field called name (case-insensitive), or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns the raw values of every field called name (case-insensitive), in order.
func (h Header) Values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// DecodeWords decodes the RFC 2047 encoded words in s ("=?charset?B|Q?text?=") in any charset
// the WHATWG encoding index knows, joining adjacent words. It is tolerant: a word with a bad
// encoding or an unknown charset is left as it was, and base64 padding may be missing.
func DecodeWords(s string) string {
	i := strings.Index(s, "=?")
	if i < 0 {
		return s
	}
	var (
		out     []byte
		pending []byte // decoded bytes of adjacent words in charset cs, not yet converted
		cs      string
	)
	flush := func() {
		if len(pending) > 0 {
			out = appendCharset(out, cs, pending)
			pending = pending[:0]
		}
	}
	out = append(out, s[:i]...)
	rest := s[i:]
	between := false // only whitespace since the last decoded word
	for {
		start := strings.Index(rest, "=?")
		if start < 0 {
			break
		}
		charset, enc, text, end, ok := encodedWord(rest[start:])
		if !ok {
			// Not a word: keep "=?" literally and look further.
			flush()
			out = append(out, rest[:start+2]...)
			rest = rest[start+2:]
			between = false
			continue
		}
		dec, ok := decodeWord(enc, text)
		if !ok || !knownCharset(charset) {
			flush()
			out = append(out, rest[:start+end]...)
			rest = rest[start+end:]
			between = false
			continue
		}
		gap := rest[:start]
		if !between || strings.TrimLeft(gap, " \t\r\n") != "" {
			flush()
			out = append(out, gap...)
		}
		if len(pending) > 0 && !strings.EqualFold(cs, charset) {
			flush()
		}
		cs = charset
		pending = append(pending, dec...)
		rest = rest[start+end:]
		between = true
	}
	flush()
	out = append(out, rest...)
	return string(out)
}

// encodedWord splits "=?charset?E?text?=..." and returns the length of the word.
func encodedWord(s string) (charset string, enc byte, text string, n int, ok bool) {
	q1 := strings.IndexByte(s[2:], '?')
	if q1 < 0 {
		return
	}
	charset = s[2 : 2+q1]
	if i := strings.IndexByte(charset, '*'); i >= 0 { // RFC 2231 language suffix
		charset = charset[:i]
	}
	p := 2 + q1 + 1
	if len(s) < p+2 || s[p+1] != '?' || charset == "" || strings.ContainsAny(charset, " \t") {
		return
	}
	enc = s[p]
	end := strings.Index(s[p+2:], "?=")
	if end < 0 {
		return
	}
	text = s[p+2 : p+2+end]
	if strings.ContainsAny(text, " \t") {
		return
	}
	return charset, enc, text, p + 2 + end + 2, true
}

func decodeWord(enc byte, text string) ([]byte, bool) {
	switch enc {
	case 'B', 'b':
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
		}
		return b, err == nil
	case 'Q', 'q':
		b := make([]byte, 0, len(text))
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch {
			case c == '_':
				b = append(b, ' ')
			case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
				b = append(b, unhex(text[i+1])<<4|unhex(text[i+2]))
				i += 2
			default:
				b = append(b, c)
			}
		}
		return b, true
	}
	return nil, false
}

// addresses parses an address-list header value; a value net/mail refuses is searched for
// <addr> or bare addr@domain instead, and bad is set.
func addresses(v string) (list []Address, bad bool) {
	if strings.TrimSpace(v) == "" {
		return nil, false
	}
	if as, err := addrParser.ParseList(v); err == nil {
		list = make([]Address, 0, len(as))
		for _, a := range as {
			if addr, ok := normalizeAddr(a.Address); ok {
				list = append(list, Address{Name: DecodeWords(a.Name), Addr: addr})
			}
		}
		return list, false
	}
	return lenientAddresses(v), true
}

var addrParser = mail.AddressParser{WordDecoder: wordDecoder}

// lenientAddresses finds every <addr> with an @ in v, or failing that every bare
// word with an @; the display name is the text before a "<", unquoted and decoded.
func lenientAddresses(v string) []Address {
	var list []Address
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		if addr, ok := normalizeAddr(strings.TrimSpace(rest[i+1 : i+j])); ok {
			name := rest[:i]
			if k := strings.LastIndexAny(name, ",;"); k >= 0 {
				name = name[k+1:]
			}
			name = strings.Trim(strings.TrimSpace(name), `"' `)
			list = append(list, Address{Name: DecodeWords(name), Addr: addr})
		}
		rest = rest[i+j+1:]
	}
	if len(list) > 0 {
		return list
	}
	for w := range strings.FieldsFuncSeq(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == ';' || r == '"' || r == '(' || r == ')' ||
			r == '<' || r == '>' || r == '\'' || r == '[' || r == ']'
	}) {
		if addr, ok := normalizeAddr(w); ok {
			list = append(list, Address{Addr: addr})
		}
	}
	return list
}

// normalizeAddr checks local@domain and lower-cases the domain.
func normalizeAddr(a string) (string, bool) {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", false
	}
	dom := a[at+1:]
	for i := 0; i < len(dom); i++ {
		if c := dom[i]; 'A' <= c && c <= 'Z' {
			return a[:at+1] + strings.ToLower(dom), true
		}
	}
	return a, true
}

// messageID strips the angle brackets from a Message-ID value.
func messageID(v string) string {
	v = strings.TrimSpace(v)
	i := strings.IndexByte(v, '<')
	if i < 0 {
		return v
	}
	v = v[i+1:]
	if j := strings.IndexByte(v, '>'); j >= 0 {
		v = v[:j]
	}
	return strings.TrimSpace(v)
}

// clientIP reads the connecting client's address from the topmost Received field only.
func clientIP(h Header) netip.Addr {
	for _, f := range h {
		if strings.EqualFold(f.Name, "Received") {
			return receivedIP(f.Value)
		}
	}
	return netip.Addr{}
}

// receivedIP parses the from-clause of a Received value as SES writes it:
//
//	from helo (rdns [IP]) by inbound-smtp.us-east-1.amazonaws.com with SMTP id ...
//
// The address SES saw is the bracketed one inside the comment after the HELO name; the HELO
// name itself is the client's to choose (it may be an address literal such as "[192.0.2.1]"),
// so it is used only when the clause has no such comment.
func receivedIP(v string) netip.Addr {
	v = strings.TrimLeft(v, " \t")
	if len(v) < 5 || !strings.EqualFold(v[:4], "from") || !isWSP(v[4]) {
		return netip.Addr{}
	}
	clause := v[5:]
	// The from-clause ends at " by " or at the ";" before the date.
	for i := 0; i+3 < len(clause); i++ {
		if isWSP(clause[i]) && (clause[i+1]|0x20) == 'b' && (clause[i+2]|0x20) == 'y' && isWSP(clause[i+3]) {
			clause = clause[:i]
			break
		}
	}
	if i := strings.IndexByte(clause, ';'); i >= 0 {
		clause = clause[:i]
	}
	rest := strings.TrimLeft(clause, " \t")
	if i := strings.IndexAny(rest, " \t"); i >= 0 { // skip the HELO name
		rest = strings.TrimLeft(rest[i:], " \t")
		if strings.HasPrefix(rest, "(") {
			comment := rest[1:]
			if j := strings.IndexByte(comment, ')'); j >= 0 {
				comment = comment[:j]
			}
			if k := strings.LastIndexByte(comment, '['); k >= 0 {
				if ip, ok := bracketIP(comment[k:]); ok {
					return ip
				}
			}
		}
	}
	for s := clause; ; {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}
		}
		if k := strings.LastIndexByte(s[:end], '['); k >= 0 {
			if ip, ok := bracketIP(s[k : end+1]); ok {
				return ip
			}
		}
		s = s[end+1:]
	}
}

// bracketIP parses "[IP]" or "[IPv6:IP]" at the start of s.
func bracketIP(s string) (netip.Addr, bool) {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return netip.Addr{}, false
	}
	lit := strings.TrimSpace(s[1:end])
	if len(lit) > 5 && strings.EqualFold(lit[:5], "IPv6:") {
		lit = lit[5:]
	}
	ip, err := netip.ParseAddr(lit)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// appendLatin1 appends b read as ISO 8859-1.
func appendLatin1(dst, b []byte) []byte {
	for _, c := range b {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
		} else {
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
		}
	}
	return dst
}
