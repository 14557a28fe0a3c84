package dnsbl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

// clock is a settable clock for the cache and the health checks.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	srv   *dnsbltest.Server
	c     *dnsbl.Client
	clock *clock
}

// newEnv starts a server serving the test points of every catalogue zone and a client
// talking to it. cfg's ResolverAddr and Now are filled in.
func newEnv(t testing.TB, cfg dnsbl.Config) *env {
	t.Helper()
	srv, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(srv.Close)
	for _, z := range dnsbl.Catalogue() {
		srv.TestPoints(z, string(cfg.DQSKey))
	}
	clk := newClock()
	cfg.ResolverAddr = srv.Addr()
	cfg.Now = clk.Now
	if cfg.Timeout == 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	c, err := dnsbl.New(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return &env{srv: srv, c: c, clock: clk}
}

func zone(t testing.TB, name string) dnsbl.Zone {
	t.Helper()
	zs, err := dnsbl.Select(dnsbl.Catalogue(), name)
	if err != nil {
		t.Fatal(err)
	}
	return zs[0]
}

func lookup1(t *testing.T, e *env, target string, z dnsbl.Zone) dnsbl.Result {
	t.Helper()
	rs := e.c.Lookup(context.Background(), target, z)
	if len(rs) != 1 {
		t.Fatalf("lookup %s in %s: %d results, want 1", target, z.Name, len(rs))
	}
	return rs[0]
}

func TestLookupOutcomes(t *testing.T) {
	e := newEnv(t, dnsbl.Config{Timeout: 200 * time.Millisecond})
	zen := zone(t, "spamhaus-zen")
	dbl := zone(t, "spamhaus-dbl")
	spamcop := zone(t, "spamcop")

	// Each case uses its own target so the cache does not mix them.
	tests := []struct {
		name    string
		zone    dnsbl.Zone
		target  string
		setup   func(s *dnsbltest.Server)
		status  dnsbl.Status
		meaning string // substring
		errIs   error
	}{
		{"not listed", zen, "192.0.2.1", nil, dnsbl.NotListed, "", nil},
		{"SBL", zen, "192.0.2.2", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "192.0.2.2", "127.0.0.2") },
			dnsbl.Listed, "Spamhaus SBL", nil},
		{"SBL and DROP", zen, "192.0.2.3", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "192.0.2.3", "127.0.0.2", "127.0.0.9") },
			dnsbl.Listed, "Spamhaus DROP", nil},
		{"PBL", zen, "192.0.2.4", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "192.0.2.4", "127.0.0.11") },
			dnsbl.Listed, "Spamhaus PBL", nil},
		{"public resolver error code", zen, "192.0.2.5", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "192.0.2.5", "127.255.255.254") },
			dnsbl.Error, "public or open resolver", dnsbl.ErrCode},
		{"error code beside a listing code", zen, "192.0.2.6", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "192.0.2.6", "127.0.0.2", "127.255.255.255") },
			dnsbl.Error, "excessive number of queries", dnsbl.ErrCode},
		{"unknown code in the error range", spamcop, "192.0.2.7", func(s *dnsbltest.Server) { s.ListIP("bl.spamcop.net", "192.0.2.7", "127.255.255.1") },
			dnsbl.Error, "error range", dnsbl.ErrCode},
		{"127.0.0.1 is never a listing", spamcop, "192.0.2.8", func(s *dnsbltest.Server) { s.ListIP("bl.spamcop.net", "192.0.2.8", "127.0.0.1") },
			dnsbl.Error, "not a listing code", dnsbl.ErrCode},
		{"unknown code in 127/8 is a listing", zen, "192.0.2.9", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "192.0.2.9", "127.0.0.8") },
			dnsbl.Listed, "unknown code", nil},
		{"answer outside 127/8", spamcop, "192.0.2.10", func(s *dnsbltest.Server) { s.ListIP("bl.spamcop.net", "192.0.2.10", "198.51.100.1") },
			dnsbl.Error, "outside 127.0.0.0/8", dnsbl.ErrUnexpectedAnswer},
		{"SERVFAIL", zen, "192.0.2.11", func(s *dnsbltest.Server) {
			s.SetRcode(dnsbl.ReverseIP(netip.MustParseAddr("192.0.2.11"))+".zen.spamhaus.org", dns.RcodeServerFailure)
		},
			dnsbl.Error, "servfail", dnsbl.ErrDNS},
		{"REFUSED", zen, "192.0.2.12", func(s *dnsbltest.Server) {
			s.SetRcode(dnsbl.ReverseIP(netip.MustParseAddr("192.0.2.12"))+".zen.spamhaus.org", dns.RcodeRefused)
		},
			dnsbl.Error, "refused", dnsbl.ErrDNS},
		{"timeout", zen, "192.0.2.13", func(s *dnsbltest.Server) { s.Drop("13.2.0.192.zen.spamhaus.org") },
			dnsbl.Error, "timeout", dnsbl.ErrTimeout},
		{"NODATA is not listed", zen, "192.0.2.14", func(s *dnsbltest.Server) { s.SetTXT("14.2.0.192.zen.spamhaus.org", "only a TXT") },
			dnsbl.NotListed, "", nil},
		{"DBL domain", dbl, "Spam.Example.", func(s *dnsbltest.Server) { s.ListDomain("dbl.spamhaus.org", "spam.example", "127.0.1.4") },
			dnsbl.Listed, "phishing", nil},
		{"DBL IP-query error", dbl, "bad.example", func(s *dnsbltest.Server) { s.ListDomain("dbl.spamhaus.org", "bad.example", "127.0.1.255") },
			dnsbl.Error, "lists domains only", dnsbl.ErrCode},
		{"DBL abused legit", dbl, "legit.example", func(s *dnsbltest.Server) { s.ListDomain("dbl.spamhaus.org", "legit.example", "127.0.1.102") },
			dnsbl.Listed, "abused legitimate", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(e.srv)
			}
			r := lookup1(t, e, tt.target, tt.zone)
			if r.Status != tt.status {
				t.Fatalf("status %s (%s, err %v), want %s", r.Status, r.Meaning, r.Err, tt.status)
			}
			if !strings.Contains(r.Meaning, tt.meaning) {
				t.Errorf("meaning %q, want it to contain %q", r.Meaning, tt.meaning)
			}
			if tt.errIs != nil && !errors.Is(r.Err, tt.errIs) {
				t.Errorf("err %v, want %v", r.Err, tt.errIs)
			}
			if (r.Status == dnsbl.Error) != (r.Err != nil) {
				t.Errorf("status %s with err %v", r.Status, r.Err)
			}
			if r.Zone != tt.zone.Name {
				t.Errorf("zone %q, want %q", r.Zone, tt.zone.Name)
			}
		})
	}
}

