package message_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/archive/archivetest"
	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

// base64Lines streams the base64 encoding (76-column CRLF lines) of n pseudo-random bytes,
// so a large attachment never sits in memory.
type base64Lines struct {
	n    int64 // bytes left to encode
	x    uint64
	line []byte
	off  int
}

func (g *base64Lines) Read(b []byte) (int, error) {
	if g.off == len(g.line) {
		if g.n == 0 {
			return 0, io.EOF
		}
		var raw [57]byte
		k := int64(len(raw))
		if g.n < k {
			k = g.n
		}
		for i := range raw[:k] {
			g.x ^= g.x << 13
			g.x ^= g.x >> 7
			g.x ^= g.x << 17
			raw[i] = byte(g.x)
		}
		g.n -= k
		g.line = base64.StdEncoding.AppendEncode(g.line[:0], raw[:k])
		g.line = append(g.line, '\r', '\n')
		g.off = 0
	}
	n := copy(b, g.line[g.off:])
	g.off += n
	return n, nil
}

// countReader counts what passes through.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func TestParseLargeMessageBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("30 MB message")
	}
	const decoded = 22_000_000 // 29.3 MB of base64, 29.7 MB with line breaks
	head := "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n" +
		"--big\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--big\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n"
	tail := "--big--\r\n"
	in := &countReader{r: io.MultiReader(strings.NewReader(head), &base64Lines{n: decoded, x: 88172645463325252}, strings.NewReader(tail))}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := message.Parse(in, message.Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}

	if in.n < 30_000_000 {
		t.Fatalf("generated %d bytes, want a 30 MB message", in.n)
	}
	if m.Size != in.n {
		t.Errorf("Size = %d, want %d", m.Size, in.n)
	}
	if len(m.Parts) != 2 || m.Parts[1].Size != decoded || m.Parts[1].Filename != "big.bin" {
		t.Errorf("Parts = %+v, want the attachment's %d decoded bytes counted", m.Parts, decoded)
	}
	if m.Unscannable != "" || len(m.Defects) > 0 {
		t.Errorf("Unscannable = %q, Defects = %q", m.Unscannable, m.Defects)
	}
	// Streaming: the whole parse allocates a few buffers, not the message.
	const bound = 4 << 20
	total := after.TotalAlloc - before.TotalAlloc
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d-byte message: TotalAlloc grew %d bytes, HeapAlloc %d bytes", in.n, total, heap)
	if total > bound {
		t.Errorf("TotalAlloc grew %d bytes parsing a %d-byte message, want under %d", total, in.n, bound)
	}
	if heap > bound {
		t.Errorf("HeapAlloc grew %d bytes, want under %d", heap, bound)
	}
}

func TestParseHeaderTooLarge(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("From: alice@example.org\r\nSubject: huge header\r\n")
	for i := 0; b.Len() < 2<<20; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("a", 70))
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nbody\r\n")
	m, err := message.Parse(bytes.NewReader(b.Bytes()), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Unscannable != message.DefectHeaderTooLarge {
		t.Errorf("Unscannable = %q, want %q", m.Unscannable, message.DefectHeaderTooLarge)
	}
	if m.Size != int64(b.Len()) {
		t.Errorf("Size = %d, want %d (the rest is still read)", m.Size, b.Len())
	}
	if m.Subject != "huge header" || m.From.Addr != "alice@example.org" {
		t.Errorf("Subject, From = %q, %q: want the fields before the limit", m.Subject, m.From.Addr)
	}
	var kept int
	for _, f := range m.Header {
		kept += len(f.Name) + len(f.Value)
	}
	if kept > message.DefaultMaxHeaderBytes {
		t.Errorf("kept %d header bytes, want at most %d", kept, message.DefaultMaxHeaderBytes)
	}
}

