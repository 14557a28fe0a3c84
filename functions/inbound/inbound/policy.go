package inbound

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
)

// policySource serves the compiled policy from the warm function's cache, compiling a document
// once per change.
type policySource struct {
	*policystore.Store
	cache *policystore.Cache

	mu       sync.Mutex
	doc      *policy.Policy
	compiled *policy.Compiled
}

func newPolicySource(s *policystore.Store, ttl time.Duration) *policySource {
	return &policySource{Store: s, cache: policystore.NewCache(s, ttl)}
}

// Compiled returns the current policy, compiled.
func (p *policySource) Compiled(ctx context.Context, now time.Time) (*policy.Compiled, error) {
	doc, err := p.cache.Policy(ctx, now)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if doc == p.doc && p.compiled != nil {
		return p.compiled, nil
	}
	c, err := policy.Compile(doc)
	if err != nil {
		return nil, fmt.Errorf("stored policy is invalid: %w", err)
	}
	p.doc, p.compiled = doc, c
	return c, nil
}
