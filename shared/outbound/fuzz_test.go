package outbound

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeEvents: any payload decodes or fails, never panics; what decodes has a key and
// reasons for its recipients.
func FuzzDecodeEvents(f *testing.F) {
	files, _ := filepath.Glob("../../events/outbound/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, _, err := DecodeEvents(data)
		if err != nil {
			return
		}
		for _, ev := range evs {
			_ = ev.Key()
			for _, r := range ev.Recipients() {
				_ = ev.Reason(r)
			}
		}
	})
}

// FuzzParseTenants: any JSON is accepted or refused with an error, never a panic; what is
// accepted validates and survives a compact round trip.
func FuzzParseTenants(f *testing.F) {
	f.Add([]byte(`[{"id":"acme","organisation":"Acme","domains":["acme.example"],"policy":{"perIP":{"limit":5,"window":"1m"}}}]`))
	f.Add([]byte(`[{"id":"a","organisation":"A","domains":["a.example"],"sendingIPs":["2001:db8::1"],"policy":{"rateWindow":"2h","spike":{"factor":3}}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ParseTenants(data)
		if err != nil {
			return
		}
		var compact Tenants
		for _, x := range ts {
			compact = append(compact, x.Compact())
		}
		b, err := json.Marshal(compact)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseTenants(b)
		if err != nil {
			t.Fatalf("compact form %s refused: %v", b, err)
		}
		for i := range back {
			if back[i].Policy != ts[i].Policy {
				t.Fatalf("policy %+v became %+v", ts[i].Policy, back[i].Policy)
			}
		}
	})
}
