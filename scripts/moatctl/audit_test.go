package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
	"github.com/moatmail/moat/shared/schema"
)

// auditDNS serves the catalogue's test points, a few listings and Team Cymru's answers.
func auditDNS(t *testing.T) *dnsbltest.Server {
	t.Helper()
	srv, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for _, z := range dnsbl.Catalogue() {
		srv.TestPoints(z, "")
	}
	srv.ListIP("bl.spamcop.net", "192.0.2.1")
	srv.ListIP("dnsbl-3.uceprotect.net", "192.0.2.1")
	srv.ListIP("zen.spamhaus.org", "192.0.2.2", "127.255.255.254")
	srv.ListDomain("dbl.spamhaus.org", "example.com", "127.0.1.4")
	srv.SetTXT(dnsbl.ReverseIP(netip.MustParseAddr("192.0.2.1"))+".origin.asn.cymru.com", "64500 64501 | 192.0.2.0/24 | ZZ | ripencc | ")
	srv.SetTXT("AS64500.asn.cymru.com", "64500 | ZZ | ripencc |  | EXAMPLE-NET, ZZ")
	return srv
}

func TestAuditJSON(t *testing.T) {
	srv := auditDNS(t)
	stdout, _ := expect(t, 0, nil, "audit", "--resolver", srv.Addr(), "--json", "192.0.2.1", "192.0.2.2", "example.com")
	// Exactly the documented shape: no other keys.
	var raw map[string][]map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	for _, tg := range raw["targets"] {
		if len(tg) != 4 {
			t.Errorf("target keys %v", tg)
		}
		for _, z := range tg["zones"].([]any) {
			if m := z.(map[string]any); len(m) != 5 {
				t.Errorf("zone keys %v", m)
			}
		}
	}
	var got auditJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Targets) != 3 {
		t.Fatalf("targets %+v", got.Targets)
	}
	one := got.Targets[0]
	if one.Target != "192.0.2.1" || one.ASN == nil || *one.ASN != 64500 || one.ASName != "EXAMPLE-NET, ZZ" || len(one.Zones) != 9 {
		t.Errorf("192.0.2.1: %+v", one)
	}
	zone := func(tg auditTargetJSON, name string) auditZoneJSON {
		for _, z := range tg.Zones {
			if z.Zone == name {
				return z
			}
		}
		t.Fatalf("%s: no zone %s", tg.Target, name)
		return auditZoneJSON{}
	}
	if z := zone(one, "spamcop"); z.Status != "listed" || z.Code != "127.0.0.2" || !strings.Contains(z.Meaning, "SpamCop") || z.ASNListing {
		t.Errorf("spamcop %+v", z)
	}
	if z := zone(one, "uceprotect-3"); z.Status != "listed" || !z.ASNListing {
		t.Errorf("uceprotect-3 %+v", z)
	}
	if z := zone(one, "barracuda"); z.Status != "not-listed" || z.Code != "" {
		t.Errorf("barracuda %+v", z)
	}
	if z := zone(got.Targets[1], "spamhaus-zen"); z.Status != "error" || z.Code != "127.255.255.254" {
		t.Errorf("error code %+v", z)
	}
	if d := got.Targets[2]; d.ASN != nil || len(d.Zones) != 3 || zone(d, "spamhaus-dbl").Status != "listed" {
		t.Errorf("domain %+v", d)
	}
	if !strings.Contains(stdout, `"asn": null`) {
		t.Error("unknown ASN is not null")
	}
}

func TestAuditTable(t *testing.T) {
	srv := auditDNS(t)
	expect(t, 0, []string{
		"192.0.2.1  AS64500 EXAMPLE-NET, ZZ (192.0.2.0/24) [announced by 2 ASes: [64500 64501]]",
		"spamcop       listed  127.0.0.2",
		"[ASN listing: collateral]",
		"1 listed, 1 network listing(s) (collateral), 0 error(s), 0 not listed",
		"Summary: 1 target(s), 2 zone(s)", // only the zones asked for
	}, "audit", "--resolver", srv.Addr(), "--zones", "spamcop,uceprotect-3", "192.0.2.1")
}

