package asn_test

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatmail/moat/shared/asn"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
)

func newClient(t *testing.T) (*dnsbltest.Server, *asn.Client) {
	t.Helper()
	srv, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	r := dnsbl.NewCache(&dnsbl.DNSResolver{Addr: srv.Addr(), Timeout: 300 * time.Millisecond}, nil)
	return srv, &asn.Client{Resolver: r}
}

func origin(ip string) string {
	a := netip.MustParseAddr(ip)
	if a.Is4() {
		return dnsbl.ReverseIP(a) + ".origin.asn.cymru.com"
	}
	return dnsbl.ReverseIP(a) + ".origin6.asn.cymru.com"
}

func TestLookup(t *testing.T) {
	srv, c := newClient(t)
	srv.SetTXT(origin("8.8.8.8"), "15169 | 8.8.8.0/24 | US | arin | 2023-12-28")
	srv.SetTXT("AS15169.asn.cymru.com", "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US")
	srv.SetTXT(origin("1.1.1.1"), "13335 15169 | 1.1.1.0/24 | AU | apnic | 2011-08-11")
	srv.SetTXT("AS13335.asn.cymru.com", "13335 | US | arin | 2010-07-14 | CLOUDFLARENET - Cloudflare, Inc., US")
	srv.SetTXT(origin("12.1.2.3"),
		"7018 | 12.0.0.0/8 | US | arin | 1983-08-23",
		"64500 | 12.1.0.0/16 | US | arin | ",
		"64501 | 12.1.0.0/16 | US | arin | ")
	srv.SetTXT("AS64500.asn.cymru.com", "64500 | US | arin |  | EXAMPLE-NET | with a pipe, US")
	srv.SetTXT(origin("2001:4860:4860::8888"), "15169 | 2001:4860::/32 | US | arin | 2005-03-14")
	srv.SetTXT(origin("192.0.2.1"), "64496 | 192.0.2.0/24 | ZZ | iana | ") // AS record missing

	tests := []struct {
		ip   string
		want asn.Info
	}{
		{"8.8.8.8", asn.Info{ASN: 15169, ASNs: []uint32{15169}, Prefix: netip.MustParsePrefix("8.8.8.0/24"),
			Country: "US", Registry: "arin", Allocated: "2023-12-28", Name: "GOOGLE - Google LLC, US"}},
		{"1.1.1.1", asn.Info{ASN: 13335, ASNs: []uint32{13335, 15169}, Prefix: netip.MustParsePrefix("1.1.1.0/24"),
			Country: "AU", Registry: "apnic", Allocated: "2011-08-11", Name: "CLOUDFLARENET - Cloudflare, Inc., US"}},
		{"12.1.2.3", asn.Info{ASN: 64500, ASNs: []uint32{64500, 64501, 7018}, Prefix: netip.MustParsePrefix("12.1.0.0/16"),
			Country: "US", Registry: "arin", Name: "EXAMPLE-NET | with a pipe, US"}},
		{"2001:4860:4860::8888", asn.Info{ASN: 15169, ASNs: []uint32{15169}, Prefix: netip.MustParsePrefix("2001:4860::/32"),
			Country: "US", Registry: "arin", Allocated: "2005-03-14", Name: "GOOGLE - Google LLC, US"}},
		{"::ffff:8.8.8.8", asn.Info{ASN: 15169, ASNs: []uint32{15169}, Prefix: netip.MustParsePrefix("8.8.8.0/24"),
			Country: "US", Registry: "arin", Allocated: "2023-12-28", Name: "GOOGLE - Google LLC, US"}},
		{"192.0.2.1", asn.Info{ASN: 64496, ASNs: []uint32{64496}, Prefix: netip.MustParsePrefix("192.0.2.0/24"),
			Country: "ZZ", Registry: "iana"}},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			got, err := c.Lookup(context.Background(), netip.MustParseAddr(tt.ip))
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// The IPv6 name is the full nibble form under origin6.
	if n := srv.QueriesFor("8.8.8.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.8.4.0.6.8.4.1.0.0.2.origin6.asn.cymru.com"); n != 1 {
		t.Errorf("IPv6 origin asked %d times, want 1", n)
	}
	// Answers are cached: asking again sends nothing.
	before := srv.Queries()
	c.Lookup(context.Background(), netip.MustParseAddr("8.8.8.8"))
	if n := srv.Queries() - before; n != 0 {
		t.Errorf("cached lookup sent %d queries", n)
	}
}

func TestLookupErrors(t *testing.T) {
	srv, c := newClient(t)
	srv.SetTXT(origin("203.0.113.1"), "not | a cymru record")
	srv.SetTXT(origin("203.0.113.2"), "64500 | 198.51.100.0/24 | US | arin | ")
	srv.SetTXT(origin("203.0.113.3"), "64500 | 203.0.113.0/24 | US | arin | ", "garbage")
	srv.SetRcode(origin("203.0.113.4"), dns.RcodeServerFailure)
	srv.Drop(origin("203.0.113.5"))
	srv.SetTXT(origin("203.0.113.6"), "64501 | 203.0.113.0/24 | US | arin | ")
	srv.SetRcode("AS64501.asn.cymru.com", dns.RcodeServerFailure)
	srv.SetTXT(origin("203.0.113.7"), "64502 | 203.0.113.0/24 | US | arin | ")
	srv.SetTXT("AS64502.asn.cymru.com", "64999 | US | arin | | OTHER")

	tests := []struct {
		ip       string
		errIs    error
		contains string
		partial  bool // Info has the origin despite the error
	}{
		{"10.1.2.3", asn.ErrNotFound, "not found", false}, // NXDOMAIN
		{"203.0.113.1", asn.ErrMalformed, `"not | a cymru record"`, false},
		{"203.0.113.2", nil, "another network", false},
		{"203.0.113.3", asn.ErrMalformed, `"garbage"`, false},
		{"203.0.113.4", dnsbl.ErrDNS, "servfail", false},
		{"203.0.113.5", dnsbl.ErrTimeout, "timeout", false},
		{"203.0.113.6", dnsbl.ErrDNS, "AS64501: dns error: servfail", true},
		{"203.0.113.7", nil, "answer for AS64999", true},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			info, err := c.Lookup(context.Background(), netip.MustParseAddr(tt.ip))
			if err == nil {
				t.Fatalf("Lookup = %+v, want an error", info)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("err %v, want %v", err, tt.errIs)
			}
			if tt.errIs != asn.ErrNotFound && errors.Is(err, asn.ErrNotFound) {
				t.Errorf("err %v must not be ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err %q, want it to contain %q", err, tt.contains)
			}
			if got := info.ASN != 0; got != tt.partial {
				t.Errorf("info %+v, want partial=%v", info, tt.partial)
			}
		})
	}
}

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		txt  string
		want asn.Origin
		bad  string
	}{
		{txt: "15169 | 8.8.8.0/24 | US | arin | 2023-12-28",
			want: asn.Origin{ASNs: []uint32{15169}, Prefix: netip.MustParsePrefix("8.8.8.0/24"), Country: "US", Registry: "arin", Allocated: "2023-12-28"}},
		{txt: "13335 15169  | 1.1.1.0/24|AU|apnic|",
			want: asn.Origin{ASNs: []uint32{13335, 15169}, Prefix: netip.MustParsePrefix("1.1.1.0/24"), Country: "AU", Registry: "apnic"}},
		{txt: "15169 | 2001:4860::/32 | US | arin | 2005-03-14",
			want: asn.Origin{ASNs: []uint32{15169}, Prefix: netip.MustParsePrefix("2001:4860::/32"), Country: "US", Registry: "arin", Allocated: "2005-03-14"}},
		{txt: "", bad: "5 fields"},
		{txt: "15169 | 8.8.8.0/24 | US | arin", bad: "5 fields"},
		{txt: " | 8.8.8.0/24 | US | arin | ", bad: "no AS number"},
		{txt: "AS-X | 8.8.8.0/24 | US | arin | ", bad: "AS number"},
		{txt: "0 | 8.8.8.0/24 | US | arin | ", bad: "AS number"},
		{txt: "4294967296 | 8.8.8.0/24 | US | arin | ", bad: "AS number"},
		{txt: "15169 | 8.8.8.8 | US | arin | ", bad: "prefix"},
		{txt: "15169 | 8.8.8.1/24 | US | arin | ", bad: "host bits"},
	}
	for _, tt := range tests {
		got, err := asn.ParseOrigin(tt.txt)
		if tt.bad != "" {
			if !errors.Is(err, asn.ErrMalformed) || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("ParseOrigin(%q) = %+v, %v; want an error about %s", tt.txt, got, err, tt.bad)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseOrigin(%q) = %+v, %v; want %+v", tt.txt, got, err, tt.want)
		}
	}
}

func TestParseAS(t *testing.T) {
	got, err := asn.ParseAS("13335 | US | arin | 2010-07-14 | CLOUDFLARENET - Cloudflare, Inc., US")
	want := asn.AS{ASN: 13335, Country: "US", Registry: "arin", Allocated: "2010-07-14", Name: "CLOUDFLARENET - Cloudflare, Inc., US"}
	if err != nil || got != want {
		t.Errorf("ParseAS = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "13335", "x | US | arin | 2010-07-14 | NAME", "13335 | US | arin"} {
		if _, err := asn.ParseAS(bad); !errors.Is(err, asn.ErrMalformed) {
			t.Errorf("ParseAS(%q): %v, want ErrMalformed", bad, err)
		}
	}
}
