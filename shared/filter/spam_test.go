package filter

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/verdict"
)

const spamPolicy = `
domains:
  example.com:
    executives: [Jane Doe]
  strict.example:
    sensitivity: high
  lax.example:
    sensitivity: low
  tagged.example:
    spamAction: tag
    subjectTag: "[SPAM?]"
  gone.example:
    spamAction: delete
senders:
  - {pattern: "*@friendly.example", list: approved}
`

func parsed(t testing.TB, b *messagetest.Builder) *message.Message {
	t.Helper()
	m, err := message.Parse(bytes.NewReader(b.Bytes()), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// spamModel learns a few messages about prizes as spam and about meetings as ham.
func spamModel(t testing.TB) *classify.Model {
	m := classify.NewModel()
	for range 10 {
		s := parsed(t, messagetest.New().From("promo@offers.example").Subject("Claim your free prize now").
			Text("Winner! Claim your free prize, cheap offer, act now, limited time, click here."))
		h := parsed(t, messagetest.New().From("colleague@partner.example").Subject("Meeting notes").
			Text("Hi, the notes from the meeting are attached; the review moves to Thursday."))
		toks, _ := classify.Analyze(s, &heuristic.Context{}, nil)
		m.Learn(toks, true)
		toks, _ = classify.Analyze(h, &heuristic.Context{}, nil)
		m.Learn(toks, false)
	}
	return m
}

func TestSpamStep(t *testing.T) {
	p := compile(t, spamPolicy)
	model := spamModel(t)
	spam := messagetest.New().From("promo@offers.example").Subject("Your free prize").
		Text("Claim your free prize now, winner, limited offer, click here.")
	ham := messagetest.New().From("colleague@partner.example").Subject("Notes").
		Text("The meeting notes: the review moves to Thursday.")
	// 90 points of phishing checks and no classifier: caught at high sensitivity only.
	phishy := messagetest.New().From("it@helpdesk.example").Subject("Mailbox full").Text("").
		HTML(`<p>Sign in: <a href="http://192.0.2.4/l">https://mail.example.com/login</a></p><form action="http://192.0.2.4/p"><input type=password></form>`)
	ceo := messagetest.New().From("Jane Doe <jane.doe.office@freemail.example>").Subject("Wire today").
		Text("I need a wire transfer done today, keep it confidential.").
		HTML(`<a href="http://192.0.2.4/l">https://bank.example.com/</a><form><input type=password></form>`)

	tests := []struct {
		name   string
		msg    *messagetest.Builder
		rcpt   string
		model  *classify.Model
		ses    string
		action verdict.Action
		code   verdict.Code
	}{
		{"spam quarantined", spam, "a@example.com", model, Gray, verdict.Quarantine, verdict.Spam},
		{"ham delivered", ham, "a@example.com", model, Gray, verdict.Deliver, ""},
		{"spam tagged", spam, "a@tagged.example", model, Gray, verdict.Tag, verdict.Spam},
		{"spam deleted", spam, "a@gone.example", model, Gray, verdict.Delete, verdict.Spam},
		{"approved sender skips scoring", messagetest.New().From("promo@friendly.example").Subject("Your free prize").
			Text("Claim your free prize now, winner, limited offer, click here."), "a@example.com", model, Gray, verdict.Deliver, verdict.SenderApproved},
		{"SES verdict alone", ham, "a@lax.example", nil, Fail, verdict.Quarantine, verdict.Spam},
		{"phishing checks at high", phishy, "a@strict.example", nil, Gray, verdict.Quarantine, verdict.Phish},
		{"phishing checks at medium", phishy, "a@example.com", nil, Gray, verdict.Deliver, ""},
		{"executive impersonated", ceo, "a@example.com", nil, Gray, verdict.Quarantine, verdict.Phish},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Msg: parsed(t, tt.msg), Envelope: Envelope{Recipients: []string{tt.rcpt}},
				SES: SES{Spam: tt.ses}, Facts: Facts{Model: tt.model}}
			v := Evaluate(p, in)[0]
			if v.Action != tt.action {
				t.Errorf("action %s, want %s (reasons %+v)", v.Action, tt.action, v.Reasons)
			}
			if tt.code != "" && !v.Has(tt.code) {
				t.Errorf("reasons %+v, want %s", v.Reasons, tt.code)
			}
			if tt.code == "" && (v.Has(verdict.Spam) || v.Has(verdict.Phish)) {
				t.Errorf("reasons %+v, want no spam or phish", v.Reasons)
			}
			if tt.action == verdict.Tag && v.SubjectTag != "[SPAM?]" {
				t.Errorf("subject tag %q, want [SPAM?]", v.SubjectTag)
			}
		})
	}
}

func TestURIListingsScore(t *testing.T) {
	p := compile(t, spamPolicy)
	m := parsed(t, messagetest.New().From("a@b.example").Subject("x").Text("log in at https://login.bad.example/"))
	in := Input{Msg: m, Envelope: Envelope{Recipients: []string{"a@strict.example"}}}
	if r := Classify(p, in); r.Score != 0 {
		t.Fatalf("unlisted: score %v, want 0", r.Score)
	}
	in.Facts.URIListings = []heuristic.Listing{{Domain: heuristic.LinkDomains(m, 10)[0], Zone: "surbl-multi", Meaning: "SURBL PH: phishing site"}}
	r := Classify(p, in)
	if r.Score != 50 || r.PhishPoints != 50 || r.Reasons[0].Code != heuristic.URIListed {
		t.Errorf("listed: %+v, want 50 phishing points from uri-listed", r)
	}
}

func TestSpamDetail(t *testing.T) {
	p := compile(t, spamPolicy)
	in := Input{Msg: parsed(t, messagetest.New().From("a@b.example").Subject("x").Text("y")),
		Envelope: Envelope{Recipients: []string{"a@example.com"}}, SES: SES{Spam: Fail}}
	v := Evaluate(p, in)[0]
	for _, r := range v.Reasons {
		if r.Code == verdict.Spam {
			if !strings.HasPrefix(r.Detail, "score 100 ≥ 95.2 (medium): ses-spam 100") {
				t.Errorf("detail %q", r.Detail)
			}
			return
		}
	}
	t.Errorf("reasons %+v, want spam", v.Reasons)
}

// BenchmarkCorpusClassified is the whole offline evaluation with step 6's classifier: parse,
// then evaluate for one recipient with a model trained on the whole corpus. One op is one
// message; msgs/cpu-s counts the process's CPU time, GC included.
func BenchmarkCorpusClassified(b *testing.B) {
	msgs := corpus(b)
	spamFiles, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "corpus", "spamassassin", "spam", "*"))
	model := classify.NewModel()
	for i, raw := range msgs {
		m, err := message.Parse(bytes.NewReader(raw), message.Options{})
		if err != nil {
			b.Fatal(err)
		}
		toks, _ := classify.Analyze(m, &heuristic.Context{}, nil)
		model.Learn(toks, i < len(spamFiles)) // corpus returns the spam first
	}
	pol := compile(b, spamPolicy)
	rcpts := []string{"a@example.com"}
	opts := ParseOptions(pol, rcpts)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		m, err := message.Parse(bytes.NewReader(msgs[n%len(msgs)]), opts)
		if err != nil {
			b.Fatal(err)
		}
		Evaluate(pol, Input{Msg: m, Envelope: Envelope{MessageID: "m", Sender: m.From.Addr, Recipients: rcpts}, Facts: Facts{Model: model}})
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "msgs/cpu-s")
	}
}
