package reputation_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/moatmail/moat/shared/reputation"
)

// Plan turns active blocks into receipt filters: adjacent addresses share one CIDR, and an
// IPv6 block stays with the filter core (SES receives over IPv4).
func ExampleSyncer_Plan() {
	exp := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var blocks []reputation.Block
	for _, ip := range []string{"192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7", "198.51.100.9", "2001:db8::1"} {
		blocks = append(blocks, reputation.Block{Prefix: reputation.Key(netip.MustParseAddr(ip)), Expires: exp})
	}
	s := reputation.NewSyncer(nil)
	p := s.Plan(blocks, []reputation.Filter{{Name: "office", CIDR: netip.MustParsePrefix("203.0.113.0/24")}})
	fmt.Println("budget:", p.Budget)
	for _, f := range p.Create {
		fmt.Println(f.Name, f.CIDR)
	}
	// Output:
	// budget: 50
	// moat-dyn-192-0-2-4-30 192.0.2.4/30
	// moat-dyn-198-51-100-9-32 198.51.100.9/32
}
