package filter

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/moatmail/moat/shared/message"
)

// corpus loads the SpamAssassin public corpus beside the repository, or skips.
func corpus(tb testing.TB) [][]byte {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "spamassassin")
	var msgs [][]byte
	for _, sub := range []string{"spam", "ham"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			msgs = append(msgs, data)
		}
	}
	if len(msgs) == 0 {
		tb.Skipf("corpus not found at %s: the benchmark needs ../shared/corpus beside the repository", dir)
	}
	return msgs
}

// BenchmarkCorpus runs the offline filter path (parse, then evaluate for one recipient) over
// the corpus: one op is one message. msgs/s is per CPU when run with -cpu 1.
func BenchmarkCorpus(b *testing.B) {
	msgs := corpus(b)
	pol := compile(b, testPolicy)
	rcpts := []string{"alice@example.com"}
	opts := ParseOptions(pol, rcpts)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		raw := msgs[i%len(msgs)]
		m, err := message.Parse(bytes.NewReader(raw), opts)
		if err != nil {
			b.Fatal(err)
		}
		Evaluate(pol, Input{Msg: m, Envelope: Envelope{MessageID: "m", Sender: m.From.Addr, Recipients: rcpts}})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestCorpusEvaluates runs every corpus message through the filter: none may be unscannable
// and, with the test policy and no SES verdicts, the only intercepts are attachments.
func TestCorpusEvaluates(t *testing.T) {
	msgs := corpus(t)
	pol := compile(t, testPolicy)
	rcpts := []string{"alice@example.com"}
	counts := map[string]int{}
	for _, raw := range msgs {
		m, err := message.Parse(bytes.NewReader(raw), ParseOptions(pol, rcpts))
		if err != nil {
			t.Fatal(err)
		}
		v := Evaluate(pol, Input{Msg: m, Envelope: Envelope{Sender: m.From.Addr, Recipients: rcpts}})[0]
		counts[string(v.Action)]++
		if m.Unscannable != "" {
			t.Errorf("a corpus message is unscannable: %s", m.Unscannable)
		}
	}
	t.Logf("%d messages: %v", len(msgs), counts)
	if counts["deliver"] < len(msgs)*9/10 {
		t.Errorf("only %d of %d corpus messages delivered with no SES verdicts: %v", counts["deliver"], len(msgs), counts)
	}
}
