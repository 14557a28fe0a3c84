package classify_test

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func corpusFiles(b *testing.B) [][]byte {
	var msgs [][]byte
	for _, dir := range []string{"spam", "ham"} {
		files, _ := filepath.Glob(filepath.Join(corpusDir, dir, "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, data)
		}
	}
	if len(msgs) == 0 {
		b.Skipf("corpus not found at %s", corpusDir)
	}
	return msgs
}

// BenchmarkClassifyCorpus parses and classifies the corpus one message per iteration with a
// model trained on the whole corpus: ns/op is per message; msgs/cpu-s counts CPU time.
func BenchmarkClassifyCorpus(b *testing.B) {
	msgs := corpusFiles(b)
	model := classify.Train(loadCorpus(b))
	ctx := heuristic.Context{Domains: []string{"example.com"}, Executives: []string{"Jane Doe"}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		m, err := message.Parse(bytes.NewReader(msgs[n%len(msgs)]), message.Options{})
		if err != nil {
			b.Fatal(err)
		}
		classify.Classify(model, classify.Input{Msg: m, Context: ctx})
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "msgs/cpu-s")
	}
}
