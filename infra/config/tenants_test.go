package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func withTenants(t *testing.T, tenants string) map[string]any {
	t.Helper()
	m := valid(t)
	var v any
	if err := json.Unmarshal([]byte(tenants), &v); err != nil {
		t.Fatal(err)
	}
	m["tenants"] = v
	return m
}

func TestTenantsValid(t *testing.T) {
	c, err := Parse(withTenants(t, `[{"id":"acme","organisation":"Acme Ltd","domains":["acme.example"],
		"adminEmails":["it@acme.example"],"sendingIPs":["198.51.100.25","192.0.2.1"],"policy":{"perSender":{"limit":100}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Tenants[0]
	if a.Policy.PerSender.Limit != 100 || a.Policy.PerIP.Limit != 1000 || a.Policy.PerSender.Window.D().Minutes() != 10 {
		t.Errorf("policy defaults not applied: %+v", a.Policy)
	}
	// The tenants' sending IPs join the audit's monitored IPs, once each.
	if !slices.Equal(c.MonitoredIPs, []string{"192.0.2.1", "2001:db8::1", "198.51.100.25"}) {
		t.Errorf("monitoredIPs %v", c.MonitoredIPs)
	}
	if !c.AuditEnabled() {
		t.Error("audit not enabled")
	}
	if got := c.TenantIPs(); !slices.Equal(got, []string{"198.51.100.25", "192.0.2.1"}) {
		t.Errorf("TenantIPs %v", got)
	}
	// A -c value arrives as a string.
	if _, err := Parse(map[string]any{"stage": "x", "region": "eu-west-1", "tenants": `[{"id":"b","organisation":"B","domains":["b.example"]}]`,
		"domains": valid(t)["domains"], "bounceSender": "mailer-daemon@example.com"}); err != nil {
		t.Errorf("-c tenants: %v", err)
	}
}

func TestTenantsInvalid(t *testing.T) {
	tests := []struct{ tenants, want string }{
		{`{"acme":{}}`, `tenants: want a list`},
		{`[{"id":"acme","organisation":"Acme","domains":["acme.example"],"colour":"red"}]`, `tenants: json: unknown field "colour"`},
		{`[{"id":"ACME","organisation":"Acme","domains":["acme.example"]}]`, `tenants[0].id "ACME"`},
		{`[{"id":"acme","organisation":"Acme","domains":["acme.example"],"configurationSet":"mine"}]`, `tenants[0].configurationSet "mine": leave it out`},
		{`[{"id":"acme","organisation":"Acme","domains":["acme.example"],"sendingIPs":["192.168.1.1"]}]`, `tenants[0].sendingIPs[0] "192.168.1.1": want a public address`},
		{`[{"id":"acme","organisation":"Acme","domains":["acme.example"],"policy":{"perIP":{"limit":-5}}}]`, `tenants[0].policy.perIP.limit -5`},
		{`[{"id":"acme","organisation":"Acme","domains":["acme.example"],"policy":{"complaintRate":2}}]`, `tenants[0].policy.complaintRate 2`},
		{`[{"id":"acme","organisation":"Acme","domains":["acme.example"],"policy":{"spike":{"baselineDays":90}}}]`, `tenants[0].policy.spike.baselineDays 90`},
		{`[{"id":"acme","organisation":"Acme","domains":["acme.example"]},{"id":"beta","organisation":"B","domains":["acme.example"]}]`, `tenants[1].domains "acme.example"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Parse(withTenants(t, tt.tenants))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf(`{"id":"t%d","organisation":"Tenant number %d","domains":["t%d.example","mail.t%d.example"]}`, i, i, i, i))
	}
	if _, err := Parse(withTenants(t, "["+strings.Join(many, ",")+"]")); err == nil || !strings.Contains(err.Error(), "40 tenants") {
		t.Errorf("40 tenants: %v", err)
	}
}
