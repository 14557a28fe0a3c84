package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatmail/moat/shared/asn"
	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

type env struct {
	srv     *dnsbltest.Server
	zones   []dnsbl.Zone
	auditor *audit.Auditor
}

// newEnv serves the whole catalogue (test points included) and Team Cymru's zones from a
// local DNS server, and returns an auditor that uses it.
func newEnv(t testing.TB) *env {
	t.Helper()
	srv, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	zones := dnsbl.Catalogue()
	for _, z := range zones {
		srv.TestPoints(z, "")
	}
	return &env{srv: srv, zones: zones, auditor: newAuditor(t, srv.Addr(), zones)}
}

// newAuditor returns an auditor with a fresh client (cold cache, fresh zone health).
func newAuditor(t testing.TB, addr string, zones []dnsbl.Zone) *audit.Auditor {
	t.Helper()
	c, err := dnsbl.New(dnsbl.Config{ResolverAddr: addr, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &audit.Auditor{DNSBL: c, ASN: &asn.Client{Resolver: c.Resolver()}, Zones: zones}
}

func origin(ip string) string {
	a := netip.MustParseAddr(ip)
	if a.Is4() {
		return dnsbl.ReverseIP(a) + ".origin.asn.cymru.com"
	}
	return dnsbl.ReverseIP(a) + ".origin6.asn.cymru.com"
}

func (e *env) run(t testing.TB, targets ...string) audit.Report {
	t.Helper()
	ts, err := audit.ParseTargets(targets, 0)
	if err != nil {
		t.Fatal(err)
	}
	return e.auditor.Run(context.Background(), ts, t0)
}

func zoneOf(t testing.TB, rep audit.Report, target, zone string) audit.ZoneResult {
	t.Helper()
	for _, tr := range rep.Targets {
		if tr.Target != target {
			continue
		}
		for _, z := range tr.Zones {
			if z.Zone == zone {
				return z
			}
		}
	}
	t.Fatalf("no result for %s in %s", target, zone)
	return audit.ZoneResult{}
}

func targetOf(t testing.TB, rep audit.Report, target string) audit.TargetReport {
	t.Helper()
	for _, tr := range rep.Targets {
		if tr.Target == target {
			return tr
		}
	}
	t.Fatalf("no report for %s", target)
	return audit.TargetReport{}
}

// TestOutcomes covers every outcome a lookup can have, each in the zone where it matters.
func TestOutcomes(t *testing.T) {
	e := newEnv(t)
	s := e.srv
	s.ListIP("bl.spamcop.net", "192.0.2.1")
	s.ListIP("zen.spamhaus.org", "192.0.2.1", "127.0.0.4")
	s.ListIP("zen.spamhaus.org", "192.0.2.2", "127.255.255.254") // public resolver: an error code
	s.Drop("2.2.0.192.bl.spamcop.net")                           // timeout
	s.SetRcode("2.2.0.192.psbl.surriel.com", dns.RcodeServerFailure)
	s.ListIP("dnsbl-2.uceprotect.net", "192.0.2.2")
	s.ListIP("dnsbl-3.uceprotect.net", "192.0.2.2")
	s.ListDomain("dbl.spamhaus.org", "spam.example", "127.0.1.2")
	s.ListDomain("dbl.spamhaus.org", "bad-query.example", "127.0.1.255")
	s.SetTXT(origin("192.0.2.1"), "64500 | 192.0.2.0/24 | ZZ | ripencc | 2001-01-01")
	s.SetTXT(origin("192.0.2.2"), "64501 64502 | 192.0.2.0/25 | ZZ | arin | ", "64503 | 192.0.2.0/24 | ZZ | arin | ")
	s.SetTXT("AS64500.asn.cymru.com", "64500 | ZZ | ripencc | 2001-01-01 | EXAMPLE-NET, ZZ")
	s.SetTXT("AS64501.asn.cymru.com", "64501 | ZZ | arin |  | MULTI-ORIGIN, ZZ")

	rep := e.run(t, "192.0.2.1", "192.0.2.2", "192.0.2.3", "spam.example", "bad-query.example")

	tests := []struct {
		target, zone string
		status       dnsbl.Status
		code         string
		meaning      string // substring
		asnListing   bool
	}{
		{"192.0.2.1", "spamcop", dnsbl.Listed, "127.0.0.2", "SpamCop", false},
		{"192.0.2.1", "spamhaus-zen", dnsbl.Listed, "127.0.0.4", "XBL", false},
		{"192.0.2.1", "barracuda", dnsbl.NotListed, "", "", false},
		{"192.0.2.2", "spamhaus-zen", dnsbl.Error, "127.255.255.254", "public", false},
		{"192.0.2.2", "spamcop", dnsbl.Error, "", "timeout", false},
		{"192.0.2.2", "psbl", dnsbl.Error, "", "SERVFAIL", false},
		{"192.0.2.2", "uceprotect-2", dnsbl.Listed, "127.0.0.2", "allocation", false},
		{"192.0.2.2", "uceprotect-3", dnsbl.Listed, "127.0.0.2", "whole ASN", true},
		{"192.0.2.3", "uceprotect-3", dnsbl.NotListed, "", "", false},
		{"spam.example", "spamhaus-dbl", dnsbl.Listed, "127.0.1.2", "spam", false},
		{"bad-query.example", "spamhaus-dbl", dnsbl.Error, "127.0.1.255", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.target+"/"+tt.zone, func(t *testing.T) {
			z := zoneOf(t, rep, tt.target, tt.zone)
			if z.Status != tt.status || z.Code != tt.code || z.ASNListing != tt.asnListing ||
				!strings.Contains(strings.ToLower(z.Meaning), strings.ToLower(tt.meaning)) {
				t.Errorf("got %+v, want status %s code %q meaning ~%q asnListing %v", z, tt.status, tt.code, tt.meaning, tt.asnListing)
			}
		})
	}
	// Domains are looked up only in domain zones, IPs only in IP zones.
	if n := len(targetOf(t, rep, "spam.example").Zones); n != 3 {
		t.Errorf("domain looked up in %d zones, want 3", n)
	}
	if n := len(targetOf(t, rep, "192.0.2.3").Zones); n != 9 {
		t.Errorf("IP looked up in %d zones, want 9", n)
	}

	// ASNs, including a prefix with several origins.
	one, two, three := targetOf(t, rep, "192.0.2.1"), targetOf(t, rep, "192.0.2.2"), targetOf(t, rep, "192.0.2.3")
	if one.ASN != 64500 || one.ASName != "EXAMPLE-NET, ZZ" || one.Prefix != "192.0.2.0/24" {
		t.Errorf("192.0.2.1: %+v", one)
	}
	if two.ASN != 64501 || !slices.Equal(two.ASNs, []uint32{64501, 64502, 64503}) || two.ASName != "MULTI-ORIGIN, ZZ" || two.Prefix != "192.0.2.0/25" {
		t.Errorf("192.0.2.2 (multi-origin): %+v", two)
	}
	if three.ASN != 0 || !strings.Contains(three.ASNError, "not announced") {
		t.Errorf("192.0.2.3 (no origin): %+v", three)
	}

	// Level 3 is an ASN listing with its name and the advice; level 2 an allocation listing.
	nets := rep.Networks()
	if len(nets) != 2 {
		t.Fatalf("networks %+v", nets)
	}
	if n := nets[0]; n.Level != dnsbl.LevelASN || n.ASN != 64501 || n.ASName != "MULTI-ORIGIN, ZZ" ||
		!slices.Equal(n.Targets, []string{"192.0.2.2"}) || !strings.Contains(n.Advice, "collateral") ||
		!strings.Contains(n.Advice, "Do not pay") || !strings.Contains(n.Advice, "stop using it") {
		t.Errorf("ASN listing %+v", n)
	}
	if n := nets[1]; n.Level != dnsbl.LevelAllocation || n.Zone != "uceprotect-2" || !strings.Contains(n.Advice, "allocation listing") {
		t.Errorf("allocation listing %+v", n)
	}
	own, collateral := rep.Listings()
	if own != 2 || collateral != 2 {
		t.Errorf("listings: %d own, %d collateral; want 2 (192.0.2.1, spam.example), 2", own, collateral)
	}
	var zen audit.ZoneReport
	for _, z := range rep.Zones {
		if z.Zone == "spamhaus-zen" {
			zen = z
		}
	}
	if zen.Checked != 3 || zen.Listed != 1 || zen.Errors != 1 || zen.Unusable != "" {
		t.Errorf("zone report %+v", zen)
	}
}

// A resolver that rewrites NXDOMAIN makes every zone unusable: errors, never listings.
func TestNXDOMAINRewriting(t *testing.T) {
	e := newEnv(t)
	e.srv.RewriteNXDOMAIN("127.0.0.2")
	rep := e.run(t, "192.0.2.1", "example.com")
	for _, tr := range rep.Targets {
		for _, z := range tr.Zones {
			if z.Status != dnsbl.Error || !z.Unusable {
				t.Errorf("%s in %s: %+v, want an unusable-zone error", tr.Target, z.Zone, z)
			}
		}
	}
	for _, z := range rep.Zones {
		if z.Unusable == "" || z.Listed != 0 {
			t.Errorf("zone %+v, want unusable", z)
		}
	}
	if own, coll := rep.Listings(); own+coll != 0 {
		t.Errorf("%d listings through a rewriting resolver", own+coll)
	}
}

func TestProgressAndDeadline(t *testing.T) {
	e := newEnv(t)
	var calls, last, total int
	e.auditor.Progress = func(done, tot int) { calls++; last, total = done, tot }
	e.run(t, "192.0.2.1", "192.0.2.2", "example.com")
	if want := 2*9 + 3 + 2; total != want || last != want || calls != want {
		t.Errorf("progress: %d calls, last %d/%d, want %d", calls, last, total, want)
	}

	// An audit whose deadline passes reports the rest as errors, not as clean.
	e.srv.SetLatency(time.Second)
	a := newAuditor(t, e.srv.Addr(), e.zones)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ts, _ := audit.ParseTargets([]string{"192.0.2.1"}, 0)
	rep := a.Run(ctx, ts, t0)
	for _, z := range rep.Targets[0].Zones {
		if z.Status != dnsbl.Error {
			t.Errorf("%s: %s after the deadline", z.Zone, z.Status)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.srv.ListIP("bl.spamcop.net", "192.0.2.1")
	e.srv.ListIP("dnsbl-3.uceprotect.net", "192.0.2.1")
	var buf bytes.Buffer
	audit.EmitMetrics(&buf, e.run(t, "192.0.2.1", "192.0.2.2"))
	got := map[string]float64{}
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if _, ok := m["_aws"]; !ok {
			t.Fatalf("not EMF: %s", line)
		}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				key := k
				if z, ok := m["Zone"].(string); ok {
					key += "/" + z
				}
				got[key] = f
			}
		}
	}
	for k, want := range map[string]float64{
		"AuditListed/spamcop": 1, "AuditListed/psbl": 0, "AuditListed/uceprotect-3": 1,
		"AuditZoneErrors/spamcop": 0, "AuditListedTargets": 1, "AuditNetworkListings": 1,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if _, ok := got["AuditListed/spamhaus-dbl"]; ok {
		t.Error("a metric for a zone no target was checked in")
	}
}
