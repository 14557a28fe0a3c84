package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/filter"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/reputation"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/verdict"
)

// ReputationConfig configures step 4's lookups: the DNSBLs of the client IP and the dynamic
// blocks with their receipt filters.
type ReputationConfig struct {
	Table        string        // REPUTATION_TABLE; empty: no dynamic blocks
	Zones        []dnsbl.Zone  // DNSBL_ZONES plus DNSBL_EXTRA_ZONES; none: no DNSBL lookups
	URIZones     []dnsbl.Zone  // URIBL_ZONES: domain zones for the message's link domains; none: no lookups
	Resolver     string        // DNSBL_RESOLVER host:port; empty: the system resolver
	DQSKeyParam  string        // DQS_KEY_PARAM: name of the SSM parameter holding the Spamhaus DQS key
	QueryTimeout time.Duration // DNSBL_TIMEOUT_MS: one DNS query
	Deadline     time.Duration // DNSBL_DEADLINE_MS: every lookup of one message
	FilterBudget int           // RECEIPT_FILTER_BUDGET: receipt filters for dynamic blocks; 0: not pushed
	FilterPrefix string        // RECEIPT_FILTER_PREFIX: names of the filters this deployment owns
	SyncEvery    time.Duration // RECEIPT_FILTER_SYNC_SECONDS: how often expired blocks leave the filters
}

// Reputation defaults.
const (
	DefaultDNSBLDeadline = 3 * time.Second
	DefaultSyncEvery     = 5 * time.Minute
)

// DefaultZones are the zones DNSBL_ZONES=default selects: the catalogue's IP zones except
// Barracuda, which answers registered resolvers only. Spamhaus ZEN is left out too when neither
// DNSBL_RESOLVER nor DQS_KEY_PARAM is set: Spamhaus refuses queries through AWS's resolvers,
// so it would only report errors.
var DefaultZones = []string{"spamhaus-zen", "spamcop", "psbl", "mailspike-bl", "mailspike-z", "uceprotect-1", "uceprotect-2", "uceprotect-3"}

// DefaultURIZones are the domain zones URIBL_ZONES=default selects (and an unset URIBL_ZONES
// when DNSBL_ZONES is set): Spamhaus DBL, SURBL and URIBL. Spamhaus DBL is left out, like ZEN,
// when neither DNSBL_RESOLVER nor DQS_KEY_PARAM is set.
var DefaultURIZones = []string{"spamhaus-dbl", "surbl-multi", "uribl-multi"}

// MaxLinkDomains is how many of a message's distinct link domains are looked up.
const MaxLinkDomains = 20

