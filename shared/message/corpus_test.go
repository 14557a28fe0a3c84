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

// BenchmarkParseCorpus parses the corpus one message per iteration, so ns/op, B/op and
// allocs/op are per message.
func BenchmarkParseCorpus(b *testing.B) {
	msgs := loadCorpus(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := message.Parse(bytes.NewReader(msgs[n%len(msgs)]), message.Options{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
