package message_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/moatmail/moat/shared/message"
)

// corpusDir is the SpamAssassin corpus beside the repository (../shared/corpus from the repo
// root; tests run in shared/message).
const corpusDir = "../../../shared/corpus/spamassassin"

// loadCorpus reads every spam and ham message into memory, or skips the test.
func loadCorpus(tb testing.TB) [][]byte {
	tb.Helper()
	var msgs [][]byte
	for _, dir := range []string{"spam", "ham"} {
		files, err := filepath.Glob(filepath.Join(corpusDir, dir, "*"))
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			msgs = append(msgs, b)
		}
	}
	if len(msgs) == 0 {
		tb.Skipf("corpus not found at %s (../shared/corpus beside the repository)", corpusDir)
	}
	return msgs
}

// TestParseCorpus parses all 6,046 SpamAssassin messages: none may be unscannable, and From
// must parse for all but a handful (5 spams have no usable From: "" <>, an empty field, or
// domain literals like zvfjenphuq@[1086695621]).
func TestParseCorpus(t *testing.T) {
	msgs := loadCorpus(t)
	defects := map[string]int{}
	fromOK := 0
	for i, raw := range msgs {
		m, err := message.Parse(bytes.NewReader(raw), message.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Unscannable != "" {
			t.Errorf("message %d unscannable: %s", i, m.Unscannable)
		}
		if m.Size != int64(len(raw)) {
			t.Errorf("message %d: Size = %d, want %d", i, m.Size, len(raw))
		}
		if m.From.Addr != "" {
			fromOK++
		}
		for _, d := range m.Defects {
			defects[d]++
		}
	}
	t.Logf("%d messages, From parsed in %d; messages per defect: %v", len(msgs), fromOK, defects)
	if missing := len(msgs) - fromOK; missing > len(msgs)/500 {
		t.Errorf("From missing in %d of %d messages, want at most 0.2%%", missing, len(msgs))
	}
}

// BenchmarkParseCorpus parses the corpus one message per iteration, so ns/op, B/op and
// allocs/op are per message. msgs/cpu-s counts the process's CPU time (GC included), which
// other load on the machine disturbs less than msgs/s.
func BenchmarkParseCorpus(b *testing.B) {
	msgs := loadCorpus(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if _, err := message.Parse(bytes.NewReader(msgs[n%len(msgs)]), message.Options{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "msgs/cpu-s")
	}
}