// nested builds a message of depth nested multiparts around one text part.
func nested(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.org\r\nSubject: deep\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ninnermost\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

func TestParseMIMEDepth(t *testing.T) {
	tests := []struct {
		depth       int
		unscannable string
		parts       int
	}{
		{depth: 3, parts: 1},
		{depth: message.DefaultMaxMIMEDepth, parts: 1},
		{depth: message.DefaultMaxMIMEDepth + 1, unscannable: message.DefectMIMEDepth},
		{depth: 60, unscannable: message.DefectMIMEDepth},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.depth), func(t *testing.T) {
			raw := nested(tt.depth)
			m, err := message.Parse(bytes.NewReader(raw), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Unscannable != tt.unscannable {
				t.Errorf("Unscannable = %q, want %q", m.Unscannable, tt.unscannable)
			}
			if len(m.Parts) != tt.parts {
				t.Fatalf("Parts = %+v, want %d", m.Parts, tt.parts)
			}
			if tt.parts > 0 && (m.Parts[0].Depth != tt.depth || m.Text != "innermost") {
				t.Errorf("Depth, Text = %d, %q; want %d, innermost", m.Parts[0].Depth, m.Text, tt.depth)
			}
			if m.Size != int64(len(raw)) {
				t.Errorf("Size = %d, want %d", m.Size, len(raw))
			}
		})
	}
}

func TestParseClientIP(t *testing.T) {
	ses := func(helo, rdns, lit string) string {
		return fmt.Sprintf("from %s (%s [%s])\r\n\tby inbound-smtp.us-east-1.amazonaws.com with SMTP id 0abc\r\n\tfor <bob@example.com>; Thu, 01 Jan 2026 00:00:00 +0000", helo, rdns, lit)
	}
	tests := []struct {
		name     string
		received []string // topmost first
		want     string   // "" for invalid
	}{
		{"ipv4", []string{ses("mail.example.org", "mail.example.org", "198.51.100.7")}, "198.51.100.7"},
		{"ipv6", []string{ses("mail.example.org", "mail.example.org", "2001:db8::1")}, "2001:db8::1"},
		{"ipv6 prefix", []string{ses("mail.example.org", "unknown", "IPv6:2001:db8::2")}, "2001:db8::2"},
		{"ipv4-mapped ipv6", []string{ses("mail.example.org", "unknown", "IPv6:::ffff:192.0.2.1")}, "192.0.2.1"},
		{"forged deeper received ignored", []string{
			ses("mail.example.org", "mail.example.org", "203.0.113.5"),
			"from trusted.example.com (trusted.example.com [10.1.2.3]) by mx.example.com",
		}, "203.0.113.5"},
		{"only a deeper received has an address", []string{
			"by inbound-smtp.us-east-1.amazonaws.com with SMTP id 0abc",
			"from trusted.example.com (trusted.example.com [10.1.2.3]) by mx.example.com",
		}, ""},
		{"helo is an address literal", []string{ses("[10.9.9.9]", "unknown", "198.51.100.9")}, "198.51.100.9"},
		{"no comment", []string{"from [198.51.100.10] by inbound-smtp.us-east-1.amazonaws.com"}, "198.51.100.10"},
		{"bracket not an address", []string{ses("mail.example.org", "mail.example.org", "not-an-ip")}, ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := messagetest.New().From("alice@example.org").To("bob@example.com").Text("hi")
			for _, r := range tt.received {
				b.Header("Received", r)
			}
			m, err := message.Parse(bytes.NewReader(b.Bytes()), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if m.ClientIP != want {
				t.Errorf("ClientIP = %v, want %v", m.ClientIP, want)
			}
		})
	}
}

