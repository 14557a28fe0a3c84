package audit_test

import (
	"fmt"

	"github.com/moatmail/moat/shared/audit"
)

// The monitored targets of a configuration: a CIDR prefix is expanded, duplicates drop out,
// and every bad value is reported with its field.
func ExampleSpec_Targets() {
	spec, err := audit.ParseSpec([]byte(`{"ips": ["192.0.2.25", "198.51.100.0/31", "192.0.2.25"], "domains": ["Example.COM"]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	targets, err := spec.Targets(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range targets {
		if t.Source != "" {
			fmt.Println(t.Kind, t.Name, "from", t.Source)
		} else {
			fmt.Println(t.Kind, t.Name)
		}
	}

	bad, _ := audit.ParseSpec([]byte(`{"ips": ["10.0.0.0/8"], "domains": ["localhost"]}`))
	_, err = bad.Targets(0)
	fmt.Println(err)
	// Output:
	// ip 192.0.2.25
	// ip 198.51.100.0 from 198.51.100.0/31
	// ip 198.51.100.1 from 198.51.100.0/31
	// domain example.com
	// ips[0] "10.0.0.0/8": too many targets: the prefix holds 16777216 addresses, more than the 4096 left under the cap of 4096 targets; list smaller prefixes
	// domains[0] "localhost": want a fully qualified domain name such as example.com
}

// The advice that comes with a listing of the whole network (UCEPROTECT level 3).
func ExampleNetworkAdvice() {
	fmt.Println(audit.NetworkAdvice("asn", 64500, "EXAMPLE-NET, ZZ"))
	// Output:
	// This is an ASN listing: the whole network AS64500 (EXAMPLE-NET, ZZ) is listed because of other customers of the provider. It is collateral and says nothing about your IPs; there is nothing to fix on your side. Do not pay for delisting or "whitelisting": the listing ends by itself when the network's abuse drops. Ask recipients who reject on UCEPROTECT level 3 to stop using it (UCEPROTECT itself warns of its collateral damage) and tell the provider.
}
