package digest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/quotedprintable"
	"strings"
	"text/template"
	"time"

	"github.com/moatmail/moat/shared/euq"
	"github.com/moatmail/moat/shared/quarantine/admin"
)

// MaxItems is the most messages one digest lists; the rest are counted.
const MaxItems = 100

// Entry is one quarantined message in a digest.
type Entry struct {
	Time    time.Time
	From    string // cleaned for display
	Subject string // cleaned for display
	Reason  string // "spam", "blocklisted sender IP", ...
	Links   []Link
}

// Link is one action link of an entry.
type Link struct {
	Label string
	URL   string
}

// Digest is one end user's digest.
type Digest struct {
	From, To string
	Date     time.Time
	Entries  []Entry // at most MaxItems, newest first
	More     int     // new messages not listed
	Expiry   int     // days a message stays in quarantine
}

// reasonText words a verdict code for an end user.
func reasonText(code string) string {
	switch code {
	case "spam":
		return "spam"
	case "dnsbl-listed":
		return "sender's server is on a blocklist"
	case "ip-dynamic-block":
		return "sender's server is sending spam"
	case "sender-blocked-user":
		return "sender on your blocked list"
	}
	return code
}

var textTmpl = template.Must(template.New("text").Parse(`Messages held for {{.To}}

{{len .Entries}}{{if .More}} (and {{.More}} more){{end}} new message(s) suspected to be spam were held in quarantine
since your last digest. They are deleted after {{.Expiry}} days unless you deliver them.
Each link opens a page that asks you to confirm.
{{range .Entries}}
----------------------------------------------------------------------
{{.Time.Format "2006-01-02 15:04 UTC"}}  From: {{.From}}
Subject: {{.Subject}}
Reason: {{.Reason}}
{{range .Links}}  {{.Label}}: {{.URL}}
{{end}}{{end}}
----------------------------------------------------------------------
You get this digest because mail to you was held by your organisation's email gateway.
Links work for a limited time and only for the action they name.
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Quarantine digest</title></head>
<body style="font-family:sans-serif">
<h2>Messages held for {{.To}}</h2>
<p>{{len .Entries}}{{if .More}} (and {{.More}} more){{end}} new message(s) suspected to be spam were held in quarantine since
your last digest. They are deleted after {{.Expiry}} days unless you deliver them. Each link opens a page that asks you to confirm.</p>
<table cellpadding="6" style="border-collapse:collapse">
<tr><th align="left">Received</th><th align="left">From</th><th align="left">Subject</th><th align="left">Reason</th><th align="left">Actions</th></tr>
{{range .Entries}}<tr style="border-top:1px solid #ccc">
<td>{{.Time.Format "2006-01-02 15:04"}}</td><td>{{.From}}</td><td>{{.Subject}}</td><td>{{.Reason}}</td>
<td>{{range $i, $l := .Links}}{{if $i}} | {{end}}<a href="{{$l.URL}}">{{$l.Label}}</a>{{end}}</td>
</tr>
{{end}}</table>
<p style="color:#666">Links work for a limited time and only for the action they name.</p>
</body></html>
`))

// Render builds the digest as a MIME message (multipart/alternative: text and HTML, both
// quoted-printable UTF-8). Senders and subjects are untrusted: they are cleaned of control
// and formatting characters and escaped by html/template in the HTML part.
func Render(d Digest) ([]byte, error) {
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, d); err != nil {
		return nil, err
	}
	if err := htmlTmpl.Execute(&html, d); err != nil {
		return nil, err
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	boundary := "=_moat_digest_" + hex.EncodeToString(nonce[:])
	domain := d.From[strings.LastIndexByte(d.From, '@')+1:]

	var b bytes.Buffer
	n := len(d.Entries) + d.More
	fmt.Fprintf(&b, "From: %s\r\n", mime.QEncoding.Encode("utf-8", "Quarantine digest")+" <"+d.From+">")
	fmt.Fprintf(&b, "To: <%s>\r\n", d.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", fmt.Sprintf("Quarantine digest: %d new message(s) held for you", n)))
	fmt.Fprintf(&b, "Date: %s\r\n", d.Date.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <digest.%s@%s>\r\n", hex.EncodeToString(nonce[:]), domain)
	b.WriteString("Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary)
	for _, p := range []struct {
		ctype string
		body  []byte
	}{{"text/plain", text.Bytes()}, {"text/html", html.Bytes()}} {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, p.ctype)
		w := quotedprintable.NewWriter(&b)
		if _, err := w.Write(bytes.ReplaceAll(p.body, []byte("\n"), []byte("\r\n"))); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// display cleans untrusted text for one line of a digest.
func display(s string, max int) string {
	out, cut := admin.Clean(s, max, false)
	if cut {
		out += "…"
	}
	if out == "" {
		return "(none)"
	}
	return out
}

// actionLinks are an entry's links; make signs one token per action.
func actionLinks(base string, make func(euq.Action) (string, error)) ([]Link, error) {
	var out []Link
	for _, a := range euq.Actions {
		tok, err := make(a)
		if err != nil {
			return nil, err
		}
		out = append(out, Link{Label: a.Label(), URL: euq.Link(base, a, tok)})
	}
	return out, nil
}