// Every error code of every catalogue zone is an Error, never a listing.
func TestErrorCodesAreNeverListings(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	n := 0
	for _, z := range dnsbl.Catalogue() {
		for code, text := range z.ErrorCodes {
			n++
			target := fmt.Sprintf("192.0.2.%d", n)
			if z.Kind == dnsbl.KindDomain {
				target = fmt.Sprintf("d%d.example", n)
			}
			t.Run(z.Name+"/"+code.String(), func(t *testing.T) {
				name, err := z.QueryName(target, "")
				if err != nil {
					t.Fatal(err)
				}
				e.srv.Set(name, dnsbltest.Record{A: []string{code.String()}})
				r := lookup1(t, e, target, z)
				if r.Status != dnsbl.Error || !errors.Is(r.Err, dnsbl.ErrCode) {
					t.Fatalf("status %s err %v, want error wrapping ErrCode", r.Status, r.Err)
				}
				if !strings.Contains(r.Meaning, text) {
					t.Errorf("meaning %q, want %q", r.Meaning, text)
				}
				if len(r.Codes) != 1 || r.Codes[0] != code {
					t.Errorf("codes %v, want [%s]", r.Codes, code)
				}
			})
		}
	}
	if n < 8 {
		t.Fatalf("only %d error codes in the catalogue", n)
	}
}

