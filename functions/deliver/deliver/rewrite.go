package deliver

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/mail"
	"sort"
	"strings"
)

// MaxHeaderBytes bounds the part of a message's header section that is rewritten: fields past
// it pass through unchanged (a legitimate header section is a few kilobytes; SES caps the
// whole message at 40 MB).
const MaxHeaderBytes = 1 << 20

// maxLine is RFC 5322's line limit without the CRLF.
const maxLine = 998

// Changes are what delivery does to a message as it streams it: fields put first, the subject
// tag, fields of the original left out, and (for ses-forward) the From and Reply-To rewrite.
// The stored original is never changed.
type Changes struct {
	Prepend    []Field // new fields, put first in this order
	SubjectTag string  // put in front of the subject; empty: none
	// Forward rewrites the originator fields for SES: From becomes From, Reply-To points at
	// the original author, and fields SES would refuse or that no longer hold are dropped.
	Forward *ForwardFrom
}

// ForwardFrom is the verified address forwarded mail is sent from.
type ForwardFrom struct {
	Address string // verified in SES
	Via     string // shown after the original author's name ("Alice via example.com")
	Sender  string // the envelope sender: Reply-To when the original has no From
}

// Field is one header field to insert.
type Field struct{ Name, Value string }

// Rewritten is a message on its way out.
type Rewritten struct {
	io.Reader
	// Header is the original's header section as read (at most MaxHeaderBytes), for a DSN.
	Header []byte
	// Delta is how many bytes the rewrite added (negative: removed) up to where it stopped.
	Delta int64
}

// ownField reports a field of the gateway's own: a sender cannot put one in front of the
// customer's server, which may trust it.
func ownField(name string) bool {
	return len(name) >= 7 && strings.EqualFold(name[:7], "X-Moat-")
}

// forwardDropped are the fields a forwarded message loses: SES refuses Return-Path and Sender
// that are not verified, the original's DKIM signature breaks with the new From, and From and
// Reply-To are written anew.
var forwardDropped = map[string]bool{
	"from": true, "reply-to": true, "sender": true, "return-path": true, "dkim-signature": true,
}

// Rewrite reads the header section of r (up to MaxHeaderBytes) and returns a reader that
// yields the changed header section followed by the rest of r, unread until then: the body
// streams from the store to the destination and is never held in memory.
func Rewrite(r io.Reader, c Changes) (*Rewritten, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		orig   bytes.Buffer // header fields as read
		fields [][]byte     // each field with its continuation lines and line ends
		rest   []byte       // read but not a header field: the separator line, or junk
		eol    = "\r\n"
	)
	first, stopped := true, true
	for orig.Len() < MaxHeaderBytes {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: stop rewriting here, pass it on as it is.
			rest = append([]byte(nil), line...)
			break
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) == 0 {
			stopped = false
			break
		}
		if first {
			first = false
			if !bytes.HasSuffix(line, []byte("\r\n")) && bytes.HasSuffix(line, []byte("\n")) {
				eol = "\n"
			}
		}
		switch {
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1] = append(fields[len(fields)-1], line...)
			orig.Write(line)
		case isFieldStart(line):
			fields = append(fields, append([]byte(nil), line...))
			orig.Write(line)
		default: // the empty line that ends the header section, or something that is no field
			rest = append([]byte(nil), line...)
		}
		if rest != nil || err == io.EOF {
			stopped = false
			break
		}
	}

	var out bytes.Buffer
	for _, f := range c.Prepend {
		writeField(&out, f.Name, f.Value, eol)
	}
	tag := strings.TrimSpace(c.SubjectTag)
	tagged := tag == ""
	var from, replyTo []byte
	for _, f := range fields {
		name := fieldName(f)
		lower := strings.ToLower(name)
		if ownField(name) {
			continue
		}
		if c.Forward != nil && forwardDropped[lower] {
			switch lower {
			case "from":
				if from == nil {
					from = f
				}
			case "reply-to":
				if replyTo == nil {
					replyTo = f
				}
			}
			continue
		}
		if lower == "subject" && !tagged {
			tagged = true
			out.Write(tagSubject(f, len(name), tag, eol))
			continue
		}
		out.Write(f)
	}
	if !tagged && !stopped { // a subject past the limit is left as it is
		writeField(&out, "Subject", encodeWord(tag), eol)
	}
	if fw := c.Forward; fw != nil {
		writeField(&out, "From", forwardFrom(from, fw), eol)
		switch {
		case replyTo != nil:
			out.Write(replyTo)
		case from != nil:
			out.WriteString("Reply-To:")
			out.Write(from[len(fieldName(from))+1:])
		case fw.Sender != "":
			writeField(&out, "Reply-To", fw.Sender, eol)
		}
	}
	out.Write(rest)
	delta := int64(out.Len() - orig.Len() - len(rest))
	return &Rewritten{
		Reader: io.MultiReader(&out, br),
		Header: orig.Bytes(),
		Delta:  delta,
	}, nil
}

