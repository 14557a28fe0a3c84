package asn_test

import (
	"testing"

	"github.com/moatmail/moat/shared/asn"
)

// FuzzParse: Team Cymru records either parse into something consistent or fail with an
// error; they never panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"15169 | 8.8.8.0/24 | US | arin | 2023-12-28",
		"13335 15169 | 1.1.1.0/24 | AU | apnic | 2011-08-11",
		"15169 | 2001:4860::/32 | US | arin | 2005-03-14",
		"13335 | US | arin | 2010-07-14 | CLOUDFLARENET - Cloudflare, Inc., US",
		"| | | |", "garbage",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		if o, err := asn.ParseOrigin(txt); err == nil {
			if len(o.ASNs) == 0 || !o.Prefix.IsValid() || o.Prefix != o.Prefix.Masked() {
				t.Fatalf("ParseOrigin(%q) = %+v without an error", txt, o)
			}
			for _, n := range o.ASNs {
				if n == 0 {
					t.Fatalf("ParseOrigin(%q): AS 0", txt)
				}
			}
		}
		if a, err := asn.ParseAS(txt); err == nil && a.ASN == 0 {
			t.Fatalf("ParseAS(%q) = %+v without an error", txt, a)
		}
	})
}
