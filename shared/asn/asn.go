// Package asn maps IP addresses to the autonomous systems announcing them, through Team
// Cymru's IP-to-ASN DNS service:
//
//	<reversed IPv4>.origin.asn.cymru.com  TXT "ASN | prefix | CC | registry | allocated"
//	<IPv6 nibbles>.origin6.asn.cymru.com  TXT (the same)
//	AS<n>.asn.cymru.com                   TXT "ASN | CC | registry | allocated | name"
//
// It needs the AS of an IP to report block-list listings of a whole ASN (UCEPROTECT level 3)
// as collateral. Not found (an unrouted or private address) is ErrNotFound; DNS failures and
// malformed answers are other errors, never an empty Info.
package asn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/moatmail/moat/shared/dnsbl"
)

// ErrNotFound means Team Cymru has no origin for the address (or no record for the AS).
var ErrNotFound = errors.New("not found")

// DefaultZone is Team Cymru's IP-to-ASN zone.
const DefaultZone = "asn.cymru.com"

// Info is what is known about the network of an IP address.
type Info struct {
	ASN       uint32       // the origin AS of the most specific prefix (the first of ASNs)
	ASNs      []uint32     // every origin AS seen, those of the most specific prefix first
	Prefix    netip.Prefix // the most specific announced prefix holding the IP
	Country   string       // ISO 3166 code of the prefix's allocation, e.g. "US"
	Registry  string       // e.g. "arin", "ripencc"
	Allocated string       // allocation date as published, e.g. "2007-03-19"; may be empty
	Name      string       // the AS's name, e.g. "CLOUDFLARENET - Cloudflare, Inc., US"
}

// Client looks addresses up. Share the dnsbl client's resolver (dnsbl.Client.Resolver) to
// share its cache and its bound on queries in flight.
type Client struct {
	Resolver dnsbl.Resolver
	Zone     string // DefaultZone if empty
}

func (c *Client) zone() string {
	if c.Zone == "" {
		return DefaultZone
	}
	return c.Zone
}

// Lookup returns the origin of ip and the name of its AS. If the name alone cannot be found,
// Info has no Name and err is nil; if the name lookup fails otherwise, Info has everything
// but the Name and err says why.
func (c *Client) Lookup(ctx context.Context, ip netip.Addr) (Info, error) {
	info, err := c.Origin(ctx, ip)
	if err != nil {
		return Info{}, err
	}
	as, err := c.AS(ctx, info.ASN)
	switch {
	case errors.Is(err, ErrNotFound):
		return info, nil
	case err != nil:
		return info, err
	}
	info.Name = as.Name
	return info, nil
}

// Origin returns the origin of ip without the AS name.
func (c *Client) Origin(ctx context.Context, ip netip.Addr) (Info, error) {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return Info{}, errors.New("origin: invalid IP address")
	}
	zone := "origin." + c.zone()
	if ip.Is6() {
		zone = "origin6." + c.zone()
	}
	name := dnsbl.ReverseIP(ip) + "." + zone + "."
	a, err := c.Resolver.Query(ctx, name, dnsbl.TypeTXT)
	if err != nil {
		return Info{}, fmt.Errorf("origin of %s: %w: %w", ip, dnsbl.ErrDNS, err)
	}
	if a.NotFound || len(a.TXT) == 0 {
		return Info{}, fmt.Errorf("origin of %s: %w", ip, ErrNotFound)
	}
	var origins []Origin
	for _, txt := range a.TXT {
		o, err := ParseOrigin(txt)
		if err != nil {
			return Info{}, fmt.Errorf("origin of %s: %w", ip, err)
		}
		if !o.Prefix.Contains(ip) {
			return Info{}, fmt.Errorf("origin of %s: answer for another network: %q", ip, txt)
		}
		origins = append(origins, o)
	}
	// Most specific prefix first; equal prefixes (one record per origin AS) merge.
	slices.SortStableFunc(origins, func(a, b Origin) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	best := origins[0]
	info := Info{
		Prefix: best.Prefix, Country: best.Country, Registry: best.Registry, Allocated: best.Allocated,
	}
	for _, o := range origins {
		for _, n := range o.ASNs {
			if !slices.Contains(info.ASNs, n) {
				info.ASNs = append(info.ASNs, n)
			}
		}
	}
	info.ASN = info.ASNs[0]
	return info, nil
}

// AS returns what Team Cymru publishes about an AS, its name included.
func (c *Client) AS(ctx context.Context, asn uint32) (AS, error) {
	name := fmt.Sprintf("AS%d.%s.", asn, c.zone())
	a, err := c.Resolver.Query(ctx, name, dnsbl.TypeTXT)
	if err != nil {
		return AS{}, fmt.Errorf("AS%d: %w: %w", asn, dnsbl.ErrDNS, err)
	}
	if a.NotFound || len(a.TXT) == 0 {
		return AS{}, fmt.Errorf("AS%d: %w", asn, ErrNotFound)
	}
	// One record is expected; take the first that parses as this AS.
	var firstErr error
	for _, txt := range a.TXT {
		as, err := ParseAS(txt)
		if err == nil && as.ASN != asn {
			err = fmt.Errorf("answer for AS%d: %q", as.ASN, txt)
		}
		if err == nil {
			return as, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return AS{}, fmt.Errorf("AS%d: %w", asn, firstErr)
}
