package policy

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/moatmail/moat/shared/verdict"
)

// Effective is one domain's settings after merging: built-in defaults ← Defaults ← Domain.
// Every value is concrete.
type Effective struct {
	MaxMessageBytes     int64
	MaxRecipients       int
	ArchiveMaxLayers    int
	ArchiveMaxBytes     int64
	ArchiveMaxFiles     int
	ArchiveMaxRatio     float64
	ScanExceptionAction verdict.Action
	ExecutableAction    verdict.Action
	VirusAction         verdict.Action
	DMARC               string
	SpamAction          verdict.Action
	SubjectTag          string
	Aggressiveness      int
	FailOpen            bool
	FailClosedOnTimeout bool
	ReputationAction    verdict.Action
	Sensitivity         string
	BlockedSenderAction verdict.Action
	BlockedIPAction     verdict.Action
	DigestHours         HourSet

	// Directory: recipients not in the domain's directory bounce.
	Directory bool
	// Route is the domain's route with its defaults filled in (type smtp, port 587, tls
	// required); nil when the domain has none. Shared: do not modify.
	Route *Route
}

// Builtin holds the built-in defaults, what applies where neither Defaults nor a Domain says
// otherwise. It is for reading; Compile and Default do not read it back.
var Builtin = builtin()

func builtin() Effective {
	return Effective{
		MaxMessageBytes:     50 * mib,
		MaxRecipients:       1000,
		ArchiveMaxLayers:    20,
		ArchiveMaxBytes:     60 * mib,
		ArchiveMaxFiles:     353,
		ArchiveMaxRatio:     100,
		ScanExceptionAction: verdict.Quarantine,
		ExecutableAction:    verdict.Quarantine,
		VirusAction:         verdict.Quarantine,
		DMARC:               "honor",
		SpamAction:          verdict.Quarantine,
		SubjectTag:          "[SPAM]",
		Aggressiveness:      2,
		FailOpen:            true,
		ReputationAction:    verdict.Delete,
		Sensitivity:         "medium",
		BlockedSenderAction: verdict.Delete,
		BlockedIPAction:     verdict.Delete,
		DigestHours:         1 << 7,
	}
}

// Default returns a policy with no domains and every default spelled out, the starting point
// of a new deployment's document.
func Default() *Policy {
	b := builtin()
	return &Policy{
		Defaults: Settings{
			MaxMessageBytes:     &b.MaxMessageBytes,
			MaxRecipients:       &b.MaxRecipients,
			ArchiveMaxLayers:    &b.ArchiveMaxLayers,
			ArchiveMaxBytes:     &b.ArchiveMaxBytes,
			ArchiveMaxFiles:     &b.ArchiveMaxFiles,
			ArchiveMaxRatio:     &b.ArchiveMaxRatio,
			ScanExceptionAction: &b.ScanExceptionAction,
			ExecutableAction:    &b.ExecutableAction,
			VirusAction:         &b.VirusAction,
			DMARC:               &b.DMARC,
			SpamAction:          &b.SpamAction,
			SubjectTag:          &b.SubjectTag,
			Aggressiveness:      &b.Aggressiveness,
			FailOpen:            &b.FailOpen,
			FailClosedOnTimeout: &b.FailClosedOnTimeout,
			ReputationAction:    &b.ReputationAction,
			Sensitivity:         &b.Sensitivity,
			BlockedSenderAction: &b.BlockedSenderAction,
			BlockedIPAction:     &b.BlockedIPAction,
			DigestHours:         &[]int{7},
		},
		Domains: map[string]Domain{},
	}
}

// merge overlays the non-nil fields of s.
func (e *Effective) merge(s *Settings) {
	set(&e.MaxMessageBytes, s.MaxMessageBytes)
	set(&e.MaxRecipients, s.MaxRecipients)
	set(&e.ArchiveMaxLayers, s.ArchiveMaxLayers)
	set(&e.ArchiveMaxBytes, s.ArchiveMaxBytes)
	set(&e.ArchiveMaxFiles, s.ArchiveMaxFiles)
	set(&e.ArchiveMaxRatio, s.ArchiveMaxRatio)
	set(&e.ScanExceptionAction, s.ScanExceptionAction)
	set(&e.ExecutableAction, s.ExecutableAction)
	set(&e.VirusAction, s.VirusAction)
	set(&e.DMARC, s.DMARC)
	set(&e.SpamAction, s.SpamAction)
	set(&e.SubjectTag, s.SubjectTag)
	set(&e.Aggressiveness, s.Aggressiveness)
	set(&e.FailOpen, s.FailOpen)
	set(&e.FailClosedOnTimeout, s.FailClosedOnTimeout)
	set(&e.ReputationAction, s.ReputationAction)
	set(&e.Sensitivity, s.Sensitivity)
	set(&e.BlockedSenderAction, s.BlockedSenderAction)
	set(&e.BlockedIPAction, s.BlockedIPAction)
	if s.DigestHours != nil {
		e.DigestHours = 0
		for _, h := range *s.DigestHours {
			if h >= 0 && h < 24 {
				e.DigestHours |= 1 << h
			}
		}
	}
}

// HourSet is a set of hours of the day (UTC): bit h for hour h.
type HourSet uint32

