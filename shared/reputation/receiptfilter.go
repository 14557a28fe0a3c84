package reputation

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
)

// AccountLimit is how many receipt IP filters SES allows per account and region.
const AccountLimit = 100

// Defaults of a Syncer.
const (
	DefaultFilterPrefix = "moat-dyn-"
	DefaultBudget       = 50
	DefaultMinGroup     = 3
)

// Filter is one SES receipt IP filter.
type Filter struct {
	Name  string
	CIDR  netip.Prefix
	Block bool // Policy Block; false: Allow
}

// Filters is the account's SES receipt IP filters. SESFilters is the real one; MemoryFilters
// keeps them in memory (the local stack and tests: moto has no receipt filters).
type Filters interface {
	List(ctx context.Context) ([]Filter, error)
	Create(ctx context.Context, f Filter) error
	Delete(ctx context.Context, name string) error
}

// ErrLimit is returned by Filters.Create when the account already has AccountLimit filters.
var ErrLimit = errors.New("receipt filter limit reached")

// Syncer pushes active dynamic blocks to receipt IP filters, within a budget.
//
// It owns the filters whose names start with Prefix and never touches others (the
// administrator's own filters, another deployment's). It uses at most Budget filters, fewer
// when the account's other filters leave less room under AccountLimit. Blocks are turned into
// as few CIDRs as possible without blocking anything more (a /32 and its neighbour become one
// /31); when that is still over budget, IPv4 /24s holding at least MinGroup blocked addresses
// are blocked whole, largest groups first; when still over budget, the blocks that expire
// soonest are left out (they stay enforced by the filter, only not at SMTP time). Only IPv4
// blocks are pushed: SES receives over IPv4.
type Syncer struct {
	Filters  Filters
	Prefix   string
	Budget   int
	MinGroup int
}

// NewSyncer returns a syncer with the default prefix, budget and grouping.
func NewSyncer(f Filters) *Syncer {
	return &Syncer{Filters: f, Prefix: DefaultFilterPrefix, Budget: DefaultBudget, MinGroup: DefaultMinGroup}
}

// Plan is what a sync does.
type Plan struct {
	Budget     int            // filters this sync may own
	Want       []Filter       // the filters Moat should own afterwards
	Create     []Filter       // Want minus what exists
	Delete     []string       // owned filters not in Want
	Aggregated []netip.Prefix // /24s blocked whole to stay within budget
	Dropped    []netip.Prefix // blocks left out for lack of budget, soonest expiry first
}

// Plan computes a sync from the active blocks and the account's current filters.
func (s *Syncer) Plan(blocks []Block, existing []Filter) Plan {
	owned := map[string]Filter{}
	foreign := 0
	for _, f := range existing {
		if strings.HasPrefix(f.Name, s.Prefix) {
			owned[f.Name] = f
		} else {
			foreign++
		}
	}
	p := Plan{Budget: max(0, min(s.Budget, AccountLimit-foreign))}

	set := map[netip.Prefix]time.Time{}
	for _, b := range blocks {
		if !b.Prefix.Addr().Is4() {
			continue
		}
		q := b.Prefix.Masked()
		set[q] = later(set[q], b.Expires)
	}
	collapse(set)
	if len(set) > p.Budget {
		p.Aggregated = aggregate(set, p.Budget, max(s.MinGroup, 2))
		collapse(set)
	}
	es := sortedEntries(set)
	if len(es) > p.Budget {
		// es is newest expiry first: the tail expires soonest.
		for _, e := range slices.Backward(es[p.Budget:]) {
			p.Dropped = append(p.Dropped, e.p)
		}
		es = es[:p.Budget]
	}
	want := map[string]bool{}
	for _, e := range es {
		f := Filter{Name: s.name(e.p), CIDR: e.p, Block: true}
		p.Want = append(p.Want, f)
		want[f.Name] = true
		if old, ok := owned[f.Name]; !ok || old.CIDR != f.CIDR || !old.Block {
			if ok {
				p.Delete = append(p.Delete, f.Name) // same name, other content: replace
			}
			p.Create = append(p.Create, f)
		}
	}
	for name := range owned {
		if !want[name] {
			p.Delete = append(p.Delete, name)
		}
	}
	slices.Sort(p.Delete)
	return p
}

