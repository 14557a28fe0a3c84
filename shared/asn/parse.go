package asn

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrMalformed is wrapped by the errors of TXT records that do not parse.
var ErrMalformed = errors.New("malformed answer")

// Origin is one origin record: "13335 | 1.1.1.0/24 | AU | apnic | 2011-08-11". When several
// ASes announce the prefix the first field lists them all: "13335 15169 | ...".
type Origin struct {
	ASNs      []uint32
	Prefix    netip.Prefix
	Country   string
	Registry  string
	Allocated string
}

// AS is one AS record: "13335 | US | arin | 2010-07-14 | CLOUDFLARENET - Cloudflare, Inc., US".
type AS struct {
	ASN       uint32
	Country   string
	Registry  string
	Allocated string
	Name      string
}

// malformed quotes at most 200 bytes of the record.
func malformed(txt, why string) error {
	if len(txt) > 200 {
		txt = txt[:200] + "..."
	}
	return fmt.Errorf("%w: %s: %q", ErrMalformed, why, txt)
}

// fields splits a record at '|' into exactly n trimmed fields; the last keeps any further '|'.
func fields(txt string, n int) ([]string, bool) {
	f := strings.SplitN(txt, "|", n)
	if len(f) != n {
		return nil, false
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f, true
}

func parseASN(s string) (uint32, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "AS"), "as")
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, errors.New("bad AS number")
	}
	return uint32(n), nil
}

// ParseOrigin parses an origin record of origin.asn.cymru.com or origin6.asn.cymru.com.
func ParseOrigin(txt string) (Origin, error) {
	f, ok := fields(txt, 5)
	if !ok {
		return Origin{}, malformed(txt, "want 5 fields separated by '|'")
	}
	var o Origin
	for _, s := range strings.Fields(f[0]) {
		n, err := parseASN(s)
		if err != nil {
			return Origin{}, malformed(txt, "AS number "+strconv.Quote(s))
		}
		o.ASNs = append(o.ASNs, n)
	}
	if len(o.ASNs) == 0 {
		return Origin{}, malformed(txt, "no AS number")
	}
	p, err := netip.ParsePrefix(f[1])
	if err != nil {
		return Origin{}, malformed(txt, "prefix "+strconv.Quote(f[1]))
	}
	if p != p.Masked() {
		return Origin{}, malformed(txt, "prefix "+strconv.Quote(f[1])+" has host bits set")
	}
	o.Prefix = p
	o.Country, o.Registry, o.Allocated = f[2], f[3], f[4]
	return o, nil
}

// ParseAS parses an AS record of AS<n>.asn.cymru.com.
func ParseAS(txt string) (AS, error) {
	f, ok := fields(txt, 5)
	if !ok {
		return AS{}, malformed(txt, "want 5 fields separated by '|'")
	}
	n, err := parseASN(f[0])
	if err != nil {
		return AS{}, malformed(txt, "AS number "+strconv.Quote(f[0]))
	}
	return AS{ASN: n, Country: f[1], Registry: f[2], Allocated: f[3], Name: f[4]}, nil
}
