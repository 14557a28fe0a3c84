package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/tracking"
)

// Preview bounds.
const (
	PreviewChars    = 2000 // characters of body text
	MaxHeaderFields = 100
	MaxHeaderChars  = 998 // characters per header value, RFC 5322's line limit
	previewTextRead = 64 << 10
)

// Detail is what Show returns: the tracking records of the message's quarantined recipients
// (verdict trail and history) and, while the copy exists, its headers, attachments and a text
// preview.
type Detail struct {
	MessageID string            `json:"messageId"`
	Records   []tracking.Record `json:"records"`
	Available bool              `json:"available"` // the quarantined copy still exists
	Headers   []message.Field   `json:"headers,omitempty"`
	Parts     []PartSummary     `json:"parts,omitempty"`
	Preview   string            `json:"preview,omitempty"`
	Truncated bool              `json:"truncated,omitempty"` // the preview was cut at PreviewChars
	Defects   []string          `json:"defects,omitempty"`
}

// PartSummary names one MIME part, without its content.
type PartSummary struct {
	ContentType string `json:"contentType"`
	Filename    string `json:"filename,omitempty"`
	Type        string `json:"type"` // true file type
	Size        int64  `json:"size"`
}

// Show returns what is known about a quarantined message, limited to recipient when set.
// The preview is plain text only: the text parts, HTML reduced to text by shared/message,
// control and formatting characters removed (so it cannot drive a terminal or hide text),
// at most PreviewChars characters. Headers are decoded (RFC 2047) and cleaned the same way.
// Nothing in the copy is executed, fetched or rendered.
func (a *Admin) Show(ctx context.Context, messageID, recipient string) (Detail, error) {
	recs, err := a.records(ctx, messageID, recipient)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{MessageID: messageID, Records: recs}
	body, _, err := a.Mail.Open(ctx, recs[0].QuarantineKey)
	if errors.Is(err, quarantine.ErrNotFound) {
		return d, nil // released and delivered long ago, deleted, or expired
	}
	if err != nil {
		return Detail{}, fmt.Errorf("open quarantined copy of %s: %w", messageID, err)
	}
	defer body.Close()
	// No archive is inspected for a preview (MaxArchive 1 byte): only names and types show.
	msg, err := message.Parse(body, message.Options{MaxTextBytes: previewTextRead, MaxArchive: 1})
	if err != nil {
		return Detail{}, fmt.Errorf("read quarantined copy of %s: %w", messageID, err)
	}
	d.Available = true
	d.Defects = msg.Defects
	for i, f := range msg.Header {
		if i == MaxHeaderFields {
			break
		}
		v, _ := Clean(message.DecodeWords(f.Value), MaxHeaderChars, false)
		d.Headers = append(d.Headers, message.Field{Name: f.Name, Value: v})
	}
	for _, p := range msg.Parts {
		name, _ := Clean(p.Filename, 200, false)
		d.Parts = append(d.Parts, PartSummary{ContentType: p.ContentType, Filename: name, Type: string(p.Type), Size: p.Size})
	}
	d.Preview, d.Truncated = Clean(msg.Text, PreviewChars, true)
	return d, nil
}

// Clean makes untrusted text safe to print or to put in a page: it drops control characters
// (keeping newlines when multiline, else turning them into spaces), Unicode format characters
// (bidirectional overrides, zero-width characters) and invalid UTF-8, collapses runs of blank
// lines and spaces, and cuts the result at max characters. It reports whether it cut.
func Clean(s string, max int, multiline bool) (string, bool) {
	var b strings.Builder
	n, blank, space := 0, 0, false
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			continue
		case r == '\n' || r == '\r':
			if !multiline {
				r = ' '
				break
			}
			if r == '\r' {
				continue
			}
			blank++
			space = false
			if blank > 2 {
				continue
			}
			b.WriteRune('\n')
			n++
			continue
		case r == '\t' || unicode.IsSpace(r):
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
			blank = 0
		}
		if n >= max {
			return strings.TrimSpace(b.String()), true
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String()), false
}