func TestParseArchiveAttachments(t *testing.T) {
	files := map[string][]byte{"readme.txt": []byte(strings.Repeat("hello ", 100)), "run.exe": []byte("MZ")}
	tests := []struct {
		name string
		data []byte
		typ  filetype.Type // Part.Type
	}{
		{"zip", archivetest.Zip(files), filetype.ZIP},
		{"nested zip", archivetest.Nested(3, "run.exe", []byte("MZ")), filetype.ZIP},
		{"tar.gz", archivetest.TarGz(files), filetype.GZIP},
		{"docx", archivetest.OOXML(2, false), filetype.OOXML},
	}
	opts := message.Options{Archive: archive.Limits{MaxFiles: 50}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := messagetest.New().From("alice@example.org").Text("see attached").
				Attach("files", "application/octet-stream", tt.data).Bytes()
			m, err := message.Parse(bytes.NewReader(raw), opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Parts) != 2 || m.Parts[1].Size != int64(len(tt.data)) || m.Parts[1].Archive == nil {
				t.Fatalf("Parts = %+v, want the attachment with an archive report", m.Parts)
			}
			p := m.Parts[1]
			// The report is archive.Inspect's on exactly the attachment's bytes.
			want := archive.Inspect(tt.data, filetype.Detect(tt.data), opts.Archive)
			if !reflect.DeepEqual(*p.Archive, want) {
				t.Errorf("Archive = %+v, want %+v", *p.Archive, want)
			}
			if tt.typ == filetype.OOXML && want.Format != filetype.OOXML {
				t.Skip("archive.Inspect does not recognise Office documents yet")
			}
			if p.Type != tt.typ {
				t.Errorf("Type = %q, want %q", p.Type, tt.typ)
			}
		})
	}

	t.Run("over MaxArchive", func(t *testing.T) {
		raw := messagetest.New().From("alice@example.org").
			Attach("files.zip", "application/zip", archivetest.Zip(files)).Bytes()
		m, err := message.Parse(bytes.NewReader(raw), message.Options{MaxArchive: 100})
		if err != nil {
			t.Fatal(err)
		}
		a := m.Parts[1].Archive
		if a == nil || a.Format != filetype.ZIP || !slices.Equal(a.Exceeded, []archive.Limit{archive.LimitBytes}) {
			t.Errorf("Archive = %+v, want a zip report with Exceeded [bytes]", a)
		}
	})
}

func TestParseNoHeader(t *testing.T) {
	garbage := make([]byte, 4096)
	x := uint32(2463534242)
	for i := range garbage {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		garbage[i] = byte(x)
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"binary garbage", append([]byte("\x89PNG\r\n\x1a\n"), garbage...)},
		{"empty", nil},
		{"blank first line", []byte("\r\nFrom: alice@example.org\r\n\r\nbody\r\n")},
		{"text without header", []byte("Hello Bob,\r\nhow are you?\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := message.Parse(bytes.NewReader(tt.raw), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Unscannable != message.DefectNoHeader {
				t.Errorf("Unscannable = %q, want %q", m.Unscannable, message.DefectNoHeader)
			}
			if m.Size != int64(len(tt.raw)) {
				t.Errorf("Size = %d, want %d", m.Size, len(tt.raw))
			}
		})
	}
}

func TestParseMboxFromLine(t *testing.T) {
	raw := "From alice@example.org  Thu Aug 22 12:36:23 2002\nFrom: alice@example.org\nSubject: hi\n\nbody\n"
	m, err := message.Parse(strings.NewReader(raw), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Unscannable != "" || len(m.Defects) > 0 || m.Subject != "hi" {
		t.Errorf("Unscannable, Defects, Subject = %q, %q, %q", m.Unscannable, m.Defects, m.Subject)
	}
}

var errBoom = errors.New("boom")

type failingReader struct{ r io.Reader }

func (f failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err == io.EOF {
		return n, errBoom
	}
	return n, err
}

func TestParseReadError(t *testing.T) {
	raw := messagetest.New().From("alice@example.org").Text("hi").Bytes()
	m, err := message.Parse(failingReader{bytes.NewReader(raw)}, message.Options{})
	if !errors.Is(err, errBoom) || m != nil {
		t.Errorf("Parse = %v, %v; want nil and an error wrapping %v", m, err, errBoom)
	}
}

func TestParseTextLimit(t *testing.T) {
	body := strings.Repeat("é", 1000) // two bytes each
	raw := messagetest.New().From("alice@example.org").Text(body).HTML("<p>" + body + "</p>").Bytes()
	m, err := message.Parse(bytes.NewReader(raw), message.Options{MaxTextBytes: 101})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Text) > 101 || len(m.Text) < 99 || !utf8.ValidString(m.Text) {
		t.Errorf("Text = %d bytes (valid UTF-8: %v), want 100 cut on a character", len(m.Text), utf8.ValidString(m.Text))
	}
	if len(m.Parts) != 2 || m.Parts[0].Size != 2000 {
		t.Errorf("Parts = %+v, want both counted in full", m.Parts)
	}
}

