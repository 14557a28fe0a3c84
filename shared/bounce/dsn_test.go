package bounce

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	now     = time.Date(2026, 11, 22, 10, 31, 0, 0, time.UTC)
	arrival = time.Date(2026, 11, 22, 10, 29, 58, 0, time.UTC)
)

const (
	sesID = "o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1"
	from  = "MAILER-DAEMON@mail.example.com"
)

func original(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/original.eml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sample(t testing.TB) Bounce {
	return Bounce{
		MessageID: sesID,
		Sender:    "alice@example.org",
		Recipients: []Recipient{
			{Addr: "bob@example.com", Status: verdict.StatusNoSuchUser},
			{Addr: "carol@example.com", Status: verdict.StatusSizeLimit, Diagnostic: "552 5.3.4 Message size exceeds fixed maximum message size"},
		},
		Arrival:         arrival,
		OriginalHeaders: original(t),
		ReportingMTA:    "mx.mail.example.com",
	}
}

func TestBuildDSNGolden(t *testing.T) {
	got, err := BuildDSN(sample(t), from, now)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/dsn.golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("BuildDSN differs from %s (run go test -update and review the diff):\n%s", golden, got)
	}
	again, _ := BuildDSN(sample(t), from, now)
	if !bytes.Equal(got, again) {
		t.Error("BuildDSN is not deterministic")
	}
}

// report is a parsed DSN.
type report struct {
	header     mail.Header
	human      string
	perMessage textproto.MIMEHeader
	recipients []textproto.MIMEHeader
	original   string
}

// parseDSN parses raw as a multipart/report the way a receiving MUA would, failing the test
// on anything that is not one.
func parseDSN(t testing.TB, raw []byte) report {
	t.Helper()
	checkLines(t, raw)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read report: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	r := report{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			if i < 2 {
				t.Fatalf("%d parts, want at least 2", i)
			}
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		var body io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch i {
		case 0:
			if ct != "text/plain" {
				t.Errorf("part 1 is %s, want text/plain", ct)
			}
			r.human = string(data)
		case 1:
			if ct != "message/delivery-status" {
				t.Fatalf("part 2 is %s, want message/delivery-status", ct)
			}
			groups := strings.Split(strings.TrimRight(string(data), "\r\n"), "\r\n\r\n")
			for j, g := range groups {
				h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(g + "\r\n\r\n"))).ReadMIMEHeader()
				if err != nil {
					t.Fatalf("delivery-status group %d: %v\n%s", j, err, g)
				}
				if j == 0 {
					r.perMessage = h
				} else {
					r.recipients = append(r.recipients, h)
				}
			}
		case 2:
			if ct != "text/rfc822-headers" {
				t.Errorf("part 3 is %s, want text/rfc822-headers", ct)
			}
			r.original = string(data)
		default:
			t.Errorf("unexpected part %d: %s", i+1, ct)
		}
	}
	return r
}

// checkLines enforces RFC 5322 line rules: CRLF only, at most 998 octets a line.
func checkLines(t testing.TB, raw []byte) {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Errorf("line %d is %d octets", i+1, len(line))
		}
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Error("report does not end with CRLF")
	}
}

func TestBuildDSNStructure(t *testing.T) {
	b := sample(t)
	raw, err := BuildDSN(b, from, now)
	if err != nil {
		t.Fatal(err)
	}
	r := parseDSN(t, raw)
	for name, want := range map[string]string{
		"From":           `"Mail Delivery System" <` + from + ">",
		"To":             "<alice@example.org>",
		"Subject":        Subject,
		"Auto-Submitted": "auto-replied",
		"MIME-Version":   "1.0",
		"In-Reply-To":    "<20261122102955.4711@mail.example.org>",
	} {
		got := r.header.Get(name)
		if name == "From" || name == "To" {
			a, err := mail.ParseAddress(got)
			if err != nil {
				t.Errorf("%s %q: %v", name, got, err)
				continue
			}
			got = a.String()
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if d, err := r.header.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date %v, %v", d, err)
	}
	if id := r.header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@mail.example.com>") {
		t.Errorf("Message-ID %q", id)
	}

	if got := r.perMessage.Get("Reporting-MTA"); got != "dns; mx.mail.example.com" {
		t.Errorf("Reporting-MTA %q", got)
	}
	if got := r.perMessage.Get("Arrival-Date"); got != "Sun, 22 Nov 2026 10:29:58 +0000" {
		t.Errorf("Arrival-Date %q", got)
	}
	want := []struct{ rcpt, status, diag string }{
		{"rfc822; bob@example.com", "5.1.1", "smtp; 550 5.1.1 Recipient address rejected: user unknown"},
		{"rfc822; carol@example.com", "5.3.4", "smtp; 552 5.3.4 Message size exceeds fixed maximum message size"},
	}
	if len(r.recipients) != len(want) {
		t.Fatalf("%d recipient groups, want %d", len(r.recipients), len(want))
	}
	for i, w := range want {
		g := r.recipients[i]
		if g.Get("Final-Recipient") != w.rcpt || g.Get("Action") != "failed" || g.Get("Status") != w.status || g.Get("Diagnostic-Code") != w.diag {
			t.Errorf("recipient %d: %v, want %+v", i, g, w)
		}
	}

	for _, s := range []string{"bob@example.com", "carol@example.com", "user unknown", "Reference: " + sesID} {
		if !strings.Contains(r.human, s) {
			t.Errorf("human part lacks %q:\n%s", s, r.human)
		}
	}
	if !strings.Contains(r.original, "Subject: Quarterly figures\r\n") || !strings.Contains(r.original, "\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==\r\n") {
		t.Errorf("original headers not returned as they were:\n%s", r.original)
	}
	if strings.Contains(r.original, "Hello Bob") {
		t.Error("the original's body leaked into the report")
	}
	// Nothing internal reaches the sender: no SES verdicts, no reason codes.
	if strings.Contains(string(raw), "X-SES-") || strings.Contains(string(raw), "FAIL") {
		t.Error("SES receipt or verdict fields reached the sender")
	}
	for _, c := range verdict.Codes {
		if len(c.Code) > 5 && strings.Contains(string(raw), string(c.Code)) {
			t.Errorf("reason code %q reached the sender", c.Code)
		}
	}
}

