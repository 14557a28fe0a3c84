package bounce

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Subject is the subject of every report.
const Subject = "Undelivered Mail Returned to Sender"

const (
	maxLine       = 998 // RFC 5322 §2.1.1, without the CRLF
	maxDiagnostic = 900 // leaves room for "Diagnostic-Code: smtp; " within maxLine
	wrapAt        = 76  // human-readable text
)

// returnedHeaders says which of the original's fields go back to the sender: none of the
// gateway's own (X-Moat-*) or SES's receipt and verdict fields (X-SES-*), which would tell a
// spammer how the message was judged.
func returnedHeader(name string) bool {
	n := strings.ToLower(name)
	return !strings.HasPrefix(n, "x-moat-") && !strings.HasPrefix(n, "x-ses-")
}

// BuildDSN builds the report for b as a complete message (RFC 3464 multipart/report with
// report-type=delivery-status): a generic human-readable part, the message/delivery-status
// part with a Final-Recipient, Action, Status and Diagnostic-Code group per recipient, and a
// text/rfc822-headers part with the original's header section. from is the bounce sender, such
// as MAILER-DAEMON@mail.example.com, shown as "Mail Delivery System". The output is the same
// for the same input and now (the Message-ID and boundary are derived from them), uses CRLF
// line ends and keeps every line within 998 octets. It returns ErrNoBounce or ErrInvalid as
// Bounce.Validate does, and ErrInvalid for a bad from.
func BuildDSN(b Bounce, from string, now time.Time) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if !validAddr(from) {
		return nil, fmt.Errorf("%w: bounce sender %q", ErrInvalid, from)
	}
	mta := reportingMTA(b, from)
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%s\x00%s\x00%d", b.MessageID, b.Sender, from, now.UnixNano())
	for _, r := range b.Recipients {
		fmt.Fprintf(sum, "\x00%s", r.Addr)
	}
	digest := hex.EncodeToString(sum.Sum(nil))

	var msg bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&msg, "%s: %s\r\n", name, value) }
	h("From", "Mail Delivery System <"+from+">")
	h("To", b.Sender)
	h("Subject", Subject)
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<dsn-"+digest[:32]+"@"+domain(from)+">")
	if id := originalMessageID(b.OriginalHeaders); id != "" {
		h("In-Reply-To", id)
		h("References", id)
	}
	h("Auto-Submitted", "auto-replied")
	h("MIME-Version", "1.0")
	boundary := "=_moat_" + digest[32:56]
	h("Content-Type", "multipart/report; report-type=delivery-status;\r\n\tboundary=\""+boundary+"\"")
	msg.WriteString("\r\nThis is a MIME-encapsulated message.\r\n\r\n")

	mw := multipart.NewWriter(&msg)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, fmt.Errorf("boundary: %w", err)
	}
	if err := writePart(mw, "text/plain; charset=utf-8", "Notification", humanText(b, mta)); err != nil {
		return nil, err
	}
	if err := writePart(mw, "message/delivery-status", "Delivery report", statusText(b, mta)); err != nil {
		return nil, err
	}
	if orig := originalHeaders(b.OriginalHeaders); len(orig) > 0 {
		if err := writePart(mw, "text/rfc822-headers", "Undelivered message headers", orig); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return msg.Bytes(), nil
}

func reportingMTA(b Bounce, from string) string {
	if b.ReportingMTA != "" {
		return b.ReportingMTA
	}
	return domain(from)
}

// diagnostic is the Diagnostic-Code text for r: "550 5.1.1 text", on one line of ASCII.
func diagnostic(r Recipient) string {
	text := clean(r.Diagnostic)
	if text == "" {
		return clean(fmt.Sprintf("%d %s %s", r.Status.Code, r.Status.Enhanced, r.Status.Text))
	}
	if len(text) >= 3 && strings.Trim(text[:3], "0123456789") == "" {
		return text // a server's reply with its own codes
	}
	return clean(fmt.Sprintf("%d %s %s", r.Status.Code, r.Status.Enhanced, text))
}

