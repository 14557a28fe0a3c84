// Package dnsbltest runs a DNS server on the loopback interface that answers from a table,
// for tests of code that looks things up in block lists or Team Cymru's ASN zones: listings,
// error codes, SERVFAIL, REFUSED, slow and dropped answers, and an NXDOMAIN-rewriting
// resolver. It counts the queries it gets and the most it had in flight at once.
package dnsbltest

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/moatmail/moat/shared/dnsbl"
)

// Record is the server's answer for one name. The zero Record answers NOERROR without
// records (NODATA).
type Record struct {
	A     []string      // A answers, e.g. "127.0.0.2" (or anything, to play a rewriting resolver)
	TXT   []string      // TXT answers, one record each (split into 255-byte strings as needed)
	Rcode int           // a response code instead of the records: dns.RcodeNameError, dns.RcodeServerFailure, dns.RcodeRefused
	TTL   uint32        // of the records; DefaultTTL if zero
	Delay time.Duration // added before answering, on top of the server's latency
	Drop  bool          // never answer: the client times out
	// Truncate answers over UDP with the TC bit and no records, so the client must retry
	// over TCP, which gets the full answer.
	Truncate bool
}

// Defaults of the answers.
const (
	DefaultTTL         = 300 // seconds, for records
	DefaultNegativeTTL = 60  // seconds, the SOA minimum of NXDOMAIN and NODATA answers
)

// Server is a table-driven DNS server on 127.0.0.1, over UDP and TCP on one port.
// Names are fully qualified and case-insensitive; a name not in the table is NXDOMAIN.
type Server struct {
	udp, tcp *dns.Server
	addr     string
	done     chan struct{}
	closeMu  sync.Once

	mu          sync.Mutex
	records     map[string]Record
	latency     time.Duration
	rewrite     string // A answer instead of NXDOMAIN, "" for none
	negativeTTL uint32
	queries     int
	perName     map[string]int
	inFlight    int
	maxInFlight int
}

// NewServer starts a server with an empty table on 127.0.0.1 and a free port.
func NewServer() (*Server, error) {
	s := &Server{
		done:        make(chan struct{}),
		records:     map[string]Record{},
		perName:     map[string]int{},
		negativeTTL: DefaultNegativeTTL,
	}
	var pc net.PacketConn
	var l net.Listener
	var err error
	// The TCP port must match the UDP one; another process may hold it, so try a few.
	for range 10 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen udp: %w", err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("listen tcp: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	var started sync.WaitGroup
	started.Add(2)
	s.udp.NotifyStartedFunc = started.Done
	s.tcp.NotifyStartedFunc = started.Done
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	started.Wait()
	return s, nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Close stops the server; answers being delayed are dropped.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		close(s.done)
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
}

func fqdn(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// Set makes name answer r.
func (s *Server) Set(name string, r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[fqdn(name)] = r
}

// Load adds the records of a table.
func (s *Server) Load(table map[string]Record) {
	for n, r := range table {
		s.Set(n, r)
	}
}

// Delete removes name from the table: it becomes NXDOMAIN.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, fqdn(name))
}

