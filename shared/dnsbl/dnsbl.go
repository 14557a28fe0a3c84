// Package dnsbl implements DNS block lists (RFC 5782): a catalogue of zones with the meaning
// of every return code, and a client that looks IP addresses (IPv4 and IPv6) and domains up
// in them.
//
// Every lookup has one of three outcomes, never two: Listed (an A answer the zone lists as a
// listing), NotListed (NXDOMAIN) or Error (an error code such as Spamhaus's 127.255.255.254,
// an answer outside 127.0.0.0/8, SERVFAIL, REFUSED, a timeout). Error codes are never
// listings. Before trusting a zone the client checks its RFC 5782 §5 test points (127.0.0.1
// must not be listed; 127.0.0.2 must be), so a resolver that rewrites NXDOMAIN, or a zone
// that refuses the resolver, makes the zone unusable (Error results) instead of flagging
// every address.
//
// The client reaches the DNS through a Resolver: DNSResolver (a configurable recursive
// resolver, per-query timeout, bounded queries in flight) behind a Cache that honours TTLs.
// It does not log; a Spamhaus DQS key never appears in results or errors.
package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Status is the outcome of one lookup.
type Status string

const (
	Listed    Status = "listed"     // the zone lists the target; Meaning says why
	NotListed Status = "not-listed" // NXDOMAIN, or only known non-listing codes
	Error     Status = "error"      // no verdict: Err says why; never treat as listed
)

// Errors wrapped by Result.Err, for callers that tell causes apart.
var (
	ErrDNS              = errors.New("dns error")         // SERVFAIL, REFUSED, timeout, network
	ErrCode             = errors.New("error code")        // the list answered with an error code (typo, public resolver, rate limit, bad DQS key)
	ErrUnexpectedAnswer = errors.New("unexpected answer") // an answer outside 127.0.0.0/8: a rewriting resolver
	ErrUnusable         = errors.New("zone unusable")     // the zone's test points failed; see Client.Check
)

// Result is the outcome of looking one target up in one zone.
type Result struct {
	Zone     string       // Zone.Name
	Target   string       // the IP address or domain, normalised
	Status   Status       //
	Codes    []netip.Addr // the A answers, listing or error codes
	Meaning  string       // what the codes mean; for Error, the reason
	Severity Severity     // for Listed: the highest severity among the codes
	Level    Level        // the zone's level
	TXT      string       // the TXT record of a listing, when Config.FetchTXT is set
	Err      error        // for Error
	// ASNListing is set for a listing on a zone of LevelASN: the target's whole network is
	// listed, which is collateral, not about the target.
	ASNListing bool
}

// Secret holds a credential such as a DQS key. It prints as "<redacted>" in fmt, slog and
// JSON, so logging a configuration does not leak it.
type Secret string

func (Secret) String() string                  { return "<redacted>" }
func (Secret) GoString() string                { return `"<redacted>"` }
func (Secret) LogValue() slog.Value            { return slog.StringValue("<redacted>") }
func (Secret) MarshalText() ([]byte, error)    { return []byte("<redacted>"), nil }
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// Config configures a Client. The zero value is usable: the system resolver, default timeout
// and concurrency, no DQS key.
type Config struct {
	// Resolver, when set, is used as is (wrap it in a Cache yourself); ResolverAddr, Timeout
	// and Concurrency's in-flight bound then do not apply to it.
	Resolver Resolver
	// ResolverAddr is the host:port of the recursive resolver; empty: the first nameserver
	// of /etc/resolv.conf. Spamhaus refuses queries from public resolvers and AWS's: use your
	// own resolver or a DQS key.
	ResolverAddr string
	Timeout      time.Duration // per query; DefaultTimeout if zero
	Concurrency  int           // queries in flight; DefaultConcurrency if zero
	// DQSKey, when set, sends queries for zones with a DQSHost to <key>.<DQSHost>.
	DQSKey Secret
	// FetchTXT also asks for the TXT record of each listing (one more query per listing).
	FetchTXT bool
	// HealthTTL is how long a zone's test-point check is trusted; DefaultHealthTTL if zero.
	// A check that could not complete is retried after at most HealthRetry.
	HealthTTL time.Duration
	// Now is the clock of the cache and of the health checks; time.Now if nil.
	Now func() time.Time
}

// Health check defaults.
const (
	DefaultHealthTTL = 10 * time.Minute
	HealthRetry      = 30 * time.Second
)

// Client looks targets up in zones. It is safe for concurrent use.
type Client struct {
	resolver    Resolver
	dqsKey      string
	concurrency int
	fetchTXT    bool
	healthTTL   time.Duration
	now         func() time.Time

	mu     sync.Mutex
	health map[string]*health
}