// Has reports whether hour h is in the set.
func (s HourSet) Has(h int) bool { return h >= 0 && h < 24 && s&(1<<h) != 0 }

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// Compiled is a validated policy prepared for the filter's hot path: merged settings per
// domain, sender patterns indexed by scope and domain, IP lists in a prefix table, rules with
// their expressions compiled. It is immutable and safe for concurrent use.
type Compiled struct {
	defaults Effective
	domains  map[string]*compiledDomain
	senders  []SenderEntry
	index    map[scope]*senderBucket
	ips      *ipTable // global lists only, for unserved domains
	rules    []*CompiledRule
}

type compiledDomain struct {
	executives []string
	eff        Effective
	recipients map[string]bool
	ips        *ipTable // global and domain lists merged
	rules      []*CompiledRule
}

// Compile validates p and prepares it for evaluation. It keeps no reference to p.
func Compile(p *Policy) (*Compiled, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{
		defaults: builtin(),
		domains:  make(map[string]*compiledDomain, len(p.Domains)),
		index:    map[scope]*senderBucket{},
	}
	c.defaults.merge(&p.Defaults)

	var global ipTable
	global.add(p.IPs)
	c.ips = &global

	for i := range p.Rules {
		c.rules = append(c.rules, compileRule(&p.Rules[i]))
	}

	for name, d := range p.Domains {
		cd := &compiledDomain{eff: c.defaults, recipients: make(map[string]bool, len(d.Recipients))}
		cd.eff.merge(&d.Settings)
		cd.eff.Directory = d.Directory
		cd.executives = slices.Clone(d.Executives)
		if d.Route != nil {
			cd.eff.Route = routeWithDefaults(*d.Route)
		}
		for _, r := range d.Recipients {
			a, _ := ParseAddress(r) // validated above; normalises a Unicode domain
			cd.recipients[strings.ToLower(a)] = true
		}
		ips := global.clone()
		ips.add(d.IPs)
		cd.ips = ips
		for _, r := range c.rules {
			if len(r.rule.Domains) == 0 || slices.ContainsFunc(r.rule.Domains, func(s string) bool { return strings.EqualFold(s, name) }) {
				cd.rules = append(cd.rules, r)
			}
		}
		c.domains[name] = cd
	}

	c.senders = slices.Clone(p.Senders)
	for i := range c.senders {
		e := &c.senders[i]
		e.Domain = strings.ToLower(e.Domain)
		if e.Recipient != "" {
			e.Recipient, _ = ParseAddress(e.Recipient)
			e.Recipient = strings.ToLower(e.Recipient)
		}
		pat, _ := ParsePattern(e.Pattern) // validated above
		sc := scope{list: e.List, key: e.Domain + e.Recipient}
		b := c.index[sc]
		if b == nil {
			b = newSenderBucket()
			c.index[sc] = b
		}
		b.add(pat, i)
	}
	return c, nil
}

func routeWithDefaults(r Route) *Route {
	if r.Type == "" {
		r.Type = "smtp"
	}
	if r.Type == "smtp" {
		if r.Port == 0 {
			r.Port = 587
		}
		if r.TLS == "" {
			r.TLS = "required"
		}
	}
	r.Forward = maps.Clone(r.Forward)
	return &r
}

// Serves reports whether domain (any case) is one of the policy's domains.
func (c *Compiled) Serves(domain string) bool {
	return c.domain(domain) != nil
}

func (c *Compiled) domain(d string) *compiledDomain {
	if cd, ok := c.domains[d]; ok {
		return cd
	}
	return c.domains[strings.ToLower(d)]
}

// Effective returns the merged settings of domain; an unknown domain gets the merged
// Defaults (no directory, no route).
func (c *Compiled) Effective(domain string) Effective {
	if cd := c.domain(domain); cd != nil {
		return cd.eff
	}
	return c.defaults
}

// Domains returns the served domains, sorted.
func (c *Compiled) Domains() []string {
	return slices.Sorted(maps.Keys(c.domains))
}

// Executives returns the names of domain's people that impostors imitate (Domain.Executives).
// Shared: do not modify.
func (c *Compiled) Executives(domain string) []string {
	if cd := c.domain(domain); cd != nil {
		return cd.executives
	}
	return nil
}

// InDirectory reports whether recipient is in its domain's inline directory (the
// Recipients of the policy document). The stored directory is the caller's to consult.
func (c *Compiled) InDirectory(recipient string) bool {
	r := strings.ToLower(recipient)
	cd := c.domain(domainOf(r))
	return cd != nil && cd.recipients[r]
}

// IPMatch is the outcome of an IP list lookup. At most one of Allowed and Blocked is set.
type IPMatch struct {
	Allowed, Blocked bool
	CIDR             string // the prefix that decided, e.g. "203.0.113.0/24"
}

// IP looks ip up in the administrator's IP lists that apply to domain: the global lists and
// the domain's own. The most specific prefix that contains ip wins, whichever list and scope
// it is on; when the same prefix is on both an allow and a block list, block wins. So a
// domain can allow one host inside a globally blocked /24, and block a /28 inside a globally
// allowed /16.
func (c *Compiled) IP(domain string, ip netip.Addr) IPMatch {
	t := c.ips
	if cd := c.domain(domain); cd != nil {
		t = cd.ips
	}
	e, ok := t.lookup(ip)
	if !ok {
		return IPMatch{}
	}
	return IPMatch{Allowed: !e.block, Blocked: e.block, CIDR: e.cidr}
}

// Rules returns the content rules that apply to domain, in document order: those listing it
// and those listing no domain. An unserved domain has none.
func (c *Compiled) Rules(domain string) []*CompiledRule {
	if cd := c.domain(domain); cd != nil {
		return cd.rules
	}
	return nil
}
