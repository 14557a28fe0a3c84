package modelstore_test

import (
	"testing"

	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/outbound"
)

func TestTenantDomainsJSON(t *testing.T) {
	js := modelstore.TenantDomainsJSON([]outbound.Tenant{{ID: "acme", Domains: []string{"example.com", "example.net"}}, {ID: "beta", Domains: []string{"beta.example"}}})
	m, err := modelstore.ParseTenantDomains(js)
	if err != nil || len(m) != 3 || m["example.net"] != "acme" || m["beta.example"] != "beta" {
		t.Errorf("round trip of %s: %v, %v", js, m, err)
	}
	if js := modelstore.TenantDomainsJSON(nil); js != "" {
		t.Errorf("no tenants: %q, want empty", js)
	}
	if m, err := modelstore.ParseTenantDomains(""); err != nil || len(m) != 0 {
		t.Errorf("empty: %v, %v", m, err)
	}
}