type health struct {
	done    chan struct{} // closed when the check has finished; err and expires are then set
	err     error         // nil: usable
	expires time.Time
}

// New returns a client. Without cfg.Resolver it queries a DNSResolver at cfg.ResolverAddr
// through a Cache.
func New(cfg Config) (*Client, error) {
	c := &Client{
		resolver:    cfg.Resolver,
		dqsKey:      strings.ToLower(string(cfg.DQSKey)),
		concurrency: cfg.Concurrency,
		fetchTXT:    cfg.FetchTXT,
		healthTTL:   cfg.HealthTTL,
		now:         cfg.Now,
		health:      map[string]*health{},
	}
	if c.concurrency <= 0 {
		c.concurrency = DefaultConcurrency
	}
	if c.healthTTL <= 0 {
		c.healthTTL = DefaultHealthTTL
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.dqsKey != "" {
		// A single label of letters and digits: anything else could change the query name.
		if len(c.dqsKey) > 63 || strings.Trim(c.dqsKey, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return nil, errors.New("dqs key: not a single label of letters and digits")
		}
	}
	if c.resolver == nil {
		addr := cfg.ResolverAddr
		if addr == "" {
			var err error
			if addr, err = SystemResolverAddr(); err != nil {
				return nil, err
			}
		}
		dr := &DNSResolver{Addr: addr, Timeout: cfg.Timeout, MaxInFlight: c.concurrency}
		c.resolver = NewCache(dr, c.now)
	}
	return c, nil
}

// Resolver returns the client's resolver (with its cache), to share with the ASN client.
func (c *Client) Resolver() Resolver { return c.resolver }

// Lookup looks target (an IP address or a domain) up in each zone of its kind, in parallel;
// zones of the other kind are skipped. Results are in the order of zones. An invalid target
// gives an Error result per zone. The context's deadline bounds the whole lookup.
func (c *Client) Lookup(ctx context.Context, targetName string, zones ...Zone) []Result {
	t, err := parseTarget(targetName)
	if err != nil {
		var rs []Result
		for _, z := range zones {
			rs = append(rs, errorResult(z, targetName, err))
		}
		return rs
	}
	var sel []Zone
	for _, z := range zones {
		if z.Kind == t.kind() {
			sel = append(sel, z)
		}
	}
	rs := make([]Result, len(sel))
	sem := make(chan struct{}, c.concurrency)
	var wg sync.WaitGroup
	for i, z := range sel {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rs[i] = c.lookup(ctx, t, z)
		})
	}
	wg.Wait()
	return rs
}

