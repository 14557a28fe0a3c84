package policy

import (
	"strings"
	"testing"
)

func TestDigestHours(t *testing.T) {
	p, err := Parse([]byte(`
defaults: {digestHours: [7, 13]}
domains:
  example.com: {}
  quiet.example: {digestHours: []}
  early.example: {digestHours: [0]}
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		domain string
		hours  []int
	}{
		{"example.com", []int{7, 13}},
		{"quiet.example", nil},
		{"early.example", []int{0}},
	} {
		var got []int
		for h := range 24 {
			if c.Effective(tc.domain).DigestHours.Has(h) {
				got = append(got, h)
			}
		}
		if len(got) != len(tc.hours) || (len(got) > 0 && got[0] != tc.hours[0]) {
			t.Errorf("%s: digest hours %v, want %v", tc.domain, got, tc.hours)
		}
	}
	if !Builtin.DigestHours.Has(7) || Builtin.DigestHours.Has(8) {
		t.Error("built-in default is not a daily digest at 07:00 UTC")
	}

	_, err = Parse([]byte("domains:\n  example.com: {digestHours: [24, 5, 5]}\n"))
	for _, want := range []string{"digestHours[0]", "24 is not allowed", "digestHours[2]", "listed twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("invalid hours: error %v, want it to say %q", err, want)
		}
	}
}
