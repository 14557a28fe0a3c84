package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/verdict"
)

func TestReputationSettings(t *testing.T) {
	c := mustCompile(t, `
defaults:
  aggressiveness: 3
  reputationAction: quarantine
domains:
  example.com: {}
  example.org:
    aggressiveness: 0
    failOpen: false
    failClosedOnTimeout: true
    reputationAction: bounce
`)
	com, org := c.Effective("example.com"), c.Effective("example.org")
	if com.Aggressiveness != 3 || com.ReputationAction != verdict.Quarantine || !com.FailOpen || com.FailClosedOnTimeout {
		t.Errorf("example.com inherits defaults: got %+v", com)
	}
	if org.Aggressiveness != 0 || org.ReputationAction != verdict.Bounce || org.FailOpen || !org.FailClosedOnTimeout {
		t.Errorf("example.org overrides: got %+v", org)
	}
	if b := Builtin; b.ReputationAction != verdict.Delete || b.FailClosedOnTimeout || !b.FailOpen || b.Aggressiveness != 2 {
		t.Errorf("built-in reputation defaults: %+v", b)
	}
	if got := c.Domains(); !slices.Equal(got, []string{"example.com", "example.org"}) {
		t.Errorf("Domains() = %v", got)
	}
}

func TestReputationSettingsRefused(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"defaults:\n  reputationAction: reject\n", `defaults.reputationAction: "reject" is not allowed`},
		{"domains:\n  example.com:\n    failOpen: true\n    failClosedOnTimeout: true\n",
			`domains["example.com"].failClosedOnTimeout: true is not allowed with failOpen: true`},
		{"defaults:\n  failClosedOnTimeout: maybe\n", `defaults.failClosedOnTimeout: "maybe" is not allowed`},
		{"defaults:\n  aggressiveness: 5\n", "defaults.aggressiveness: 5 is not allowed"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.doc, err, tc.want)
		}
	}
}