func TestAuditTableAdvice(t *testing.T) {
	srv := auditDNS(t)
	stdout, _ := expect(t, 0, []string{
		"Summary: 2 target(s), 12 zone(s): 1 listed in their own right, 1 network listing(s) (collateral), 1 lookup error(s).",
		"Network listings:", "AS64500 EXAMPLE-NET, ZZ in uceprotect-3 (192.0.2.1)", "Do not pay for delisting",
		"public",
	}, "audit", "--resolver", srv.Addr(), "192.0.2.1", "192.0.2.2")
	if strings.Contains(stdout, "Unusable zones") {
		t.Errorf("no zone is unusable:\n%s", stdout)
	}
	srv.RewriteNXDOMAIN("127.0.0.2")
	expect(t, 0, []string{"Unusable zones (their results are errors, not listings):", "spamcop: zone unusable"},
		"audit", "--resolver", srv.Addr(), "192.0.2.3")
}

func TestAuditProgress(t *testing.T) {
	srv := auditDNS(t)
	_, stderr := expect(t, 0, nil, "audit", "--resolver", srv.Addr(), "--no-asn", "--json", "198.51.100.0/28")
	if !strings.Contains(stderr, "audit: 144/144 lookups (100%)") || strings.Count(stderr, "\n") > 11 {
		t.Errorf("progress:\n%s", stderr)
	}
}

func TestAuditErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"audit"}, "no targets given"},
		{[]string{"audit", "--resolver", "127.0.0.1:53", "192.0.2.300"}, `target "192.0.2.300"`},
		{[]string{"audit", "--resolver", "127.0.0.1:53", "10.0.0.0/8"}, `target "10.0.0.0/8": too many targets: the prefix holds 16777216 addresses`},
		{[]string{"audit", "--resolver", "127.0.0.1:53", "--zones", "spamcop,sorbs", "192.0.2.1"}, `--zones "spamcop,sorbs"`},
		{[]string{"audit", "--resolver", "dns.example", "192.0.2.1"}, `--resolver "dns.example"`},
		{[]string{"audit", "report", "extra"}, "audit report takes no arguments"},
	} {
		expect(t, 2, []string{tt.want}, tt.args...)
	}
}

func TestAuditReport(t *testing.T) {
	cfg, res := localTarget(t)
	expect(t, 0, []string{"No audit has run yet", "Current listings:", "none", "no changes recorded"}, "audit", "report")

	// Two runs of the real audit, stored as the function stores them.
	srv := auditDNS(t)
	store := &audit.Store{DB: dynamodb.NewFromConfig(cfg), Table: res.Tables[schema.Reputation.ID]}
	zones := dnsbl.Catalogue()
	state := audit.State{}
	ctx := context.Background()
	for i := range 2 {
		c, err := dnsbl.New(dnsbl.Config{ResolverAddr: srv.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		targets, _ := audit.ParseTargets([]string{"192.0.2.1", "example.com"}, 0)
		rep := (&audit.Auditor{DNSBL: c, Zones: zones}).Run(ctx, targets, time.Date(2026, 11, 29, 6+i, 0, 0, 0, time.UTC))
		next, changes := audit.Diff(state, rep, zones)
		if err := store.Save(ctx, state, next, audit.Summary(rep, changes), changes); err != nil {
			t.Fatal(err)
		}
		state = next
		srv.Delete(dnsbl.ReverseIP(netip.MustParseAddr("192.0.2.1")) + ".bl.spamcop.net")
	}
	expect(t, 0, []string{
		"Last audit 2026-11-29T07:00:00Z: 2 target(s), 12 zone(s), 1 listed in their own right, 1 network listing(s), 0 error(s), 1 change(s).",
		"192.0.2.1", "uceprotect-3", "[ASN listing: collateral]", "example.com", "spamhaus-dbl", "127.0.1.4",
		"delisted", "asn-listed", "unknown ASN (1 IPs)",
	}, "audit", "report")
	stdout, _ := expect(t, 0, nil, "audit", "report", "--json", "--history", "1")
	var got auditReportJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Targets) != 2 || len(got.Runs) != 2 || len(got.History) != 1 || got.History[0].Kind != audit.ChangeDelisted {
		t.Errorf("report %+v", got)
	}
	var buf bytes.Buffer
	fmt.Fprint(&buf, got.Targets[0].Zones["spamcop"].Known)
	if buf.String() != "not-listed" {
		t.Errorf("spamcop state %q", buf.String())
	}
}
