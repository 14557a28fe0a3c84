// Package classify scores a message as spam or phishing (DESIGN.md §3 step 6): a trainable
// naive Bayes token classifier (Robinson's token estimates, Fisher's chi-squared combining)
// plus the header and content checks of package heuristic and SES's own spam verdict, added
// up into one score with the reasons that made it. The domain's sensitivity chooses the
// threshold.
//
// The score is 100 × the classifier's probability (0 ham … 100 spam) plus the points of each
// heuristic that fired plus SESSpamPoints when SES judged the message spam. A message is
// spam when its score reaches the threshold; it is phishing when, besides, checks that point
// at phishing or malware contributed at least PhishPoints.
//
// The package is pure: no AWS, no network, no clock.
package classify

import (
	"fmt"
	"strconv"

	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
)

// Sensitivity thresholds. Measured by 10-fold cross-validation on the SpamAssassin public
// corpus (see the README): the score a message must reach to be spam.
//   - low: only what is certain: ham is almost never caught, some spam passes.
//   - medium (default): the balance: spam recall ≥ 97% at ≤ 0.3% of ham caught.
//   - high: catches more spam and accepts more ham caught (for domains that get much spam
//     and review their quarantine).
var Thresholds = map[string]float64{
	"low":    99.9,
	"medium": 95.2,
	"high":   70,
}

// Threshold returns the threshold of a sensitivity; "" is medium.
func Threshold(sensitivity string) (float64, error) {
	if sensitivity == "" {
		sensitivity = "medium"
	}
	t, ok := Thresholds[sensitivity]
	if !ok {
		return 0, fmt.Errorf("sensitivity %q: must be low, medium or high", sensitivity)
	}
	return t, nil
}

// Scoring constants.
const (
	// SESSpamPoints are added when SES's spam verdict is FAIL: enough alone at every
	// sensitivity, as SES's verdict was before the classifier.
	SESSpamPoints = 100
	// PhishPoints: phishing and malware checks adding up to this much make spam phishing.
	PhishPoints = 30
)

// Reason codes of the classifier itself; heuristic hits keep their own codes.
const (
	ReasonBayes   = "bayes"
	ReasonSESSpam = "ses-spam"
)

// Input is one message to classify.
type Input struct {
	Msg     *message.Message
	Context heuristic.Context
	SESSpam bool // SES's spam verdict was FAIL
}

// Reason is one contribution to the score.
type Reason struct {
	Code   string  `json:"code"`
	Detail string  `json:"detail,omitempty"`
	Points float64 `json:"points"`
	Phish  bool    `json:"phish,omitempty"`
}

// Result is a message's score with the reasons that made it.
type Result struct {
	Score       float64  `json:"score"`
	Probability float64  `json:"probability"` // the classifier's, 0.5 without a model
	PhishPoints float64  `json:"phishPoints"` // points of checks that point at phishing
	Reasons     []Reason `json:"reasons"`
}

// Spam reports whether the score reaches threshold.
func (r *Result) Spam(threshold float64) bool { return r.Score >= threshold }

// Phish reports whether the message is phishing at threshold: spam, and the phishing checks
// contributed at least PhishPoints.
func (r *Result) Phish(threshold float64) bool {
	return r.Spam(threshold) && r.PhishPoints >= PhishPoints
}

// Classify scores in.Msg with model (nil: heuristics and the SES verdict only).
func Classify(model *Model, in Input) Result {
	if !model.usable() {
		// Without a trained model only the heuristics and SES's verdict count: no tokens.
		return score(nil, nil, heuristic.Check(in.Msg, &in.Context), in.SESSpam)
	}
	toks, hits := Analyze(in.Msg, &in.Context, nil)
	return score(model, toks, hits, in.SESSpam)
}

// usable reports whether the model has learned both classes, so that it can score.
func (m *Model) usable() bool { return m != nil && m.Spam > 0 && m.Ham > 0 }

func score(model *Model, toks []uint32, hits []heuristic.Hit, sesSpam bool) Result {
	var res Result
	res.Probability = 0.5
	if model.usable() {
		res.Probability = model.Prob(toks)
		pts := round(100 * res.Probability)
		res.Score += pts
		res.Reasons = append(res.Reasons, Reason{Code: ReasonBayes, Detail: "p=" + strconv.FormatFloat(res.Probability, 'f', 4, 64), Points: pts})
	}
	if sesSpam {
		res.Score += SESSpamPoints
		res.Reasons = append(res.Reasons, Reason{Code: ReasonSESSpam, Detail: "SES spam verdict FAIL", Points: SESSpamPoints})
	}
	for _, h := range hits {
		res.Score += h.Points
		if h.Phish {
			res.PhishPoints += h.Points
		}
		res.Reasons = append(res.Reasons, Reason(h))
	}
	res.Score = round(res.Score)
	return res
}

func round(f float64) float64 {
	return float64(int64(f*100+0.5)) / 100
}
