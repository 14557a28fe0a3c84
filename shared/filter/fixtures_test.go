package filter

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/archive/archivetest"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/verdict"
)

var update = flag.Bool("update", false, "rewrite the .eml fixtures under testdata/")

// fixture is a message built for the whole path: parse, then evaluate with the defaults.
type fixture struct {
	name   string // testdata/<name>.eml
	build  func() []byte
	action verdict.Action
	code   verdict.Code // a reason the trail must hold; "" for clean mail
}

func mail() *messagetest.Builder {
	return messagetest.New().From("carol@sender.example").To("alice@example.com").
		Received("198.51.100.23").Subject("Documents").Text("Please find the files attached.")
}

var pe = append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 120)...)

func fixtures() []fixture {
	return []fixture{
		{"clean", func() []byte { return mail().Bytes() }, verdict.Deliver, ""},
		{"nested-19", func() []byte {
			return mail().Attach("n19.zip", "application/zip", archivetest.Nested(19, "a.txt", []byte("hello"))).Bytes()
		}, verdict.Deliver, ""},
		{"nested-20", func() []byte {
			return mail().Attach("n20.zip", "application/zip", archivetest.Nested(20, "a.txt", []byte("hello"))).Bytes()
		}, verdict.Deliver, ""},
		{"nested-21", func() []byte {
			return mail().Attach("n21.zip", "application/zip", archivetest.Nested(21, "a.txt", []byte("hello"))).Bytes()
		}, verdict.Quarantine, verdict.ArchiveDepth},
		{"zip-bomb", func() []byte {
			return mail().Attach("bomb.zip", "application/zip", archivetest.Bomb(100<<20)).Bytes()
		}, verdict.Quarantine, verdict.ArchiveRatio}, // the ratio limit stops it before 60 MB are inflated
		{"password-zip", func() []byte {
			return mail().Attach("secret.zip", "application/zip", archivetest.Encrypted("payroll.xlsx")).Bytes()
		}, verdict.Quarantine, verdict.ArchiveEncrypted},
		{"office-many-parts", func() []byte {
			return mail().Attach("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", archivetest.OOXML(600, false)).Bytes()
		}, verdict.Deliver, ""},
		{"exe-disguised", func() []byte {
			return mail().Attach("invoice.pdf", "application/pdf", pe).Bytes()
		}, verdict.Quarantine, verdict.Executable},
		{"exe-in-targz", func() []byte {
			return mail().Attach("logs.tar.gz", "application/gzip", archivetest.TarGz(map[string][]byte{"readme.txt": []byte("hi"), "bin/setup.exe": pe})).Bytes()
		}, verdict.Quarantine, verdict.Executable},
		{"broken-mime", func() []byte {
			return []byte("From: carol@sender.example\r\nTo: alice@example.com\r\nSubject: broken\r\n" +
				"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--nowhere\r\nContent-Type: text/plain\r\n\r\nno boundary parameter\r\n")
		}, verdict.Deliver, ""},
		{"8bit-headers", func() []byte {
			return []byte("From: J\xfcrgen M\xfcller <juergen@sender.example>\r\nTo: alice@example.com\r\nSubject: Gr\xfc\xdfe aus M\xfcnchen\r\n\r\nHallo\r\n")
		}, verdict.Deliver, ""},
	}
}

func TestFixtures(t *testing.T) {
	pol := compile(t, "domains:\n  example.com: {}\n")
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			raw := f.build()
			path := filepath.Join("testdata", f.name+".eml")
			if *update {
				if err := os.WriteFile(path, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if stored, err := os.ReadFile(path); err != nil || !bytes.Equal(stored, raw) {
				t.Errorf("%s is missing or stale: run go test ./shared/filter -run TestFixtures -update", path)
			}
			v := evaluateRaw(t, pol, raw, "alice@example.com")
			if v.Action != f.action || (f.code != "" && !v.Has(f.code)) {
				t.Errorf("action %s, reasons %+v; want %s with %q", v.Action, v.Reasons, f.action, f.code)
			}
		})
	}
}

func evaluateRaw(t *testing.T, pol *policy.Compiled, raw []byte, rcpt string) verdict.Verdict {
	t.Helper()
	m, err := message.Parse(bytes.NewReader(raw), ParseOptions(pol, []string{rcpt}))
	if err != nil {
		t.Fatal(err)
	}
	return Evaluate(pol, Input{Msg: m, Envelope: Envelope{MessageID: "m", Sender: m.From.Addr, Recipients: []string{rcpt}}})[0]
}

// TestLargeMessage filters a 30 MB message (a 29 MB attachment) and checks that the parse
// did not hold copies of it: the heap grows by far less than the message.
func TestLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 30 MB message")
	}
	pol := compile(t, "domains:\n  example.com: {}\n")
	payload := bytes.Repeat([]byte("0123456789abcdef"), 29<<20/16)
	raw := mail().Attach("video.mp4", "video/mp4", payload).Bytes()
	payload = nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := message.Parse(bytes.NewReader(raw), ParseOptions(pol, []string{"alice@example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if m.Size != int64(len(raw)) {
		t.Errorf("size %d, want %d", m.Size, len(raw))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("parsing allocated %d MB for a %d MB message; want < 8 MB (streaming)", grew>>20, len(raw)>>20)
	}
	v := Evaluate(pol, Input{Msg: m, Envelope: Envelope{Recipients: []string{"alice@example.com"}}})[0]
	if v.Action != verdict.Deliver {
		t.Errorf("action %s, reasons %+v", v.Action, v.Reasons)
	}
	if !strings.Contains(m.Parts[len(m.Parts)-1].Filename, "video") {
		t.Errorf("attachment not found: %+v", m.Parts)
	}
}
