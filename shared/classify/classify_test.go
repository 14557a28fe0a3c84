package classify_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

var (
	spamSubjects = []string{"Cheap meds online, no prescription", "You won a FREE vacation", "Lose weight fast guaranteed", "Hot singles waiting for you", "Refinance your mortgage today"}
	spamBodies   = []string{
		"Click here to claim your free prize now! Limited offer, act now, guaranteed winner.",
		"Buy cheap viagra online pharmacy discount no prescription needed order now.",
		"Make money fast from home, guaranteed income, unsubscribe here, limited offer.",
		"Congratulations winner! Claim your free prize, click the link, offer expires.",
	}
	hamSubjects = []string{"Minutes of the project meeting", "Re: build failure on arm64", "Lunch on Thursday?", "Quarterly report draft", "Patch for the parser"}
	hamBodies   = []string{
		"Hi team, attached are the minutes of yesterday's meeting. Please review the action items before Friday.",
		"The build fails on arm64 because the test harness assumes little endian. I have a patch for the parser.",
		"Could we move the review of the quarterly report to Thursday? The draft needs another pass.",
		"Thanks for the patch, I merged it after running the tests. The release goes out next week.",
	}
)

func fixture(t testing.TB, spam bool, i int) *message.Message {
	t.Helper()
	b := messagetest.New().To("someone@example.com")
	if spam {
		b.From(fmt.Sprintf("Deals <promo%d@offers.example.net>", i)).Subject(spamSubjects[i%len(spamSubjects)]).
			HTML("<p>" + spamBodies[i%len(spamBodies)] + ` <a href="http://offers.example.net/x">Claim</a></p>`)
	} else {
		b.From(fmt.Sprintf("Colleague %d <c%d@partner.example.org>", i, i)).Subject(hamSubjects[i%len(hamSubjects)]).
			Text(hamBodies[i%len(hamBodies)])
	}
	m, err := message.Parse(bytes.NewReader(b.Bytes()), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func trained(t testing.TB) *classify.Model {
	m := classify.NewModel()
	for i := range 20 {
		toks, _ := classify.Analyze(fixture(t, true, i), &heuristic.Context{}, nil)
		m.Learn(toks, true)
		toks, _ = classify.Analyze(fixture(t, false, i), &heuristic.Context{}, nil)
		m.Learn(toks, false)
	}
	return m
}

func TestTrainAndClassify(t *testing.T) {
	model := trained(t)
	if model.Spam != 20 || model.Ham != 20 {
		t.Fatalf("learned %d spam, %d ham; want 20 each", model.Spam, model.Ham)
	}
	th, _ := classify.Threshold("medium")
	for i := 100; i < 110; i++ {
		spam := classify.Classify(model, classify.Input{Msg: fixture(t, true, i)})
		if !spam.Spam(th) || spam.Reasons[0].Code != classify.ReasonBayes {
			t.Errorf("spam fixture %d: score %.2f (%+v), want spam at %.1f", i, spam.Score, spam.Reasons, th)
		}
		ham := classify.Classify(model, classify.Input{Msg: fixture(t, false, i)})
		if ham.Spam(th) || ham.Score > 20 {
			t.Errorf("ham fixture %d: score %.2f (%+v), want clearly ham", i, ham.Score, ham.Reasons)
		}
	}
}

func TestNoModelUsesHeuristicsAndSES(t *testing.T) {
	m := fixture(t, false, 1)
	r := classify.Classify(nil, classify.Input{Msg: m})
	if r.Score != 0 || r.Probability != 0.5 || len(r.Reasons) != 0 {
		t.Errorf("no model, clean message: %+v; want score 0 and no reasons", r)
	}
	r = classify.Classify(nil, classify.Input{Msg: m, SESSpam: true})
	if r.Score != classify.SESSpamPoints || r.Reasons[0].Code != classify.ReasonSESSpam {
		t.Errorf("SES spam: %+v; want %d points from ses-spam", r, classify.SESSpamPoints)
	}
}

func TestPhishToldFromSpam(t *testing.T) {
	raw := messagetest.New().From("Jane Doe <jane.doe.ceo@freemail.example.net>").To("ap@example.com").
		Subject("Urgent wire").HTML(`<p>Please sign in to approve: <a href="http://192.0.2.9/x">https://www.example.com/approve</a></p>
<form action="http://192.0.2.9/p"><input type="password" name="p"></form>`).Bytes()
	m, err := message.Parse(bytes.NewReader(raw), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := heuristic.Context{Domains: []string{"example.com"}, Executives: []string{"Jane Doe"}}
	r := classify.Classify(trained(t), classify.Input{Msg: m, Context: ctx})
	th, _ := classify.Threshold("low")
	if !r.Spam(th) || !r.Phish(th) {
		t.Errorf("score %.2f, phish points %.0f (%+v); want phishing even at low sensitivity", r.Score, r.PhishPoints, r.Reasons)
	}
	var codes []string
	for _, rs := range r.Reasons {
		codes = append(codes, rs.Code)
	}
	for _, c := range []string{heuristic.DisplayNameSpoof, heuristic.LinkMismatch, heuristic.PasswordForm, heuristic.IPLink} {
		if !slices.Contains(codes, c) {
			t.Errorf("reasons %v, want %s", codes, c)
		}
	}

	spam := classify.Classify(trained(t), classify.Input{Msg: fixture(t, true, 3)})
	if th, _ := classify.Threshold("medium"); !spam.Spam(th) || spam.Phish(th) {
		t.Errorf("plain spam: score %.2f, phish %v; want spam, not phishing", spam.Score, spam.Phish(th))
	}
}

func TestThreshold(t *testing.T) {
	lo, _ := classify.Threshold("low")
	med, _ := classify.Threshold("")
	hi, _ := classify.Threshold("high")
	if !(lo > med && med > hi) {
		t.Errorf("thresholds low %v, medium %v, high %v: want low > medium > high", lo, med, hi)
	}
	if _, err := classify.Threshold("extreme"); err == nil {
		t.Error("Threshold(extreme): want an error")
	}
}

func TestModelRoundTrip(t *testing.T) {
	model := trained(t)
	data, err := model.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := classify.UnmarshalModel(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Spam != model.Spam || back.Ham != model.Ham || back.Tokens() != model.Tokens() {
		t.Fatalf("round trip: %d/%d/%d, want %d/%d/%d", back.Spam, back.Ham, back.Tokens(), model.Spam, model.Ham, model.Tokens())
	}
	for i := range 5 {
		toks, _ := classify.Analyze(fixture(t, i%2 == 0, 50+i), &heuristic.Context{}, nil)
		if a, b := model.Prob(toks), back.Prob(toks); a != b {
			t.Errorf("message %d: Prob %v after round trip, %v before", i, b, a)
		}
	}
	again, _ := back.MarshalBinary()
	if !bytes.Equal(data, again) {
		t.Error("encoding is not deterministic")
	}
}

func TestModelRefusesDamage(t *testing.T) {
	data, _ := trained(t).MarshalBinary()
	for name, d := range map[string][]byte{
		"empty":     nil,
		"not model": []byte("PK\x03\x04 a zip file"),
		"truncated": data[:len(data)/2],
		"flipped":   append(slices.Clone(data[:len(data)-12]), data[len(data)-12]^0xff),
	} {
		if _, err := classify.UnmarshalModel(d); !errors.Is(err, classify.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	future := slices.Clone(data)
	future[6] = 99
	if _, err := classify.UnmarshalModel(future); err == nil {
		t.Error("version 99: want an error")
	}
}

func TestMergeEqualsTrainingTogether(t *testing.T) {
	a, b, both := classify.NewModel(), classify.NewModel(), classify.NewModel()
	for i := range 10 {
		toks, _ := classify.Analyze(fixture(t, i%3 == 0, i), &heuristic.Context{}, nil)
		if i < 5 {
			a.Learn(toks, i%3 == 0)
		} else {
			b.Learn(toks, i%3 == 0)
		}
		both.Learn(toks, i%3 == 0)
	}
	a.Merge(b)
	x, _ := a.MarshalBinary()
	y, _ := both.MarshalBinary()
	if !bytes.Equal(x, y) {
		t.Error("merged model differs from the model trained on both halves")
	}
	toks, _ := classify.Analyze(fixture(t, true, 0), &heuristic.Context{}, nil)
	a.Forget(toks, true)
	if a.Spam != both.Spam-1 {
		t.Errorf("after Forget: %d spam, want %d", a.Spam, both.Spam-1)
	}
}

func TestTokensIgnoreNumbersAndRecipients(t *testing.T) {
	mk := func(date, to string) []uint32 {
		raw := messagetest.New().From("a@example.org").To(to).Date(date).Subject("Hello").Text("Meeting at 10:30 on 2002-07-31, room 4711").Bytes()
		m, _ := message.Parse(bytes.NewReader(raw), message.Options{})
		return classify.Tokens(m, nil)
	}
	a := mk("Wed, 31 Jul 2002 10:00:00 +0000", "x@one.example")
	b := mk("Thu, 01 Jan 2026 00:00:00 +0000", "y@two.example")
	if !slices.Equal(a, b) {
		t.Error("tokens depend on the Date field or the recipients' addresses")
	}
}
