package dnsbl_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

// BenchmarkAudit is the benchmark: 1,000 IPs × 12 zones against the local server
// with 20 ms added to every answer, at the default concurrency, each iteration with a cold
// cache. It reports the wall time, queries per second and the ideal (queries × latency ÷
// concurrency); the target is a ratio under 2.
//
//	go test -run '^$' -bench Audit -benchtime 1x ./shared/dnsbl/
func BenchmarkAudit(b *testing.B) {
	const (
		nIPs    = 1000
		nZones  = 12
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
			  "codes":{"127.0.0.2":{"text":"listed","listing":true,"severity":"medium"}},
			  "errorCodes":{"127.255.255.255":"rate limited"}}`, i, i))
		if err != nil {
			b.Fatal(err)
		}
		zones = append(zones, z)
		srv.TestPoints(z, "")
	}
	var targets []string
	for i := range nIPs {
		ip := fmt.Sprintf("198.18.%d.%d", i/256, i%256) // RFC 2544 benchmarking range
		targets = append(targets, ip)
		if i%10 == 0 {
			srv.ListIP(zones[i%nZones].Host, ip)
		}
	}

	var wall time.Duration
	srv.ResetCounters()
	for b.Loop() {
		c, err := dnsbl.New(dnsbl.Config{ResolverAddr: srv.Addr()}) // a cold cache each time
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res := c.LookupAll(context.Background(), targets, zones, nil)
		wall += time.Since(start)
		listed := 0
		for _, rs := range res {
			for _, r := range rs {
				switch r.Status {
				case dnsbl.Listed:
					listed++
				case dnsbl.Error:
					b.Fatalf("%s in %s: %v", r.Target, r.Zone, r.Err)
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
