package policy

import "strings"

// scope keys one sender list: the list and "" (global), a domain, or a recipient address.
type scope struct {
	list List
	key  string
}

// senderBucket indexes one scope's patterns by what they match; each map holds the position
// in the document of the first entry with that key (later duplicates can never be first).
type senderBucket struct {
	addr   map[string]int // name@host: the lower-case address
	domain map[string]int // *@domain: the domain
	sub    map[string]int // *@*.domain: the parent domain
}

func newSenderBucket() *senderBucket {
	return &senderBucket{addr: map[string]int{}, domain: map[string]int{}, sub: map[string]int{}}
}

func (b *senderBucket) add(p Pattern, i int) {
	m, k := b.domain, p.domain
	switch {
	case p.local != "":
		m, k = b.addr, p.local+"@"+p.domain
	case p.sub:
		m = b.sub
	}
	if _, ok := m[k]; !ok {
		m[k] = i
	}
}

// find returns the first entry matching the lower-case address addr at domain dom, or -1. The
// cost is one map lookup per label of dom, whatever the number of entries.
func (b *senderBucket) find(addr, dom string) int {
	best := -1
	better := func(i int, ok bool) {
		if ok && (best < 0 || i < best) {
			best = i
		}
	}
	better(lookup(b.addr, addr))
	better(lookup(b.domain, dom))
	for d := dom; ; {
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			break
		}
		d = d[dot+1:]
		better(lookup(b.sub, d))
	}
	return best
}

func lookup(m map[string]int, k string) (int, bool) {
	i, ok := m[k]
	return i, ok
}

// Sender returns the first entry on list, in document order, whose pattern matches any of
// addrs (typically the envelope sender and the header From).
//
// With user true it searches only the entries scoped to recipient (an end user's own list in
// the document; entries in the store are the caller's). With user false it searches the
// global entries and those scoped to the recipient's domain. Lookups cost a few map lookups
// per address, independent of the number of entries.
func (c *Compiled) Sender(list List, user bool, recipient string, addrs ...string) (SenderEntry, bool) {
	rcpt := strings.ToLower(recipient)
	var buckets [2]*senderBucket
	if user {
		buckets[0] = c.index[scope{list, rcpt}]
	} else {
		buckets[0] = c.index[scope{list, ""}]
		if d := domainOf(rcpt); d != "" {
			buckets[1] = c.index[scope{list, d}]
		}
	}
	best := -1
	for _, a := range addrs {
		a = strings.ToLower(a)
		at := strings.LastIndexByte(a, '@')
		if at <= 0 || at == len(a)-1 {
			continue
		}
		for _, b := range buckets {
			if b == nil {
				continue
			}
			if i := b.find(a, a[at+1:]); i >= 0 && (best < 0 || i < best) {
				best = i
			}
		}
	}
	if best < 0 {
		return SenderEntry{}, false
	}
	return c.senders[best], true
}
