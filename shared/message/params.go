package message

import (
	"bytes"
	"sort"
	"strings"
)

// cte is a Content-Transfer-Encoding.
type cte uint8

const (
	cteRaw cte = iota // 7bit, 8bit, binary, none, or unknown
	cteBase64
	cteQP
)

// partInfo is what the parser needs from an entity's header.
type partInfo struct {
	mediaType  string // lower case type/subtype
	charset    string // lower case
	boundary   []byte // aliases the parser's header buffer until pushed
	filename   string
	attachment bool
	cte        cte
}

func (in *partInfo) multipart() bool { return strings.HasPrefix(in.mediaType, "multipart/") }

func (in *partInfo) message() bool {
	return in.mediaType == "message/rfc822" || in.mediaType == "message/global"
}

// textKind returns 1 for text/plain, 2 for text/html, 0 otherwise.
func (in *partInfo) textKind() int {
	if in.attachment {
		return 0
	}
	switch in.mediaType {
	case "text/plain":
		return 1
	case "text/html":
		return 2
	}
	return 0
}

// paramKey is a parameter the parser keeps.
type paramKey uint8

const (
	keyNone paramKey = iota
	keyBoundary
	keyCharset
	keyName
	keyFilename
)

// param is one parameter, or one RFC 2231 section of one.
type param struct {
	key paramKey
	sec int  // RFC 2231 section number; -1 when the name has none
	ext bool // RFC 2231 extended (charset'lang'%XX) value
	val []byte
}

// info fills in from the header fields in p.refs. def is the media type when none is declared.
func (p *parser) info(in *partInfo, def string) {
	*in = partInfo{mediaType: def}
	var ct, cd, te []byte
	for _, r := range p.refs {
		name := p.hbuf[r.ns:r.ne]
		if len(name) < 12 || (name[0]|0x20) != 'c' {
			continue
		}
		v := p.hbuf[r.vs:r.ve]
		switch {
		case ct == nil && bytes.EqualFold(name, []byte("content-type")):
			ct = v
		case cd == nil && bytes.EqualFold(name, []byte("content-disposition")):
			cd = v
		case te == nil && bytes.EqualFold(name, []byte("content-transfer-encoding")):
			te = v
		}
	}
	p.params = p.params[:0]
	if ct != nil {
		mt, rest := mediaToken(ct)
		if bytes.IndexByte(mt, '/') > 0 && mt[len(mt)-1] != '/' {
			in.mediaType = intern(mt)
		} else if len(bytes.TrimSpace(ct)) > 0 {
			p.st.defect(DefectBadContentType)
			in.mediaType = "text/plain"
		}
		p.params = parseParams(p.params, rest)
	}
	if cd != nil {
		disp, rest := mediaToken(cd)
		in.attachment = string(disp) == "attachment"
		p.params = parseParams(p.params, rest)
	}
	if te != nil {
		tok, _ := mediaToken(te)
		switch string(tok) {
		case "", "7bit", "8bit", "binary":
		case "base64":
			in.cte = cteBase64
		case "quoted-printable":
			in.cte = cteQP
		default:
			p.st.defect(DefectUnknownEncoding)
		}
	}
	if len(p.params) == 0 {
		return
	}
	if b := p.paramBytes(keyBoundary); b != nil {
		in.boundary = bytes.TrimRight(b, " \t")
	}
	if b := p.paramBytes(keyCharset); b != nil {
		lowerASCII(b)
		in.charset = intern(bytes.TrimSpace(b))
	}
	if f := p.paramText(keyFilename); f != "" {
		in.filename = f
	} else {
		in.filename = p.paramText(keyName)
	}
	if in.filename != "" {
		in.attachment = true
	}
}

// mediaToken returns the lower-cased leading token of v (up to ";", white space or a comment)
// and the rest. It lower-cases in place.
func mediaToken(v []byte) (tok, rest []byte) {
	v = bytes.TrimLeft(v, " \t")
	i := 0
	for i < len(v) && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '(' {
		i++
	}
	tok = v[:i]
	lowerASCII(tok)
	return tok, v[i:]
}

// parseParams appends the parameters of interest found in s ("; a=b; c="d"").
// It tolerates missing semicolons, unterminated quotes and empty values.
func parseParams(ps []param, s []byte) []param {
	for len(s) > 0 {
		// Skip separators and comments.
		c := s[0]
		if c == ';' || c == ' ' || c == '\t' {
			s = s[1:]
			continue
		}
		if c == '(' {
			if i := bytes.IndexByte(s, ')'); i >= 0 {
				s = s[i+1:]
			} else {
				s = nil
			}
			continue
		}
		eq := bytes.IndexAny(s, "=;")
		if eq < 0 || s[eq] == ';' { // a name with no value
			if eq < 0 {
				return ps
			}
			s = s[eq:]
			continue
		}
		name := bytes.TrimRight(s[:eq], " \t")
		s = bytes.TrimLeft(s[eq+1:], " \t")
		var val []byte
		if len(s) > 0 && s[0] == '"' {
			val, s = quoted(s)
		} else {
			i := bytes.IndexByte(s, ';')
			if i < 0 {
				i = len(s)
			}
			val = bytes.TrimRight(s[:i], " \t")
			s = s[i:]
		}
		key, sec, ext := paramName(name)
		if key != keyNone {
			ps = append(ps, param{key: key, sec: sec, ext: ext, val: val})
		}
	}
	return ps
}

