package dnsbl

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Cache is a Resolver that remembers answers for their TTL, and NXDOMAIN/NODATA answers for
// the negative TTL of the zone's SOA, capped. Errors are not cached. It is safe for
// concurrent use; one Cache can serve the block-list client and the ASN client.
type Cache struct {
	// MaxTTL caps how long a positive answer is kept.
	MaxTTL time.Duration
	// MaxNegativeTTL caps how long a not-found answer is kept.
	MaxNegativeTTL time.Duration
	// MaxEntries bounds memory; when full, expired entries go first, then arbitrary ones.
	MaxEntries int

	resolver Resolver
	now      func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

// Cache defaults.
const (
	DefaultMaxTTL         = time.Hour
	DefaultMaxNegativeTTL = 5 * time.Minute
	DefaultMaxEntries     = 100_000
)

type cacheKey struct {
	name  string
	qtype QType
}

type cacheEntry struct {
	answer  Answer
	expires time.Time
}

// NewCache returns a cache in front of r. now is the clock (time.Now if nil); tests pass
// their own to expire entries without sleeping.
func NewCache(r Resolver, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{
		MaxTTL:         DefaultMaxTTL,
		MaxNegativeTTL: DefaultMaxNegativeTTL,
		MaxEntries:     DefaultMaxEntries,
		resolver:       r,
		now:            now,
		entries:        map[cacheKey]cacheEntry{},
	}
}

// Query implements Resolver. A cached answer's TTL is the time it has left.
func (c *Cache) Query(ctx context.Context, name string, qtype QType) (Answer, error) {
	k := cacheKey{strings.ToLower(strings.TrimSuffix(name, ".")), qtype}
	c.mu.Lock()
	e, ok := c.entries[k]
	now := c.now()
	if ok && now.Before(e.expires) {
		c.mu.Unlock()
		a := e.answer
		a.A, a.TXT = slices.Clone(a.A), slices.Clone(a.TXT)
		a.TTL = e.expires.Sub(now)
		return a, nil
	}
	if ok {
		delete(c.entries, k)
	}
	c.mu.Unlock()

	a, err := c.resolver.Query(ctx, name, qtype)
	if err != nil {
		return a, err
	}
	ttl := a.TTL
	if a.NotFound {
		ttl = min(ttl, c.MaxNegativeTTL)
	} else {
		ttl = min(ttl, c.MaxTTL)
	}
	if ttl <= 0 {
		return a, nil
	}
	stored := a
	stored.A, stored.TXT = slices.Clone(a.A), slices.Clone(a.TXT)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.MaxEntries > 0 && len(c.entries) >= c.MaxEntries {
		c.evict(c.now())
	}
	c.entries[k] = cacheEntry{answer: stored, expires: c.now().Add(ttl)}
	return a, nil
}

// Len returns the number of cached answers, expired ones included until they are evicted.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// evict drops expired entries and, if that is not enough, arbitrary ones down to 90% of
// MaxEntries. Called with c.mu held.
func (c *Cache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	target := c.MaxEntries * 9 / 10
	for k := range c.entries {
		if len(c.entries) <= target {
			break
		}
		delete(c.entries, k)
	}
}
