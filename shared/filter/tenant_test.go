package filter

import (
	"testing"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/verdict"
)

// invertedModel is spamModel with the labels swapped: prizes are wanted, meetings are spam.
func invertedModel(t testing.TB) *classify.Model {
	m := classify.NewModel()
	for range 10 {
		s := parsed(t, messagetest.New().From("promo@offers.example").Subject("Claim your free prize now").
			Text("Winner! Claim your free prize, cheap offer, act now, limited time, click here."))
		h := parsed(t, messagetest.New().From("colleague@partner.example").Subject("Meeting notes").
			Text("Hi, the notes from the meeting are attached; the review moves to Thursday."))
		toks, _ := classify.Analyze(s, &heuristic.Context{}, nil)
		m.Learn(toks, false)
		toks, _ = classify.Analyze(h, &heuristic.Context{}, nil)
		m.Learn(toks, true)
	}
	return m
}

// TestModelPerDomain: each recipient is scored with its domain's model; domains without one
// use the default model.
func TestModelPerDomain(t *testing.T) {
	p := compile(t, spamPolicy)
	spam := messagetest.New().From("promo@offers.example").Subject("Your free prize").
		Text("Claim your free prize now, winner, limited offer, click here.")
	in := Input{Msg: parsed(t, spam), Envelope: Envelope{Recipients: []string{"a@example.com", "b@Tagged.example", "c@gone.example"}},
		SES: SES{Spam: Gray}, Facts: Facts{Model: spamModel(t), Models: map[string]*classify.Model{"tagged.example": invertedModel(t)}}}
	vs := Evaluate(p, in)
	if vs[0].Action != verdict.Quarantine || !vs[0].Has(verdict.Spam) {
		t.Errorf("example.com (default model): %s %+v, want quarantined as spam", vs[0].Action, vs[0].Reasons)
	}
	if vs[1].Action != verdict.Deliver || vs[1].Has(verdict.Spam) {
		t.Errorf("tagged.example (its own model, prizes wanted): %s %+v, want delivered", vs[1].Action, vs[1].Reasons)
	}
	if vs[2].Action != verdict.Delete {
		t.Errorf("gone.example (default model): %s %+v, want deleted as spam", vs[2].Action, vs[2].Reasons)
	}
	if f := in.Facts; f.ModelFor("TAGGED.example") != f.Models["tagged.example"] || f.ModelFor("other.example") != f.Model {
		t.Error("ModelFor: want the domain's own model, else the default")
	}
}
