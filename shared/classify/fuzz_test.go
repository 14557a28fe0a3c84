package classify_test

import (
	"bytes"
	"testing"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
)

func FuzzUnmarshalModel(f *testing.F) {
	data, _ := trained(f).MarshalBinary()
	f.Add(data)
	f.Add([]byte("MOATNB\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := classify.UnmarshalModel(b)
		if err != nil {
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := classify.UnmarshalModel(again); err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte("From: a@b.example\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n<a href='http://[::1'>www.x.com</a><form><input type=password>"))
	f.Add([]byte("From: \"x@example.com\" <y@xn--e1afmkfd.xn--p1ai>\r\n\r\nhttp://3221225991/ https:// www."))
	model := trained(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := message.Parse(bytes.NewReader(raw), message.Options{})
		if err != nil {
			return
		}
		r := classify.Classify(model, classify.Input{Msg: m, Context: heuristic.Context{Domains: []string{"example.com"}, Executives: []string{"A B"}}})
		if r.Score < 0 || r.Probability < 0 || r.Probability > 1 {
			t.Fatalf("score %v, probability %v", r.Score, r.Probability)
		}
	})
}
