// Package outbound protects the gateway's outbound relay: customers' mail servers send through
// SES SMTP with per-tenant credentials and a per-tenant configuration set, and the sending
// events SES publishes for that configuration set feed per-tenant, per-sender and per-IP
// counters. When a tenant crosses a threshold of its Policy (rate limits, bounce and complaint
// rates, a volume spike against its own baseline), its sending is suspended, the reason is
// recorded with the evidence, and its administrators are told how to clean up.
//
// The package is plain Go (no AWS SDK): the tenant model and policy (this file, policy.go),
// the rules (Evaluate), SES sending events (event.go) and the notification text (notice.go). shared/outboundstore keeps the counters
// and the suspension state in DynamoDB and switches a configuration set's sending.
package outbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Tenant is one customer organisation that relays its outbound mail through the gateway.
type Tenant struct {
	// ID is a short stable name (lower-case letters, digits, hyphens): the key of its counters
	// and suspension state, and the value of the "tenant" attribute of its notifications.
	ID           string `json:"id"`
	Organisation string `json:"organisation"` // display name in notifications
	// Domains it may send from (lower case); mail from other domains cannot be relayed.
	Domains []string `json:"domains"`
	// ConfigurationSet is the SES configuration set its mail goes through (set by the stack).
	ConfigurationSet string `json:"configurationSet"`
	// AdminEmails are told when its sending is suspended.
	AdminEmails []string `json:"adminEmails,omitempty"`
	// SendingIPs are the public addresses of its mail servers; they join the blocklist audit.
	SendingIPs []string `json:"sendingIPs,omitempty"`
	Policy     Policy   `json:"policy,omitzero"`
}

// Compact returns what the outbound function needs of the tenant, for its environment (which
// Lambda limits to 4 KB): no administrators (they are subscribed to the alert topic) or IPs
// (the audit watches them), and only the policy fields that differ from the defaults.
func (t Tenant) Compact() Tenant {
	t.AdminEmails, t.SendingIPs = nil, nil
	t.Policy = t.Policy.Sparse()
	return t
}

