package inbound

import (
	"context"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/filter"
)

// Models serves the spam models (modelstore.Models): tenant "" is the default model, and a
// tenant without its own model is served the default one.
type Models interface {
	Model(ctx context.Context, tenant string, now time.Time) (*classify.Model, error)
}

// spamModel puts the cached spam models into the facts: the default model, and the model of
// each recipient domain that belongs to a tenant (Handler.Tenants). Without a model (none
// trained yet, or the bucket unreadable) step 6 scores with the heuristics and SES's verdict:
// mail is never held up for the model; a tenant whose model is unavailable is scored with the
// default model.
func (h *Handler) spamModel(ctx context.Context, now time.Time, rcpts []string, f *filter.Facts) {
	if h.Models == nil {
		return
	}
	m, err := h.Models.Model(ctx, "", now)
	if err != nil {
		h.Log.Warn("spam model unavailable: scoring without the classifier", "error", err)
	}
	f.Model = m
	for _, r := range rcpts {
		d := strings.ToLower(domainOf(r))
		tenant, ok := h.Tenants[d]
		if _, done := f.Models[d]; !ok || done {
			continue
		}
		tm, err := h.Models.Model(ctx, tenant, now)
		if err != nil {
			h.Log.Warn("tenant's spam model unavailable: scoring with the default model", "tenant", tenant, "error", err)
			continue
		}
		if f.Models == nil {
			f.Models = map[string]*classify.Model{}
		}
		f.Models[d] = tm
	}
}