// Every listing code of every catalogue zone is a listing with its meaning.
func TestListingCodes(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	n := 0
	for _, z := range dnsbl.Catalogue() {
		for code, m := range z.Codes {
			n++
			target := fmt.Sprintf("198.51.100.%d", n)
			if z.Kind == dnsbl.KindDomain {
				target = fmt.Sprintf("l%d.example", n)
			}
			t.Run(z.Name+"/"+code.String(), func(t *testing.T) {
				name, _ := z.QueryName(target, "")
				e.srv.Set(name, dnsbltest.Record{A: []string{code.String()}})
				r := lookup1(t, e, target, z)
				if r.Status != dnsbl.Listed || r.Meaning != m.Text || r.Severity != m.Severity {
					t.Fatalf("got %s %q %s, want listed %q %s", r.Status, r.Meaning, r.Severity, m.Text, m.Severity)
				}
			})
		}
	}
}

func TestBitmask(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	surbl, uribl := zone(t, "surbl-multi"), zone(t, "uribl-multi")
	tests := []struct {
		zone     dnsbl.Zone
		domain   string
		code     string
		status   dnsbl.Status
		meanings []string
		severity dnsbl.Severity
	}{
		{surbl, "ph.example", "127.0.0.8", dnsbl.Listed, []string{"SURBL PH"}, dnsbl.SeverityHigh},
		{surbl, "phmw.example", "127.0.0.24", dnsbl.Listed, []string{"SURBL PH", "SURBL MW"}, dnsbl.SeverityHigh},
		{surbl, "cr.example", "127.0.0.128", dnsbl.Listed, []string{"SURBL CR"}, dnsbl.SeverityMedium},
		{surbl, "all.example", "127.0.0.216", dnsbl.Listed, []string{"PH", "MW", "ABUSE", "CR"}, dnsbl.SeverityHigh},
		{surbl, "old.example", "127.0.0.2", dnsbl.Listed, []string{"unknown bits 0x02"}, dnsbl.SeverityLow},
		{surbl, "blocked.example", "127.0.0.1", dnsbl.Error, []string{"query blocked"}, dnsbl.SeverityNone},
		{uribl, "black.example", "127.0.0.2", dnsbl.Listed, []string{"URIBL black"}, dnsbl.SeverityHigh},
		{uribl, "grey.example", "127.0.0.4", dnsbl.Listed, []string{"URIBL grey"}, dnsbl.SeverityLow},
		{uribl, "red.example", "127.0.0.8", dnsbl.Listed, []string{"URIBL red"}, dnsbl.SeverityLow},
		{uribl, "blackred.example", "127.0.0.10", dnsbl.Listed, []string{"URIBL black", "URIBL red"}, dnsbl.SeverityHigh},
		{uribl, "every.example", "127.0.0.14", dnsbl.Listed, []string{"black", "grey", "red"}, dnsbl.SeverityHigh},
		{uribl, "refused.example", "127.0.0.1", dnsbl.Error, []string{"query refused"}, dnsbl.SeverityNone},
	}
	for _, tt := range tests {
		t.Run(tt.zone.Name+"/"+tt.code, func(t *testing.T) {
			e.srv.ListDomain(tt.zone.Host, tt.domain, tt.code)
			r := lookup1(t, e, tt.domain, tt.zone)
			if r.Status != tt.status || r.Severity != tt.severity {
				t.Fatalf("got %s %s (%s), want %s %s", r.Status, r.Severity, r.Meaning, tt.status, tt.severity)
			}
			for _, m := range tt.meanings {
				if !strings.Contains(r.Meaning, m) {
					t.Errorf("meaning %q lacks %q", r.Meaning, m)
				}
			}
		})
	}
}