// LookupAll looks every target up in every zone of its kind with at most Concurrency
// lookups at once, and returns the results by target (as given) in the order of zones.
// progress, if not nil, is called after each lookup with the number done and the total,
// from one goroutine at a time. When ctx ends, the remaining lookups are Error results.
func (c *Client) LookupAll(ctx context.Context, targets []string, zones []Zone, progress func(done, total int)) map[string][]Result {
	type job struct {
		key string
		t   target
		i   int // index in out[key]
		z   Zone
	}
	out := map[string][]Result{}
	var jobs []job
	for _, name := range targets {
		if _, dup := out[name]; dup {
			continue
		}
		t, err := parseTarget(name)
		if err != nil {
			var rs []Result
			for _, z := range zones {
				rs = append(rs, errorResult(z, name, err))
			}
			out[name] = rs
			continue
		}
		n := 0
		for _, z := range zones {
			if z.Kind == t.kind() {
				jobs = append(jobs, job{name, t, n, z})
				n++
			}
		}
		out[name] = make([]Result, n)
	}

	var mu sync.Mutex
	done := 0
	ch := make(chan job)
	var wg sync.WaitGroup
	for range min(c.concurrency, len(jobs)) {
		wg.Go(func() {
			for j := range ch {
				r := c.lookup(ctx, j.t, j.z)
				mu.Lock()
				out[j.key][j.i] = r
				done++
				if progress != nil {
					progress(done, len(jobs))
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return out
}

func errorResult(z Zone, targetName string, err error) Result {
	return Result{Zone: z.Name, Target: targetName, Status: Error, Meaning: err.Error(), Level: z.Level, Err: err}
}

// lookup is one target in one zone, behind the zone's health check.
func (c *Client) lookup(ctx context.Context, t target, z Zone) Result {
	if err := ctx.Err(); err != nil {
		return errorResult(z, t.String(), fmt.Errorf("lookup abandoned: %w", err))
	}
	if err := c.zoneHealth(ctx, z); err != nil {
		if !errors.Is(err, ErrUnusable) {
			err = fmt.Errorf("zone health check failed: %w", err)
		}
		return errorResult(z, t.String(), err)
	}
	r := c.query(ctx, t, z)
	if r.Status == Listed && c.fetchTXT {
		if name, err := z.queryName(t, c.dqsKey); err == nil {
			// The TXT record is informative; failing to get it changes nothing.
			if a, err := c.resolver.Query(ctx, name, TypeTXT); err == nil {
				r.TXT = strings.Join(a.TXT, "; ")
			}
		}
	}
	return r
}

// query asks the zone about the target and decodes the answer, without the health check.
func (c *Client) query(ctx context.Context, t target, z Zone) Result {
	r := Result{Zone: z.Name, Target: t.String(), Level: z.Level}
	name, err := z.queryName(t, c.dqsKey)
	if err != nil {
		r.Status, r.Err, r.Meaning = Error, err, err.Error()
		return r
	}
	a, err := c.resolver.Query(ctx, name, TypeA)
	if err != nil {
		r.Status, r.Err = Error, fmt.Errorf("%w: %w", ErrDNS, err)
		r.Meaning = r.Err.Error()
		return r
	}
	if a.NotFound {
		r.Status = NotListed
		return r
	}
	// Sorted, so that the same answer always reads the same (audits compare results).
	r.Codes = slices.SortedFunc(slices.Values(a.A), netip.Addr.Compare)
	d := z.decode(r.Codes)
	r.Status, r.Meaning, r.Severity, r.Err = d.status, d.meaning, d.severity, d.err
	r.ASNListing = r.Status == Listed && z.Level == LevelASN
	return r
}

// Check queries the zone's RFC 5782 test points through the client's resolver: 127.0.0.1
// (or "invalid") must not be listed, and for zones with TestPoints 127.0.0.2 (or the listed
// test domain) must be. It returns nil for a usable zone; an error wrapping ErrUnusable, with
// the reason, when the answers show the zone cannot be trusted (an NXDOMAIN-rewriting
// resolver, an error code such as "public resolver", a zone that lists nothing); any other
// error when the check could not complete (timeout, SERVFAIL).
func (c *Client) Check(ctx context.Context, z Zone) error {
	neg, pos := z.testPoints()
	r := c.query(ctx, neg, z)
	switch r.Status {
	case Listed:
		return fmt.Errorf("%w: test point %s is listed (%s): the resolver rewrites NXDOMAIN or the zone lists everything",
			ErrUnusable, neg, joinAddrs(r.Codes))
	case Error:
		return checkError(neg, r)
	}
	if pos == nil {
		return nil
	}
	r = c.query(ctx, *pos, z)
	switch r.Status {
	case NotListed:
		return fmt.Errorf("%w: test point %s is not listed: the zone is not answering this resolver (retired, renamed or refusing it)",
			ErrUnusable, *pos)
	case Error:
		return checkError(*pos, r)
	}
	return nil
}

func checkError(t target, r Result) error {
	if errors.Is(r.Err, ErrUnexpectedAnswer) {
		return fmt.Errorf("%w: test point %s: %s: the resolver rewrites NXDOMAIN", ErrUnusable, t, r.Meaning)
	}
	if errors.Is(r.Err, ErrCode) {
		return fmt.Errorf("%w: test point %s: %s", ErrUnusable, t, r.Meaning)
	}
	return fmt.Errorf("test point %s: %w", t, r.Err)
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// zoneHealth returns the zone's cached health, checking it when stale. Concurrent callers
// share one check.
func (c *Client) zoneHealth(ctx context.Context, z Zone) error {
	key := z.Name + " " + z.host(c.dqsKey)
	for {
		c.mu.Lock()
		h := c.health[key]
		if h != nil {
			select {
			case <-h.done:
				if c.now().Before(h.expires) {
					c.mu.Unlock()
					return h.err
				}
			default:
				c.mu.Unlock()
				select {
				case <-h.done:
					continue // finished: take its result, or check again if it was abandoned
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		h = &health{done: make(chan struct{})}
		c.health[key] = h
		c.mu.Unlock()

		err := c.Check(ctx, z)
		h.err = err
		switch {
		case ctx.Err() != nil:
			// Abandoned by this caller: let the next one check again.
		case err == nil || errors.Is(err, ErrUnusable):
			h.expires = c.now().Add(c.healthTTL)
		default:
			h.expires = c.now().Add(min(HealthRetry, c.healthTTL))
		}
		close(h.done)
		return err
	}
}