var (
	tenantIDRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	labelRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	confSetRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// TenantID checks a tenant ID (the rule Validate applies to Tenant.ID); the error names it.
func TenantID(id string) error {
	if !tenantIDRE.MatchString(id) {
		return fmt.Errorf("tenant %q: want a lower-case letter, then up to 31 lower-case letters, digits or hyphens", id)
	}
	return nil
}

// Validate checks a tenant with its policy's defaults applied (WithDefaults) and reports every
// problem, each naming the field and its value. prefix names the tenant in the messages (for
// example `tenants[0]`); empty: "tenant".
func (t Tenant) Validate(prefix string) error {
	if prefix == "" {
		prefix = "tenant"
	}
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s %s: %s", prefix, field, quote(value), fmt.Sprintf(format, args...)))
	}
	if !tenantIDRE.MatchString(t.ID) {
		bad("id", t.ID, "want a lower-case letter, then up to 31 lower-case letters, digits or hyphens")
	}
	if strings.TrimSpace(t.Organisation) == "" {
		bad("organisation", t.Organisation, "want the organisation's name, shown in notifications")
	}
	if len(t.Domains) == 0 {
		errs = append(errs, fmt.Errorf("%s.domains is required: the domains the tenant sends from", prefix))
	}
	seen := map[string]bool{}
	for i, d := range t.Domains {
		if err := DomainName(d); err != nil {
			bad(fmt.Sprintf("domains[%d]", i), d, "%v", err)
		} else if seen[d] {
			bad(fmt.Sprintf("domains[%d]", i), d, "listed twice")
		}
		seen[d] = true
	}
	if t.ConfigurationSet != "" && !confSetRE.MatchString(t.ConfigurationSet) {
		bad("configurationSet", t.ConfigurationSet, "want up to 64 letters, digits, hyphens or underscores")
	}
	for i, a := range t.AdminEmails {
		if p, err := mail.ParseAddress(a); err != nil || p.Address != a || p.Name != "" || DomainName(strings.ToLower(domainOf(a))) != nil {
			bad(fmt.Sprintf("adminEmails[%d]", i), a, "want a bare e-mail address such as it@example.com")
		}
	}
	for i, s := range t.SendingIPs {
		ip, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			bad(fmt.Sprintf("sendingIPs[%d]", i), s, "want an IPv4 or IPv6 address")
		case ip.IsPrivate() || ip.IsLoopback() || ip.IsUnspecified():
			bad(fmt.Sprintf("sendingIPs[%d]", i), s, "want a public address: SES sees the mail server's public address")
		}
	}
	if err := t.Policy.Validate(prefix + ".policy"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// WithDefaults returns the tenant with its policy's unset fields at their defaults.
func (t Tenant) WithDefaults() Tenant {
	t.Policy = t.Policy.WithDefaults()
	return t
}

// Owns reports whether addr is at one of the tenant's domains.
func (t Tenant) Owns(addr string) bool {
	return slices.Contains(t.Domains, strings.ToLower(domainOf(addr)))
}

// Tenants are every tenant of a deployment.
type Tenants []Tenant

// ParseTenants reads the JSON list the stack passes to the function (OUTBOUND_TENANTS),
// applies the policies' defaults and validates every tenant. IDs and configuration sets
// must be unique, and a domain belongs to one tenant only.
func ParseTenants(data []byte) (Tenants, error) {
	var ts Tenants
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.DisallowUnknownFields()
	if err := d.Decode(&ts); err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	for i := range ts {
		ts[i] = ts[i].WithDefaults()
	}
	return ts, ts.Validate()
}

// Validate checks every tenant and the uniqueness of IDs, configuration sets and domains.
func (ts Tenants) Validate() error {
	var errs []error
	ids, sets, domains := map[string]int{}, map[string]int{}, map[string]int{}
	for i, t := range ts {
		prefix := fmt.Sprintf("tenants[%d]", i)
		if err := t.Validate(prefix); err != nil {
			errs = append(errs, err)
		}
		if j, ok := ids[t.ID]; ok {
			errs = append(errs, fmt.Errorf("%s.id %q: tenants[%d] has the same id", prefix, t.ID, j))
		}
		ids[t.ID] = i
		if t.ConfigurationSet != "" {
			if j, ok := sets[t.ConfigurationSet]; ok {
				errs = append(errs, fmt.Errorf("%s.configurationSet %q: tenants[%d] has the same configuration set", prefix, t.ConfigurationSet, j))
			}
			sets[t.ConfigurationSet] = i
		}
		for _, d := range t.Domains {
			if j, ok := domains[d]; ok && j != i {
				errs = append(errs, fmt.Errorf("%s.domains %q: tenants[%d] sends from it too; a domain belongs to one tenant", prefix, d, j))
			}
			domains[d] = i
		}
	}
	return errors.Join(errs...)
}

// ByID returns the tenant with the ID.
func (ts Tenants) ByID(id string) (Tenant, bool) {
	for _, t := range ts {
		if t.ID == id {
			return t, true
		}
	}
	return Tenant{}, false
}

// ByConfigurationSet returns the tenant whose configuration set is name.
func (ts Tenants) ByConfigurationSet(name string) (Tenant, bool) {
	for _, t := range ts {
		if name != "" && t.ConfigurationSet == name {
			return t, true
		}
	}
	return Tenant{}, false
}

// BySender returns the tenant that owns the address's domain.
func (ts Tenants) BySender(addr string) (Tenant, bool) {
	for _, t := range ts {
		if t.Owns(addr) {
			return t, true
		}
	}
	return Tenant{}, false
}

// IDs returns the tenants' IDs in order.
func (ts Tenants) IDs() []string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}

// DomainName checks a lower-case DNS name with at least two labels.
func DomainName(s string) error {
	if s != strings.ToLower(s) {
		return errors.New("write domain names in lower case")
	}
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 {
		return errors.New("want a fully qualified domain name such as example.com")
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return errors.New("want a fully qualified domain name such as example.com")
		}
	}
	return nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
