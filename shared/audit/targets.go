package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"

	"github.com/moatmail/moat/shared/dnsbl"
)

// DefaultMaxTargets caps how many targets one audit checks after CIDR prefixes are expanded:
// 4,096 targets × 10 IP zones is 40,960 lookups, a few minutes at the default concurrency.
const DefaultMaxTargets = 4096

// ErrTooMany is wrapped by the error of a CIDR prefix (or list) that exceeds the cap.
var ErrTooMany = errors.New("too many targets")

// Target is one monitored IP address or sending domain.
type Target struct {
	Name   string     // canonical: the address (IPv4 dotted, IPv6 RFC 5952) or the domain, lower case
	Kind   dnsbl.Kind // KindIP or KindDomain
	IP     netip.Addr // for KindIP
	Source string     // where it came from when not listed itself: "192.0.2.0/29", "ses-dedicated"
}

// Spec is the audit's configuration of monitored targets, as JSON:
//
//	{"ips": ["192.0.2.25", "198.51.100.0/29", "2001:db8::25"],
//	 "domains": ["example.com"],
//	 "sesDedicatedIPs": true}
//
// ips holds addresses and CIDR prefixes (expanded to every address of the prefix, up to the
// cap); domains are sending domains, looked up in the domain zones (Spamhaus DBL, SURBL,
// URIBL); sesDedicatedIPs adds the account's SES dedicated IPs, found when the audit runs.
type Spec struct {
	IPs             []string `json:"ips,omitempty"`
	Domains         []string `json:"domains,omitempty"`
	SESDedicatedIPs bool     `json:"sesDedicatedIPs,omitempty"`
}

// ParseSpec reads a Spec from JSON. Unknown fields are errors, so that a misspelt key is
// reported rather than ignored; the values are checked by Targets.
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("targets: %w (want {\"ips\": [...], \"domains\": [...], \"sesDedicatedIPs\": false})", err)
	}
	if d.More() {
		return Spec{}, errors.New("targets: more than one JSON value")
	}
	return s, nil
}

// Targets checks and expands the spec's ips and domains (not the SES dedicated IPs, which the
// caller adds with Add). It reports every bad value at once, each naming its field and value.
// max caps the number of targets after expansion; DefaultMaxTargets if ≤ 0.
func (s Spec) Targets(max int) ([]Target, error) {
	b := NewBuilder(max)
	b.AddSpec(s)
	return b.Targets()
}

// AddSpec adds a spec's ips and domains (not its SES dedicated IPs).
func (b *Builder) AddSpec(s Spec) { b.AddSpecFrom("", s) }

// AddSpecFrom adds a spec's ips and domains; errors name origin (e.g. "SSM parameter
// /moat/targets") before the field.
func (b *Builder) AddSpecFrom(origin string, s Spec) {
	if origin != "" {
		origin += " "
	}
	for i, v := range s.IPs {
		b.add(fmt.Sprintf("%sips[%d]", origin, i), v, dnsbl.KindIP)
	}
	for i, v := range s.Domains {
		b.add(fmt.Sprintf("%sdomains[%d]", origin, i), v, dnsbl.KindDomain)
	}
}

// ParseTargets reads targets given one per value, as on moatctl's command line: each an IP
// address, a CIDR prefix or a domain name.
func ParseTargets(values []string, max int) ([]Target, error) {
	b := NewBuilder(max)
	for _, v := range values {
		b.add("target", v, "")
	}
	return b.Targets()
}

// Builder collects targets, dropping duplicates, expanding prefixes and enforcing the cap.
type Builder struct {
	max     int
	seen    map[string]bool
	targets []Target
	errs    []error
}

// NewBuilder returns a builder capped at max targets (DefaultMaxTargets if ≤ 0).
func NewBuilder(max int) *Builder {
	if max <= 0 {
		max = DefaultMaxTargets
	}
	return &Builder{max: max, seen: map[string]bool{}}
}

// Add adds an address found elsewhere (source says where, e.g. "ses-dedicated").
func (b *Builder) Add(ip netip.Addr, source string) {
	ip = ip.Unmap()
	if b.seen[ip.String()] {
		return
	}
	if len(b.targets) >= b.max {
		b.errs = append(b.errs, fmt.Errorf("%s %s: %w: more than the cap of %d", source, ip, ErrTooMany, b.max))
		return
	}
	b.seen[ip.String()] = true
	b.targets = append(b.targets, Target{Name: ip.String(), Kind: dnsbl.KindIP, IP: ip, Source: source})
}

