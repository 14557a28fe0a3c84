package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/moatmail/moat/shared/outbound"
)

// MaxTenantsEnv bounds the tenants as JSON in the outbound function's environment (and the
// stack output moatctl reads), which Lambda limits to 4 KB with every other variable.
const MaxTenantsEnv = 3000

// configurationSetAllowance is the room a configuration set name (a CloudFormation-generated
// name, filled in at deploy time) takes in the tenants' JSON.
const configurationSetAllowance = 90

// tenantDefaults applies the outbound policy defaults and adds the tenants' sending IPs to
// monitoredIPs, so that the blocklist audit watches them with the other monitored addresses.
func (c *Config) tenantDefaults() {
	for i := range c.Tenants {
		c.Tenants[i] = c.Tenants[i].WithDefaults()
		for _, s := range c.Tenants[i].SendingIPs {
			ip, err := netip.ParseAddr(s)
			if err != nil || slices.Contains(c.MonitoredIPs, ip.String()) {
				continue // invalid: reported under tenants
			}
			c.MonitoredIPs = append(c.MonitoredIPs, ip.String())
		}
	}
}

// TenantIPs are the tenants' sending IPs (already part of MonitoredIPs once Parse returns).
func (c Config) TenantIPs() []string {
	var ips []string
	for _, t := range c.Tenants {
		ips = append(ips, t.SendingIPs...)
	}
	return ips
}

// tenantProblems checks the tenants: each one's fields and policy (errors name the key, as
// tenants[0].policy.perIP.limit, and the value), unique IDs and domains, no configuration set
// (the stack creates it), and the size of their JSON.
func (c Config) tenantProblems() []error {
	var errs []error
	if err := outbound.Tenants(c.Tenants).Validate(); err != nil {
		errs = append(errs, unjoin(err)...)
	}
	for i, t := range c.Tenants {
		if t.ConfigurationSet != "" {
			errs = append(errs, fmt.Errorf("tenants[%d].configurationSet %q: leave it out; the stack creates each tenant's configuration set", i, t.ConfigurationSet))
		}
	}
	compact := make([]outbound.Tenant, len(c.Tenants))
	for i, t := range c.Tenants {
		compact[i] = t.Compact()
	}
	if b, _ := json.Marshal(compact); len(b)+configurationSetAllowance*len(c.Tenants) > MaxTenantsEnv {
		errs = append(errs, fmt.Errorf("tenants %d tenants: their settings take %d bytes of the outbound function's environment, which allows about %d; "+
			"deploy a second stage for more tenants", len(c.Tenants), len(b)+configurationSetAllowance*len(c.Tenants), MaxTenantsEnv))
	}
	return errs
}

// unjoin splits an errors.Join result into its errors, so that each is reported on its line.
func unjoin(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