func TestNXDOMAINRewritingMakesZoneUnusable(t *testing.T) {
	for _, rewrite := range []string{"198.51.100.99", "127.0.0.2"} {
		t.Run(rewrite, func(t *testing.T) {
			e := newEnv(t, dnsbl.Config{})
			e.srv.RewriteNXDOMAIN(rewrite)
			zones := []dnsbl.Zone{zone(t, "spamhaus-zen"), zone(t, "spamcop"), zone(t, "mailspike-z"), zone(t, "spamhaus-dbl")}
			targets := []string{"192.0.2.1", "192.0.2.2", "2001:db8::1", "clean.example"}
			all := e.c.LookupAll(context.Background(), targets, zones, nil)
			for _, target := range targets {
				for _, r := range all[target] {
					if r.Status != dnsbl.Error || !errors.Is(r.Err, dnsbl.ErrUnusable) {
						t.Errorf("%s in %s: %s (%v), want an error wrapping ErrUnusable", target, r.Zone, r.Status, r.Err)
					}
					if !strings.HasPrefix(r.Meaning, "zone unusable: ") || !strings.Contains(r.Meaning, "rewrites NXDOMAIN") {
						t.Errorf("%s in %s: meaning %q", target, r.Zone, r.Meaning)
					}
				}
			}
			// The verdict is cached: the test point is asked once per zone, until HealthTTL.
			neg := "1.0.0.127.zen.spamhaus.org"
			if n := e.srv.QueriesFor(neg); n != 1 {
				t.Errorf("test point asked %d times, want 1", n)
			}
			e.srv.RewriteNXDOMAIN("")
			e.c.Lookup(context.Background(), "192.0.2.1", zones[0])
			if n := e.srv.QueriesFor(neg); n != 1 {
				t.Errorf("test point asked %d times within HealthTTL, want 1", n)
			}
			e.clock.Advance(dnsbl.DefaultHealthTTL + time.Second)
			r := e.c.Lookup(context.Background(), "192.0.2.77", zones[0])[0]
			if r.Status != dnsbl.NotListed {
				t.Errorf("after the resolver is fixed and HealthTTL passed: %s (%v), want not listed", r.Status, r.Err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	zen := zone(t, "spamhaus-zen")
	tests := []struct {
		name     string
		setup    func(s *dnsbltest.Server)
		unusable bool
		reason   string
	}{
		{"healthy", nil, false, ""},
		{"positive test point missing", func(s *dnsbltest.Server) { s.Delete("2.0.0.127.zen.spamhaus.org") },
			true, "127.0.0.2 is not listed"},
		{"public resolver refused", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "127.0.0.2", "127.255.255.254") },
			true, "public or open resolver"},
		{"negative test point listed", func(s *dnsbltest.Server) { s.ListIP("zen.spamhaus.org", "127.0.0.1", "127.0.0.2") },
			true, "127.0.0.1 is listed"},
		{"rewritten to a web server", func(s *dnsbltest.Server) { s.RewriteNXDOMAIN("192.0.2.80") },
			true, "outside 127.0.0.0/8"},
		{"servfail is not a verdict", func(s *dnsbltest.Server) { s.SetRcode("1.0.0.127.zen.spamhaus.org", dns.RcodeServerFailure) },
			false, "servfail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, dnsbl.Config{})
			if tt.setup != nil {
				tt.setup(e.srv)
			}
			err := e.c.Check(context.Background(), zen)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if err == nil || errors.Is(err, dnsbl.ErrUnusable) != tt.unusable || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("check: %v, want unusable=%v with %q", err, tt.unusable, tt.reason)
			}
		})
	}
}

// A check that cannot complete gives Error results and is retried after HealthRetry.
func TestHealthCheckFailureIsRetried(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	zen := zone(t, "spamhaus-zen")
	neg := "1.0.0.127.zen.spamhaus.org"
	e.srv.SetRcode(neg, dns.RcodeServerFailure)
	e.srv.ListIP("zen.spamhaus.org", "192.0.2.2")
	r := lookup1(t, e, "192.0.2.2", zen)
	if r.Status != dnsbl.Error || errors.Is(r.Err, dnsbl.ErrUnusable) || !strings.Contains(r.Meaning, "zone health check failed") {
		t.Fatalf("got %s %q, want a health-check error", r.Status, r.Meaning)
	}
	e.srv.Delete(neg)
	lookup1(t, e, "192.0.2.2", zen)
	if n := e.srv.QueriesFor(neg); n != 1 {
		t.Errorf("test point asked %d times before HealthRetry, want 1", n)
	}
	e.clock.Advance(dnsbl.HealthRetry)
	if r := lookup1(t, e, "192.0.2.2", zen); r.Status != dnsbl.Listed {
		t.Errorf("after HealthRetry: %s (%v), want listed", r.Status, r.Err)
	}
}

func TestIPv6(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"},
		{"2a00:1450:4001:82b::200e", "e.0.0.2.0.0.0.0.0.0.0.0.0.0.0.0.b.2.8.0.1.0.0.4.0.5.4.1.0.0.a.2"},
		{"::ffff:192.0.2.1", "1.2.0.192"},
		{"192.0.2.1", "1.2.0.192"},
	}
	for _, tt := range tests {
		if got := dnsbl.ReverseIP(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("ReverseIP(%s) = %s, want %s", tt.ip, got, tt.want)
		}
	}
	name, err := zone(t, "spamhaus-zen").QueryName("2001:DB8::1", "")
	if want := "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org."; err != nil || name != want {
		t.Errorf("QueryName = %q, %v; want %q", name, err, want)
	}

	e := newEnv(t, dnsbl.Config{})
	e.srv.ListIP("zen.spamhaus.org", "2001:db8::1", "127.0.0.3")
	r := lookup1(t, e, "2001:db8::1", zone(t, "spamhaus-zen"))
	if r.Status != dnsbl.Listed || !strings.Contains(r.Meaning, "CSS") || r.Target != "2001:db8::1" {
		t.Errorf("got %+v, want a CSS listing", r)
	}
}

