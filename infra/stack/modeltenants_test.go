package stack

import (
	"testing"

	"github.com/moatmail/moat/shared/modelstore"
)

// TestInboundModelTenants: the inbound function knows each tenant's domains, whose mail its
// tenant's spam model scores.
func TestInboundModelTenants(t *testing.T) {
	_, fn := only(t, "AWS::Lambda::Function", "FilteringInbound")
	env := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
	s, _ := env[modelstore.TenantsEnvVar].(string)
	m, err := modelstore.ParseTenantDomains(s)
	if err != nil || len(m) != 1 || m["example.com"] != "acme" {
		t.Errorf("env %s = %v (%v, %v); want example.com → acme", modelstore.TenantsEnvVar, env[modelstore.TenantsEnvVar], m, err)
	}
}
