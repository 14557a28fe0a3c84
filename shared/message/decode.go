package message

import (
	"bytes"
	"encoding/base64"
)

// decoder decodes a body line by line (push style) for one Content-Transfer-Encoding.
//
// The line break before a boundary delimiter belongs to the delimiter (RFC 2046), so a raw or
// quoted-printable hard line break is held back until the next line shows it is content.
type decoder struct {
	kind    cte
	pending []byte // held-back line break: "\r\n", "\n" or nil (a constant, never written)
	q       [4]byte
	nq      int  // base64 sextets in q
	bad     bool // invalid input seen
}

var (
	crlf = []byte("\r\n")
	lf   = []byte("\n")
)

// b64 maps base64 alphabet bytes to their value; 0x80 marks white space, 0xFF anything else.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	for _, c := range " \t\r\n\f\v" {
		t[c] = 0x80
	}
	return t
}()

// splitBreak splits a full line into its content and its line break.
func splitBreak(line []byte) (content, brk []byte) {
	n := len(line)
	if n >= 2 && line[n-2] == '\r' {
		return line[:n-2], crlf
	}
	return line[:n-1], lf
}

// decode appends the decoding of line (a whole line when full, else a fragment of a long one)
// to dst.
func (d *decoder) decode(dst, line []byte, full bool) []byte {
	switch d.kind {
	case cteBase64:
		return d.base64(dst, line)
	case cteQP:
		return d.qp(dst, line, full)
	}
	if d.pending != nil {
		dst = append(dst, d.pending...)
		d.pending = nil
	}
	if !full {
		return append(dst, line...)
	}
	content, brk := splitBreak(line)
	d.pending = brk
	return append(dst, content...)
}

// finish appends what is left at the end of the body. A held-back line break is content
// at the end of input, not before a boundary.
func (d *decoder) finish(dst []byte, eof bool) []byte {
	if eof && d.pending != nil {
		dst = append(dst, d.pending...)
	}
	d.pending = nil
	if d.kind == cteBase64 {
		return d.flush(dst)
	}
	return dst
}

func (d *decoder) base64(dst, line []byte) []byte {
	// Fast path: a clean line of whole quanta.
	if d.nq == 0 {
		end := len(line)
		for end > 0 && (line[end-1] == '\n' || line[end-1] == '\r' || line[end-1] == ' ' || line[end-1] == '\t') {
			end--
		}
		s := line[:end]
		if len(s)%4 == 0 {
			n := len(dst)
			dst = growBytes(dst, len(s)/4*3)
			if m, err := base64.StdEncoding.Decode(dst[n:cap(dst)], s); err == nil {
				return dst[:n+m]
			}
			dst = dst[:n]
		}
	}
	for _, c := range line {
		v := b64[c]
		switch {
		case v < 64:
			d.q[d.nq] = v
			d.nq++
			if d.nq == 4 {
				dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2, d.q[2]<<6|d.q[3])
				d.nq = 0
			}
		case c == '=':
			dst = d.flush(dst)
		case v == 0x80:
		default:
			d.bad = true
		}
	}
	return dst
}

// flush ends a base64 quantum early (at padding or at the end).
func (d *decoder) flush(dst []byte) []byte {
	switch d.nq {
	case 1:
		d.bad = true
	case 2:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4)
	case 3:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2)
	}
	d.nq = 0
	return dst
}

func (d *decoder) qp(dst, line []byte, full bool) []byte {
	if d.pending != nil {
		dst = append(dst, d.pending...)
		d.pending = nil
	}
	content := line
	if full {
		var brk []byte
		content, brk = splitBreak(line)
		// Trailing white space is transport padding (RFC 2045 6.7 rule 3).
		for len(content) > 0 && (content[len(content)-1] == ' ' || content[len(content)-1] == '\t') {
			content = content[:len(content)-1]
		}
		if len(content) > 0 && content[len(content)-1] == '=' {
			content = content[:len(content)-1] // a soft line break
		} else {
			d.pending = brk
		}
	}
	for len(content) > 0 {
		i := bytes.IndexByte(content, '=')
		if i < 0 {
			return append(dst, content...)
		}
		dst = append(dst, content[:i]...)
		if i+2 < len(content) && isHex(content[i+1]) && isHex(content[i+2]) {
			dst = append(dst, unhex(content[i+1])<<4|unhex(content[i+2]))
			content = content[i+3:]
			continue
		}
		d.bad = true
		dst = append(dst, '=')
		content = content[i+1:]
	}
	return dst
}

// growBytes makes room for n more bytes in b.
func growBytes(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}