func TestParseTooManyParts(t *testing.T) {
	b := messagetest.New().From("alice@example.org").Text("hi")
	for i := range 5 {
		b.Attach(fmt.Sprintf("f%d.txt", i), "text/plain", []byte("x"))
	}
	m, err := message.Parse(bytes.NewReader(b.Bytes()), message.Options{MaxParts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if m.Unscannable != message.DefectTooManyParts || len(m.Parts) != 3 {
		t.Errorf("Unscannable = %q with %d parts, want %q with 3", m.Unscannable, len(m.Parts), message.DefectTooManyParts)
	}
}

func TestParseBodies(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		text    string
		size    int64
		defects []string
	}{
		{
			name: "quoted-printable soft breaks and bad escapes",
			raw:  "From: a@example.org\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak =3D ok, =ZZ kept  \r\nend",
			text: "softbreak = ok, =ZZ kept\nend", size: 29, defects: []string{message.DefectBadQuotedPrintable},
		},
		{
			name: "unknown transfer encoding taken raw",
			raw:  "From: a@example.org\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n",
			text: "begin 644 x\n", size: 13, defects: []string{message.DefectUnknownEncoding},
		},
		{
			name: "base64 missing padding",
			raw:  "From: a@example.org\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ\r\n",
			text: "hello world", size: 11,
		},
		{
			name: "unknown charset",
			raw:  "From: a@example.org\r\nContent-Type: text/plain; charset=x-martian\r\n\r\nabc\xe9\r\n",
			text: "abcé\n", size: 6, defects: []string{message.DefectUnknownCharset},
		},
		{
			name: "windows-1252 body",
			raw:  "From: a@example.org\r\nContent-Type: text/plain; charset=\"Windows-1252\"\r\n\r\n\x93quoted\x94 \x80\r\n",
			text: "“quoted” €\n", size: 12,
		},
		{
			name: "content-type without semicolon",
			raw:  "From: a@example.org\r\nContent-Type: text/plain charset=iso-8859-1\r\n\r\ncaf\xe9",
			text: "café", size: 4,
		},
		{
			name: "unterminated multipart",
			raw:  "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\npart one\r\n",
			text: "part one\n", size: 10, defects: []string{message.DefectUnterminatedMultipart},
		},
		{
			name: "boundary never used",
			raw:  "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--y\r\n\r\nhidden\r\n",
			text: "--y\n\nhidden\n", size: 15, defects: []string{message.DefectMissingBoundary},
		},
		{
			name: "transfer encoding on a multipart ignored",
			raw:  "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=x\r\nContent-Transfer-Encoding: base64\r\n\r\n--x\r\n\r\nplain\r\n--x--\r\n",
			text: "plain", size: 5, defects: []string{message.DefectEncodedContainer},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := message.Parse(strings.NewReader(tt.raw), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != tt.text {
				t.Errorf("Text = %q, want %q", m.Text, tt.text)
			}
			if len(m.Parts) != 1 || m.Parts[0].Size != tt.size {
				t.Errorf("Parts = %+v, want one of %d bytes", m.Parts, tt.size)
			}
			if fmt.Sprint(m.Defects) != fmt.Sprint(tt.defects) {
				t.Errorf("Defects = %q, want %q", m.Defects, tt.defects)
			}
		})
	}
}

// TestParseHostileInputIsLinear feeds 1 MB constructions that a naive scanner handles in
// quadratic time (6 s for the Received one before it was fixed). Each must parse within a
// generous multiple of the time a plain 1 MB message takes, so that the race detector and
// a loaded machine slow both alike.
func TestParseHostileInputIsLinear(t *testing.T) {
	fastest := func(raw string, runs int) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range runs {
			start := time.Now()
			if _, err := message.Parse(strings.NewReader(raw), message.Options{}); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	plain := "From: a@example.org\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 1<<20/78)
	bound := max(200*fastest(plain, 3), 2*time.Second)

	var to strings.Builder
	for to.Len() < 1<<20 {
		fmt.Fprintf(&to, "<<\"N%d\" <u%d@example.com>, ", to.Len(), to.Len())
	}
	tests := map[string]string{
		"received brackets":  "Received: from " + strings.Repeat("[", 1<<20) + "\r\n\r\n",
		"address list":       "From: a@example.org\r\nTo: " + to.String() + "\r\n\r\n",
		"encoded-word marks": "From: a@example.org\r\nSubject: " + strings.Repeat("=?a?", 1<<18) + "\r\n\r\n",
		"tags never closed":  "From: a@example.org\r\nContent-Type: text/html\r\n\r\n" + strings.Repeat("<a<a='", 1<<18),
		"script never ended": "From: a@example.org\r\nContent-Type: text/html\r\n\r\n" + strings.Repeat("<script></scrip", 1<<16),
		"many fields":        "From: a@example.org\r\n" + strings.Repeat("a:\r\n", 1<<18) + "\r\n",
		"rfc 2231 sections":  "From: a@example.org\r\nContent-Type: text/plain; " + strings.Repeat("name*9=a;", 1<<16) + "\r\n\r\n",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			if d := fastest(raw, 2); d > bound {
				t.Errorf("took %v for %d bytes, want under %v", d, len(raw), bound)
			}
		})
	}
}

