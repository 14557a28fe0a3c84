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

// TestQuarantineModelTenants: the actions function knows the tenants' domains and may write
// decisions under each tenant's feedback prefix, nowhere else new.
func TestQuarantineModelTenants(t *testing.T) {
	_, fn := only(t, "AWS::Lambda::Function", "QuarantineActions")
	env := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
	s, _ := env[modelstore.TenantsEnvVar].(string)
	if m, err := modelstore.ParseTenantDomains(s); err != nil || m["example.com"] != "acme" {
		t.Errorf("env %s = %v; want example.com → acme", modelstore.TenantsEnvVar, env[modelstore.TenantsEnvVar])
	}
	actions := policyOf("QuarantineActionsRole")
	for _, g := range []struct {
		resource string
		want     bool
	}{
		{"/submissions/tenants/acme/feedback/*", true},
		{"/submissions/feedback/*", true},
		{"/submissions/tenants/acme/spam/*", false},
		{"/submissions/tenants/*", false},
	} {
		if got := allows(actions, "s3:PutObject", g.resource); got != g.want {
			t.Errorf("s3:PutObject on %q: allowed %t, want %t", g.resource, got, g.want)
		}
	}
}
