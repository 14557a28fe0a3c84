package policy

import (
	"maps"
	"net/netip"
	"slices"
)

// ipTable finds the longest prefix containing an address: one map per address family keyed
// by masked prefix, probed from the longest prefix length present to the shortest. A lookup
// costs at most one map probe per distinct prefix length in the lists.
type ipTable struct {
	v4, v6 ipFamily
}

type ipFamily struct {
	lens []int // distinct prefix lengths, longest first
	m    map[netip.Prefix]ipEntry
}

type ipEntry struct {
	block bool
	cidr  string
}

// add puts validated lists into the table. A prefix on both lists is a block.
func (t *ipTable) add(l IPLists) {
	for _, s := range l.Allow {
		if p, reason := parseIPEntry(s); reason == "" {
			t.put(p, false)
		}
	}
	for _, s := range l.Block {
		if p, reason := parseIPEntry(s); reason == "" {
			t.put(p, true)
		}
	}
}

func (t *ipTable) put(p netip.Prefix, block bool) {
	f := &t.v6
	if p.Addr().Is4() {
		f = &t.v4
	}
	if f.m == nil {
		f.m = map[netip.Prefix]ipEntry{}
	}
	if e, ok := f.m[p]; ok {
		e.block = e.block || block
		f.m[p] = e
		return
	}
	f.m[p] = ipEntry{block: block, cidr: p.String()}
	if !slices.Contains(f.lens, p.Bits()) {
		f.lens = append(f.lens, p.Bits())
		slices.SortFunc(f.lens, func(a, b int) int { return b - a })
	}
}

func (t *ipTable) clone() *ipTable {
	c := &ipTable{}
	for _, pair := range []struct{ dst, src *ipFamily }{{&c.v4, &t.v4}, {&c.v6, &t.v6}} {
		pair.dst.lens = slices.Clone(pair.src.lens)
		pair.dst.m = maps.Clone(pair.src.m)
	}
	return c
}

func (t *ipTable) lookup(ip netip.Addr) (ipEntry, bool) {
	ip = ip.Unmap().WithZone("")
	f := &t.v6
	if ip.Is4() {
		f = &t.v4
	}
	for _, bits := range f.lens {
		p, err := ip.Prefix(bits)
		if err != nil {
			continue
		}
		if e, ok := f.m[p]; ok {
			return e, true
		}
	}
	return ipEntry{}, false
}