// clean makes s one line of printable ASCII within maxDiagnostic octets.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			space = b.Len() > 0
			continue
		case r < 0x20 || r >= 0x7f:
			r = '?'
		}
		if b.Len()+2 > maxDiagnostic {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func humanText(b Bounce, mta string) []byte {
	var t bytes.Buffer
	para := func(s string) { t.WriteString(wrap(s, wrapAt)); t.WriteString("\r\n\r\n") }
	para("This is the mail system at host " + mta + ".")
	para(Explanation)
	for _, r := range b.Recipients {
		t.WriteString("<" + r.Addr + ">:\r\n")
		t.WriteString(wrap("    "+diagnostic(r), wrapAt))
		t.WriteString("\r\n\r\n")
	}
	para("Reference: " + b.MessageID)
	return bytes.TrimSuffix(t.Bytes(), []byte("\r\n"))
}

// wrap breaks s at spaces into lines of at most width octets where it can; continuation
// lines keep the first line's indent.
func wrap(s string, width int) string {
	indent := s[:len(s)-len(strings.TrimLeft(s, " "))]
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(s) {
		switch {
		case i == 0:
			b.WriteString(indent)
			line = len(indent)
		case line+1+len(w) > width:
			b.WriteString("\r\n" + indent)
			line = len(indent)
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

func statusText(b Bounce, mta string) []byte {
	var t bytes.Buffer
	f := func(name, value string) { fmt.Fprintf(&t, "%s: %s\r\n", name, value) }
	f("Reporting-MTA", "dns; "+mta)
	if !b.Arrival.IsZero() {
		f("Arrival-Date", b.Arrival.Format(time.RFC1123Z))
	}
	for _, r := range b.Recipients {
		t.WriteString("\r\n")
		f("Final-Recipient", finalRecipient(r.Addr))
		f("Action", "failed")
		f("Status", r.Status.Enhanced)
		f("Diagnostic-Code", "smtp; "+diagnostic(r))
	}
	return t.Bytes()
}

// finalRecipient types the address: rfc822 when ASCII, else utf-8 with the non-ASCII and
// special characters escaped as \x{HEX} (RFC 6533 §3), since message/delivery-status is 7-bit.
func finalRecipient(addr string) string {
	ascii := true
	for i := 0; i < len(addr); i++ {
		if addr[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return "rfc822; " + addr
	}
	var b strings.Builder
	for _, r := range addr {
		if r > 0x20 && r < 0x7f && r != '+' && r != '=' && r != '\\' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\x{%X}`, r)
		}
	}
	return "utf-8; " + b.String()
}

// writePart writes one body part, quoted-printable when the body is not short-lined ASCII.
func writePart(mw *multipart.Writer, contentType, description string, body []byte) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Description", description)
	if needsEncoding(body) {
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		return fmt.Errorf("report part %s: %w", contentType, err)
	}
	if !needsEncoding(body) {
		_, err = w.Write(body)
		return err
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write(body); err != nil {
		return err
	}
	return qp.Close()
}

// needsEncoding reports bytes that 7bit does not allow: non-ASCII, controls, a CR or LF that
// is not part of a CRLF, lines over maxLine octets.
func needsEncoding(body []byte) bool {
	line := 0
	for i, c := range body {
		switch {
		case c == '\r' && i+1 < len(body) && body[i+1] == '\n':
			continue
		case c == '\n' && i > 0 && body[i-1] == '\r':
			line = 0
			continue
		case c >= 0x80, c < 0x20 && c != '\t', c == 0x7f:
			return true
		}
		if line++; line > maxLine {
			return true
		}
	}
	return false
}

// originalHeaders returns the header section of h (up to the first empty line) without the
// fields returnedHeader refuses, with CRLF line ends, cut at a line boundary within
// MaxOriginalHeaders.
func originalHeaders(h []byte) []byte {
	var out bytes.Buffer
	keep := false
	for line := range lines(h) {
		if len(line) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, ok := bytes.Cut(line, []byte(":"))
			keep = ok && returnedHeader(string(name))
		}
		if !keep {
			continue
		}
		if out.Len()+len(line)+2 > MaxOriginalHeaders {
			break
		}
		out.Write(line)
		out.WriteString("\r\n")
	}
	return out.Bytes()
}

// lines yields the lines of h without their line ends (LF or CRLF), up to the first empty
// line included. It reads at most MaxOriginalHeaders octets and drops a line cut by that limit.
func lines(h []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		cut := len(h) > MaxOriginalHeaders
		if cut {
			h = h[:MaxOriginalHeaders]
		}
		for len(h) > 0 {
			line, rest, found := bytes.Cut(h, []byte("\n"))
			if !found && cut {
				return
			}
			line = bytes.TrimSuffix(line, []byte("\r"))
			if !yield(line) || len(line) == 0 {
				return
			}
			h = rest
		}
	}
}

// headerFields yields the unfolded fields of a header section, tolerating any garbage.
func headerFields(h []byte) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		var name string
		var value strings.Builder
		have := false
		for line := range lines(h) {
			if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
				if have {
					value.WriteByte(' ')
					value.Write(bytes.TrimSpace(line))
				}
				continue
			}
			if have && !yield(name, value.String()) {
				return
			}
			have = false
			n, v, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				continue
			}
			name, have = string(bytes.TrimSpace(n)), true
			value.Reset()
			value.Write(bytes.TrimSpace(v))
		}
		if have {
			yield(name, value.String())
		}
	}
}

var msgIDRE = regexp.MustCompile(`^<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>$`)

// originalMessageID returns the original's Message-ID when it is well formed.
func originalMessageID(h []byte) string {
	for name, value := range headerFields(h) {
		if strings.EqualFold(name, "Message-ID") {
			if msgIDRE.MatchString(value) && len(value) < 500 && utf8.ValidString(value) {
				return value
			}
			return ""
		}
	}
	return ""
}
