package message_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(messagetest.New().From("a@example.org").Text("t").HTML("<p>h</p>").Attach("x.zip", "application/zip", []byte("PK\x03\x04")).Bytes())
	f.Add([]byte("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQpib2R5\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n--a--\r\n"))

	opts := message.Options{MaxHeaderBytes: 4096, MaxTextBytes: 512, MaxMIMEDepth: 8, MaxArchive: 4096, MaxParts: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := message.Parse(bytes.NewReader(data), opts)
		if err != nil {
			t.Fatalf("Parse error on in-memory input: %v", err)
		}
		if m.Size != int64(len(data)) {
			t.Errorf("Size = %d, want %d", m.Size, len(data))
		}
		if len(m.Text) > opts.MaxTextBytes || !utf8.ValidString(m.Text) {
			t.Errorf("Text: %d bytes, valid UTF-8 %v", len(m.Text), utf8.ValidString(m.Text))
		}
		if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.From.Name) {
			t.Errorf("Subject %q or From name %q not UTF-8", m.Subject, m.From.Name)
		}
		if len(m.Parts) > opts.MaxParts {
			t.Errorf("%d parts, want at most %d", len(m.Parts), opts.MaxParts)
		}
		var decoded int64
		for _, p := range m.Parts {
			if p.Size < 0 || p.Depth < 0 || p.Depth > opts.MaxMIMEDepth {
				t.Errorf("part %+v", p)
			}
			decoded += p.Size
		}
		if decoded > int64(len(data)) {
			t.Errorf("decoded %d bytes from %d", decoded, len(data))
		}
		seen := map[string]bool{}
		for _, d := range m.Defects {
			if seen[d] {
				t.Errorf("defect %q twice", d)
			}
			seen[d] = true
		}
		if m.Unscannable != "" && !seen[m.Unscannable] {
			t.Errorf("Unscannable %q not among Defects %q", m.Unscannable, m.Defects)
		}
	})
}