// Sync makes the owned filters match the blocks: deletions first, to make room.
func (s *Syncer) Sync(ctx context.Context, blocks []Block) (Plan, error) {
	existing, err := s.Filters.List(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("list receipt filters: %w", err)
	}
	p := s.Plan(blocks, existing)
	for _, name := range p.Delete {
		if err := s.Filters.Delete(ctx, name); err != nil {
			return p, fmt.Errorf("delete receipt filter %s: %w", name, err)
		}
	}
	for _, f := range p.Create {
		if err := s.Filters.Create(ctx, f); err != nil {
			return p, fmt.Errorf("create receipt filter %s: %w", f.Name, err)
		}
	}
	return p, nil
}

// name is a filter name for a prefix: letters, digits and dashes only.
func (s *Syncer) name(p netip.Prefix) string {
	r := strings.NewReplacer(".", "-", ":", "-", "/", "-")
	return s.Prefix + r.Replace(p.String())
}

type entry struct {
	p       netip.Prefix
	expires time.Time
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sortedEntries returns the set newest expiry first, then by address.
func sortedEntries(set map[netip.Prefix]time.Time) []entry {
	es := make([]entry, 0, len(set))
	for p, e := range set {
		es = append(es, entry{p, e})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := b.expires.Compare(a.expires); c != 0 {
			return c
		}
		return cmp.Or(a.p.Addr().Compare(b.p.Addr()), a.p.Bits()-b.p.Bits())
	})
	return es
}

// collapse merges IPv4 sibling prefixes into their parent and drops prefixes inside others,
// so the set covers exactly the same addresses with fewer prefixes. A merged prefix expires
// with the latest of its parts.
func collapse(set map[netip.Prefix]time.Time) {
	for bits := 32; bits > 0; bits-- {
		for _, p := range slices.Collect(func(yield func(netip.Prefix) bool) {
			for q := range set {
				if q.Bits() == bits && !yield(q) {
					return
				}
			}
		}) {
			e, ok := set[p]
			if !ok {
				continue // merged with its sibling already
			}
			sib := sibling(p)
			se, ok := set[sib]
			if !ok {
				continue
			}
			delete(set, p)
			delete(set, sib)
			parent, _ := p.Addr().Prefix(bits - 1)
			set[parent] = later(later(e, se), set[parent])
		}
	}
	for p, e := range set {
		for bits := p.Bits() - 1; bits >= 0; bits-- {
			anc, _ := p.Addr().Prefix(bits)
			if ae, ok := set[anc]; ok {
				set[anc] = later(ae, e)
				delete(set, p)
				break
			}
		}
	}
}

func sibling(p netip.Prefix) netip.Prefix {
	a := p.Addr().As4()
	u := binary.BigEndian.Uint32(a[:]) ^ 1<<(32-p.Bits())
	binary.BigEndian.PutUint32(a[:], u)
	return netip.PrefixFrom(netip.AddrFrom4(a), p.Bits())
}

// aggregate replaces the prefixes inside a /24 with the whole /24 for /24s holding at least
// minGroup of them, largest groups first, until the set fits the budget. It returns the /24s.
func aggregate(set map[netip.Prefix]time.Time, budget, minGroup int) []netip.Prefix {
	groups := map[netip.Prefix][]netip.Prefix{}
	for p := range set {
		if p.Bits() > 24 {
			g, _ := p.Addr().Prefix(24)
			groups[g] = append(groups[g], p)
		}
	}
	var order []netip.Prefix
	for g, ms := range groups {
		if len(ms) >= minGroup {
			order = append(order, g)
		}
	}
	slices.SortFunc(order, func(a, b netip.Prefix) int {
		return cmp.Or(len(groups[b])-len(groups[a]), a.Addr().Compare(b.Addr()))
	})
	var out []netip.Prefix
	for _, g := range order {
		if len(set) <= budget {
			break
		}
		var e time.Time
		for _, m := range groups[g] {
			e = later(e, set[m])
			delete(set, m)
		}
		set[g] = e
		out = append(out, g)
	}
	return out
}

// sortByExpiry sorts blocks oldest expiry first.
func sortByExpiry(bs []Block) {
	slices.SortFunc(bs, func(a, b Block) int {
		return cmp.Or(a.Expires.Compare(b.Expires), a.Prefix.Addr().Compare(b.Prefix.Addr()))
	})
}