// update changes name's record in place, keeping what fn does not touch.
func (s *Server) update(name string, fn func(*Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[fqdn(name)]
	fn(&r)
	s.records[fqdn(name)] = r
}

// ListIP lists ip in the zone (a host such as "zen.spamhaus.org") with the given codes,
// 127.0.0.2 if none. It panics on an invalid IP, as a test's literal should never be one.
func (s *Server) ListIP(zone, ip string, codes ...string) {
	a := netip.MustParseAddr(ip)
	s.setA(dnsbl.ReverseIP(a)+"."+zone, codes)
}

// ListDomain lists domain in the zone with the given codes, 127.0.0.2 if none.
func (s *Server) ListDomain(zone, domain string, codes ...string) {
	s.setA(domain+"."+zone, codes)
}

func (s *Server) setA(name string, codes []string) {
	if len(codes) == 0 {
		codes = []string{"127.0.0.2"}
	}
	s.update(name, func(r *Record) { r.A = codes; r.Rcode = 0 })
}

// SetTXT sets the TXT answers of name, keeping its A answers.
func (s *Server) SetTXT(name string, txt ...string) {
	s.update(name, func(r *Record) { r.TXT = txt })
}

// SetRcode makes name answer with a response code (e.g. dns.RcodeServerFailure).
func (s *Server) SetRcode(name string, rcode int) {
	s.update(name, func(r *Record) { r.Rcode = rcode })
}

// Drop makes name never answered.
func (s *Server) Drop(name string) {
	s.update(name, func(r *Record) { r.Drop = true })
}

// TestPoints serves a zone's RFC 5782 test points so the client finds it usable: the
// positive test point listed (when the zone has one), the negative one absent (NXDOMAIN).
// With a DQS key they are served under <key>.<DQSHost>.
func (s *Server) TestPoints(z dnsbl.Zone, dqsKey string) {
	if !z.TestPoints {
		return
	}
	host := z.Host
	if dqsKey != "" && z.DQSHost != "" {
		host = dqsKey + "." + z.DQSHost
	}
	if z.Kind == dnsbl.KindIP {
		t := z.TestListed
		if t == "" {
			t = "127.0.0.2"
		}
		s.ListIP(host, t, testCode(z))
		return
	}
	t := z.TestListed
	if t == "" {
		t = "test"
	}
	s.ListDomain(host, t, testCode(z))
}

// testCode is a listing code of the zone, for its positive test point.
func testCode(z dnsbl.Zone) string {
	best := ""
	for a, m := range z.Codes {
		if m.Listing && (best == "" || a.String() < best) {
			best = a.String()
		}
	}
	if best != "" {
		return best
	}
	for b := uint8(1); b != 0; b <<= 1 {
		if m, ok := z.Bits[b]; ok && m.Listing {
			return fmt.Sprintf("127.0.0.%d", b)
		}
	}
	return "127.0.0.2"
}

// SetLatency adds d before every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// RewriteNXDOMAIN plays a resolver that answers A questions for names that do not exist with
// a (e.g. an ISP's "search" page); "" turns it off.
func (s *Server) RewriteNXDOMAIN(a string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rewrite = a
}

// SetNegativeTTL sets the SOA minimum of NXDOMAIN and NODATA answers, in seconds.
func (s *Server) SetNegativeTTL(ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.negativeTTL = ttl
}

// Queries returns the number of questions received.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// QueriesFor returns the number of questions received for name, of any type.
func (s *Server) QueriesFor(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perName[fqdn(name)]
}

// MaxInFlight returns the most questions the server was handling at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// ResetCounters zeroes the query counters and the in-flight maximum.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries, s.maxInFlight = 0, 0
	clear(s.perName)
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	s.mu.Lock()
	s.queries++
	s.perName[name]++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	rec, known := s.records[name]
	latency, rewrite, negTTL := s.latency, s.rewrite, s.negativeTTL
	s.mu.Unlock()
	// A question stops counting as in flight just before its answer is written, so the
	// client can never have fewer in flight than the server counts.
	finished := false
	finish := func() {
		if !finished {
			finished = true
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		}
	}
	defer finish()

	if rec.Drop {
		return
	}
	if d := latency + rec.Delay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return
		}
	}

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	ttl := rec.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	soa := func() {
		m.Ns = []dns.RR{&dns.SOA{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: negTTL},
			Ns:  "ns.test.", Mbox: "hostmaster.test.", Serial: 1,
			Refresh: 3600, Retry: 600, Expire: 86400, Minttl: negTTL,
		}}
	}
	nxdomain := !known || rec.Rcode == dns.RcodeNameError
	switch {
	case nxdomain && rewrite != "" && q.Qtype == dns.TypeA:
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(rewrite)})
	case nxdomain:
		m.Rcode = dns.RcodeNameError
		soa()
	case rec.Rcode != dns.RcodeSuccess:
		m.Rcode = rec.Rcode
	case q.Qtype == dns.TypeA && len(rec.A) > 0:
		for _, a := range rec.A {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(a)})
		}
	case q.Qtype == dns.TypeTXT && len(rec.TXT) > 0:
		for _, t := range rec.TXT {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: split255(t)})
		}
	default:
		soa() // NODATA
	}
	if rec.Truncate && isUDP(w) {
		m.Answer, m.Ns = nil, nil
		m.Truncated = true
	}
	finish()
	w.WriteMsg(m)
}

func isUDP(w dns.ResponseWriter) bool {
	_, ok := w.LocalAddr().(*net.UDPAddr)
	return ok
}

// split255 cuts a TXT value into character-strings of at most 255 bytes.
func split255(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