func TestCacheHonoursTTL(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	zen := zone(t, "spamhaus-zen")
	name := "2.2.0.192.zen.spamhaus.org"
	e.srv.Set(name, dnsbltest.Record{A: []string{"127.0.0.2"}, TTL: 120})
	e.srv.SetNegativeTTL(30)

	check := func(target, qname string, wantQueries int, wantStatus dnsbl.Status) {
		t.Helper()
		r := lookup1(t, e, target, zen)
		if r.Status != wantStatus {
			t.Fatalf("%s: %s (%v), want %s", target, r.Status, r.Err, wantStatus)
		}
		if n := e.srv.QueriesFor(qname); n != wantQueries {
			t.Fatalf("%s asked %d times, want %d", qname, n, wantQueries)
		}
	}
	check("192.0.2.2", name, 1, dnsbl.Listed)
	check("192.0.2.2", name, 1, dnsbl.Listed) // from the cache
	e.clock.Advance(119 * time.Second)
	check("192.0.2.2", name, 1, dnsbl.Listed)
	e.clock.Advance(2 * time.Second)
	check("192.0.2.2", name, 2, dnsbl.Listed) // expired: asked again

	// NXDOMAIN is cached for the SOA minimum.
	neg := "3.2.0.192.zen.spamhaus.org"
	check("192.0.2.3", neg, 1, dnsbl.NotListed)
	e.clock.Advance(29 * time.Second)
	check("192.0.2.3", neg, 1, dnsbl.NotListed)
	e.clock.Advance(2 * time.Second)
	check("192.0.2.3", neg, 2, dnsbl.NotListed)
}

