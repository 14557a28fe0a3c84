package dnsbl_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/moatmail/moat/shared/dnsbl"
)

// FuzzParseZone: a zone definition from configuration either fails with an error or yields a
// valid zone that survives a JSON round trip; it never panics.
func FuzzParseZone(f *testing.F) {
	for _, z := range dnsbl.Catalogue() {
		b, _ := json.Marshal(z)
		f.Add(b)
	}
	f.Add([]byte(`{"name":"x","host":"bl.example.net","kind":"ip","codes":{"127.0.0.2":{"text":"t","listing":true}}}`))
	f.Add([]byte(`{"name":"x","host":"bl.example.net","kind":"domain","bits":{"2":{"text":"t","listing":true}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := dnsbl.ParseZone(data)
		if err != nil {
			return
		}
		if err := z.Validate(); err != nil {
			t.Fatalf("ParseZone returned an invalid zone: %v", err)
		}
		b, err := json.Marshal(z)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		z2, err := dnsbl.ParseZone(b)
		if err != nil {
			t.Fatalf("round trip: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(z, z2) {
			t.Fatalf("round trip changed the zone:\n%+v\n%+v", z, z2)
		}
	})
}