// quoted unquotes the quoted-string at the start of s in place and returns it and the rest.
// An unterminated string runs to the end of s.
func quoted(s []byte) (val, rest []byte) {
	w := 1
	i := 1
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		} else if c == '"' {
			return s[1:w], s[i+1:]
		}
		s[w] = c
		w++
	}
	return s[1:w], nil
}

// paramName splits "filename*1*" into its key, section and extended flag.
func paramName(name []byte) (paramKey, int, bool) {
	sec, ext := -1, false
	base := name
	if i := bytes.IndexByte(name, '*'); i >= 0 {
		base = name[:i]
		suffix := name[i+1:]
		if len(suffix) > 0 && suffix[len(suffix)-1] == '*' {
			ext = true
			suffix = suffix[:len(suffix)-1]
		} else if len(suffix) == 0 {
			ext = true
		}
		if len(suffix) > 0 {
			n := 0
			for _, c := range suffix {
				if c < '0' || c > '9' || n > 1000 {
					return keyNone, 0, false
				}
				n = n*10 + int(c-'0')
			}
			sec = n
		}
	}
	var key paramKey
	switch {
	case bytes.EqualFold(base, []byte("boundary")):
		key = keyBoundary
	case bytes.EqualFold(base, []byte("charset")):
		key = keyCharset
	case bytes.EqualFold(base, []byte("name")):
		key = keyName
	case bytes.EqualFold(base, []byte("filename")):
		key = keyFilename
	}
	return key, sec, ext
}

// paramBytes returns the first plain value of key.
func (p *parser) paramBytes(key paramKey) []byte {
	for _, pr := range p.params {
		if pr.key == key && pr.sec < 0 && !pr.ext {
			return pr.val
		}
	}
	return nil
}

// paramText returns key's value decoded: RFC 2231 sections and charset when there are any
// (they win over a plain value), else the plain value with its encoded words decoded.
func (p *parser) paramText(key paramKey) string {
	var secs []param
	for _, pr := range p.params {
		if pr.key == key && (pr.sec >= 0 || pr.ext) {
			secs = append(secs, pr)
		}
	}
	if len(secs) == 0 {
		b := p.paramBytes(key)
		if len(b) == 0 {
			return ""
		}
		return DecodeWords(string(b))
	}
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].sec < secs[j].sec })
	var raw []byte
	charset := ""
	for i, s := range secs {
		if i > 0 && s.sec == secs[i-1].sec {
			continue // a duplicate section
		}
		v := s.val
		if s.ext {
			if i == 0 {
				// charset'language'value
				if a := bytes.IndexByte(v, '\''); a >= 0 {
					if b := bytes.IndexByte(v[a+1:], '\''); b >= 0 {
						charset = string(v[:a])
						v = v[a+1+b+1:]
					}
				}
			}
			raw = appendPercentDecoded(raw, v)
		} else {
			raw = append(raw, v...)
		}
	}
	return string(appendCharset(nil, charset, raw))
}

func appendPercentDecoded(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			c = unhex(v[i+1])<<4 | unhex(v[i+2])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// intern returns common media types and charsets without allocating.
func intern(b []byte) string {
	switch string(b) {
	case "text/plain":
		return "text/plain"
	case "text/html":
		return "text/html"
	case "multipart/alternative":
		return "multipart/alternative"
	case "multipart/mixed":
		return "multipart/mixed"
	case "multipart/related":
		return "multipart/related"
	case "multipart/signed":
		return "multipart/signed"
	case "application/octet-stream":
		return "application/octet-stream"
	case "application/pgp-signature":
		return "application/pgp-signature"
	case "message/rfc822":
		return "message/rfc822"
	case "image/jpeg":
		return "image/jpeg"
	case "image/gif":
		return "image/gif"
	case "image/png":
		return "image/png"
	case "us-ascii":
		return "us-ascii"
	case "utf-8":
		return "utf-8"
	case "iso-8859-1":
		return "iso-8859-1"
	case "iso-8859-15":
		return "iso-8859-15"
	case "windows-1252":
		return "windows-1252"
	}
	return string(b)
}
