package modelstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moatmail/moat/shared/outbound"
)

// TenantsEnvVar tells the inbound function which recipient domains are whose: JSON of each
// tenant's domains, {"acme":["example.com","example.net"]} (TenantDomainsJSON). Mail to those
// domains is scored with the tenant's model; other domains use the default model.
const TenantsEnvVar = "MODEL_TENANTS"

// TenantDomainsJSON encodes the tenants' domains for TenantsEnvVar ("" when there are none).
func TenantDomainsJSON(ts []outbound.Tenant) string {
	if len(ts) == 0 {
		return ""
	}
	m := map[string][]string{}
	for _, t := range ts {
		m[t.ID] = t.Domains
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

// ParseTenantDomains reads TenantsEnvVar's value into domain (lower case) → tenant, checking
// every tenant ID and domain and that a domain belongs to one tenant; "" is no tenants.
func ParseTenantDomains(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	var in map[string][]string
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("%s: want JSON such as {\"acme\":[\"example.com\"]}: %w", TenantsEnvVar, err)
	}
	var errs []error
	for _, tenant := range slices.Sorted(maps.Keys(in)) {
		if err := outbound.TenantID(tenant); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", TenantsEnvVar, err))
			continue
		}
		for _, d := range in[tenant] {
			d = strings.ToLower(d)
			if err := outbound.DomainName(d); err != nil {
				errs = append(errs, fmt.Errorf("%s: tenant %s: domain %q: %w", TenantsEnvVar, tenant, d, err))
			} else if other, ok := out[d]; ok && other != tenant {
				errs = append(errs, fmt.Errorf("%s: domain %q belongs to tenants %s and %s", TenantsEnvVar, d, other, tenant))
			}
			out[d] = tenant
		}
	}
	return out, errors.Join(errs...)
}

// TenantOf returns the tenant of the recipient's domain in tenants (domain → tenant), or ""
// (the default model).
func TenantOf(tenants map[string]string, recipient string) string {
	i := strings.LastIndexByte(recipient, '@')
	if i < 0 {
		return ""
	}
	return tenants[strings.ToLower(recipient[i+1:])]
}
