package inbound

import (
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// TestURIBlocklists: a link domain on the Spamhaus DBL makes the message phishing with
// uri-listed in its reasons; an error code from the DBL, and zones whose test points fail
// (SURBL and URIBL here), add no listing.
func TestURIBlocklists(t *testing.T) {
	// High sensitivity (70): the IP-literal link (20) alone does not make spam, with a listed
	// domain (50) it does.
	e := newRepEnv(t, "domains:\n  example.com: {sensitivity: high}\n", nil)
	if len(e.h.IP.URIZones) != len(DefaultURIZones) {
		t.Fatalf("URI zones %v: want the defaults with DNSBL_ZONES and a resolver set", e.h.IP.URIZones)
	}
	dbl, _ := dnsbl.Select(dnsbl.Catalogue(), "spamhaus-dbl")
	e.dns.TestPoints(dbl[0], "")
	e.dns.ListDomain("dbl.spamhaus.org", "bad-bank.example", "127.0.1.4")
	e.dns.ListDomain("dbl.spamhaus.org", "queried-wrong.example", "127.0.1.255") // an error code

	body := func(domain string) string {
		return "Your account is locked. Log in at https://login." + domain + "/verify?id=1\r\n" +
			"or at http://192.0.2.4/verify\r\nSee also https://www.help-desk.test/help\r\n"
	}
	for i, tc := range []struct {
		domain string
		listed bool
	}{
		{"bad-bank.example", true},
		{"queried-wrong.example", false},
		{"fine-bank.example", false},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			e.t = t
			ev := e.mail("clean.json", msgID(500+i), "198.51.100.23", "alice@example.com")
			e.store(ev, body(tc.domain))
			r := e.handle(ev)
			detail := ""
			for _, x := range r.Reasons {
				detail += x.Detail + ";"
			}
			if !tc.listed {
				if r.Action != verdict.Deliver || hasReason(r, verdict.Phish) || hasReason(r, verdict.Spam) || strings.Contains(detail, heuristic.URIListed) {
					t.Errorf("%s: %s %v; want delivered without uri-listed", tc.domain, r.Action, r.Reasons)
				}
				return
			}
			if r.Status != tracking.Quarantined || !hasReason(r, verdict.Phish) || !strings.Contains(detail, "uri-listed 50 (bad-bank.example on spamhaus-dbl (Spamhaus DBL: phishing domain))") {
				t.Errorf("%s: %s %v; want quarantined as phish with uri-listed", tc.domain, r.Status, r.Reasons)
			}
		})
	}
	if n := e.dns.QueriesFor("help-desk.test.dbl.spamhaus.org."); n != 1 {
		t.Errorf("%d queries for help-desk.test in the DBL, want 1 (registrable domain, deduplicated, cached)", n)
	}
}

func TestLoadURIBLConfig(t *testing.T) {
	base := map[string]string{
		"MAIL_BUCKET": "b", "POLICY_TABLE": "p", "TRACKING_TABLE": "t", "DELIVERY_QUEUE_URL": "q",
		"BOUNCE_SENDER": "mailer-daemon@example.com",
	}
	load := func(vars map[string]string) (Config, error) {
		all := map[string]string{}
		for k, v := range base {
			all[k] = v
		}
		for k, v := range vars {
			all[k] = v
		}
		return LoadConfig(func(k string) string { return all[k] })
	}
	names := func(zs []dnsbl.Zone) string {
		var out []string
		for _, z := range zs {
			out = append(out, z.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{nil, ""}, // tests and the local stack: no lookups
		{map[string]string{"DNSBL_ZONES": "none"}, ""},
		{map[string]string{"DNSBL_ZONES": "default"}, "surbl-multi,uribl-multi"}, // AWS's resolver: no DBL
		{map[string]string{"DNSBL_ZONES": "default", "DQS_KEY_PARAM": "/moat/dqs"}, "spamhaus-dbl,surbl-multi,uribl-multi"},
		{map[string]string{"DNSBL_ZONES": "default", "URIBL_ZONES": "none"}, ""},
		{map[string]string{"URIBL_ZONES": "surbl-multi"}, "surbl-multi"},
		{map[string]string{"URIBL_ZONES": "local-uri", "DNSBL_EXTRA_ZONES": `[{"name":"local-uri","host":"uri.example.net","kind":"domain","codes":{"127.0.0.2":{"text":"local","listing":true,"severity":"high"}}}]`}, "local-uri"},
	} {
		c, err := load(tc.vars)
		if err != nil || names(c.Reputation.URIZones) != tc.want {
			t.Errorf("%v: URI zones %q, %v; want %q", tc.vars, names(c.Reputation.URIZones), err, tc.want)
		}
	}
	_, err := load(map[string]string{"URIBL_ZONES": "spamcop,nosuch"})
	for _, want := range []string{`URIBL_ZONES "spamcop": the zone lists IP addresses`, `URIBL_ZONES "nosuch": unknown zone (domain zones: spamhaus-dbl`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
