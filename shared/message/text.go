package message

import (
	"bytes"
	"html"
	"strings"
	"unicode/utf8"
)

// Bounds on what a link records.
const (
	maxHref     = 2 << 10
	maxLinkText = 256
)

// addText converts a text part's collected content to UTF-8 and appends it to the message
// text, HTML reduced to text, separated from the text before by a newline. cut says the
// collection stopped early (perhaps inside a character).
func (st *state) addText(html bool, charset string, raw []byte, cut bool) {
	limit := st.opts.MaxTextBytes
	if len(st.text) >= limit || len(raw) == 0 {
		return
	}
	if cut && isUTF8Name(charset) {
		raw = truncUTF8(raw, len(raw))
	}
	b := raw
	if !isUTF8Name(charset) || !utf8.Valid(raw) {
		var known bool
		st.cbuf, known = convertCharset(st.cbuf[:0], charset, raw)
		if !known {
			st.defect(DefectUnknownCharset)
		}
		b = st.cbuf
	}
	if n := len(st.text); n > 0 && st.text[n-1] != '\n' {
		st.text = append(st.text, '\n')
	}
	if html {
		st.text = appendHTML(st.text, b, limit, st.msg)
		st.text = bytes.TrimRight(st.text, " \n")
	} else {
		st.text = appendPlain(st.text, b, limit)
	}
	st.text = truncUTF8(st.text, limit)
}

// truncUTF8 cuts b to at most n bytes and drops an incomplete character at the end.
func truncUTF8(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// appendPlain appends src with CRLF line breaks turned into LF, stopping once dst reaches
// limit (the caller truncates exactly).
func appendPlain(dst, src []byte, limit int) []byte {
	if room := limit - len(dst); len(src) > room {
		src = src[:max(room, 0)]
	}
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\r')
		if i < 0 || i+1 == len(src) {
			return append(dst, src...)
		}
		if src[i+1] == '\n' {
			dst = append(dst, src[:i]...)
		} else {
			dst = append(dst, src[:i+1]...)
		}
		src = src[i+1:]
	}
	return dst
}

// appendHTML appends the text of the HTML in src: tags dropped (block-level ones become line
// breaks), script and style content and comments dropped, entities decoded, white space
// collapsed. It is a cheap scan, not an HTML parser; it stops once dst reaches limit. Links and
// forms go to m when it is not nil.
func appendHTML(dst, src []byte, limit int, m *Message) []byte {
	sp := len(dst) == 0 || isSpace(dst[len(dst)-1])
	i := 0
	link := -1 // index in m.Links of the open <a>, whose text starts at dst[linkAt:]
	linkAt := 0
	form := -1 // index in m.Forms of the open <form>
	closeLink := func() {
		if link >= 0 && linkAt <= len(dst) {
			t := bytes.TrimSpace(dst[linkAt:])
			m.Links[link].Text = string(truncUTF8(t, maxLinkText))
		}
		link = -1
	}
	defer closeLink()
	for i < len(src) && len(dst) < limit {
		if src[i] != '<' {
			j := bytes.IndexByte(src[i:], '<')
			if j < 0 {
				j = len(src)
			} else {
				j += i
			}
			run := src[i:j]
			if bytes.IndexByte(run, '&') >= 0 {
				run = []byte(html.UnescapeString(string(run)))
			}
			dst, sp = appendCollapsed(dst, run, sp)
			i = j
			continue
		}
		rest := src[i+1:]
		if len(rest) == 0 {
			break
		}
		c := rest[0]
		switch {
		case c == '!':
			if bytes.HasPrefix(rest, []byte("!--")) {
				k := bytes.Index(rest[3:], []byte("-->"))
				if k < 0 {
					return dst
				}
				i += 1 + 3 + k + 3
				continue
			}
			i = tagEnd(src, i)
			continue
		case c == '/' || c == '?' || 'a' <= c|0x20 && c|0x20 <= 'z':
		default: // a literal "<"
			dst, sp = appendCollapsed(dst, src[i:i+1], sp)
			i++
			continue
		}
		closing := c == '/'
		if closing {
			rest = rest[1:]
		}
		var name [10]byte
		n := 0
		for n < len(rest) && n < len(name) && ('a' <= rest[n]|0x20 && rest[n]|0x20 <= 'z' || '0' <= rest[n] && rest[n] <= '9') {
			name[n] = rest[n] | 0x20
			n++
		}
		end := tagEnd(src, i)
		if m != nil {
			switch string(name[:n]) {
			case "a":
				closeLink()
				if href, ok := attr(src[i:end], "href"); ok && !closing && len(m.Links) < MaxLinks {
					m.Links = append(m.Links, Link{Href: href})
					link, linkAt = len(m.Links)-1, len(dst)
				}
			case "form":
				form = -1
				if !closing && len(m.Forms) < MaxLinks {
					action, _ := attr(src[i:end], "action")
					m.Forms = append(m.Forms, Form{Action: action})
					form = len(m.Forms) - 1
				}
			case "input":
				if t, _ := attr(src[i:end], "type"); strings.EqualFold(t, "password") {
					if form < 0 && len(m.Forms) < MaxLinks {
						m.Forms = append(m.Forms, Form{})
						form = len(m.Forms) - 1
					}
					if form >= 0 {
						m.Forms[form].Password = true
					}
				}
			}
		}
		switch string(name[:n]) {
		case "script", "style":
			if !closing {
				end = skipRawText(src, end, name[:n])
			}
		case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table",
			"title", "blockquote", "pre", "ul", "ol", "dl", "dt", "dd", "section", "article",
			"header", "footer", "center", "address", "form":
			if len(dst) > 0 {
				switch dst[len(dst)-1] {
				case '\n':
				case ' ':
					dst[len(dst)-1] = '\n'
				default:
					dst = append(dst, '\n')
				}
			}
			sp = true
		case "td", "th", "img":
			if !sp {
				dst = append(dst, ' ')
				sp = true
			}
		}
		i = end
	}
	return dst
}