// A junk line in a part's header must not hide that part, or the ones after it, from the scan
// (mime/multipart stops at such a line).
func TestParseJunkPartHeaderDoesNotHideAttachment(t *testing.T) {
	raw := "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b\r\nX-Junk no colon\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=evil.exe\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"TVqQAAMAAAAEAAAA//8AAA==\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=second.exe\r\n\r\nMZ\r\n--b--\r\n"
	m, err := message.Parse(strings.NewReader(raw), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m.Parts {
		names = append(names, p.Filename)
	}
	if !slices.Equal(names, []string{"", "evil.exe", "second.exe"}) {
		t.Errorf("filenames = %q, want both executables found", names)
	}
	if m.Parts[1].Type != filetype.PE || m.Parts[1].Size != 16 {
		t.Errorf("evil.exe = %+v, want 16 bytes of type pe", m.Parts[1])
	}
	if !slices.Contains(m.Defects, message.DefectHeaderNoColon) {
		t.Errorf("Defects = %q, want %q", m.Defects, message.DefectHeaderNoColon)
	}
}

// A file labelled message/rfc822 is scanned as the file it is, not parsed as a message.
func TestParseFileLabelledAsMessage(t *testing.T) {
	zipped := archivetest.Zip(map[string][]byte{"run.exe": []byte("MZ")})
	for _, cte := range []string{"base64", "binary"} {
		t.Run(cte, func(t *testing.T) {
			content := string(zipped)
			if cte == "base64" {
				content = base64.StdEncoding.EncodeToString(zipped)
			}
			raw := "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: message/rfc822; name=invoice.zip\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" +
				content + "\r\n--b--\r\n"
			m, err := message.Parse(strings.NewReader(raw), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Parts) != 1 {
				t.Fatalf("Parts = %+v, want the zip", m.Parts)
			}
			p := m.Parts[0]
			if p.ContentType != "message/rfc822" || p.Filename != "invoice.zip" || p.Type != filetype.ZIP || p.Archive == nil || p.Size != int64(len(zipped)) {
				t.Errorf("Part = %+v, want the %d-byte zip with an archive report", p, len(zipped))
			}
			if !slices.Contains(m.Defects, message.DefectNotMessage) || m.Unscannable != "" {
				t.Errorf("Defects = %q, Unscannable = %q; want %q", m.Defects, m.Unscannable, message.DefectNotMessage)
			}
		})
	}
}
