package submission

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

func eml() []byte {
	return messagetest.New().From("Promo <promo@offers.example>").To("a@example.com").
		Subject("Claim your prize").Text("Winner! Claim your free prize now.").Bytes()
}

const transportHeaders = "Received: from mx.offers.example (mx.offers.example [192.0.2.1])\r\n by mail.example.com; Thu, 1 Jan 2026 00:00:00 +0000\r\n" +
	"From: Promo <promo@offers.example>\r\nTo: a@example.com\r\nSubject: Claim your prize\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary=\"xyz\"\r\n\r\n"

func msgFile(headers, body, html string) []byte {
	s := map[string][]byte{}
	if headers != "" {
		s["__substg1.0_007D001F"] = utf16LE(headers)
	}
	if body != "" {
		s["__substg1.0_1000001F"] = utf16LE(body)
	}
	if html != "" {
		s["__substg1.0_10130102"] = []byte(html)
	}
	s["__substg1.0_0037001F"] = utf16LE("Claim your prize")
	return buildCFB(s)
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, data := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAccepted(t *testing.T) {
	msg := msgFile(transportHeaders, "Winner! Claim your free prize now.", "<p>Winner! <b>Claim</b> your prize.</p>")
	tests := []struct {
		name  string
		data  []byte
		count int
	}{
		{"sample.eml", eml(), 1},
		{"SAMPLE.EML", eml(), 1},
		{"outlook.msg", msg, 1},
		{"batch.zip", zipOf(t, map[string][]byte{"a.eml": eml(), "dir/b.msg": msg, "__MACOSX/._a.eml": {0}, ".DS_Store": {1}}), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Extract(tt.name, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != tt.count {
				t.Fatalf("%d messages, want %d", len(ms), tt.count)
			}
			for _, m := range ms {
				p, err := message.Parse(bytes.NewReader(m.Raw), message.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if p.From.Addr != "promo@offers.example" || p.Subject != "Claim your prize" || !strings.Contains(p.Text, "Claim") {
					t.Errorf("%s: From %q, Subject %q, Text %q", m.Name, p.From.Addr, p.Subject, p.Text)
				}
			}
		})
	}
}

func TestMSGKeepsBothBodies(t *testing.T) {
	ms, err := Extract("x.msg", msgFile(transportHeaders, "plain words", "<p>html words</p>"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := message.Parse(bytes.NewReader(ms[0].Raw), message.Options{})
	if !strings.Contains(p.Text, "plain words") || !strings.Contains(p.Text, "html words") {
		t.Errorf("Text %q, want both bodies", p.Text)
	}
	if n := strings.Count(string(ms[0].Raw), "Content-Type:"); n != 3 {
		t.Errorf("%d Content-Type fields, want 3 (the original's dropped): %s", n, ms[0].Raw)
	}
}

func TestRefused(t *testing.T) {
	fwdInline := messagetest.New().From("me@example.com").To("admin@example.com").Subject("Fwd: Claim your prize").
		Text("look at this\n\n---------- Forwarded message ---------\nFrom: Promo <promo@offers.example>\nSubject: Claim your prize\n\nWinner!").Bytes()
	fwdOutlook := messagetest.New().From("me@example.com").To("admin@example.com").Subject("FW: invoice").
		Text("see below\n\n-----Original Message-----\nFrom: x@y.example\nSent: Monday\nSubject: invoice\n").Bytes()
	fwdAttached := messagetest.New().From("me@example.com").To("admin@example.com").Subject("Fwd: spam").
		Text("spam attached").Attach("original.eml", "message/rfc822", eml()).Bytes()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"notes.txt", []byte("hello"), ".txt files are not accepted"},
		{"invoice.pdf", []byte("%PDF-1.4"), ".pdf files are not accepted"},
		{"README", eml(), "no file name extension"},
		{"binary.eml", append([]byte("MZ"), make([]byte, 100)...), "not a message: the content is a pe file"},
		{"text.eml", []byte("just some words\nand more words\n"), "not a message"},
		{"fwd.eml", fwdInline, "forwarded mail"},
		{"fw.eml", fwdOutlook, "forwarded mail"},
		{"attached.eml", fwdAttached, "forwarded mail (the subject starts with a forward prefix and the original is attached)"},
		{"fake.msg", eml(), "not an Outlook message"},
		{"draft.msg", msgFile("", "a draft", ""), "no internet headers"},
		{"fwd.msg", msgFile(strings.Replace(transportHeaders, "Subject: Claim", "Subject: FW: Claim", 1), "x\n-----Original Message-----\nFrom: a", ""), "forwarded mail"},
		{"fake.zip", eml(), "not a zip file"},
		{"empty.zip", zipOf(t, map[string][]byte{".DS_Store": {1}}), "holds no .eml or .msg"},
		{"mixed.zip", zipOf(t, map[string][]byte{"a.eml": eml(), "b.txt": []byte("x")}), "mixed.zip!b.txt: only .eml and .msg"},
		{"nested.zip", zipOf(t, map[string][]byte{"inner.zip": zipOf(t, map[string][]byte{"a.eml": eml()})}), "only .eml and .msg"},
		{"badentry.zip", zipOf(t, map[string][]byte{"fwd.eml": fwdInline}), "badentry.zip!fwd.eml: forwarded mail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(tt.name, tt.data)
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want a refusal containing %q", err, tt.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	now := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)
	k := Key(Spam, []byte("x"), now)
	if !strings.HasPrefix(k, "submissions/spam/2026-11-29/") || !strings.HasSuffix(k, ".eml") {
		t.Errorf("Key = %q", k)
	}
	if k != Key(Spam, []byte("x"), now) || k == Key(Spam, []byte("y"), now) {
		t.Error("Key is not the content's")
	}
	for key, want := range map[string]Label{k: Spam, Key(Ham, []byte("x"), now): Ham, "submissions/other/x.eml": "", "incoming/x": ""} {
		if got, ok := ParseKey(key); got != want || ok != (want != "") {
			t.Errorf("ParseKey(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}
