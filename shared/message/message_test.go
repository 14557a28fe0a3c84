package message_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
)

func parseFile(t *testing.T, name string) *message.Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Parse(bytes.NewReader(b), message.Options{})
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	if m.Size != int64(len(b)) {
		t.Errorf("Size = %d, want %d", m.Size, len(b))
	}
	return m
}

// part is the comparable subset of a Part.
type part struct {
	ContentType, Filename string
	Attachment            bool
	Size                  int64
	Depth                 int
}

func parts(m *message.Message) []part {
	var ps []part
	for _, p := range m.Parts {
		ps = append(ps, part{p.ContentType, p.Filename, p.Attachment, p.Size, p.Depth})
	}
	return ps
}

func wantDefect(t *testing.T, m *message.Message, code string) {
	t.Helper()
	if !slices.Contains(m.Defects, code) {
		t.Errorf("Defects = %q, want %q among them", m.Defects, code)
	}
}

func wantNoDefects(t *testing.T, m *message.Message) {
	t.Helper()
	if len(m.Defects) > 0 || m.Unscannable != "" {
		t.Errorf("Defects = %q, Unscannable = %q; want none", m.Defects, m.Unscannable)
	}
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, m *message.Message)
	}{
		{"subject-utf8-b.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			if m.Subject != "€ 100 über heute" {
				t.Errorf("Subject = %q", m.Subject)
			}
			if want := (message.Address{Name: "Alice", Addr: "alice@example.org"}); m.From != want {
				t.Errorf("From = %+v, want %+v (domain lower-cased)", m.From, want)
			}
			if m.MessageID != "fixture@example.org" {
				t.Errorf("MessageID = %q", m.MessageID)
			}
			if want := netip.MustParseAddr("192.0.2.10"); m.ClientIP != want {
				t.Errorf("ClientIP = %v, want %v", m.ClientIP, want)
			}
		}},
		{"subject-utf8-q.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			if m.Subject != "Grüße aus Köln" {
				t.Errorf("Subject = %q (adjacent words join without the space between them)", m.Subject)
			}
		}},
		{"subject-latin1.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			if m.Subject != "Café crème" {
				t.Errorf("Subject = %q", m.Subject)
			}
			if want := (message.Address{Name: "André", Addr: "andre@example.com"}); m.From != want {
				t.Errorf("From = %+v, want %+v", m.From, want)
			}
			if m.Text != "Un café, s'il vous plaît.\n" {
				t.Errorf("Text = %q", m.Text)
			}
		}},
		{"subject-broken.eml", func(t *testing.T, m *message.Message) {
			if want := "=?utf-8?B?!!not*base64?= and =?x-no-such-charset?Q?abc?="; m.Subject != want {
				t.Errorf("Subject = %q, want the raw text %q", m.Subject, want)
			}
		}},
		{"header-8bit.eml", func(t *testing.T, m *message.Message) {
			if m.Subject != "Grüße aus Köln" {
				t.Errorf("Subject = %q, want the raw UTF-8 kept", m.Subject)
			}
			if m.From.Name != "José" {
				t.Errorf("From.Name = %q, want Latin-1 read as José", m.From.Name)
			}
		}},
		{"folded.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			if want := "This subject is folded over\tthree lines"; m.Subject != want {
				t.Errorf("Subject = %q, want %q", m.Subject, want)
			}
			if m.From.Addr != "alice@example.org" {
				t.Errorf("From = %+v", m.From)
			}
			var to []string
			for _, a := range m.To {
				to = append(to, a.Addr)
			}
			if want := []string{"bob@example.com", "carol@example.com", "dave@example.com"}; !slices.Equal(to, want) {
				t.Errorf("To = %q, want %q", to, want)
			}
			if len(m.Parts) != 1 || m.Parts[0].Charset != "us-ascii" {
				t.Errorf("Parts = %+v, want one us-ascii part", m.Parts)
			}
		}},
		{"missing-boundary.eml", func(t *testing.T, m *message.Message) {
			wantDefect(t, m, message.DefectMissingBoundary)
			if m.Unscannable != "" {
				t.Errorf("Unscannable = %q", m.Unscannable)
			}
			if len(m.Parts) != 1 || m.Parts[0].ContentType != "text/plain" {
				t.Fatalf("Parts = %+v, want the body as one text part", parts(m))
			}
			if !strings.Contains(m.Text, "This body has no boundary parameter.") || !strings.Contains(m.Text, "still text") {
				t.Errorf("Text = %q", m.Text)
			}
		}},
		{"nested-3.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			want := []part{
				{"text/plain", "", false, 13, 2},
				{"text/html", "", false, 26, 3},
				{"image/png", "", false, 70, 3},
				{"application/octet-stream", "data.bin", true, 6, 1},
			}
			if got := parts(m); !slices.Equal(got, want) {
				t.Errorf("Parts =\n%+v\nwant\n%+v", got, want)
			}
			if m.Text != "plain version\nhtml version" {
				t.Errorf("Text = %q (no preamble or epilogue)", m.Text)
			}
		}},
		{"rfc822-attached.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			want := []part{
				{"text/plain", "", false, 25, 1},
				{"text/plain", "", false, 14, 3},
				{"application/octet-stream", "payload.bin", true, 10, 3},
			}
			if got := parts(m); !slices.Equal(got, want) {
				t.Errorf("Parts =\n%+v\nwant\n%+v", got, want)
			}
			if m.Subject != "Fwd: original" || m.From.Addr != "alice@example.org" {
				t.Errorf("Subject, From = %q, %q: want the outer message's", m.Subject, m.From.Addr)
			}
		}},
		{"rfc822-base64.eml", func(t *testing.T, m *message.Message) {
			wantDefect(t, m, message.DefectEncodedContainer)
			want := []part{{"text/plain", "", false, 20, 2}}
			if got := parts(m); !slices.Equal(got, want) {
				t.Errorf("Parts = %+v, want %+v", got, want)
			}
			if !strings.Contains(m.Text, "Hidden inner body.") {
				t.Errorf("Text = %q, want the decoded inner message's", m.Text)
			}
		}},
		{"rfc2231-filename.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			var names []string
			for _, p := range m.Parts {
				names = append(names, p.Filename)
			}
			if want := []string{"Résumé final.pdf", "€ invoice.pdf", "übersicht.pdf"}; !slices.Equal(names, want) {
				t.Errorf("filenames = %q, want %q", names, want)
			}
		}},
		{"bad-base64.eml", func(t *testing.T, m *message.Message) {
			wantDefect(t, m, message.DefectBadBase64)
			if m.Unscannable != "" {
				t.Errorf("Unscannable = %q", m.Unscannable)
			}
			if len(m.Parts) != 1 || m.Parts[0].Size != 10 {
				t.Errorf("Parts = %+v, want one part of 10 bytes (garbage skipped)", parts(m))
			}
		}},
		{"bare-lf.eml", func(t *testing.T, m *message.Message) {
			wantNoDefects(t, m)
			want := []part{
				{"text/plain", "", false, 17, 1},
				{"application/octet-stream", "x.bin", true, 6, 1},
			}
			if got := parts(m); !slices.Equal(got, want) {
				t.Errorf("Parts = %+v, want %+v", got, want)
			}
			if m.Subject != "bare LF line breaks" || m.Text != "line one\nline two" {
				t.Errorf("Subject, Text = %q, %q", m.Subject, m.Text)
			}
		}},
		{"header-no-colon.eml", func(t *testing.T, m *message.Message) {
			wantDefect(t, m, message.DefectHeaderNoColon)
			if m.Unscannable != "" {
				t.Errorf("Unscannable = %q", m.Unscannable)
			}
			if m.Subject != "after the bad line" {
				t.Errorf("Subject = %q, want the field after the bad line", m.Subject)
			}
			if m.Header.Get("This line has no colon") != "" || len(m.Header.Values("Subject")) != 1 {
				t.Errorf("Header = %q", m.Header)
			}
		}},
		{"pdf-is-exe.eml", func(t *testing.T, m *message.Message) {
			if len(m.Parts) != 2 {
				t.Fatalf("Parts = %+v", parts(m))
			}
			p := m.Parts[1]
			if p.Filename != "invoice.pdf" || p.ContentType != "application/pdf" || !p.Attachment {
				t.Errorf("Part = %+v", p)
			}
			if p.Type != filetype.PE {
				t.Errorf("Type = %q, want %q (the content, not the name)", p.Type, filetype.PE)
			}
		}},
		{"html.eml", func(t *testing.T, m *message.Message) {
			for _, want := range []string{"Café & crème", "Fish <3 chips", "Viagra"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("Text = %q, want %q in it", m.Text, want)
				}
			}
			for _, not := range []string{"hidden", "color", "comment", "<p>"} {
				if strings.Contains(m.Text, not) {
					t.Errorf("Text = %q, want no %q", m.Text, not)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tt.check(t, parseFile(t, tt.file))
		})
	}
}
