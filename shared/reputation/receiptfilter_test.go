package reputation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func block(ip string, expiresIn time.Duration) Block {
	return Block{Prefix: Key(netip.MustParseAddr(ip)), Spam: 10, Window: time.Hour, Expires: t0.Add(expiresIn)}
}

func cidrs(fs []Filter) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.CIDR.String())
	}
	slices.Sort(out)
	return out
}

func TestPlanMergesAdjacentAddresses(t *testing.T) {
	s := NewSyncer(nil)
	p := s.Plan([]Block{
		block("192.0.2.0", time.Hour), block("192.0.2.1", time.Hour), block("192.0.2.2", time.Hour), block("192.0.2.3", 2*time.Hour),
		block("192.0.2.5", time.Hour), block("192.0.2.6", time.Hour), // not siblings: .4/31 and .6/31
		block("198.51.100.7", time.Hour),
		block("2001:db8::1", time.Hour), // IPv6: enforced by the filter only
	}, nil)
	want := []string{"192.0.2.0/30", "192.0.2.5/32", "192.0.2.6/32", "198.51.100.7/32"}
	if got := cidrs(p.Want); !slices.Equal(got, want) {
		t.Errorf("want filters %v, got %v", want, got)
	}
	if len(p.Aggregated) != 0 || len(p.Dropped) != 0 {
		t.Errorf("nothing should be aggregated or dropped within budget: %v %v", p.Aggregated, p.Dropped)
	}
	for _, f := range p.Want {
		if f.CIDR.String() == "192.0.2.0/30" && f.Name != "moat-dyn-192-0-2-0-30" {
			t.Errorf("name %q", f.Name)
		}
	}
}

func TestPlanAggregatesOnlyOverBudget(t *testing.T) {
	var blocks []Block
	// 10 /24s with 6 scattered addresses each, one /24 with 2: 62 single addresses.
	for g := range 10 {
		for _, h := range []int{10, 50, 90, 130, 170, 210} {
			blocks = append(blocks, block(fmt.Sprintf("10.0.%d.%d", g, h), time.Duration(g+1)*time.Hour))
		}
	}
	blocks = append(blocks, block("10.99.0.1", time.Hour), block("10.99.0.200", time.Hour))
	s := NewSyncer(nil)
	s.Budget = 40
	p := s.Plan(blocks, nil)
	if len(p.Want) > 40 {
		t.Fatalf("%d filters over a budget of 40", len(p.Want))
	}
	// Each /24 aggregated saves 5 filters: 62 → 57 → ... → 37 after 5 of them; then the
	// adjacent 10.0.0.0/24 … 10.0.3.0/24 merge losslessly into one /22: 34.
	if len(p.Aggregated) != 5 || len(p.Want) != 34 || len(p.Dropped) != 0 {
		t.Errorf("aggregated %v, want 5 /24s; %d filters, %d dropped", p.Aggregated, len(p.Want), len(p.Dropped))
	}
	for _, a := range p.Aggregated {
		if a.Bits() != 24 {
			t.Errorf("aggregated %v is not a /24", a)
		}
	}
	if !slices.Contains(cidrs(p.Want), "10.0.0.0/22") {
		t.Errorf("adjacent whole /24s not merged: %v", cidrs(p.Want))
	}
	// The pair in 10.99.0.0/24 is under MinGroup: never widened to its /24.
	for _, f := range p.Want {
		if f.CIDR.String() == "10.99.0.0/24" {
			t.Error("a /24 with 2 blocked addresses was blocked whole")
		}
	}
}

func TestPlanExpiresOldestOverBudget(t *testing.T) {
	var blocks []Block
	for i := range 150 { // distinct /24s: nothing to merge or aggregate
		blocks = append(blocks, block(fmt.Sprintf("10.%d.%d.1", i/100, i%100), time.Duration(i+1)*time.Minute))
	}
	s := NewSyncer(nil)
	p := s.Plan(blocks, nil)
	if len(p.Want) != DefaultBudget || len(p.Dropped) != 100 {
		t.Fatalf("%d filters, %d dropped; want %d and 100", len(p.Want), len(p.Dropped), DefaultBudget)
	}
	// Kept: the 50 that expire last (i = 100..149).
	for _, f := range p.Want {
		if f.CIDR.Addr().As4()[1] != 1 {
			t.Errorf("kept %v, which expires among the soonest", f.CIDR)
		}
	}
	if p.Dropped[0].String() != "10.0.0.1/32" {
		t.Errorf("dropped first %v, want the soonest expiry 10.0.0.1/32", p.Dropped[0])
	}
}