// loadReputation reads the reputation settings into c.Reputation.
func (c *Config) loadReputation(getenv func(string) string) []error {
	var errs []error
	r := ReputationConfig{
		Table: getenv(schema.Reputation.EnvVar), Resolver: getenv("DNSBL_RESOLVER"), DQSKeyParam: getenv("DQS_KEY_PARAM"),
		QueryTimeout: dnsbl.DefaultTimeout, Deadline: DefaultDNSBLDeadline, SyncEvery: DefaultSyncEvery,
		FilterPrefix: reputation.DefaultFilterPrefix,
	}
	if v := getenv("RECEIPT_FILTER_PREFIX"); v != "" {
		r.FilterPrefix = v
		if !filterPrefix.MatchString(v) {
			errs = append(errs, fmt.Errorf("RECEIPT_FILTER_PREFIX %q: want up to 40 letters, digits, '-' or '_', starting with a letter or digit", v))
		}
	}
	num := func(name string, lo int, dst func(int)) {
		v := getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo {
			errs = append(errs, fmt.Errorf("%s %q: want a whole number ≥ %d", name, v, lo))
			return
		}
		dst(n)
	}
	num("DNSBL_TIMEOUT_MS", 1, func(n int) { r.QueryTimeout = time.Duration(n) * time.Millisecond })
	num("DNSBL_DEADLINE_MS", 1, func(n int) { r.Deadline = time.Duration(n) * time.Millisecond })
	num("RECEIPT_FILTER_BUDGET", 0, func(n int) { r.FilterBudget = n })
	num("RECEIPT_FILTER_SYNC_SECONDS", 1, func(n int) { r.SyncEvery = time.Duration(n) * time.Second })
	if r.FilterBudget > reputation.AccountLimit {
		errs = append(errs, fmt.Errorf("RECEIPT_FILTER_BUDGET %d: SES allows at most %d receipt filters per account", r.FilterBudget, reputation.AccountLimit))
	}
	if r.Resolver != "" {
		if _, err := netip.ParseAddrPort(r.Resolver); err != nil {
			if _, err := netip.ParseAddr(r.Resolver); err != nil {
				errs = append(errs, fmt.Errorf("DNSBL_RESOLVER %q: want an IP address, optionally with a port", r.Resolver))
			} else {
				r.Resolver = netip.AddrPortFrom(netip.MustParseAddr(r.Resolver), 53).String()
			}
		}
	}
	if p := r.DQSKeyParam; p != "" && strings.ContainsAny(p, " \t") {
		errs = append(errs, fmt.Errorf("DQS_KEY_PARAM %q: want the name of an SSM parameter, not the key", p))
	}
	zones := dnsbl.Catalogue()
	if v := getenv("DNSBL_EXTRA_ZONES"); v != "" {
		extra, err := dnsbl.ParseZones([]byte(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("DNSBL_EXTRA_ZONES: %w", err))
		}
		for _, z := range extra {
			if _, err := dnsbl.Select(zones, z.Name); err == nil {
				errs = append(errs, fmt.Errorf("DNSBL_EXTRA_ZONES: zone %q is already in the catalogue", z.Name))
				continue
			}
			zones = append(zones, z)
			if z.Kind == dnsbl.KindIP {
				r.Zones = append(r.Zones, z)
			}
		}
	}
	ownResolver := r.Resolver != "" || r.DQSKeyParam != ""
	names := func(v string, defaults []string, spamhaus string) []string {
		var out []string
		switch v {
		case "", "none":
		case "default":
			for _, n := range defaults {
				if n != spamhaus || ownResolver {
					out = append(out, n)
				}
			}
		default:
			for _, n := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(n))
			}
		}
		return out
	}
	ipZones := strings.TrimSpace(getenv("DNSBL_ZONES"))
	for _, n := range names(ipZones, DefaultZones, "spamhaus-zen") {
		sel, err := dnsbl.Select(zones, n)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("DNSBL_ZONES %q: unknown zone (IP zones: %s)", n, zoneNames(zones, dnsbl.KindIP)))
		case sel[0].Kind != dnsbl.KindIP:
			errs = append(errs, fmt.Errorf("DNSBL_ZONES %q: the zone lists domains, not client IPs (put it in URIBL_ZONES)", n))
		default:
			r.Zones = append(r.Zones, sel[0])
		}
	}
	// URI block lists follow the IP lookups unless set: off when DNSBL_ZONES is unset or none,
	// so tests and the local stack never query the internet.
	uriZones := strings.TrimSpace(getenv("URIBL_ZONES"))
	if uriZones == "" && ipZones != "" && ipZones != "none" {
		uriZones = "default"
	}
	for _, n := range names(uriZones, DefaultURIZones, "spamhaus-dbl") {
		sel, err := dnsbl.Select(zones, n)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("URIBL_ZONES %q: unknown zone (domain zones: %s)", n, zoneNames(zones, dnsbl.KindDomain)))
		case sel[0].Kind != dnsbl.KindDomain:
			errs = append(errs, fmt.Errorf("URIBL_ZONES %q: the zone lists IP addresses, not domains (put it in DNSBL_ZONES)", n))
		default:
			r.URIZones = append(r.URIZones, sel[0])
		}
	}
	c.Reputation = r
	return errs
}

