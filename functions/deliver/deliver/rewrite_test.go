package deliver

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"testing/iotest"
)

func rewrite(t *testing.T, msg string, c Changes) (string, *Rewritten) {
	t.Helper()
	rw, err := Rewrite(strings.NewReader(msg), c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(rw)
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(len(out)) - int64(len(msg)); got != rw.Delta {
		t.Errorf("Delta %d, but the output grew by %d", rw.Delta, got)
	}
	return string(out), rw
}

func TestRewriteTagsAndInserts(t *testing.T) {
	msg := "Received: from x\r\nSubject: Hello\r\nX-Moat-Verdict: clean (forged)\r\nx-moat-reason: forged too\r\nFrom: a@example.org\r\n\r\nBody\r\nSubject: not a header\r\n"
	out, rw := rewrite(t, msg, Changes{
		Prepend:    []Field{{"Received", "by gw (Moat)"}, {"X-Moat-Verdict", "tag; reason=spam"}},
		SubjectTag: "[SPAM] ",
	})
	want := "Received: by gw (Moat)\r\nX-Moat-Verdict: tag; reason=spam\r\nReceived: from x\r\nSubject: [SPAM] Hello\r\nFrom: a@example.org\r\n\r\nBody\r\nSubject: not a header\r\n"
	if out != want {
		t.Errorf("got\n%q\nwant\n%q", out, want)
	}
	if !strings.HasPrefix(msg, string(rw.Header)) || !strings.Contains(string(rw.Header), "Subject: Hello") {
		t.Errorf("Header %q is not the original's header section", rw.Header)
	}
}

func TestRewriteSubjectCases(t *testing.T) {
	tests := []struct {
		name, subject, tag, want string
	}{
		{"tag without trailing space", "Subject: Hello\r\n", "[SPAM]", "Subject: [SPAM] Hello\r\n"},
		{"already tagged", "Subject: [spam] Hello\r\n", "[SPAM] ", "Subject: [spam] Hello\r\n"},
		{"folded value", "Subject:\r\n Hello\r\n", "[SPAM]", "Subject: [SPAM]\r\n Hello\r\n"},
		{"continuation kept", "Subject: Hello\r\n world\r\n", "[SPAM]", "Subject: [SPAM] Hello\r\n world\r\n"},
		{"lower-case name", "subject: Hello\r\n", "[SPAM]", "subject: [SPAM] Hello\r\n"},
		{"no subject", "", "[SPAM]", "Subject: [SPAM]\r\n"},
		{"no tag", "Subject: Hello\r\n", "", "Subject: Hello\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := rewrite(t, "From: a@example.org\r\n"+tt.subject+"\r\nbody\r\n", Changes{SubjectTag: tt.tag})
			if !strings.Contains(out, tt.want) {
				t.Errorf("got %q, want it to contain %q", out, tt.want)
			}
		})
	}
}

