package submission

import (
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode/utf16"

	"github.com/richardlehane/mscfb"

	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
)

// Outlook .msg property streams (MS-OXMSG): __substg1.0_<property tag><type>; type 001F is a
// UTF-16LE string, 001E an 8-bit string, 0102 binary.
const (
	propHeaders = "007D" // PidTagTransportMessageHeaders: the internet headers as received
	propBody    = "1000" // PidTagBody: the plain text
	propHTML    = "1013" // PidTagHtml
)

// fromMSG rebuilds the internet message of an Outlook .msg: its transport headers as
// received (without the MIME fields that described the original body) and its plain and HTML
// bodies as a new multipart/alternative. Attachments are not carried over.
func fromMSG(name string, data []byte) (Message, error) {
	if len(data) > MaxMessageBytes {
		return Message{}, refuse(name, "larger than %d MB", MaxMessageBytes>>20)
	}
	if filetype.Detect(head(data)) != filetype.OLE {
		return Message{}, refuse(name, "not an Outlook message: the file is not a compound file (save the message from Outlook with \"Save as\" → Outlook Message Format)")
	}
	doc, err := mscfb.New(bytes.NewReader(data))
	if err != nil {
		return Message{}, refuse(name, "cannot be read as an Outlook message: %v", err)
	}
	props := map[string][]byte{}
	for e, err := doc.Next(); err == nil; e, err = doc.Next() {
		if len(e.Path) != 0 || !strings.HasPrefix(e.Name, "__substg1.0_") || len(e.Name) != 20 {
			continue // attachments and recipients live in sub-storages
		}
		tag, typ := e.Name[12:16], e.Name[16:20]
		if tag != propHeaders && tag != propBody && tag != propHTML {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(e, MaxMessageBytes))
		if err != nil {
			return Message{}, refuse(name, "cannot be read as an Outlook message: %v", err)
		}
		switch typ {
		case "001F":
			props[tag] = []byte(utf16String(b))
		case "001E", "0102":
			props[tag] = bytes.TrimRight(b, "\x00")
		}
	}
	hdr := props[propHeaders]
	if len(bytes.TrimSpace(hdr)) == 0 {
		return Message{}, refuse(name, "the Outlook message has no internet headers (a draft or a message composed in Outlook): submit mail as it was received")
	}
	raw := buildMessage(hdr, props[propBody], props[propHTML])
	m, err := message.Parse(bytes.NewReader(raw), message.Options{})
	if err != nil || len(m.Header) == 0 || m.Header.Get("From") == "" && m.Header.Get("Received") == "" {
		return Message{}, refuse(name, "the Outlook message's internet headers are not a message header")
	}
	if why := forwarded(m, raw); why != "" {
		return Message{}, refuse(name, "forwarded mail (%s): a forward carries your headers, not the original's; submit the original message", why)
	}
	return Message{Name: name, Raw: raw}, nil
}

// utf16String decodes UTF-16LE, dropping a trailing NUL.
func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u))
}

// buildMessage writes the headers without their MIME fields, then the bodies as
// quoted-printable UTF-8 text and HTML.
func buildMessage(hdr, text, html []byte) []byte {
	var b bytes.Buffer
	skip := false
	for _, line := range strings.Split(strings.ReplaceAll(string(hdr), "\r\n", "\n"), "\n") {
		if line == "" {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skip {
				b.WriteString(line + "\r\n")
			}
			continue
		}
		field, _, _ := strings.Cut(line, ":")
		f := strings.ToLower(strings.TrimSpace(field))
		skip = f == "content-type" || f == "content-transfer-encoding" || f == "mime-version"
		if !skip {
			b.WriteString(line + "\r\n")
		}
	}
	const boundary = "=_moat-msg-boundary"
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary)
	part := func(ct string, body []byte) {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, ct)
		w := quotedprintable.NewWriter(&b)
		w.Write(body)
		w.Close()
		b.WriteString("\r\n")
	}
	if len(text) > 0 || len(html) == 0 {
		part("text/plain", text)
	}
	if len(html) > 0 {
		part("text/html", html)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}
