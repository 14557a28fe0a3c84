package audit_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
)

func kinds(cs []audit.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Kind)+" "+c.Target+" "+c.Zone)
	}
	return out
}

// TestDiffSequence runs audits against a changing DNS and checks what each run reports.
func TestDiffSequence(t *testing.T) {
	e := newEnv(t)
	s := e.srv
	s.SetTXT(origin("192.0.2.1"), "64500 | 192.0.2.0/24 | ZZ | ripencc | ")
	s.SetTXT(origin("192.0.2.2"), "64500 | 192.0.2.0/24 | ZZ | ripencc | ")
	s.SetTXT("AS64500.asn.cymru.com", "64500 | ZZ | ripencc |  | EXAMPLE-NET, ZZ")
	targets := []string{"192.0.2.1", "192.0.2.2", "example.com"}
	state := audit.State{}
	step := func(name string, want ...string) []audit.Change {
		t.Helper()
		e.auditor = newAuditor(t, s.Addr(), e.zones) // a new run: cold cache, zones checked again
		rep := e.run(t, targets...)
		rep.Time = rep.Time.Add(time.Duration(len(state.Targets)) * time.Hour)
		var changes []audit.Change
		state, changes = audit.Diff(state, rep, e.zones)
		if got := kinds(changes); !slices.Equal(got, want) {
			t.Fatalf("%s: changes\n  %q\nwant\n  %q", name, got, want)
		}
		return changes
	}

	step("first run, nothing listed")
	step("nothing changed")

	s.ListIP("bl.spamcop.net", "192.0.2.1")
	s.ListIP("dnsbl-3.uceprotect.net", "192.0.2.1")
	s.ListIP("dnsbl-3.uceprotect.net", "192.0.2.2")
	s.ListDomain("multi.surbl.org", "example.com", "127.0.0.16")
	cs := step("listed", "listed 192.0.2.1 spamcop", "listed example.com surbl-multi", "asn-listed AS64500 uceprotect-3")
	if c := cs[0]; c.Code != "127.0.0.2" || !strings.Contains(c.Meaning, "SpamCop") || c.DelistURL == "" || c.ASN != 64500 {
		t.Errorf("listing change %+v", c)
	}
	if c := cs[2]; !slices.Equal(c.Targets, []string{"192.0.2.1", "192.0.2.2"}) || c.ASName != "EXAMPLE-NET, ZZ" ||
		!strings.Contains(c.Advice, "Do not pay") || !strings.Contains(c.Advice, "level 3") {
		t.Errorf("ASN listing change %+v", c)
	}
	step("still listed: nothing changed")

	// A timeout and a SERVFAIL are not delistings.
	s.Drop("1.2.0.192.bl.spamcop.net")
	s.SetRcode("1.2.0.192.dnsbl-3.uceprotect.net", 2)
	s.SetRcode("2.2.0.192.dnsbl-3.uceprotect.net", 2)
	step("errors are not changes")
	if e := state.Targets["192.0.2.1"].Zones["spamcop"]; e.Status != dnsbl.Error || e.Known != dnsbl.Listed || e.Code != "127.0.0.2" {
		t.Errorf("state through an error: %+v", e)
	}

	// A code change while listed.
	s.Delete("1.2.0.192.bl.spamcop.net")
	s.ListIP("bl.spamcop.net", "192.0.2.1")
	s.ListIP("dnsbl-3.uceprotect.net", "192.0.2.1")
	s.ListIP("dnsbl-3.uceprotect.net", "192.0.2.2")
	s.ListDomain("multi.surbl.org", "example.com", "127.0.0.80")
	step("code changed", "listing-changed example.com surbl-multi")

	// Delisting; one IP of the ASN still listed: the ASN listing goes on.
	s.Delete("1.2.0.192.bl.spamcop.net")
	s.Delete("1.2.0.192.dnsbl-3.uceprotect.net")
	cs = step("delisted", "delisted 192.0.2.1 spamcop")
	if c := cs[0]; c.Code != "127.0.0.2" || !strings.Contains(c.Meaning, "SpamCop") {
		t.Errorf("delisting keeps the old code: %+v", c)
	}
	s.Delete("2.2.0.192.dnsbl-3.uceprotect.net")
	cs = step("ASN delisted", "asn-delisted AS64500 uceprotect-3")
	if !slices.Equal(cs[0].Targets, []string{"192.0.2.2"}) {
		t.Errorf("ASN delisting %+v", cs[0])
	}

	// The resolver starts rewriting NXDOMAIN: each zone becomes unusable, once.
	s.RewriteNXDOMAIN("192.0.2.80")
	cs = step("unusable", func() []string {
		var w []string
		for _, z := range e.zones {
			w = append(w, "zone-unusable  "+z.Name)
		}
		return w
	}()...)
	if c := cs[0]; c.Zone != "spamhaus-zen" || !strings.Contains(c.Meaning, "rewrites NXDOMAIN") || !strings.Contains(c.Advice, "DQS") {
		t.Errorf("unusable change %+v", c)
	}
	if e := state.Targets["example.com"].Zones["surbl-multi"]; e.Known != dnsbl.Listed {
		t.Errorf("an unusable zone delisted what it listed: %+v", e)
	}
	step("still unusable: nothing changed")
	s.RewriteNXDOMAIN("")
	step("usable again", func() []string {
		var w []string
		for _, z := range e.zones {
			w = append(w, "zone-usable  "+z.Name)
		}
		return w
	}()...)

	// A target no longer monitored leaves silently.
	targets = []string{"192.0.2.1"}
	step("fewer targets")
	if _, ok := state.Targets["example.com"]; ok || len(state.Targets) != 1 {
		t.Errorf("state keeps %v", state.Targets)
	}
}

func TestAlert(t *testing.T) {
	e := newEnv(t)
	e.srv.SetTXT(origin("192.0.2.1"), "64500 | 192.0.2.0/24 | ZZ | ripencc | ")
	e.srv.SetTXT("AS64500.asn.cymru.com", "64500 | ZZ | ripencc |  | EXAMPLE-NET, ZZ")
	e.srv.ListIP("bl.spamcop.net", "192.0.2.1")
	e.srv.ListIP("dnsbl-3.uceprotect.net", "192.0.2.1")
	e.srv.ListIP("dnsbl-2.uceprotect.net", "192.0.2.1")
	rep := e.run(t, "192.0.2.1")
	_, cs := audit.Diff(audit.State{}, rep, e.zones)
	subject, body := audit.Alert(cs, rep, "prod")
	if subject != "Moat blocklist audit (prod): 2 new listings, 1 new ASN listing" {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{
		"NEWLY LISTED",
		"- 192.0.2.1 (AS64500 EXAMPLE-NET, ZZ) in spamcop: 127.0.0.2 SpamCop",
		"delisting: https://www.spamcop.net/bl.shtml",
		"in uceprotect-2: 127.0.0.2 UCEPROTECT level 2", "[allocation listing: collateral]",
		"NEW ASN LISTINGS (collateral",
		"- AS64500 EXAMPLE-NET, ZZ in uceprotect-3: 127.0.0.2",
		"your IPs in it: 192.0.2.1",
		"Do not pay for delisting",
		"Ask recipients who reject on UCEPROTECT level 3 to stop using it",
		"Now: 1 target(s) listed in their own right, 2 network listing(s)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("alert lacks %q:\n%s", want, body)
		}
	}
	if s, b := audit.Alert(nil, rep, "prod"); s != "" || b != "" {
		t.Error("an alert without changes")
	}
}