// SES is the part of the SES v1 client SESFilters uses.
type SES interface {
	ListReceiptFilters(ctx context.Context, in *ses.ListReceiptFiltersInput, opts ...func(*ses.Options)) (*ses.ListReceiptFiltersOutput, error)
	CreateReceiptFilter(ctx context.Context, in *ses.CreateReceiptFilterInput, opts ...func(*ses.Options)) (*ses.CreateReceiptFilterOutput, error)
	DeleteReceiptFilter(ctx context.Context, in *ses.DeleteReceiptFilterInput, opts ...func(*ses.Options)) (*ses.DeleteReceiptFilterOutput, error)
}

// SESFilters is the account's receipt IP filters in SES (v1 API; the calls need IAM resource
// "*": receipt filters have no ARNs).
type SESFilters struct{ Client SES }

// List returns every receipt filter of the account. Filters with a CIDR it cannot parse are
// returned with an invalid CIDR, so they still count against the limit.
func (s SESFilters) List(ctx context.Context) ([]Filter, error) {
	out, err := s.Client.ListReceiptFilters(ctx, &ses.ListReceiptFiltersInput{})
	if err != nil {
		return nil, err
	}
	fs := make([]Filter, 0, len(out.Filters))
	for _, f := range out.Filters {
		x := Filter{Name: aws.ToString(f.Name)}
		if f.IpFilter != nil {
			x.CIDR = parseCIDR(aws.ToString(f.IpFilter.Cidr))
			x.Block = f.IpFilter.Policy == types.ReceiptFilterPolicyBlock
		}
		fs = append(fs, x)
	}
	return fs, nil
}

// Create adds a filter; ErrLimit when the account has no room.
func (s SESFilters) Create(ctx context.Context, f Filter) error {
	policy := types.ReceiptFilterPolicyAllow
	if f.Block {
		policy = types.ReceiptFilterPolicyBlock
	}
	_, err := s.Client.CreateReceiptFilter(ctx, &ses.CreateReceiptFilterInput{Filter: &types.ReceiptFilter{
		Name:     aws.String(f.Name),
		IpFilter: &types.ReceiptIpFilter{Cidr: aws.String(f.CIDR.String()), Policy: policy},
	}})
	var le *types.LimitExceededException
	if errors.As(err, &le) {
		return fmt.Errorf("%w: %w", ErrLimit, err)
	}
	return err
}

// Delete removes a filter by name.
func (s SESFilters) Delete(ctx context.Context, name string) error {
	_, err := s.Client.DeleteReceiptFilter(ctx, &ses.DeleteReceiptFilterInput{FilterName: aws.String(name)})
	return err
}

func parseCIDR(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen())
	}
	return netip.Prefix{}
}

// MemoryFilters keeps receipt filters in memory and enforces SES's rules: at most
// AccountLimit filters, unique names. It stands in for SES where there is none (the local
// stack, tests). Safe for concurrent use.
type MemoryFilters struct {
	mu      sync.Mutex
	filters []Filter
	calls   int
}

// List returns the filters in creation order.
func (m *MemoryFilters) List(context.Context) ([]Filter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	return slices.Clone(m.filters), nil
}

// Create adds f, or fails with ErrLimit or for a name in use.
func (m *MemoryFilters) Create(_ context.Context, f Filter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if slices.ContainsFunc(m.filters, func(x Filter) bool { return x.Name == f.Name }) {
		return fmt.Errorf("filter %s already exists", f.Name)
	}
	if len(m.filters) >= AccountLimit {
		return ErrLimit
	}
	m.filters = append(m.filters, f)
	return nil
}

// Delete removes the filter named name; an unknown name is not an error (as in SES).
func (m *MemoryFilters) Delete(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	m.filters = slices.DeleteFunc(m.filters, func(x Filter) bool { return x.Name == name })
	return nil
}

// Calls returns how many calls the filters got.
func (m *MemoryFilters) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Blocks reports whether a filter blocks ip.
func (m *MemoryFilters) Blocks(ip netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.filters {
		if f.Block && f.CIDR.Contains(ip) {
			return true
		}
	}
	return false
}
