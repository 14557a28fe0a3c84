package classify

import (
	"io"
	"os"
	"path/filepath"

	"strings"

	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
)

// Sample is one labelled message prepared for training and evaluation.
type Sample struct {
	Name   string   // file name, for reports
	Spam   bool     // the label
	Tokens []uint32 // from Tokens
	// Points are the score's parts that do not come from the classifier: heuristics (and the
	// SES verdict, when known).
	Points      float64
	PhishPoints float64
	// Unscannable is set when the message could not be parsed well enough to learn from
	// (message.Message.Unscannable).
	Unscannable bool
}

// Prepare parses and tokenizes one message and runs the heuristics on it. The envelope
// sender, which a file does not carry, is taken from the Return-Path field when there is one.
func Prepare(r io.Reader, spam bool, ctx heuristic.Context) (Sample, error) {
	m, err := message.Parse(r, message.Options{})
	if err != nil {
		return Sample{}, err
	}
	if ctx.Sender == "" {
		ctx.Sender = returnPath(m)
	}
	toks, hits := Analyze(m, &ctx, nil)
	s := Sample{Spam: spam, Tokens: toks, Unscannable: m.Unscannable != ""}
	res := score(nil, toks, hits, false)
	s.Points, s.PhishPoints = res.Score, res.PhishPoints
	return s, nil
}

// returnPath is the address of the Return-Path field the final MTA writes from MAIL FROM.
func returnPath(m *message.Message) string {
	v := strings.TrimSpace(m.Header.Get("Return-Path"))
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	return v
}

// ReadDir prepares every regular file in dir (not recursing), in name order.
func ReadDir(dir string, spam bool, ctx heuristic.Context) ([]Sample, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Sample
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		s, err := Prepare(f, spam, ctx)
		f.Close()
		if err != nil {
			return nil, err
		}
		s.Name = e.Name()
		out = append(out, s)
	}
	return out, nil
}

// Train learns every sample into a new model.
func Train(samples []Sample) *Model {
	m := NewModel()
	for i := range samples {
		m.Learn(samples[i].Tokens, samples[i].Spam)
	}
	return m
}

// CrossValidate scores every sample with a model trained on the other folds (k-fold
// cross-validation; sample i is in fold i mod k within its class, so folds are stratified)
// and returns the scores in sample order.
func CrossValidate(samples []Sample, k int) []float64 {
	full := Train(samples)
	fold := make([]int, len(samples))
	var ns, nh int
	for i := range samples {
		if samples[i].Spam {
			fold[i] = ns % k
			ns++
		} else {
			fold[i] = nh % k
			nh++
		}
	}
	scores := make([]float64, len(samples))
	for f := range k {
		m := full.clone()
		for i := range samples {
			if fold[i] == f {
				m.Forget(samples[i].Tokens, samples[i].Spam)
			}
		}
		for i := range samples {
			if fold[i] == f {
				scores[i] = round(round(100*m.Prob(samples[i].Tokens)) + samples[i].Points)
			}
		}
	}
	return scores
}

func (m *Model) clone() *Model {
	c := &Model{Spam: m.Spam, Ham: m.Ham, counts: make(map[uint32]counts, len(m.counts))}
	for k, v := range m.counts {
		c.counts[k] = v
	}
	return c
}

// ROCPoint is the outcome at one threshold.
type ROCPoint struct {
	Threshold   float64 `json:"threshold"`
	Recall      float64 `json:"recall"`         // share of spam caught
	FPRate      float64 `json:"falsePositives"` // share of ham caught
	Missed      int     `json:"missedSpam"`
	FalsePos    int     `json:"falsePositiveHam"`
	Spam, Ham   int     `json:"-"`
	Sensitivity string  `json:"sensitivity,omitempty"`
}

// ROC returns the outcome at each threshold.
func ROC(samples []Sample, scores []float64, thresholds []float64) []ROCPoint {
	var out []ROCPoint
	for _, t := range thresholds {
		p := ROCPoint{Threshold: t}
		for i := range samples {
			caught := scores[i] >= t
			if samples[i].Spam {
				p.Spam++
				if !caught {
					p.Missed++
				}
			} else {
				p.Ham++
				if caught {
					p.FalsePos++
				}
			}
		}
		if p.Spam > 0 {
			p.Recall = float64(p.Spam-p.Missed) / float64(p.Spam)
		}
		if p.Ham > 0 {
			p.FPRate = float64(p.FalsePos) / float64(p.Ham)
		}
		for s, st := range Thresholds {
			if st == t {
				p.Sensitivity = s
			}
		}
		out = append(out, p)
	}
	return out
}

// SensitivityPoints returns the ROC points of the three sensitivities, low to high.
func SensitivityPoints(samples []Sample, scores []float64) []ROCPoint {
	ts := []float64{Thresholds["low"], Thresholds["medium"], Thresholds["high"]}
	return ROC(samples, scores, ts)
}