// A non-ASCII tag is an encoded word, and the space after it survives decoding even when the
// subject itself is an encoded word.
func TestRewriteNonASCIITag(t *testing.T) {
	dec := new(mime.WordDecoder)
	for _, subject := range []string{"Hello", "=?utf-8?q?Gr=C3=BC=C3=9Fe?="} {
		out, _ := rewrite(t, "Subject: "+subject+"\r\n\r\nb", Changes{SubjectTag: "[Pourriel é]"})
		m, err := mail.ReadMessage(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := dec.DecodeHeader(subject)
		if got != "[Pourriel é] "+plain {
			t.Errorf("subject %q decodes to %q", subject, got)
		}
	}
}

func TestRewriteKeepsLineEnds(t *testing.T) {
	out, _ := rewrite(t, "Subject: Hi\nFrom: a@example.org\n\nbody\n", Changes{Prepend: []Field{{"X-Moat-A", "1"}}, SubjectTag: "[T]"})
	if out != "X-Moat-A: 1\nSubject: [T] Hi\nFrom: a@example.org\n\nbody\n" {
		t.Errorf("got %q", out)
	}
}

func TestRewriteLongFieldsFolded(t *testing.T) {
	out, _ := rewrite(t, "Subject: x\r\n\r\n", Changes{Prepend: []Field{{"X-Moat-Reasons", strings.Repeat("reason ", 200) + strings.Repeat("y", 2000)}}})
	for _, line := range strings.Split(out, "\r\n") {
		if len(line) > maxLine {
			t.Errorf("line of %d octets", len(line))
		}
	}
	m, err := mail.ReadMessage(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("X-Moat-Reasons"); !strings.HasPrefix(got, "reason reason") || !strings.Contains(got, "yyyy") {
		t.Errorf("folded field reads %q", got[:40])
	}
}

func TestRewriteForward(t *testing.T) {
	msg := "DKIM-Signature: v=1; d=example.org;\r\n b=abc\r\nReturn-Path: <alice@example.org>\r\nFrom: =?utf-8?q?Al=C3=AFce?= <alice@example.org>\r\nSender: list@example.org\r\nTo: bob@example.com\r\nSubject: Hi\r\n\r\nbody\r\n"
	out, _ := rewrite(t, msg, Changes{Forward: &ForwardFrom{Address: "forwarder@example.com", Via: "example.com", Sender: "alice@example.org"}})
	m, err := mail.ReadMessage(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	from, err := m.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "forwarder@example.com" || from[0].Name != "Alïce via example.com" {
		t.Errorf("From %v %v", from, err)
	}
	rt, err := m.Header.AddressList("Reply-To")
	if err != nil || len(rt) != 1 || rt[0].Address != "alice@example.org" {
		t.Errorf("Reply-To %v %v", rt, err)
	}
	for _, gone := range []string{"DKIM-Signature", "Return-Path", "Sender"} {
		if m.Header.Get(gone) != "" {
			t.Errorf("%s kept", gone)
		}
	}
	if m.Header.Get("To") != "bob@example.com" || m.Header.Get("Subject") != "Hi" {
		t.Errorf("other fields changed: %v", m.Header)
	}

	// An existing Reply-To stays; no From at all falls back to the envelope sender.
	out, _ = rewrite(t, "From: a@example.org\r\nReply-To: list@example.org\r\n\r\n", Changes{Forward: &ForwardFrom{Address: "f@example.com"}})
	if !strings.Contains(out, "Reply-To: list@example.org\r\n") || strings.Count(out, "Reply-To") != 1 {
		t.Errorf("got %q", out)
	}
	out, _ = rewrite(t, "Subject: x\r\n\r\n", Changes{Forward: &ForwardFrom{Address: "f@example.com", Sender: "s@example.org"}})
	if !strings.Contains(out, "Reply-To: s@example.org\r\n") {
		t.Errorf("got %q", out)
	}
}

// The body is not read before the caller reads it: the rewrite holds the header only.
func TestRewriteStreamsTheBody(t *testing.T) {
	body := strings.Repeat("0123456789abcdef\r\n", 1<<16) // 1.1 MB
	src := &countingReader{r: strings.NewReader("Subject: s\r\n\r\n" + body)}
	rw, err := Rewrite(iotest.HalfReader(src), Changes{SubjectTag: "[T]"})
	if err != nil {
		t.Fatal(err)
	}
	if src.n > 128<<10 {
		t.Errorf("Rewrite read %d bytes before anyone asked for the body", src.n)
	}
	out, _ := io.ReadAll(rw)
	if !bytes.HasSuffix(out, []byte(body)) {
		t.Error("body changed")
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestRewriteOddInput(t *testing.T) {
	for _, msg := range []string{
		"",
		"no header at all\r\n",
		"Subject: only a header, no body",
		" continuation first\r\nSubject: x\r\n\r\n",
		"Subject: " + strings.Repeat("x", 100<<10) + "\r\n\r\nbody",
		strings.Repeat("X-Junk: y\r\n", 100<<10) + "Subject: late\r\n\r\nbody",
	} {
		out, _ := rewrite(t, msg, Changes{SubjectTag: "[T]", Prepend: []Field{{"X-Moat-A", "1"}}})
		if !strings.HasPrefix(out, "X-Moat-A: 1\r\n") {
			t.Errorf("%.40q: prepended field missing: %.80q", msg, out)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add([]byte(testMsg), "[SPAM]")
	f.Add([]byte("Subject:\n x\n\nb"), "é")
	f.Add([]byte("From: <a@b>\r\nReply-To: x\r\n\r\n"), "")
	f.Fuzz(func(t *testing.T, msg []byte, tag string) {
		for _, fw := range []*ForwardFrom{nil, {Address: "f@example.com", Sender: "s@example.org"}} {
			rw, err := Rewrite(bytes.NewReader(msg), Changes{SubjectTag: tag, Forward: fw, Prepend: []Field{{"X-Moat-A", "1"}}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(rw)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(out))-int64(len(msg)) != rw.Delta {
				t.Fatalf("Delta %d, grew by %d", rw.Delta, len(out)-len(msg))
			}
			if fw == nil && !bytes.HasSuffix(out, msg[len(rw.Header):]) {
				t.Fatalf("what follows the header changed")
			}
		}
	})
}