func TestCacheCapsNegativeTTL(t *testing.T) {
	srv, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetNegativeTTL(86400)
	srv.Set("long.example", dnsbltest.Record{A: []string{"127.0.0.2"}, TTL: 86400 * 7})
	clk := newClock()
	c := dnsbl.NewCache(&dnsbl.DNSResolver{Addr: srv.Addr()}, clk.Now)
	ctx := context.Background()
	for _, q := range []struct {
		name string
		cap  time.Duration
	}{{"missing.example", dnsbl.DefaultMaxNegativeTTL}, {"long.example", dnsbl.DefaultMaxTTL}} {
		a, err := c.Query(ctx, q.name, dnsbl.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		c.Query(ctx, q.name, dnsbl.TypeA)
		if n := srv.QueriesFor(q.name); n != 1 {
			t.Errorf("%s asked %d times, want 1", q.name, n)
		}
		if a.TTL <= q.cap {
			t.Errorf("%s: resolver TTL %v, want the server's", q.name, a.TTL)
		}
		clk.Advance(q.cap)
		c.Query(ctx, q.name, dnsbl.TypeA)
		if n := srv.QueriesFor(q.name); n != 2 {
			t.Errorf("%s asked %d times after the cap, want 2", q.name, n)
		}
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	zen := zone(t, "spamhaus-zen")
	name := "5.2.0.192.zen.spamhaus.org"
	e.srv.SetRcode(name, dns.RcodeServerFailure)
	lookup1(t, e, "192.0.2.5", zen)
	e.srv.Set(name, dnsbltest.Record{A: []string{"127.0.0.4"}})
	if r := lookup1(t, e, "192.0.2.5", zen); r.Status != dnsbl.Listed {
		t.Fatalf("after SERVFAIL: %s, want listed", r.Status)
	}
	if n := e.srv.QueriesFor(name); n != 2 {
		t.Errorf("asked %d times, want 2", n)
	}
}

func TestConcurrencyBound(t *testing.T) {
	for _, bound := range []int{5, 0} {
		t.Run(fmt.Sprint(bound), func(t *testing.T) {
			e := newEnv(t, dnsbl.Config{Concurrency: bound})
			want := bound
			if want == 0 {
				want = dnsbl.DefaultConcurrency
			}
			e.srv.SetLatency(20 * time.Millisecond)
			zones := []dnsbl.Zone{zone(t, "spamcop"), zone(t, "psbl")}
			var targets []string
			for i := range 3 * want {
				targets = append(targets, fmt.Sprintf("203.0.113.%d", i))
			}
			e.c.LookupAll(context.Background(), targets, zones, nil)
			if got := e.srv.MaxInFlight(); got != want {
				t.Errorf("max in flight %d, want %d", got, want)
			}
			if got, want := e.srv.Queries(), 2*len(targets)+4; got != want {
				t.Errorf("%d queries, want %d", got, want)
			}
		})
	}
}

// The bound holds across concurrent callers, not just within one LookupAll.
func TestConcurrencyBoundAcrossCallers(t *testing.T) {
	e := newEnv(t, dnsbl.Config{Concurrency: 4})
	e.srv.SetLatency(20 * time.Millisecond)
	z := zone(t, "spamcop")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { e.c.Lookup(context.Background(), fmt.Sprintf("203.0.113.%d", i), z) })
	}
	wg.Wait()
	if got := e.srv.MaxInFlight(); got > 4 {
		t.Errorf("max in flight %d, want at most 4", got)
	}
}

