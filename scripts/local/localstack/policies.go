package localstack

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
)

// policies serves the compiled policy to the SMTP listener (as SES's receipt rule and IP
// filters follow the configuration) and to the inbound handler, re-read from the store at most
// once per cache period: the local stack uses a short period so that moatctl's changes show at
// once. The directory and end users' lists come from the store itself.
type policies struct {
	*policystore.Store
	cache *policystore.Cache
	now   func() time.Time

	mu   sync.Mutex
	doc  *policy.Policy
	comp *policy.Compiled
}

// Compiled returns the current policy, compiled once per stored version.
func (p *policies) Compiled(ctx context.Context, now time.Time) (*policy.Compiled, error) {
	doc, err := p.cache.Policy(ctx, now)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if doc == p.doc && p.comp != nil {
		return p.comp, nil
	}
	c, err := policy.Compile(doc)
	if err != nil {
		return nil, fmt.Errorf("stored policy is invalid: %w", err)
	}
	p.doc, p.comp = doc, c
	return c, nil
}

func (p *policies) compiled(ctx context.Context) (*policy.Compiled, error) {
	return p.Compiled(ctx, p.now())
}
