package dnsbltest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

func ask(t *testing.T, s *dnsbltest.Server, network, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 300 * time.Millisecond}
	r, _, err := c.Exchange(m, s.Addr())
	return r, err
}

func TestServer(t *testing.T) {
	s, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.ListIP("bl.example", "192.0.2.1", "127.0.0.2", "127.0.0.4")
	s.ListIP("bl.example", "2001:db8::1")
	s.SetTXT("2.0.0.127.bl.example", strings.Repeat("t", 300))
	s.SetRcode("fail.example", dns.RcodeServerFailure)
	s.SetRcode("refused.example", dns.RcodeRefused)
	s.Drop("drop.example")
	s.Set("big.example", dnsbltest.Record{A: []string{"127.0.0.2"}, Truncate: true})
	s.Load(map[string]dnsbltest.Record{"TTL.example.": {A: []string{"127.0.0.3"}, TTL: 7}})

	tests := []struct {
		network, name string
		qtype         uint16
		rcode         int
		answers       int
		truncated     bool
		timeout       bool
	}{
		{"udp", "1.2.0.192.bl.example", dns.TypeA, dns.RcodeSuccess, 2, false, false},
		{"tcp", "1.2.0.192.BL.example", dns.TypeA, dns.RcodeSuccess, 2, false, false},
		{"udp", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example", dns.TypeA, dns.RcodeSuccess, 1, false, false},
		{"udp", "1.2.0.192.bl.example", dns.TypeTXT, dns.RcodeSuccess, 0, false, false}, // NODATA
		{"tcp", "2.0.0.127.bl.example", dns.TypeTXT, dns.RcodeSuccess, 1, false, false},
		{"udp", "missing.example", dns.TypeA, dns.RcodeNameError, 0, false, false},
		{"udp", "fail.example", dns.TypeA, dns.RcodeServerFailure, 0, false, false},
		{"udp", "refused.example", dns.TypeA, dns.RcodeRefused, 0, false, false},
		{"udp", "drop.example", dns.TypeA, 0, 0, false, true},
		{"udp", "big.example", dns.TypeA, dns.RcodeSuccess, 0, true, false},
		{"tcp", "big.example", dns.TypeA, dns.RcodeSuccess, 1, false, false},
		{"udp", "ttl.example", dns.TypeA, dns.RcodeSuccess, 1, false, false},
	}
	for _, tt := range tests {
		r, err := ask(t, s, tt.network, tt.name, tt.qtype)
		if tt.timeout {
			if err == nil {
				t.Errorf("%s: answered, want no answer", tt.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tt.network, tt.name, err)
			continue
		}
		if r.Rcode != tt.rcode || len(r.Answer) != tt.answers || r.Truncated != tt.truncated {
			t.Errorf("%s %s %s: rcode %s, %d answers, truncated %v; want %s, %d, %v", tt.network, tt.name, dns.TypeToString[tt.qtype],
				dns.RcodeToString[r.Rcode], len(r.Answer), r.Truncated, dns.RcodeToString[tt.rcode], tt.answers, tt.truncated)
		}
		if (tt.rcode == dns.RcodeNameError || tt.answers == 0 && tt.rcode == dns.RcodeSuccess && !tt.truncated) && len(r.Ns) != 1 {
			t.Errorf("%s: negative answer without a SOA", tt.name)
		}
	}
	if r, _ := ask(t, s, "udp", "ttl.example", dns.TypeA); r == nil || r.Answer[0].Header().Ttl != 7 {
		t.Errorf("TTL not honoured: %v", r)
	}
	if r, _ := ask(t, s, "tcp", "2.0.0.127.bl.example", dns.TypeTXT); r == nil || strings.Join(r.Answer[0].(*dns.TXT).Txt, "") != strings.Repeat("t", 300) {
		t.Errorf("long TXT not served whole: %v", r)
	}
	if n := s.QueriesFor("1.2.0.192.bl.example"); n != 3 {
		t.Errorf("QueriesFor = %d, want 3", n)
	}
	if n := s.Queries(); n != len(tests)+2 {
		t.Errorf("Queries = %d, want %d", n, len(tests)+2)
	}

	s.RewriteNXDOMAIN("198.51.100.1")
	if r, err := ask(t, s, "udp", "missing.example", dns.TypeA); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("rewriting: %v %v", r, err)
	}
	s.ResetCounters()
	if s.Queries() != 0 || s.MaxInFlight() != 0 {
		t.Error("counters not reset")
	}
}

func TestServerLatencyAndInFlight(t *testing.T) {
	s, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetLatency(50 * time.Millisecond)
	done := make(chan struct{})
	for range 3 {
		go func() {
			ask(t, s, "udp", "a.example", dns.TypeA)
			done <- struct{}{}
		}()
	}
	start := time.Now()
	for range 3 {
		<-done
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > time.Second {
		t.Errorf("three parallel answers took %v, want about 50ms", took)
	}
	if n := s.MaxInFlight(); n != 3 {
		t.Errorf("MaxInFlight = %d, want 3", n)
	}
}
