package dnsbl_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/dnsbl"
)

func TestCatalogue(t *testing.T) {
	zones := dnsbl.Catalogue()
	if len(zones) != 12 {
		t.Errorf("%d zones, want 12", len(zones))
	}
	names := map[string]bool{}
	for _, z := range zones {
		if err := z.Validate(); err != nil {
			t.Errorf("%s: %v", z.Name, err)
		}
		if names[z.Name] {
			t.Errorf("%s twice", z.Name)
		}
		names[z.Name] = true
		if strings.Contains(z.Host, "sorbs") {
			t.Errorf("%s: SORBS shut down in 2024", z.Name)
		}
		if z.DelistURL == "" || z.Advice == "" || z.Description == "" {
			t.Errorf("%s: missing delisting URL, advice or description", z.Name)
		}
		if len(z.Codes) == 0 && len(z.Bits) == 0 {
			t.Errorf("%s: no code meanings", z.Name)
		}
	}
	// Callers may change what they get without changing the catalogue.
	extra := netip.MustParseAddr("127.0.0.99")
	zones[0].Codes[extra] = dnsbl.Meaning{Text: "changed"}
	if _, ok := dnsbl.Catalogue()[0].Codes[extra]; ok {
		t.Error("Catalogue shares its maps between calls")
	}
}

func TestSelect(t *testing.T) {
	zs, err := dnsbl.Select(dnsbl.Catalogue(), "uceprotect-3", "spamhaus-zen")
	if err != nil || len(zs) != 2 || zs[0].Name != "uceprotect-3" || zs[1].Name != "spamhaus-zen" {
		t.Errorf("Select = %v, %v", zs, err)
	}
	if _, err := dnsbl.Select(dnsbl.Catalogue(), "sorbs"); err == nil || !strings.Contains(err.Error(), `"sorbs"`) {
		t.Errorf("unknown zone: %v", err)
	}
}

// Catalogue zones survive a JSON round trip, so operators can copy one as a template.
func TestZoneJSONRoundTrip(t *testing.T) {
	for _, z := range dnsbl.Catalogue() {
		b, err := json.Marshal(z)
		if err != nil {
			t.Fatalf("%s: %v", z.Name, err)
		}
		got, err := dnsbl.ParseZone(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", z.Name, err, b)
		}
		if !reflect.DeepEqual(got, z) {
			t.Errorf("%s: round trip changed the zone:\n%+v\n%+v", z.Name, got, z)
		}
	}
}

