package dnsbl_test

import (
	"context"
	"fmt"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

func ExampleClient_Lookup() {
	// A local server plays the block lists; in production ResolverAddr is your resolver.
	srv, err := dnsbltest.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	zones, _ := dnsbl.Select(dnsbl.Catalogue(), "spamhaus-zen", "spamcop", "uceprotect-3")
	for _, z := range zones {
		srv.TestPoints(z, "")
	}
	srv.ListIP("zen.spamhaus.org", "192.0.2.25", "127.0.0.2", "127.0.0.9")
	srv.ListIP("bl.spamcop.net", "192.0.2.25", "127.255.255.254") // not a SpamCop code: unknown range error
	srv.ListIP("dnsbl-3.uceprotect.net", "192.0.2.25")

	c, err := dnsbl.New(dnsbl.Config{ResolverAddr: srv.Addr()})
	if err != nil {
		panic(err)
	}
	for _, r := range c.Lookup(context.Background(), "192.0.2.25", zones...) {
		fmt.Printf("%s: %s: %s (asn listing: %v)\n", r.Zone, r.Status, r.Meaning, r.ASNListing)
	}
	// Output:
	// spamhaus-zen: listed: Spamhaus SBL: spam source or spam operation; Spamhaus DROP: netblock hijacked or run by criminals (asn listing: false)
	// spamcop: error: 127.255.255.254: unknown code in the error range 127.255.255.0/24 (asn listing: false)
	// uceprotect-3: listed: UCEPROTECT level 3: the IP's whole ASN is listed (collateral, not about this IP) (asn listing: true)
}

func ExampleParseZone() {
	z, err := dnsbl.ParseZone([]byte(`{
		"name": "local-bl",
		"host": "bl.example.net",
		"kind": "ip",
		"codes": {"127.0.0.2": {"text": "local: seen at our traps", "listing": true, "severity": "medium"}},
		"errorCodes": {"127.0.0.255": "local: rate limited"},
		"testPoints": true
	}`))
	fmt.Println(z.Name, z.Kind, z.Level, err)
	_, err = dnsbl.ParseZone([]byte(`{"name": "local-bl", "host": "bl.example.net", "kind": "ip", "level": "country"}`))
	fmt.Println(err)
	// Output:
	// local-bl ip single <nil>
	// invalid zone "local-bl": level: "country" is not single, allocation or asn
}
