// Command spameval measures spam detection on a labelled corpus: k-fold cross-validation of
// the classifier with the heuristics (spam recall, ham false positives, ROC points, the three
// sensitivities) and the throughput of the whole offline evaluation in messages per
// CPU-second.
//
//	go run ./scripts/spameval [--corpus ../shared/corpus/spamassassin] [--folds 10] [--json]
//
// The corpus directory holds spam/ and ham/, one raw message per file.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "spameval: %v\n", err)
		os.Exit(1)
	}
}

type report struct {
	Spam, Ham     int                 `json:"-"`
	Folds         int                 `json:"folds"`
	Sensitivities []classify.ROCPoint `json:"sensitivities"`
	ROC           []classify.ROCPoint `json:"roc"`
	MsgsPerCPUSec float64             `json:"messagesPerCPUSecond"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("spameval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("corpus", "../shared/corpus/spamassassin", "corpus directory with spam/ and ham/")
	folds := fs.Int("folds", 10, "cross-validation folds (at least 2)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *folds < 2 {
		return fmt.Errorf("--folds %d: must be at least 2", *folds)
	}
	fmt.Fprintf(stderr, "reading %s ...\n", *dir)
	spam, err := classify.ReadDir(filepath.Join(*dir, "spam"), true, heuristic.Context{})
	if err != nil {
		return err
	}
	ham, err := classify.ReadDir(filepath.Join(*dir, "ham"), false, heuristic.Context{})
	if err != nil {
		return err
	}
	if len(spam) == 0 || len(ham) == 0 {
		return errors.New("the corpus needs messages in both spam/ and ham/")
	}
	samples := append(spam, ham...)
	fmt.Fprintf(stderr, "%d spam, %d ham; %d-fold cross-validation ...\n", len(spam), len(ham), *folds)
	scores := classify.CrossValidate(samples, *folds)
	rep := report{Spam: len(spam), Ham: len(ham), Folds: *folds}
	rep.Sensitivities = classify.SensitivityPoints(samples, scores)
	rep.ROC = classify.ROC(samples, scores, []float64{30, 50, 60, 70, 80, 90, 95, 95.2, 97, 99, 99.5, 99.9, 100, 110, 120})

	fmt.Fprintln(stderr, "measuring throughput (parse + classify, model trained on the whole corpus) ...")
	rate, err := throughput(*dir, classify.Train(samples))
	if err != nil {
		return err
	}
	rep.MsgsPerCPUSec = rate

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "corpus: %d spam, %d ham; %d-fold cross-validation\n\n", rep.Spam, rep.Ham, rep.Folds)
	fmt.Fprintln(stdout, "sensitivity  threshold  spam recall  missed  ham FP rate  false positives")
	for _, p := range rep.Sensitivities {
		fmt.Fprintf(stdout, "%-11s  %9.1f  %10.2f%%  %6d  %10.2f%%  %15d\n", p.Sensitivity, p.Threshold, 100*p.Recall, p.Missed, 100*p.FPRate, p.FalsePos)
	}
	fmt.Fprintln(stdout, "\nROC points (threshold: recall / false-positive rate)")
	for _, p := range rep.ROC {
		fmt.Fprintf(stdout, "  %6.1f: %6.2f%% / %5.2f%%\n", p.Threshold, 100*p.Recall, 100*p.FPRate)
	}
	fmt.Fprintf(stdout, "\nthroughput: %.0f messages per CPU-second (parse, heuristics, tokens, classifier)\n", rep.MsgsPerCPUSec)
	return nil
}

// throughput parses and classifies every corpus message three times and returns messages per
// CPU-second of this process.
func throughput(dir string, model *classify.Model) (float64, error) {
	var msgs [][]byte
	for _, sub := range []string{"spam", "ham"} {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*"))
		if err != nil {
			return 0, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return 0, err
			}
			msgs = append(msgs, b)
		}
	}
	ctx := heuristic.Context{Domains: []string{"example.com"}, Executives: []string{"Jane Doe"}}
	cpu0 := cpuTime()
	n := 0
	for range 3 {
		for _, raw := range msgs {
			m, err := message.Parse(bytes.NewReader(raw), message.Options{})
			if err != nil {
				return 0, err
			}
			classify.Classify(model, classify.Input{Msg: m, Context: ctx})
			n++
		}
	}
	cpu := cpuTime() - cpu0
	if cpu <= 0 {
		return 0, errors.New("cannot measure CPU time on this system")
	}
	return float64(n) / cpu.Seconds(), nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