func TestPlanLeavesRoomForOtherFilters(t *testing.T) {
	var existing []Filter
	for i := range 70 {
		existing = append(existing, Filter{Name: fmt.Sprintf("admin-%d", i), CIDR: netip.MustParsePrefix(fmt.Sprintf("172.16.%d.0/24", i)), Block: true})
	}
	var blocks []Block
	for i := range 45 {
		blocks = append(blocks, block(fmt.Sprintf("10.%d.0.1", i), time.Hour))
	}
	p := NewSyncer(nil).Plan(blocks, existing)
	if p.Budget != 30 || len(p.Want) != 30 || len(p.Dropped) != 15 {
		t.Errorf("budget %d, %d filters, %d dropped; want 30, 30, 15", p.Budget, len(p.Want), len(p.Dropped))
	}
}

func TestSyncWithinAccountLimit(t *testing.T) {
	ctx := context.Background()
	m := &MemoryFilters{}
	for i := range 60 { // the administrator's own filters
		if err := m.Create(ctx, Filter{Name: fmt.Sprintf("admin-%d", i), CIDR: netip.MustParsePrefix(fmt.Sprintf("172.16.%d.0/24", i)), Block: true}); err != nil {
			t.Fatal(err)
		}
	}
	// A filter from an earlier sync whose block has since expired.
	if err := m.Create(ctx, Filter{Name: "moat-dyn-203-0-113-9-32", CIDR: netip.MustParsePrefix("203.0.113.9/32"), Block: true}); err != nil {
		t.Fatal(err)
	}
	var blocks []Block
	for i := range 80 {
		blocks = append(blocks, block(fmt.Sprintf("10.%d.0.1", i), time.Duration(i+1)*time.Minute))
	}
	s := NewSyncer(m)
	p, err := s.Sync(ctx, blocks)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := m.List(ctx)
	if len(fs) != AccountLimit {
		t.Errorf("%d filters, want all %d used", len(fs), AccountLimit)
	}
	if !slices.Equal(p.Delete, []string{"moat-dyn-203-0-113-9-32"}) || len(p.Create) != 40 {
		t.Errorf("deleted %v, created %d; want the expired one deleted and 40 created", p.Delete, len(p.Create))
	}
	if m.Blocks(netip.MustParseAddr("203.0.113.9")) {
		t.Error("the expired block is still pushed")
	}
	if !m.Blocks(netip.MustParseAddr("10.79.0.1")) || m.Blocks(netip.MustParseAddr("10.0.0.1")) {
		t.Error("want the latest-expiring blocks pushed and the soonest left out")
	}
	for i := range 60 {
		if !m.Blocks(netip.MustParseAddr(fmt.Sprintf("172.16.%d.1", i))) {
			t.Fatalf("the administrator's filter admin-%d was touched", i)
		}
	}

	// Nothing changed: nothing to do.
	before := m.Calls()
	p, err = s.Sync(ctx, blocks)
	if err != nil || len(p.Create)+len(p.Delete) != 0 || m.Calls() != before+1 {
		t.Errorf("second sync: %v, %d creates, %d deletes, %d calls", err, len(p.Create), len(p.Delete), m.Calls()-before)
	}

	// Every block expired: every owned filter goes, the others stay.
	if _, err := s.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if fs, _ := m.List(ctx); len(fs) != 60 {
		t.Errorf("%d filters left, want the administrator's 60", len(fs))
	}
}

