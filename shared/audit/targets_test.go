package audit_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
)

func names(ts []audit.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func TestSpecTargets(t *testing.T) {
	spec, err := audit.ParseSpec([]byte(`{"ips":["192.0.2.25","198.51.100.9/30","2001:DB8::25","::ffff:192.0.2.25"],
		"domains":["Example.COM.","mail.example.org"],"sesDedicatedIPs":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if !spec.SESDedicatedIPs {
		t.Error("sesDedicatedIPs not read")
	}
	ts, err := spec.Targets(0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.25", "198.51.100.8", "198.51.100.9", "198.51.100.10", "198.51.100.11",
		"2001:db8::25", "example.com", "mail.example.org"}
	if got := names(ts); !slices.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
	if ts[1].Source != "198.51.100.8/30" || ts[0].Source != "" {
		t.Errorf("sources %q %q", ts[0].Source, ts[1].Source)
	}
	if ts[6].Kind != dnsbl.KindDomain || ts[5].Kind != dnsbl.KindIP || ts[5].IP != netip.MustParseAddr("2001:db8::25") {
		t.Errorf("kinds: %+v %+v", ts[5], ts[6])
	}
}

func TestSpecErrors(t *testing.T) {
	tests := []struct {
		name, json string
		want       []string // each must be in the error
	}{
		{"unknown field", `{"ip":["192.0.2.1"]}`, []string{`unknown field "ip"`}},
		{"not JSON", `["192.0.2.1"]`, []string{"targets:"}},
		{"bad IP", `{"ips":["192.0.2.300"]}`, []string{`ips[0] "192.0.2.300"`, "IP address or a CIDR prefix"}},
		{"bad IP among domains", `{"domains":["192.0.2.300"]}`, []string{`domains[0] "192.0.2.300"`, "all digits"}},
		{"domain among IPs", `{"ips":["example.com"]}`, []string{`ips[0] "example.com"`}},
		{"IP among domains", `{"domains":["192.0.2.1"]}`, []string{`domains[0] "192.0.2.1"`, "put it in ips"}},
		{"bad domain", `{"domains":["localhost","ex ample.com","-a.example"]}`,
			[]string{`domains[0] "localhost"`, `domains[1] "ex ample.com"`, `domains[2] "-a.example"`}},
		{"bad CIDR", `{"ips":["192.0.2.0/33"]}`, []string{`ips[0] "192.0.2.0/33"`}},
		{"CIDR over the cap", `{"ips":["10.0.0.0/8"]}`, []string{`ips[0] "10.0.0.0/8"`, "16777216 addresses", "cap of 4096"}},
		{"IPv6 /64", `{"ips":["2001:db8::/64"]}`, []string{`ips[0] "2001:db8::/64"`, "18446744073709551616 addresses"}},
		{"every problem at once", `{"ips":["x","192.0.2.0/16"],"domains":[""]}`,
			[]string{`ips[0] "x"`, `ips[1] "192.0.2.0/16"`, `domains[0] "": empty`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := audit.ParseSpec([]byte(tt.json))
			if err == nil {
				_, err = spec.Targets(0)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCap(t *testing.T) {
	// Two /30s fit a cap of 12; a /29 after them does not, and the error names it.
	_, err := audit.ParseTargets([]string{"192.0.2.0/30", "192.0.2.4/30", "192.0.2.1", "198.51.100.0/29"}, 12)
	if !errors.Is(err, audit.ErrTooMany) || !strings.Contains(err.Error(), `"198.51.100.0/29"`) ||
		!strings.Contains(err.Error(), "8 addresses, more than the 4 left under the cap of 12") {
		t.Fatalf("err = %v", err)
	}
	ts, err := audit.ParseTargets([]string{"192.0.2.0/30", "192.0.2.1", "192.0.2.0/31"}, 4)
	if err != nil || len(ts) != 4 {
		t.Fatalf("duplicates count against the cap: %v %v", names(ts), err)
	}
	b := audit.NewBuilder(2)
	b.Add(netip.MustParseAddr("192.0.2.1"), audit.SESSource)
	b.Add(netip.MustParseAddr("192.0.2.1"), audit.SESSource)
	b.Add(netip.MustParseAddr("192.0.2.2"), audit.SESSource)
	b.Add(netip.MustParseAddr("192.0.2.3"), audit.SESSource)
	if _, err := b.Targets(); !errors.Is(err, audit.ErrTooMany) || !strings.Contains(err.Error(), "ses-dedicated 192.0.2.3") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseTargetsMixed(t *testing.T) {
	ts, err := audit.ParseTargets([]string{"192.0.2.1", "example.com", "2001:db8::/127"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ts); !slices.Equal(got, []string{"192.0.2.1", "example.com", "2001:db8::", "2001:db8::1"}) {
		t.Errorf("targets %v", got)
	}
	if _, err := audit.ParseTargets([]string{"report"}, 0); err == nil || !strings.Contains(err.Error(), `target "report"`) {
		t.Errorf("err = %v", err)
	}
}

func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "192.0.2.0/30", "example.com", "2001:db8::/126", "::ffff:1.2.3.4", "a..b", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := audit.ParseTargets([]string{s}, 16)
		if err != nil {
			return
		}
		for _, tg := range ts {
			if tg.Kind == dnsbl.KindIP {
				if !tg.IP.IsValid() || tg.IP.String() != tg.Name {
					t.Fatalf("%q: IP target %+v", s, tg)
				}
				continue
			}
			if _, err := (dnsbl.Zone{Kind: dnsbl.KindDomain, Host: "dbl.example"}).QueryName(tg.Name, ""); err != nil {
				t.Fatalf("%q: domain %q not accepted by dnsbl: %v", s, tg.Name, err)
			}
		}
	})
}
