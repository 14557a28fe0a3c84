package inbound

import (
	"time"

	"github.com/moatmail/moat/shared/policystore"
)

// policySource serves the compiled policy from the warm function's cache (compiled once per
// stored version) and the directory and end users' lists from the store.
type policySource struct {
	*policystore.Store
	*policystore.Cache
}

func newPolicySource(s *policystore.Store, ttl time.Duration) *policySource {
	return &policySource{Store: s, Cache: policystore.NewCache(s, ttl)}
}