// Hostile or sloppy input still gives a well-formed report.
func TestBuildDSNHostileInput(t *testing.T) {
	var hdr bytes.Buffer
	hdr.WriteString("Subject: " + strings.Repeat("long ", 1000) + "\n") // 5,000-octet line, bare LF
	hdr.WriteString("X-Bin: a\x00b\x7f\xff\xfe\r\n")
	hdr.WriteString("X-Unicode: Grüße\r\n")
	hdr.WriteString("Message-ID: <a@b>\r\nBcc: injected@example.net>\r\n")
	for hdr.Len() < 100*1024 {
		fmt.Fprintf(&hdr, "X-Filler-%d: %s\r\n", hdr.Len(), strings.Repeat("f", 60))
	}
	b := Bounce{
		MessageID: sesID, Sender: "alice@example.org",
		Recipients: []Recipient{
			{Addr: "jürgen+x@example.com", Status: verdict.StatusPolicy, Diagnostic: "rejected\r\nBcc: evil@example.net\x00 " + strings.Repeat("x", 3000)},
			{Addr: `"bob smith"@example.com`, Status: verdict.StatusNoSuchUser, Diagnostic: "Grüße aus Köln"},
		},
		OriginalHeaders: hdr.Bytes(),
	}
	raw, err := BuildDSN(b, from, now)
	if err != nil {
		t.Fatal(err)
	}
	r := parseDSN(t, raw)
	if r.perMessage.Get("Reporting-MTA") != "dns; mail.example.com" {
		t.Errorf("Reporting-MTA %q, want the bounce sender's domain", r.perMessage.Get("Reporting-MTA"))
	}
	if r.perMessage.Get("Arrival-Date") != "" {
		t.Error("Arrival-Date without an arrival time")
	}
	if got := r.recipients[0].Get("Final-Recipient"); got != `utf-8; j\x{FC}rgen\x{2B}x@example.com` {
		t.Errorf("Final-Recipient %q", got)
	}
	if got := r.recipients[1].Get("Final-Recipient"); got != `rfc822; "bob smith"@example.com` {
		t.Errorf("Final-Recipient %q", got)
	}
	diag := r.recipients[0].Get("Diagnostic-Code")
	if !strings.HasPrefix(diag, "smtp; 550 5.7.1 rejected Bcc: evil@example.net? xxx") || len(diag) > 998-len("Diagnostic-Code: ") {
		t.Errorf("Diagnostic-Code %.80q… (%d octets)", diag, len(diag))
	}
	if got := r.recipients[1].Get("Diagnostic-Code"); got != "smtp; 550 5.1.1 Gr??e aus K?ln" {
		t.Errorf("Diagnostic-Code %q", got)
	}
	if r.header.Get("Bcc") != "" || r.header.Get("In-Reply-To") != "<a@b>" {
		t.Errorf("headers: Bcc %q In-Reply-To %q", r.header.Get("Bcc"), r.header.Get("In-Reply-To"))
	}
	if len(r.original) > MaxOriginalHeaders || len(r.original) < MaxOriginalHeaders-200 {
		t.Errorf("original headers: %d octets, want just under %d", len(r.original), MaxOriginalHeaders)
	}
	if !strings.HasSuffix(r.original, "\r\n") || !strings.Contains(r.original, "X-Unicode: Grüße\r\n") {
		t.Error("original headers not cut at a line boundary or not decoded")
	}
}

// FuzzBuildDSN: whatever the original's headers and the diagnostic, BuildDSN either refuses
// or returns a report that parses and keeps the line rules.
func FuzzBuildDSN(f *testing.F) {
	f.Add(original(f), "550 5.1.1 no", "bob@example.com")
	f.Add([]byte("Auto-Submitted: auto-generated\r\n\r\n"), "", "x@y")
	f.Add([]byte("a\n b\n\n"), "\r\n", `"a b"@c`)
	f.Add([]byte("0:\r0"), "", "0@0") // a bare CR inside a header line
	f.Fuzz(func(t *testing.T, headers []byte, diag, rcpt string) {
		b := Bounce{MessageID: sesID, Sender: "alice@example.org", OriginalHeaders: headers,
			Recipients: []Recipient{{Addr: rcpt, Status: verdict.StatusNoSuchUser, Diagnostic: diag}}}
		raw, err := BuildDSN(b, from, now)
		if err != nil {
			return
		}
		r := parseDSN(t, raw)
		if len(r.recipients) != 1 || r.recipients[0].Get("Status") != "5.1.1" {
			t.Fatalf("recipient groups %v", r.recipients)
		}
	})
}
