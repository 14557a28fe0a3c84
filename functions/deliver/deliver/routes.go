package deliver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
)

// ErrNoRoute means the policy has no route for the domain (or does not serve it).
var ErrNoRoute = errors.New("no route for the domain")

// PolicyRoutes serves the domains' routes from the policy document, compiled once per change
// of the stored version and cached in the warm function.
type PolicyRoutes struct {
	cache *policystore.Cache

	mu       sync.Mutex
	doc      *policy.Policy
	compiled *policy.Compiled
}

// NewRoutes returns routes read through a cache over s that reloads after ttl.
func NewRoutes(s *policystore.Store, ttl time.Duration) *PolicyRoutes {
	return &PolicyRoutes{cache: policystore.NewCache(s, ttl)}
}

// Route returns the domain's route with its defaults filled in, or ErrNoRoute. The route is
// shared: do not modify it.
func (p *PolicyRoutes) Route(ctx context.Context, domain string, now time.Time) (*policy.Route, error) {
	doc, err := p.cache.Policy(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	p.mu.Lock()
	if doc != p.doc || p.compiled == nil {
		c, err := policy.Compile(doc)
		if err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("stored policy is invalid: %w", err)
		}
		p.doc, p.compiled = doc, c
	}
	c := p.compiled
	p.mu.Unlock()
	if !c.Serves(domain) {
		return nil, fmt.Errorf("%w %s: not a served domain", ErrNoRoute, domain)
	}
	r := c.Effective(domain).Route
	if r == nil {
		return nil, fmt.Errorf("%w %s", ErrNoRoute, domain)
	}
	return r, nil
}
