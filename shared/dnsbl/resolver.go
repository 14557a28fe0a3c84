package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// QType is the type of a DNS question. Block lists need only A and TXT.
type QType uint16

const (
	TypeA   QType = QType(dns.TypeA)
	TypeTXT QType = QType(dns.TypeTXT)
)

func (t QType) String() string { return dns.TypeToString[uint16(t)] }

// Answer is a resolver's answer to one question.
type Answer struct {
	// NotFound is set for NXDOMAIN, and for NOERROR without records of the type asked
	// (NODATA). For a block list both mean "not listed".
	NotFound bool
	A        []netip.Addr // for TypeA
	TXT      []string     // for TypeTXT: one string per record, its character-strings joined
	// TTL is how long the answer may be cached: the smallest TTL of the answer records, or
	// for NotFound the negative TTL from the SOA record (RFC 2308 §5); zero: do not cache.
	TTL time.Duration
}

// Resolver asks one question of the DNS. It is the seam between the block-list logic and
// the network: DNSResolver talks to a real resolver, Cache remembers answers, and tests use
// dnsbltest's server. Implementations must be safe for concurrent use.
//
// NXDOMAIN and NODATA are answers (Answer.NotFound), not errors. Other response codes are
// returned as *RcodeError, timeouts wrap ErrTimeout. Errors should not repeat the question's
// name: it may contain a Spamhaus DQS key.
type Resolver interface {
	Query(ctx context.Context, name string, qtype QType) (Answer, error)
}

// ErrTimeout is wrapped by errors of queries that got no answer in time.
var ErrTimeout = errors.New("timeout")

// RcodeError is a response code other than NOERROR and NXDOMAIN, e.g. SERVFAIL or REFUSED.
type RcodeError struct {
	Rcode int
}

func (e *RcodeError) Error() string {
	if s, ok := dns.RcodeToString[e.Rcode]; ok {
		return strings.ToLower(s)
	}
	return fmt.Sprintf("rcode %d", e.Rcode)
}

// Defaults of DNSResolver and Client.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultConcurrency = 32
)

// DNSResolver sends questions to one recursive resolver over UDP, retrying over TCP when the
// answer is truncated. It bounds the queries in flight; callers beyond the bound wait (and
// their context can end the wait). Set the fields before first use.
type DNSResolver struct {
	Addr        string        // host:port of the recursive resolver
	Timeout     time.Duration // per query, from when it is sent; DefaultTimeout if zero
	MaxInFlight int           // queries in flight at once; DefaultConcurrency if zero

	once sync.Once
	sem  chan struct{}
}

// SystemResolverAddr returns the first nameserver of /etc/resolv.conf as host:port. On AWS
// that is Amazon's resolver, which Spamhaus refuses (see the spamhaus-zen zone's advice).
func SystemResolverAddr() (string, error) {
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("read resolver configuration: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return "", errors.New("read resolver configuration: no nameserver in /etc/resolv.conf")
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
}

// ednsSize is the EDNS buffer size advertised: large enough for block-list and Cymru
// answers, small enough to avoid fragmentation (DNS flag day 2020).
const ednsSize = 1232

// Query implements Resolver.
func (r *DNSResolver) Query(ctx context.Context, name string, qtype QType) (Answer, error) {
	r.once.Do(func() {
		n := r.MaxInFlight
		if n <= 0 {
			n = DefaultConcurrency
		}
		r.sem = make(chan struct{}, n)
	})
	if r.Addr == "" {
		return Answer{}, errors.New("no resolver address configured")
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
	defer func() { <-r.sem }()

	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dl, hasDL := ctx.Deadline()
	parentBinds := hasDL && time.Until(dl) < timeout

	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), uint16(qtype))
	m.RecursionDesired = true
	m.SetEdns0(ednsSize, false)

	resp, err := r.exchange(qctx, "udp", m, timeout)
	if err == nil && resp.Truncated {
		resp, err = r.exchange(qctx, "tcp", m, timeout)
	}
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, ctx.Err()
		}
		var nerr net.Error
		if qctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout() {
			if parentBinds {
				// The caller's deadline, not the per-query timeout, ended the wait.
				return Answer{}, fmt.Errorf("%w (resolver %s): %w", ErrTimeout, r.Addr, context.DeadlineExceeded)
			}
			return Answer{}, fmt.Errorf("%w after %v (resolver %s)", ErrTimeout, timeout, r.Addr)
		}
		return Answer{}, fmt.Errorf("resolver %s: %w", r.Addr, err)
	}
	return answerOf(resp, qtype)
}

func (r *DNSResolver) exchange(ctx context.Context, network string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: timeout, UDPSize: ednsSize}
	co, err := c.DialContext(ctx, r.Addr)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// The exchange honours the context's deadline but not its cancellation; closing the
	// connection makes it return at once.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, co)
	return resp, err
}

// answerOf turns a response into an Answer.
func answerOf(resp *dns.Msg, qtype QType) (Answer, error) {
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return Answer{NotFound: true, TTL: negativeTTL(resp)}, nil
	default:
		return Answer{}, &RcodeError{Rcode: resp.Rcode}
	}
	var a Answer
	minTTL := uint32(0)
	first := true
	for _, rr := range resp.Answer {
		switch v := rr.(type) {
		case *dns.A:
			if qtype != TypeA {
				continue
			}
			ip, ok := netip.AddrFromSlice(v.A.To4())
			if !ok {
				continue
			}
			a.A = append(a.A, ip)
		case *dns.TXT:
			if qtype != TypeTXT {
				continue
			}
			a.TXT = append(a.TXT, strings.Join(v.Txt, ""))
		case *dns.CNAME:
			// Part of the chain: its TTL bounds the answer's.
		default:
			continue
		}
		if ttl := rr.Header().Ttl; first || ttl < minTTL {
			minTTL, first = ttl, false
		}
	}
	if len(a.A) == 0 && len(a.TXT) == 0 {
		return Answer{NotFound: true, TTL: negativeTTL(resp)}, nil
	}
	a.TTL = time.Duration(minTTL) * time.Second
	return a, nil
}

// negativeTTL is min(SOA TTL, SOA minimum) from the authority section (RFC 2308 §5), zero
// without a SOA.
func negativeTTL(resp *dns.Msg) time.Duration {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}