func TestParseZone(t *testing.T) {
	tests := []struct {
		name, json string
		field      string // in the error; "" for a valid zone
	}{
		{"minimal", `{"name":"local-bl","host":"bl.example.net","kind":"ip"}`, ""},
		{"full", `{"name":"local-bl","host":"bl.example.net","kind":"ip","level":"allocation",
			"codes":{"127.0.0.2":{"text":"listed","listing":true,"severity":"high"},"127.0.0.20":{"text":"good","listing":false}},
			"errorCodes":{"127.0.0.255":"rate limited"},"testPoints":true}`, ""},
		{"bitmask", `{"name":"uri-bl","host":"uri.example.net","kind":"domain","bits":{"2":{"text":"black","listing":true}},"testPoints":true,"testListed":"test.example.net"}`, ""},
		{"no name", `{"host":"bl.example.net","kind":"ip"}`, "name"},
		{"bad name", `{"name":"Local BL","host":"bl.example.net","kind":"ip"}`, "name"},
		{"no host", `{"name":"x","kind":"ip"}`, "host"},
		{"host with dot", `{"name":"x","host":"bl.example.net.","kind":"ip"}`, "host"},
		{"host with space", `{"name":"x","host":"bl example.net","kind":"ip"}`, "host"},
		{"bad dqs host", `{"name":"x","host":"bl.example.net","dqsHost":"a..b","kind":"ip"}`, "dqsHost"},
		{"no kind", `{"name":"x","host":"bl.example.net"}`, "kind"},
		{"bad kind", `{"name":"x","host":"bl.example.net","kind":"url"}`, "kind"},
		{"bad level", `{"name":"x","host":"bl.example.net","kind":"ip","level":"country"}`, "level"},
		{"code not an IP", `{"name":"x","host":"bl.example.net","kind":"ip","codes":{"127.0.0.300":{"text":"t","listing":true}}}`, `codes["127.0.0.300"]`},
		{"code outside 127/8", `{"name":"x","host":"bl.example.net","kind":"ip","codes":{"10.0.0.2":{"text":"t","listing":true}}}`, `codes["10.0.0.2"]`},
		{"code without text", `{"name":"x","host":"bl.example.net","kind":"ip","codes":{"127.0.0.2":{"listing":true}}}`, `codes["127.0.0.2"]`},
		{"bad severity", `{"name":"x","host":"bl.example.net","kind":"ip","codes":{"127.0.0.2":{"text":"t","listing":true,"severity":"extreme"}}}`, "severity"},
		{"severity of a non-listing", `{"name":"x","host":"bl.example.net","kind":"ip","codes":{"127.0.0.2":{"text":"t","severity":"high"}}}`, `codes["127.0.0.2"]`},
		{"code both listing and error", `{"name":"x","host":"bl.example.net","kind":"ip","codes":{"127.0.0.2":{"text":"t","listing":true}},"errorCodes":{"127.0.0.2":"e"}}`, `codes["127.0.0.2"]`},
		{"bit not a power of two", `{"name":"x","host":"bl.example.net","kind":"domain","bits":{"6":{"text":"t","listing":true}}}`, "bits[6]"},
		{"bit out of range", `{"name":"x","host":"bl.example.net","kind":"domain","bits":{"256":{"text":"t","listing":true}}}`, `bits["256"]`},
		{"error code without text", `{"name":"x","host":"bl.example.net","kind":"ip","errorCodes":{"127.0.0.1":" "}}`, `errorCodes["127.0.0.1"]`},
		{"test point not an IP", `{"name":"x","host":"bl.example.net","kind":"ip","testPoints":true,"testListed":"example.com"}`, "testListed"},
		{"misspelt field", `{"name":"x","hots":"bl.example.net","kind":"ip"}`, `"hots"`},
		{"not JSON", `{"name":`, "invalid zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := dnsbl.ParseZone([]byte(tt.json))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ParseZone: %v", err)
				}
				if z.Level == "" {
					t.Error("level not defaulted")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseZone accepted it: %+v", z)
			}
			if !errors.Is(err, dnsbl.ErrZone) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q, want ErrZone naming %s", err, tt.field)
			}
		})
	}
}

func TestParseZones(t *testing.T) {
	zs, err := dnsbl.ParseZones([]byte(`[{"name":"a","host":"a.example","kind":"ip"},{"name":"b","host":"b.example","kind":"domain"}]`))
	if err != nil || len(zs) != 2 || zs[0].Level != dnsbl.LevelSingle {
		t.Errorf("ParseZones = %+v, %v", zs, err)
	}
	_, err = dnsbl.ParseZones([]byte(`[{"name":"a","host":"a.example","kind":"ip"},{"name":"a","host":"b.example","kind":"ip"}]`))
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate names: %v", err)
	}
	_, err = dnsbl.ParseZones([]byte(`[{"name":"a","host":"a.example","kind":"ip"},{"name":"b","host":"b.example","kind":"x"}]`))
	if err == nil || !strings.Contains(err.Error(), `"b": kind`) {
		t.Errorf("bad second zone: %v", err)
	}
}

func TestQueryNameRejectsWrongKind(t *testing.T) {
	zen := dnsbl.Catalogue()[0]
	for _, target := range []string{"example.com", "bad_label!.example", "fe80::1%eth0"} {
		if _, err := zen.QueryName(target, ""); !errors.Is(err, dnsbl.ErrTarget) {
			t.Errorf("%s: %v, want ErrTarget", target, err)
		}
	}
}
