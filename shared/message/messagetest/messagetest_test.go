package messagetest_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

func TestBuilderParses(t *testing.T) {
	pdf := []byte("%PDF-1.4\n" + string(make([]byte, 300)))
	tests := []struct {
		name  string
		b     *messagetest.Builder
		parts []string // content types in order
		text  string
	}{
		{"empty", messagetest.New(), []string{"text/plain"}, ""},
		{"text", messagetest.New().Text("one\ntwo = three"), []string{"text/plain"}, "one\ntwo = three"},
		{"html", messagetest.New().HTML("<p>hi</p>"), []string{"text/html"}, "hi"},
		{"alternative", messagetest.New().Text("hi").HTML("<p>hi</p>"), []string{"text/plain", "text/html"}, "hi\nhi"},
		{"mixed", messagetest.New().Text("hi").HTML("<p>hi</p>").Attach("Résumé €.pdf", "application/pdf", pdf).Attach("a.bin", "", []byte{1}),
			[]string{"text/plain", "text/html", "application/pdf", "application/octet-stream"}, "hi\nhi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.b.From("Alice <alice@example.org>").To("bob@example.com", "carol@example.com").
				Cc("dave@example.com").ReplyTo("replies@example.org").Subject("Grüße, €").
				Received("2001:db8::7").Bytes()
			if !bytes.Equal(raw, tt.b.Bytes()) {
				t.Error("Bytes is not deterministic")
			}
			m, err := message.Parse(bytes.NewReader(raw), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Defects) > 0 || m.Unscannable != "" {
				t.Errorf("Defects = %q, Unscannable = %q", m.Defects, m.Unscannable)
			}
			if m.From.Addr != "alice@example.org" || len(m.To) != 2 || len(m.Cc) != 1 || len(m.ReplyTo) != 1 {
				t.Errorf("From, To, Cc, ReplyTo = %+v, %+v, %+v, %+v", m.From, m.To, m.Cc, m.ReplyTo)
			}
			if m.Subject != "Grüße, €" || m.MessageID != "messagetest.1@example.test" {
				t.Errorf("Subject, MessageID = %q, %q", m.Subject, m.MessageID)
			}
			if m.ClientIP != netip.MustParseAddr("2001:db8::7") {
				t.Errorf("ClientIP = %v", m.ClientIP)
			}
			var types []string
			for _, p := range m.Parts {
				types = append(types, p.ContentType)
			}
			if len(types) != len(tt.parts) {
				t.Fatalf("parts = %q, want %q", types, tt.parts)
			}
			for i := range types {
				if types[i] != tt.parts[i] {
					t.Errorf("parts = %q, want %q", types, tt.parts)
				}
			}
			if m.Text != tt.text {
				t.Errorf("Text = %q, want %q", m.Text, tt.text)
			}
			if tt.name == "mixed" {
				if p := m.Parts[2]; p.Filename != "Résumé €.pdf" || p.Size != int64(len(pdf)) || !p.Attachment {
					t.Errorf("attachment = %+v", p)
				}
			}
		})
	}
}
