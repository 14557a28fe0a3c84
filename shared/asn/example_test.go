package asn_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/moatmail/moat/shared/asn"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

func ExampleClient_Lookup() {
	// A local server plays Team Cymru; in production share the dnsbl client's resolver.
	srv, err := dnsbltest.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.SetTXT("1.1.1.1.origin.asn.cymru.com", "13335 | 1.1.1.0/24 | AU | apnic | 2011-08-11")
	srv.SetTXT("AS13335.asn.cymru.com", "13335 | US | arin | 2010-07-14 | CLOUDFLARENET - Cloudflare, Inc., US")

	bl, err := dnsbl.New(dnsbl.Config{ResolverAddr: srv.Addr()})
	if err != nil {
		panic(err)
	}
	c := &asn.Client{Resolver: bl.Resolver()}
	info, err := c.Lookup(context.Background(), netip.MustParseAddr("1.1.1.1"))
	fmt.Printf("AS%d %s %s %s %v\n", info.ASN, info.Prefix, info.Country, info.Name, err)
	// Output:
	// AS13335 1.1.1.0/24 AU CLOUDFLARENET - Cloudflare, Inc., US <nil>
}
