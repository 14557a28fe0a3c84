package filter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/verdict"
)

// Classify scores in.Msg for step 6 with in.Facts.Model (ClassifyWith).
func Classify(p *policy.Compiled, in Input) classify.Result {
	return ClassifyWith(p, in, in.Facts.Model)
}

// ModelFor returns the spam model of a recipient domain: its own in Models, else Model.
func (f Facts) ModelFor(domain string) *classify.Model {
	if m, ok := f.Models[strings.ToLower(domain)]; ok {
		return m
	}
	return f.Model
}

// ClassifyWith scores in.Msg for step 6 with model m: the protected domains are the
// policy's, the executives those of the recipients' domains, the envelope sender, SES's spam
// verdict and the URI block list listings the input's. The score does not depend on the recipient; the threshold does.
func ClassifyWith(p *policy.Compiled, in Input, m *classify.Model) classify.Result {
	ctx := heuristic.Context{Domains: p.Domains(), Sender: in.Envelope.Sender, ListedDomains: in.Facts.URIListings}
	seen := map[string]bool{}
	for _, r := range in.Envelope.Recipients {
		if d := domainOf(r); !seen[d] {
			seen[d] = true
			ctx.Executives = append(ctx.Executives, p.Executives(d)...)
		}
	}
	return classify.Classify(m, classify.Input{Msg: in.Msg, Context: ctx, SESSpam: in.SES.Spam == Fail})
}

// spamScore applies the spam action when the message's score with the recipient domain's
// model reaches the threshold of its sensitivity; the reason is phish when phishing checks
// weighed enough. The message is classified once per distinct model among its recipients.
func (ev *evaluation) spamScore(s *state) {
	m := ev.in.Facts.ModelFor(domainOf(s.v.Recipient))
	cls, ok := ev.cls[m]
	if !ok {
		r := ClassifyWith(ev.p, ev.in, m)
		cls = &r
		if ev.cls == nil {
			ev.cls = map[*classify.Model]*classify.Result{}
		}
		ev.cls[m] = cls
	}
	th, err := classify.Threshold(s.eff.Sensitivity)
	if err != nil {
		th, _ = classify.Threshold("") // policy validation admits only known sensitivities
	}
	if !cls.Spam(th) {
		return
	}
	code := verdict.Spam
	if cls.Phish(th) {
		code = verdict.Phish
	}
	s.apply(s.eff.SpamAction, verdict.Permanent, code, scoreDetail(cls, th, s.eff.Sensitivity))
}

// scoreDetail says "score 130 ≥ 95.2 (medium): ses-spam 100, bayes 30 (p=0.3012)", the
// reasons with points, strongest first.
func scoreDetail(r *classify.Result, th float64, sensitivity string) string {
	rs := slices.Clone(r.Reasons)
	slices.SortStableFunc(rs, func(a, b classify.Reason) int {
		switch {
		case a.Points > b.Points:
			return -1
		case a.Points < b.Points:
			return 1
		}
		return 0
	})
	var parts []string
	for _, x := range rs {
		if x.Points <= 0 {
			continue
		}
		p := fmt.Sprintf("%s %g", x.Code, x.Points)
		if x.Detail != "" {
			p += " (" + x.Detail + ")"
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("score %g ≥ %g (%s): %s", r.Score, th, sensitivity, strings.Join(parts, ", "))
}
