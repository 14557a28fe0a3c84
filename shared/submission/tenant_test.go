package submission

import (
	"strings"
	"testing"
	"time"
)

func TestTenantKeys(t *testing.T) {
	key := Key(Spam, []byte("x"), time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))
	tk, err := ForTenant("acme", key)
	if err != nil || !strings.HasPrefix(tk, "submissions/tenants/acme/spam/2026-11-29/") {
		t.Fatalf("ForTenant = %q, %v", tk, err)
	}
	if tenant, rest, ok := SplitTenant(tk); !ok || tenant != "acme" || rest != key {
		t.Errorf("SplitTenant(%q) = %q, %q, %v", tk, tenant, rest, ok)
	}
	if tenant, rest, ok := SplitTenant(key); !ok || tenant != "" || rest != key {
		t.Errorf("SplitTenant(%q) = %q, %q, %v; want the default model", key, tenant, rest, ok)
	}
	dk, _ := ForTenant("acme", DecisionKey(Decision{Key: "quarantine/m1", Label: Ham}))
	if _, rest, ok := SplitTenant(dk); !ok || !IsDecisionKey(rest) {
		t.Errorf("tenant decision key %q not recognised", dk)
	}
	if _, err := ForTenant("Bad/ID", key); err == nil || !strings.Contains(err.Error(), "Bad/ID") {
		t.Errorf("invalid tenant: %v; want an error naming it", err)
	}
	for _, k := range []string{"submissions/tenants/Bad/spam/x.eml", "submissions/tenants/acme"} {
		if _, _, ok := SplitTenant(k); ok {
			t.Errorf("SplitTenant(%q): want not ok", k)
		}
	}
}
