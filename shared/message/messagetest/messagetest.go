// Package messagetest builds MIME messages (RFC 5322, RFC 2045–2049) for other packages' tests.
//
// The output is deterministic: fixed Date and Message-ID unless set, fixed boundaries that
// cannot occur in the encoded content (they contain "=_", which neither quoted-printable nor
// base64 produces). Text and HTML are quoted-printable UTF-8; attachments are base64.
package messagetest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// Date and MessageID are used unless the builder sets its own.
const (
	Date      = "Thu, 01 Jan 2026 00:00:00 +0000"
	MessageID = "<messagetest.1@example.test>"
)

// Builder accumulates a message. The zero value is not usable; call New. Methods return the
// builder so calls chain.
type Builder struct {
	received []string
	headers  [][2]string
	from     string
	to, cc   []string
	replyTo  string
	subject  string
	date     string
	id       string
	text     *string
	html     *string
	atts     []attachment
}

type attachment struct {
	name, contentType string
	data              []byte
}

// New starts an empty message.
func New() *Builder { return &Builder{date: Date, id: MessageID} }

// From sets the From header ("a@example.com" or "Name <a@example.com>").
func (b *Builder) From(addr string) *Builder { b.from = addr; return b }

// To adds To recipients.
func (b *Builder) To(addrs ...string) *Builder { b.to = append(b.to, addrs...); return b }

// Cc adds Cc recipients.
func (b *Builder) Cc(addrs ...string) *Builder { b.cc = append(b.cc, addrs...); return b }

// ReplyTo sets the Reply-To header.
func (b *Builder) ReplyTo(addr string) *Builder { b.replyTo = addr; return b }

// Subject sets the subject; non-ASCII text is written as RFC 2047 encoded words.
func (b *Builder) Subject(s string) *Builder { b.subject = s; return b }

// Date sets the Date header ("" leaves it out).
func (b *Builder) Date(d string) *Builder { b.date = d; return b }

// MessageID sets the Message-ID header, angle brackets included ("" leaves it out).
func (b *Builder) MessageID(id string) *Builder { b.id = id; return b }

// Text sets the text/plain body.
func (b *Builder) Text(s string) *Builder { b.text = &s; return b }

// HTML sets the text/html body. With Text as well, the two form a multipart/alternative.
func (b *Builder) HTML(s string) *Builder { b.html = &s; return b }

// Attach adds a base64 attachment. With any attachment the message is multipart/mixed.
func (b *Builder) Attach(name, contentType string, data []byte) *Builder {
	b.atts = append(b.atts, attachment{name: name, contentType: contentType, data: data})
	return b
}

// Header adds a header field as given (not encoded), after the Received fields and before
// the standard ones. Use it for a forged deeper Received field, for instance.
func (b *Builder) Header(name, value string) *Builder {
	b.headers = append(b.headers, [2]string{name, value})
	return b
}

// Received adds a Received field as SES writes it for a client connecting from clientIP
// (IPv4 or IPv6). The first call gives the topmost field.
func (b *Builder) Received(clientIP string) *Builder {
	b.received = append(b.received, fmt.Sprintf(
		"from mail.example.org (mail.example.org [%s])\r\n\tby inbound-smtp.us-east-1.amazonaws.com with SMTP id messagetest%d\r\n\tfor <c@example.com>; %s",
		clientIP, len(b.received)+1, Date))
	return b
}

// String returns the message.
func (b *Builder) String() string { return string(b.Bytes()) }

// Bytes returns the message with CRLF line breaks.
func (b *Builder) Bytes() []byte {
	var w bytes.Buffer
	field := func(name, value string) { fmt.Fprintf(&w, "%s: %s\r\n", name, value) }
	for _, r := range b.received {
		field("Received", r)
	}
	for _, h := range b.headers {
		field(h[0], h[1])
	}
	if b.from != "" {
		field("From", b.from)
	}
	if b.replyTo != "" {
		field("Reply-To", b.replyTo)
	}
	if len(b.to) > 0 {
		field("To", strings.Join(b.to, ", "))
	}
	if len(b.cc) > 0 {
		field("Cc", strings.Join(b.cc, ", "))
	}
	if b.subject != "" {
		field("Subject", mime.QEncoding.Encode("utf-8", b.subject))
	}
	if b.date != "" {
		field("Date", b.date)
	}
	if b.id != "" {
		field("Message-ID", b.id)
	}
	field("MIME-Version", "1.0")

	body := b.body()
	if len(b.atts) == 0 {
		body.write(&w)
		return w.Bytes()
	}
	const mixed = "=_moat_mixed_1"
	field("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mixed}))
	w.WriteString("\r\nThis is a multi-part message in MIME format.\r\n")
	fmt.Fprintf(&w, "\r\n--%s\r\n", mixed)
	body.write(&w)
	for _, a := range b.atts {
		fmt.Fprintf(&w, "\r\n--%s\r\n", mixed)
		ct := a.contentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		v := mime.FormatMediaType(ct, map[string]string{"name": a.name})
		if v == "" { // not type/subtype: write it as given
			v = ct
		}
		field("Content-Type", v)
		field("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.name}))
		field("Content-Transfer-Encoding", "base64")
		w.WriteString("\r\n")
		enc := base64.StdEncoding.EncodeToString(a.data)
		for len(enc) > 76 {
			w.WriteString(enc[:76])
			w.WriteString("\r\n")
			enc = enc[76:]
		}
		w.WriteString(enc)
		w.WriteString("\r\n")
	}
	fmt.Fprintf(&w, "\r\n--%s--\r\n", mixed)
	return w.Bytes()
}

// entity is a body entity: its header fields (Content-Type ...) and encoded content.
type entity struct {
	fields  [][2]string
	content []byte
}

func (e entity) write(w *bytes.Buffer) {
	for _, f := range e.fields {
		fmt.Fprintf(w, "%s: %s\r\n", f[0], f[1])
	}
	w.WriteString("\r\n")
	w.Write(e.content)
}

// body is the text part, the HTML part, both as multipart/alternative, or an empty text part.
func (b *Builder) body() entity {
	switch {
	case b.text != nil && b.html != nil:
		const alt = "=_moat_alt_2"
		var w bytes.Buffer
		for _, e := range []entity{textEntity("text/plain", *b.text), textEntity("text/html", *b.html)} {
			fmt.Fprintf(&w, "--%s\r\n", alt)
			e.write(&w)
			w.WriteString("\r\n")
		}
		fmt.Fprintf(&w, "--%s--\r\n", alt)
		return entity{
			fields:  [][2]string{{"Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt})}},
			content: w.Bytes(),
		}
	case b.html != nil:
		return textEntity("text/html", *b.html)
	case b.text != nil:
		return textEntity("text/plain", *b.text)
	}
	return textEntity("text/plain", "")
}

func textEntity(mediaType, s string) entity {
	var w bytes.Buffer
	qp := quotedprintable.NewWriter(&w)
	qp.Write([]byte(s)) // line breaks become CRLF

	qp.Close()
	return entity{
		fields: [][2]string{
			{"Content-Type", mime.FormatMediaType(mediaType, map[string]string{"charset": "utf-8"})},
			{"Content-Transfer-Encoding", "quoted-printable"},
		},
		content: w.Bytes(),
	}
}