func TestDQS(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz"
	e := newEnv(t, dnsbl.Config{DQSKey: key})
	zen, spamcop := zone(t, "spamhaus-zen"), zone(t, "spamcop")

	name, err := zen.QueryName("192.0.2.1", key)
	if want := "1.2.0.192." + key + ".zen.dq.spamhaus.net."; err != nil || name != want {
		t.Fatalf("QueryName = %q, %v; want %q", name, err, want)
	}
	if name, _ := spamcop.QueryName("192.0.2.1", key); name != "1.2.0.192.bl.spamcop.net." {
		t.Errorf("zone without DQS: %q", name)
	}

	e.srv.ListIP(key+".zen.dq.spamhaus.net", "192.0.2.1", "127.0.0.4")
	e.srv.ListIP("zen.spamhaus.org", "192.0.2.1", "127.255.255.254")
	if r := lookup1(t, e, "192.0.2.1", zen); r.Status != dnsbl.Listed || !strings.Contains(r.Meaning, "XBL") {
		t.Errorf("got %s %q, want the DQS zone's XBL listing", r.Status, r.Meaning)
	}
	if n := e.srv.QueriesFor("1.2.0.192.zen.spamhaus.org"); n != 0 {
		t.Errorf("public zone asked %d times with a DQS key", n)
	}

	// The key appears in no result, error or formatted configuration.
	e.srv.SetRcode("2.2.0.192."+key+".zen.dq.spamhaus.net", dns.RcodeServerFailure)
	e.srv.ListIP(key+".zen.dq.spamhaus.net", "192.0.2.3", "127.255.255.251")
	for _, ip := range []string{"192.0.2.2", "192.0.2.3"} {
		r := lookup1(t, e, ip, zen)
		if r.Status != dnsbl.Error {
			t.Errorf("%s: %s, want error", ip, r.Status)
		}
		if s := fmt.Sprintf("%+v %v", r, r.Err); strings.Contains(s, key) {
			t.Errorf("result leaks the key: %s", s)
		}
	}
	cfg := dnsbl.Config{DQSKey: key}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", cfg, "key", cfg.DQSKey)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg.DQSKey, cfg.DQSKey), buf.String()} {
		if strings.Contains(s, key) {
			t.Errorf("formatted config leaks the key: %s", s)
		}
	}

	for _, bad := range []string{"key.with.dots", "key with space", strings.Repeat("k", 64)} {
		_, err := dnsbl.New(dnsbl.Config{ResolverAddr: "127.0.0.1:53", DQSKey: dnsbl.Secret(bad)})
		if err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("key %q: err %v, want an error without the key", bad, err)
		}
	}
}

func TestUCEPROTECTLevels(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	ip := "203.0.113.9"
	for _, l := range []int{1, 2, 3} {
		e.srv.ListIP(fmt.Sprintf("dnsbl-%d.uceprotect.net", l), ip)
	}
	zones, _ := dnsbl.Select(dnsbl.Catalogue(), "uceprotect-1", "uceprotect-2", "uceprotect-3")
	rs := e.c.Lookup(context.Background(), ip, zones...)
	want := []struct {
		level dnsbl.Level
		asn   bool
	}{{dnsbl.LevelSingle, false}, {dnsbl.LevelAllocation, false}, {dnsbl.LevelASN, true}}
	for i, r := range rs {
		if r.Status != dnsbl.Listed || r.Level != want[i].level || r.ASNListing != want[i].asn {
			t.Errorf("%s: %s level %s asnListing %v, want listed %s %v", r.Zone, r.Status, r.Level, r.ASNListing, want[i].level, want[i].asn)
		}
	}
	if !strings.Contains(zones[2].Advice, "not pay") || !strings.Contains(zones[2].Advice, "level 3") {
		t.Errorf("level 3 advice %q lacks the delisting and level-3 advice", zones[2].Advice)
	}
}

func TestTCPFallbackOnTruncation(t *testing.T) {
	e := newEnv(t, dnsbl.Config{FetchTXT: true})
	name := "4.2.0.192.zen.spamhaus.org"
	long := strings.Repeat("x", 600)
	e.srv.Set(name, dnsbltest.Record{A: []string{"127.0.0.2"}, TXT: []string{long}, Truncate: true})
	r := lookup1(t, e, "192.0.2.4", zone(t, "spamhaus-zen"))
	if r.Status != dnsbl.Listed || r.TXT != long {
		t.Fatalf("got %s TXT %d bytes, want listed with the %d-byte TXT", r.Status, len(r.TXT), len(long))
	}
	if n := e.srv.QueriesFor(name); n != 4 {
		t.Errorf("asked %d times, want 4 (A and TXT, each over UDP then TCP)", n)
	}
}