func TestMemoryFiltersEnforceLimit(t *testing.T) {
	ctx := context.Background()
	m := &MemoryFilters{}
	for i := range AccountLimit {
		if err := m.Create(ctx, Filter{Name: fmt.Sprintf("f%d", i), CIDR: netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", i)), Block: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Create(ctx, Filter{Name: "one-more", CIDR: netip.MustParsePrefix("10.1.0.0/24")}); !errors.Is(err, ErrLimit) {
		t.Errorf("filter %d: got %v, want ErrLimit", AccountLimit+1, err)
	}
	if err := m.Create(ctx, Filter{Name: "f1"}); err == nil {
		t.Error("duplicate name accepted")
	}
}

// fakeSES records the SES v1 calls SESFilters makes.
type fakeSES struct {
	filters []types.ReceiptFilter
	limit   bool
}

func (f *fakeSES) ListReceiptFilters(context.Context, *ses.ListReceiptFiltersInput, ...func(*ses.Options)) (*ses.ListReceiptFiltersOutput, error) {
	return &ses.ListReceiptFiltersOutput{Filters: f.filters}, nil
}

func (f *fakeSES) CreateReceiptFilter(_ context.Context, in *ses.CreateReceiptFilterInput, _ ...func(*ses.Options)) (*ses.CreateReceiptFilterOutput, error) {
	if f.limit {
		return nil, &types.LimitExceededException{Message: aws.String("limit")}
	}
	f.filters = append(f.filters, *in.Filter)
	return &ses.CreateReceiptFilterOutput{}, nil
}

func (f *fakeSES) DeleteReceiptFilter(_ context.Context, in *ses.DeleteReceiptFilterInput, _ ...func(*ses.Options)) (*ses.DeleteReceiptFilterOutput, error) {
	f.filters = slices.DeleteFunc(f.filters, func(x types.ReceiptFilter) bool { return aws.ToString(x.Name) == aws.ToString(in.FilterName) })
	return &ses.DeleteReceiptFilterOutput{}, nil
}

func TestSESFilters(t *testing.T) {
	ctx := context.Background()
	api := &fakeSES{filters: []types.ReceiptFilter{{Name: aws.String("office"), IpFilter: &types.ReceiptIpFilter{Cidr: aws.String("198.51.100.1"), Policy: types.ReceiptFilterPolicyAllow}}}}
	f := SESFilters{Client: api}
	if err := f.Create(ctx, Filter{Name: "moat-dyn-192-0-2-0-30", CIDR: netip.MustParsePrefix("192.0.2.0/30"), Block: true}); err != nil {
		t.Fatal(err)
	}
	got := api.filters[1]
	if aws.ToString(got.IpFilter.Cidr) != "192.0.2.0/30" || got.IpFilter.Policy != types.ReceiptFilterPolicyBlock {
		t.Errorf("created %s %s", aws.ToString(got.IpFilter.Cidr), got.IpFilter.Policy)
	}
	fs, err := f.List(ctx)
	if err != nil || len(fs) != 2 || fs[0].CIDR.String() != "198.51.100.1/32" || fs[0].Block || !fs[1].Block {
		t.Errorf("list: %v %+v", err, fs)
	}
	if err := f.Delete(ctx, "moat-dyn-192-0-2-0-30"); err != nil || len(api.filters) != 1 {
		t.Errorf("delete: %v, %d left", err, len(api.filters))
	}
	api.limit = true
	if err := f.Create(ctx, Filter{Name: "x", CIDR: netip.MustParsePrefix("192.0.2.9/32")}); !errors.Is(err, ErrLimit) {
		t.Errorf("limit: got %v, want ErrLimit", err)
	}
}

// BenchmarkPlan plans the receipt filters for 5,000 active blocks (far over budget: merging,
// /24 aggregation and expiry all run).
func BenchmarkPlan(b *testing.B) {
	var blocks []Block
	for i := range 5000 {
		blocks = append(blocks, block(fmt.Sprintf("10.%d.%d.%d", i%7, i%250, (i*37)%256), time.Duration(i)*time.Second))
	}
	s := NewSyncer(nil)
	for b.Loop() {
		s.Plan(blocks, nil)
	}
}