// isFieldStart reports a line that starts a header field: a name of printable ASCII without
// spaces, then a colon.
func isFieldStart(line []byte) bool {
	for i, c := range line {
		switch {
		case c == ':':
			return i > 0
		case c <= ' ' || c >= 0x7f:
			return false
		}
	}
	return false
}

func fieldName(f []byte) string {
	return string(f[:bytes.IndexByte(f, ':')])
}

// tagSubject puts tag in front of the subject field f (name length n), unless the subject
// already starts with it. A non-ASCII tag becomes an encoded word; the rest of the field keeps
// its bytes and folding.
func tagSubject(f []byte, n int, tag, eol string) []byte {
	value := f[n+1:]
	trimmed := bytes.TrimLeft(value, " \t")
	if bytes.HasPrefix(bytes.ToLower(trimmed), []byte(strings.ToLower(tag))) {
		return f
	}
	var b bytes.Buffer
	b.Write(f[:n+1])
	b.WriteByte(' ')
	firstLine := trimmed
	if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
		firstLine = trimmed[:i]
	}
	if strings.TrimSpace(string(firstLine)) == "" { // "Subject:" folded onto the next line
		b.WriteString(encodeWord(tag))
		b.Write(trimmed)
		return b.Bytes()
	}
	if isASCII(tag) || !bytes.HasPrefix(trimmed, []byte("=?")) {
		b.WriteString(encodeWord(tag))
		b.WriteByte(' ')
	} else {
		// Whitespace between two encoded words disappears when decoded: keep the space
		// inside the tag's word.
		b.WriteString(mime.QEncoding.Encode("utf-8", tag+" "))
		b.WriteByte(' ')
	}
	if n+len(firstLine)+len(tag)+3 > maxLine {
		// Fold rather than make the first line too long.
		b.Truncate(b.Len() - 1)
		b.WriteString(eol + " ")
	}
	b.Write(trimmed)
	return b.Bytes()
}

// encodeWord returns s, as an RFC 2047 encoded word when it is not ASCII.
func encodeWord(s string) string {
	if isASCII(s) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// forwardFrom is the From of a forwarded message: the original author's name (or address)
// "via" the domain, at the verified address.
func forwardFrom(orig []byte, fw *ForwardFrom) string {
	name := ""
	if orig != nil {
		value := string(orig[len(fieldName(orig))+1:])
		dec := new(mime.WordDecoder)
		if a, err := (&mail.AddressParser{WordDecoder: dec}).Parse(unfold(value)); err == nil {
			name = a.Name
			if name == "" {
				name = a.Address
			}
		}
	}
	if name == "" {
		name = fw.Sender
	}
	a := mail.Address{Address: fw.Address}
	if name != "" {
		a.Name = name
		if fw.Via != "" {
			a.Name += " via " + fw.Via
		}
	}
	return a.String()
}

func unfold(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "")
	return strings.TrimSpace(strings.ReplaceAll(s, "\n", ""))
}

// writeField writes name: value, folded at spaces so that lines stay within 78 octets where
// the value allows and within maxLine always.
func writeField(b *bytes.Buffer, name, value, eol string) {
	line := len(name) + 1
	b.WriteString(name + ":")
	words := strings.Split(value, " ")
	for i, w := range words {
		if i > 0 && line+1+len(w) > 78 && line > len(name)+1 {
			b.WriteString(eol)
			line = 0
		}
		for len(w) > maxLine-1 { // a word too long to fit any line: cut it
			b.WriteString(" " + w[:maxLine-1] + eol)
			w, line = w[maxLine-1:], 0
		}
		b.WriteString(" " + w)
		line += 1 + len(w)
	}
	b.WriteString(eol)
}

// moatFields are the X-Moat-* fields of a job, sorted by name so that every delivery of the
// same job writes the same bytes.
func moatFields(h map[string]string) []Field {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Field, len(names))
	for i, n := range names {
		out[i] = Field{Name: n, Value: encodeWord(strings.ReplaceAll(h[n], "\t", " "))}
	}
	return out
}
