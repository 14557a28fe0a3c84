package audit_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/asn"
	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

// BenchmarkAudit is the benchmark for the whole audit: 1,000 IPs × 12 zones plus the
// ASN of every IP (Team Cymru origin and AS name), against the local server with 20 ms added
// to every answer, at the default concurrency, each iteration with a cold cache. It reports
// the wall time, queries per second and the ideal (queries × latency ÷ concurrency); the
// target is a ratio under 2. shared/dnsbl's BenchmarkAudit measures the lookups alone.
//
//	go test -run '^$' -bench Audit -benchtime 1x ./shared/audit/
func BenchmarkAudit(b *testing.B) {
	const (
		nIPs    = 1000
		nZones  = 12
		nASNs   = 4
		latency = 20 * time.Millisecond
	)
	srv, err := dnsbltest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	srv.SetLatency(latency)

	var zones []dnsbl.Zone
	for i := range nZones {
		z, err := dnsbl.ParseZone(fmt.Appendf(nil,
			`{"name":"bench-%d","host":"bl%d.bench.test","kind":"ip","testPoints":true,
			  "codes":{"127.0.0.2":{"text":"listed","listing":true,"severity":"medium"}}}`, i, i))
		if err != nil {
			b.Fatal(err)
		}
		zones = append(zones, z)
		srv.TestPoints(z, "")
	}
	for a := range nASNs {
		srv.SetTXT(fmt.Sprintf("AS%d.asn.cymru.com", 64500+a), fmt.Sprintf("%d | ZZ | ripencc |  | BENCH-%d, ZZ", 64500+a, a))
	}
	var values []string
	for i := range nIPs {
		ip := fmt.Sprintf("198.18.%d.%d", i/256, i%256) // RFC 2544 benchmarking range
		values = append(values, ip)
		srv.SetTXT(dnsbl.ReverseIP(netip.MustParseAddr(ip))+".origin.asn.cymru.com",
			fmt.Sprintf("%d | 198.18.%d.0/24 | ZZ | ripencc | ", 64500+(i/256)%nASNs, i/256))
		if i%10 == 0 {
			srv.ListIP(zones[i%nZones].Host, ip)
		}
	}
	targets, err := audit.ParseTargets(values, 0)
	if err != nil {
		b.Fatal(err)
	}

	var wall time.Duration
	srv.ResetCounters()
	for b.Loop() {
		c, err := dnsbl.New(dnsbl.Config{ResolverAddr: srv.Addr()}) // a cold cache each time
		if err != nil {
			b.Fatal(err)
		}
		a := &audit.Auditor{DNSBL: c, ASN: &asn.Client{Resolver: c.Resolver()}, Zones: zones}
		start := time.Now()
		rep := a.Run(context.Background(), targets, time.Now())
		wall += time.Since(start)
		listed := 0
		for _, t := range rep.Targets {
			if t.ASN == 0 || t.ASName == "" {
				b.Fatalf("%s: no ASN: %s", t.Target, t.ASNError)
			}
			for _, z := range t.Zones {
				switch z.Status {
				case dnsbl.Listed:
					listed++
				case dnsbl.Error:
					b.Fatalf("%s in %s: %s", t.Target, z.Zone, z.Meaning)
				}
			}
		}
		if listed != nIPs/10 {
			b.Fatalf("%d listings, want %d", listed, nIPs/10)
		}
	}
	n := float64(b.N)
	queries := float64(srv.Queries()) / n
	perRun := wall.Seconds() / n
	ideal := queries * latency.Seconds() / dnsbl.DefaultConcurrency
	b.ReportMetric(perRun, "wall-s")
	b.ReportMetric(queries, "queries")
	b.ReportMetric(queries/perRun, "queries/s")
	b.ReportMetric(ideal, "ideal-s")
	b.ReportMetric(perRun/ideal, "x-ideal")
	b.ReportMetric(float64(srv.MaxInFlight()), "max-in-flight")
}
