package localstack

import (
	"context"
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
	*policystore.Cache
	now func() time.Time
}

func (p *policies) compiled(ctx context.Context) (*policy.Compiled, error) {
	return p.Compiled(ctx, p.now())
}
