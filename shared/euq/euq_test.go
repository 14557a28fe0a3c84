package euq

import (
	"net/url"
	"testing"
)

func TestLinkRoundTrip(t *testing.T) {
	for _, a := range Actions {
		link := Link("https://abc.lambda-url.eu-west-1.on.aws/", a, "p.q-_")
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := FromPath(u.Path)
		if !ok || got != a || u.Query().Get("t") != "p.q-_" || u.Host != "abc.lambda-url.eu-west-1.on.aws" {
			t.Errorf("%s: %s → %q %t", a, link, got, ok)
		}
		if a.Label() == string(a) || a.Question("x@spam.example", "spam.example") == "" {
			t.Errorf("%s has no wording", a)
		}
	}
	for _, p := range []string{"/", "/admin", "/deliver/x", "/../deliver"} {
		if _, ok := FromPath(p); ok {
			t.Errorf("FromPath(%q) accepted", p)
		}
	}
}
