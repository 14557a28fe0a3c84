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
	var names []string
	switch v := strings.TrimSpace(getenv("DNSBL_ZONES")); v {
	case "", "none":
	case "default":
		for _, n := range DefaultZones {
			if n != "spamhaus-zen" || r.Resolver != "" || r.DQSKeyParam != "" {
				names = append(names, n)
			}
		}
	default:
		for _, n := range strings.Split(v, ",") {
			names = append(names, strings.TrimSpace(n))
		}
	}
	for _, n := range names {
		sel, err := dnsbl.Select(zones, n)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("DNSBL_ZONES %q: unknown zone (catalogue: %s)", n, zoneNames(zones)))
		case sel[0].Kind != dnsbl.KindIP:
			errs = append(errs, fmt.Errorf("DNSBL_ZONES %q: the zone lists domains, not client IPs", n))
		default:
			r.Zones = append(r.Zones, sel[0])
		}
	}
	c.Reputation = r
	return errs
}

var filterPrefix = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`)

func zoneNames(zs []dnsbl.Zone) string {
	var out []string
	for _, z := range zs {
		if z.Kind == dnsbl.KindIP {
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

// IPReputation does the lookups of step 4 before the filter and the counting after it.
type IPReputation struct {
	DNSBL     DNSBL // nil: no DNSBL lookups
	Zones     []dnsbl.Zone
	Deadline  time.Duration      // every lookup of one message; the filter sees timeouts as such
	Store     Reputation         // nil: no dynamic blocks
	Syncer    *reputation.Syncer // nil: blocks are not pushed to receipt filters
	SyncEvery time.Duration

	mu       sync.Mutex
	lastSync time.Time // this instance's last attempt
}

// facts adds the client IP's DNSBL answers and active dynamic block to f. Lookups that fail
// are results the filter judges (fail-open/closed); a store that cannot be read is logged and
// taken as no block.
func (h *Handler) ipFacts(ctx context.Context, ip netip.Addr, f *filter.Facts) {
	r := h.IP
	if r == nil || !ip.IsValid() {
		return
	}
	var wg sync.WaitGroup
	if r.DNSBL != nil && len(r.Zones) > 0 {
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, r.Deadline)
			defer cancel()
			f.DNSBL = r.DNSBL.Lookup(lctx, ip.String(), r.Zones...)
		})
	}
	if r.Store != nil {
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
	r := &IPReputation{Zones: c.Zones, Deadline: c.Deadline, SyncEvery: c.SyncEvery}
	if len(c.Zones) > 0 {
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
	log.Debug("IP reputation", "zones", len(c.Zones), "dynamic_blocks", r.Store != nil, "receipt_filters", c.FilterBudget)
	return r
}
