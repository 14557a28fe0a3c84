package inbound

import (
	"context"
	"time"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/filter"
)

// Models serves the tenant's spam model (modelstore.Cache).
type Models interface {
	Model(ctx context.Context, now time.Time) (*classify.Model, error)
}

// spamModel puts the cached spam model into the facts. Without one (none trained yet, or the
// bucket unreadable) step 6 scores with the heuristics and SES's verdict: mail is never held
// up for the model.
func (h *Handler) spamModel(ctx context.Context, now time.Time, f *filter.Facts) {
	if h.Models == nil {
		return
	}
	m, err := h.Models.Model(ctx, now)
	if err != nil {
		h.Log.Warn("spam model unavailable: scoring without the classifier", "error", err)
		return
	}
	f.Model = m
}