var filterPrefix = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`)

func zoneNames(zs []dnsbl.Zone, kind dnsbl.Kind) string {
	var out []string
	for _, z := range zs {
		if z.Kind == kind {
			out = append(out, z.Name)
		}
	}
	return strings.Join(out, ", ")
}

// DNSBL looks a target up in zones (*dnsbl.Client).
type DNSBL interface {
	Lookup(ctx context.Context, target string, zones ...dnsbl.Zone) []dnsbl.Result
}

// Reputation is the dynamic reputation store (*reputation.Store).
type Reputation interface {
	Active(ctx context.Context, ip netip.Addr, now time.Time) (reputation.Block, error)
	CountSpam(ctx context.Context, ip netip.Addr, now time.Time) (int, *reputation.Block, error)
	ActiveBlocks(ctx context.Context, now time.Time) ([]reputation.Block, error)
	TakeSync(ctx context.Context, every time.Duration, now time.Time) (bool, error)
}

// IPReputation does the lookups of step 4 before the filter and the counting after it, and
// looks the message's link domains up in URI block lists for step 6.
type IPReputation struct {
	DNSBL     DNSBL // nil: no DNSBL lookups
	Zones     []dnsbl.Zone
	URIZones  []dnsbl.Zone       // domain zones for the link domains; none: no URI lookups
	Deadline  time.Duration      // every lookup of one message; the filter sees timeouts as such
	Store     Reputation         // nil: no dynamic blocks
	Syncer    *reputation.Syncer // nil: blocks are not pushed to receipt filters
	SyncEvery time.Duration

	mu       sync.Mutex
	lastSync time.Time // this instance's last attempt
}

// ipFacts adds the client IP's DNSBL answers and active dynamic block to f, and the listings
// of the message's link domains. IP lookups that fail are results the filter judges
// (fail-open/closed); URI lookups that fail add no listing; a store that cannot be read is
// logged and taken as no block. Every lookup of the message shares one deadline.
func (h *Handler) ipFacts(ctx context.Context, msg *message.Message, f *filter.Facts) {
	r := h.IP
	if r == nil {
		return
	}
	ip := msg.ClientIP
	lctx, cancel := context.WithTimeout(ctx, r.Deadline)
	defer cancel()
	var wg sync.WaitGroup
	if r.DNSBL != nil && len(r.Zones) > 0 && ip.IsValid() {
		wg.Go(func() { f.DNSBL = r.DNSBL.Lookup(lctx, ip.String(), r.Zones...) })
	}
	if r.DNSBL != nil && len(r.URIZones) > 0 {
		wg.Go(func() { f.URIListings = r.uriListings(lctx, heuristic.LinkDomains(msg, MaxLinkDomains)) })
	}
	if r.Store != nil && ip.IsValid() {
		b, err := r.Store.Active(ctx, ip, h.Now())
		switch {
		case errors.Is(err, reputation.ErrNotFound):
		case err != nil:
			h.Log.Warn("read dynamic block", "error", err)
		default:
			f.DynamicBlock = &filter.DynamicBlock{Spam: b.Spam, Window: b.Window, Expires: b.Expires}
		}
	}
	wg.Wait()
}

// uriListings looks each domain up in the URI zones, all at once, and returns the listings of
// medium or high severity in the order of the domains (URIBL's grey and red lists, low
// severity, also name legitimate bulk senders and young domains: they do not count). Errors,
// timeouts and error codes are no listing: a link domain never holds mail up by itself.
func (r *IPReputation) uriListings(ctx context.Context, domains []string) []heuristic.Listing {
	results := make([][]dnsbl.Result, len(domains))
	var wg sync.WaitGroup
	for i, d := range domains {
		wg.Go(func() { results[i] = r.DNSBL.Lookup(ctx, d, r.URIZones...) })
	}
	wg.Wait()
	var out []heuristic.Listing
	for i, rs := range results {
		for _, res := range rs {
			if res.Status == dnsbl.Listed && res.Severity >= dnsbl.SeverityMedium {
				out = append(out, heuristic.Listing{Domain: domains[i], Zone: res.Zone, Meaning: res.Meaning})
			}
		}
	}
	return out
}

// spamCodes are the reasons that count a message against its client IP.
var spamCodes = []verdict.Code{verdict.Spam, verdict.Phish, verdict.Virus}

// countSpam counts a message judged spam against its client IP (once per message), and pushes
// the blocks to the receipt filters when one starts or the last sync is old. The mail is dealt
// with already: failures are logged, never returned.
func (h *Handler) countSpam(ctx context.Context, pol *policy.Compiled, ip netip.Addr, vs []verdict.Verdict) {
	r := h.IP
	if r == nil || r.Store == nil || !ip.IsValid() {
		return
	}
	now := h.Now()
	spam := false
	for _, v := range vs {
		for _, c := range spamCodes {
			spam = spam || v.Has(c)
		}
	}
	crossed := false // the IP's count just reached the level where its block goes to SES
	if spam {
		n, b, err := r.Store.CountSpam(ctx, ip, now)
		switch {
		case err != nil:
			h.Log.Warn("count spam", "error", err)
		case b != nil:
			crossed = n == PushThreshold(pol)
			h.Log.Info("dynamic block", "client_ip", b.Prefix.String(), "spam", b.Spam, "expires", b.Expires.UTC().Format(time.RFC3339))
		}
	}
	if r.Syncer == nil {
		return
	}
	r.mu.Lock()
	due := crossed || now.Sub(r.lastSync) >= r.SyncEvery
	if due {
		r.lastSync = now
	}
	r.mu.Unlock()
	if !due {
		return
	}
	if !crossed {
		// Periodic: one instance at a time, at most once per SyncEvery across instances.
		if ok, err := r.Store.TakeSync(ctx, r.SyncEvery, now); err != nil || !ok {
			if err != nil {
				h.Log.Warn("receipt filter sync", "error", err)
			}
			return
		}
	}
	if err := r.sync(ctx, pol, now); err != nil {
		h.Log.Warn("receipt filter sync", "error", err)
	}
}

// sync pushes the blocks that apply to every served domain: SES's filters are account-wide.
func (r *IPReputation) sync(ctx context.Context, pol *policy.Compiled, now time.Time) error {
	all, err := r.Store.ActiveBlocks(ctx, now)
	if err != nil {
		return err
	}
	need := PushThreshold(pol)
	var push []reputation.Block
	for _, b := range all {
		if need > 0 && b.Spam >= need {
			push = append(push, b)
		}
	}
	_, err = r.Syncer.Sync(ctx, push)
	return err
}

// PushThreshold is the spam count at which a dynamic block applies to every served domain, and
// so may be pushed to the account-wide receipt filters: the threshold of the least aggressive
// domain. 0: never (a domain at level 0, or no domains).
func PushThreshold(pol *policy.Compiled) int {
	need := 0
	for _, d := range pol.Domains() {
		l := filter.LevelOf(pol.Effective(d).Aggressiveness)
		if l.Spam == 0 {
			return 0
		}
		need = max(need, l.Spam)
	}
	return need
}

// SSM is the part of the SSM client used to read the DQS key.
type SSM interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// lazyDNSBL builds the DNSBL client on first use, reading the DQS key from SSM then, so that a
// cold start needs no network call. Until the key can be read every lookup is an error result:
// the domains' fail-open/closed settings decide, and the next message tries again.
type lazyDNSBL struct {
	cfg   dnsbl.Config
	param string
	ssm   SSM

	mu     sync.Mutex
	client *dnsbl.Client
}

func (l *lazyDNSBL) Lookup(ctx context.Context, target string, zones ...dnsbl.Zone) []dnsbl.Result {
	c, err := l.get(ctx)
	if err != nil {
		rs := make([]dnsbl.Result, len(zones))
		for i, z := range zones {
			rs[i] = dnsbl.Result{Zone: z.Name, Target: target, Status: dnsbl.Error, Level: z.Level, Meaning: err.Error(), Err: err}
		}
		return rs
	}
	return c.Lookup(ctx, target, zones...)
}

func (l *lazyDNSBL) get(ctx context.Context) (*dnsbl.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil {
		return l.client, nil
	}
	cfg := l.cfg
	if l.param != "" {
		if l.ssm == nil {
			return nil, errors.New("DQS key: no SSM client")
		}
		out, err := l.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(l.param), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read DQS key parameter %s: %w", l.param, err)
		}
		if out.Parameter == nil {
			return nil, fmt.Errorf("read DQS key parameter %s: no value", l.param)
		}
		cfg.DQSKey = dnsbl.Secret(strings.TrimSpace(aws.ToString(out.Parameter.Value)))
	}
	c, err := dnsbl.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("DNSBL client: %w", err)
	}
	l.client = c
	return c, nil
}

// newIPReputation wires step 4 from the configuration; nil when nothing is configured.
func newIPReputation(c ReputationConfig, cl Clients, log *slog.Logger) *IPReputation {
	r := &IPReputation{Zones: c.Zones, URIZones: c.URIZones, Deadline: c.Deadline, SyncEvery: c.SyncEvery}
	if len(c.Zones) > 0 || len(c.URIZones) > 0 {
		r.DNSBL = &lazyDNSBL{cfg: dnsbl.Config{ResolverAddr: c.Resolver, Timeout: c.QueryTimeout}, param: c.DQSKeyParam, ssm: cl.SSM}
	}
	if c.Table != "" && cl.DynamoDB != nil {
		r.Store = reputation.New(cl.DynamoDB, c.Table, filter.MinSpam())
		if c.FilterBudget > 0 && cl.SES != nil {
			s := reputation.NewSyncer(reputation.SESFilters{Client: cl.SES})
			s.Budget, s.Prefix = c.FilterBudget, c.FilterPrefix
			r.Syncer = s
		}
	}
	if r.DNSBL == nil && r.Store == nil {
		return nil
	}
	log.Debug("IP reputation", "zones", len(c.Zones), "uri_zones", len(c.URIZones), "dynamic_blocks", r.Store != nil, "receipt_filters", c.FilterBudget)
	return r
}
