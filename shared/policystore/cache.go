package policystore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moatmail/moat/shared/awserr"
	"github.com/moatmail/moat/shared/policy"
)

// DefaultCacheTTL is how long a Cache serves a document before it reads the store again.
const DefaultCacheTTL = 60 * time.Second

// Cache serves the policy document to a warm function, reading the store at most once per
// TTL. It is safe for concurrent use.
type Cache struct {
	s   *Store
	ttl time.Duration

	mu      sync.Mutex
	doc     *policy.Policy // nil until the first successful read
	version int
	next    time.Time // when to read the store again

	compiled     *policy.Compiled
	compiledFrom *policy.Policy // the document compiled was compiled from
}

// NewCache returns a cache over s that reloads after ttl (DefaultCacheTTL when not positive).
func NewCache(s *Store, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Cache{s: s, ttl: ttl}
}

// Policy returns the current document. Callers share it and must not modify it; the same
// pointer comes back for as long as the stored version does not change, so a caller can
// keep what it derived from it (a compiled policy) by comparing pointers.
//
// When a reload fails with a temporary error (throttling, a timeout, a Put racing the read),
// Policy keeps serving the last good document and tries again after a tenth of the TTL; it
// returns the error only when it has no document yet. A permanent error is returned.
func (c *Cache) Policy(ctx context.Context, now time.Time) (*policy.Policy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.doc != nil && now.Before(c.next) {
		return c.doc, nil
	}
	known := -1
	if c.doc != nil {
		known = c.version
	}
	doc, v, err := c.s.get(ctx, known)
	if err != nil {
		if c.doc != nil && temporary(err) {
			c.next = now.Add(c.ttl / 10)
			return c.doc, nil
		}
		return nil, err
	}
	if doc != nil { // nil: the version is the one cached
		c.doc, c.version = doc, v
	}
	c.next = now.Add(c.ttl)
	return c.doc, nil
}

func temporary(err error) bool {
	return awserr.IsTemporary(err) || errors.Is(err, ErrConflict)
}

// Compiled returns the current document compiled, compiling each stored version once.
func (c *Cache) Compiled(ctx context.Context, now time.Time) (*policy.Compiled, error) {
	doc, err := c.Policy(ctx, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if doc == c.compiledFrom && c.compiled != nil {
		return c.compiled, nil
	}
	comp, err := policy.Compile(doc)
	if err != nil {
		return nil, fmt.Errorf("stored policy is invalid: %w", err)
	}
	c.compiledFrom, c.compiled = doc, comp
	return comp, nil
}