// tagEnd returns the index just after the ">" ending the tag that starts at src[i], skipping
// ">" inside quoted attribute values, or len(src).
func tagEnd(src []byte, i int) int {
	afterEq := false
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; c {
		case '>':
			return j + 1
		case '=':
			afterEq = true
			continue
		case '"', '\'':
			if afterEq {
				k := bytes.IndexByte(src[j+1:], c)
				if k < 0 {
					return len(src)
				}
				j += 1 + k
			}
		case ' ', '\t', '\r', '\n':
			continue
		}
		afterEq = false
	}
	return len(src)
}

// skipRawText returns the index after the end tag "</name>" searched from i, or len(src).
func skipRawText(src []byte, i int, name []byte) int {
	for i < len(src) {
		k := bytes.Index(src[i:], []byte("</"))
		if k < 0 {
			return len(src)
		}
		j := i + k + 2
		if j+len(name) <= len(src) && bytes.EqualFold(src[j:j+len(name)], name) {
			return tagEnd(src, i+k)
		}
		i = j
	}
	return len(src)
}

// appendCollapsed appends run with each run of white space turned into one space; sp says
// whether dst already ends in white space.
func appendCollapsed(dst, run []byte, sp bool) ([]byte, bool) {
	for len(run) > 0 {
		if isSpace(run[0]) {
			if !sp {
				dst = append(dst, ' ')
				sp = true
			}
			run = run[1:]
			continue
		}
		j := 1
		for j < len(run) && !isSpace(run[j]) {
			j++
		}
		dst = append(dst, run[:j]...)
		sp = false
		run = run[j:]
	}
	return dst, sp
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' }

// attr returns the value of the attribute called name (lower case) in the tag tag ("<a ...>"),
// entities decoded and white space trimmed, at most maxHref bytes.
func attr(tag []byte, name string) (string, bool) {
	i := 1
	for i < len(tag) && !isSpace(tag[i]) && tag[i] != '>' && tag[i] != '/' {
		i++ // the tag name
	}
	for i < len(tag) {
		for i < len(tag) && (isSpace(tag[i]) || tag[i] == '/') {
			i++
		}
		if i >= len(tag) || tag[i] == '>' {
			return "", false
		}
		k := i
		for i < len(tag) && !isSpace(tag[i]) && tag[i] != '=' && tag[i] != '>' && tag[i] != '/' {
			i++
		}
		key := tag[k:i]
		for i < len(tag) && isSpace(tag[i]) {
			i++
		}
		var val []byte
		if i < len(tag) && tag[i] == '=' {
			i++
			for i < len(tag) && isSpace(tag[i]) {
				i++
			}
			if i < len(tag) && (tag[i] == '"' || tag[i] == '\'') {
				q := tag[i]
				j := bytes.IndexByte(tag[i+1:], q)
				if j < 0 {
					j = len(tag) - i - 1
				}
				val = tag[i+1 : i+1+j]
				i += j + 2
			} else {
				j := i
				for i < len(tag) && !isSpace(tag[i]) && tag[i] != '>' {
					i++
				}
				val = tag[j:i]
			}
		}
		if len(key) == len(name) && bytes.EqualFold(key, []byte(name)) {
			if len(val) > maxHref {
				val = truncUTF8(val, maxHref)
			}
			v := string(val)
			if strings.IndexByte(v, '&') >= 0 {
				v = html.UnescapeString(v)
			}
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