// Targets returns the targets in the order added, or every problem found.
func (b *Builder) Targets() ([]Target, error) {
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return b.targets, nil
}

// add adds one configured value of the kind wanted ("" for any).
func (b *Builder) add(field, v string, want dnsbl.Kind) {
	bad := func(format string, args ...any) {
		b.errs = append(b.errs, fmt.Errorf("%s %q: %s", field, v, fmt.Sprintf(format, args...)))
	}
	s := strings.TrimSpace(v)
	switch {
	case s == "":
		bad("empty")
	case strings.Contains(s, "/"):
		if want == dnsbl.KindDomain {
			bad("want a domain name such as example.com")
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			bad("want an IP address or a CIDR prefix such as 192.0.2.0/29")
			return
		}
		p = p.Masked()
		hostBits := p.Addr().BitLen() - p.Bits()
		size := new(big.Int).Lsh(big.NewInt(1), uint(hostBits))
		room := b.max - len(b.targets)
		tooMany := func(n fmt.Stringer) {
			b.errs = append(b.errs, fmt.Errorf("%s %q: %w: the prefix holds %s addresses, more than the %d left under the cap of %d targets; list smaller prefixes",
				field, v, ErrTooMany, n, room, b.max))
		}
		if size.Cmp(big.NewInt(int64(b.max))) > 0 {
			tooMany(size)
			return
		}
		// Addresses already listed do not count twice.
		var fresh []netip.Addr
		for ip, n := p.Addr(), int(size.Int64()); n > 0; ip, n = ip.Next(), n-1 {
			if !b.seen[ip.String()] {
				fresh = append(fresh, ip)
			}
		}
		if len(fresh) > room {
			tooMany(size)
			return
		}
		for _, ip := range fresh {
			b.seen[ip.String()] = true
			b.targets = append(b.targets, Target{Name: ip.String(), Kind: dnsbl.KindIP, IP: ip, Source: p.String()})
		}
	default:
		if ip, err := netip.ParseAddr(s); err == nil {
			if want == dnsbl.KindDomain {
				bad("want a domain name such as example.com, not an address (put it in ips)")
				return
			}
			if ip.Zone() != "" {
				bad("want an address without a zone")
				return
			}
			b.addTarget(field, v, Target{Name: ip.Unmap().String(), Kind: dnsbl.KindIP, IP: ip.Unmap()})
			return
		}
		if want == dnsbl.KindIP {
			bad("want an IP address or a CIDR prefix such as 192.0.2.0/29")
			return
		}
		d := strings.TrimSuffix(strings.ToLower(s), ".")
		if err := domainName(d); err != nil {
			if want == "" {
				bad("want an IP address, a CIDR prefix or a domain name")
			} else {
				bad("%v", err)
			}
			return
		}
		b.addTarget(field, v, Target{Name: d, Kind: dnsbl.KindDomain})
	}
}

func (b *Builder) addTarget(field, v string, t Target) {
	if b.seen[t.Name] {
		return
	}
	if len(b.targets) >= b.max {
		b.errs = append(b.errs, fmt.Errorf("%s %q: %w: more than the cap of %d", field, v, ErrTooMany, b.max))
		return
	}
	b.seen[t.Name] = true
	b.targets = append(b.targets, t)
}

// domainName checks a lower-case domain name: two labels or more of letters, digits and
// hyphens (not at either end), at most 253 characters.
func domainName(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return errors.New("an address with a trailing dot: write the address alone")
	}
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 {
		return errors.New("want a fully qualified domain name such as example.com")
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return fmt.Errorf("top-level label %q is all digits: not a domain (a mistyped address?)", tld)
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q: want 1 to 63 letters, digits or hyphens, no hyphen at either end", l)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("label %q: want letters, digits or hyphens", l)
			}
		}
	}
	return nil
}

// ResolverAddr checks a resolver address, an IP with or without a port, and adds port 53.
func ResolverAddr(v string) (string, error) {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.String(), nil
	}
	if ip, err := netip.ParseAddr(v); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	return "", errors.New("want an IP address, optionally with a port (192.0.2.53:53, [2001:db8::53]:53)")
}