func TestLookupAll(t *testing.T) {
	e := newEnv(t, dnsbl.Config{})
	e.srv.ListIP("bl.spamcop.net", "192.0.2.1")
	e.srv.ListDomain("dbl.spamhaus.org", "spam.example", "127.0.1.2")
	zones := dnsbl.Catalogue()
	targets := []string{"192.0.2.1", "2001:db8::5", "spam.example", "not a target!", "192.0.2.1"}
	var mu sync.Mutex
	var calls, lastDone, lastTotal int
	all := e.c.LookupAll(context.Background(), targets, zones, func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		lastDone, lastTotal = done, total
	})
	ipZones, domainZones := 0, 0
	for _, z := range zones {
		if z.Kind == dnsbl.KindIP {
			ipZones++
		} else {
			domainZones++
		}
	}
	if len(all) != 4 {
		t.Fatalf("%d targets in the result, want 4", len(all))
	}
	if n := len(all["192.0.2.1"]); n != ipZones {
		t.Errorf("IPv4: %d results, want %d", n, ipZones)
	}
	if n := len(all["spam.example"]); n != domainZones {
		t.Errorf("domain: %d results, want %d", n, domainZones)
	}
	for _, r := range all["not a target!"] {
		if r.Status != dnsbl.Error || !errors.Is(r.Err, dnsbl.ErrTarget) {
			t.Errorf("invalid target: %s %v", r.Status, r.Err)
		}
	}
	total := 2*ipZones + domainZones
	if calls != total || lastDone != total || lastTotal != total {
		t.Errorf("progress called %d times, last (%d, %d); want %d calls ending (%d, %d)", calls, lastDone, lastTotal, total, total, total)
	}
	listed := map[string]bool{}
	for target, rs := range all {
		for _, r := range rs {
			if r.Status == dnsbl.Listed {
				listed[target+" "+r.Zone] = true
			} else if r.Status == dnsbl.Error && target != "not a target!" {
				t.Errorf("%s in %s: %v", target, r.Zone, r.Err)
			}
		}
	}
	if len(listed) != 2 || !listed["192.0.2.1 spamcop"] || !listed["spam.example spamhaus-dbl"] {
		t.Errorf("listed: %v", listed)
	}
	// Results follow the order of the zones.
	for i, r := range all["spam.example"] {
		if i > 0 && r.Zone == all["spam.example"][i-1].Zone {
			t.Errorf("zone %s twice", r.Zone)
		}
	}
}

func TestContextDeadlineBoundsLookups(t *testing.T) {
	e := newEnv(t, dnsbl.Config{Timeout: 5 * time.Second})
	e.srv.Drop("9.2.0.192.bl.spamcop.net")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := e.c.Lookup(ctx, "192.0.2.9", zone(t, "spamcop"))[0]
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v, want the context's 100ms", took)
	}
	if r.Status != dnsbl.Error || !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("got %s %v, want an error from the deadline", r.Status, r.Err)
	}
}

func TestFetchTXT(t *testing.T) {
	e := newEnv(t, dnsbl.Config{FetchTXT: true})
	e.srv.ListIP("zen.spamhaus.org", "192.0.2.6", "127.0.0.2")
	e.srv.SetTXT("6.2.0.192.zen.spamhaus.org", "Listed by SBL, see https://check.spamhaus.org/sbl/query/SBL1")
	r := lookup1(t, e, "192.0.2.6", zone(t, "spamhaus-zen"))
	if !strings.Contains(r.TXT, "SBL1") {
		t.Errorf("TXT %q", r.TXT)
	}
}
