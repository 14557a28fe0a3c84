package admin

import (
	"context"
	"fmt"

	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// Learner stores a quarantined copy as a training sample; *modelstore.Samples satisfies it.
type Learner interface {
	Learn(ctx context.Context, quarantineKey string, spam bool) error
}

// learnReleased teaches the model that released copies held as spam or phishing were wanted
// (ham). A message released once is learned once, whatever the number of its recipients.
func (a *Admin) learnReleased(ctx context.Context, recs []tracking.Record) error {
	if a.Learn == nil {
		return nil
	}
	done := map[string]bool{}
	for _, rec := range recs {
		if done[rec.QuarantineKey] || rec.QuarantineKey == "" || !heldAsSpam(rec.Reasons) {
			continue
		}
		done[rec.QuarantineKey] = true
		if err := a.Learn.Learn(ctx, rec.QuarantineKey, false); err != nil {
			return fmt.Errorf("message %s released, but not learned as wanted mail: %w", rec.MessageID, err)
		}
	}
	return nil
}

// learnBlocked teaches the model that a message whose sender was blocked from quarantine is
// spam.
func (a *Admin) learnBlocked(ctx context.Context, rec tracking.Record) error {
	if a.Learn == nil || rec.QuarantineKey == "" {
		return nil
	}
	if err := a.Learn.Learn(ctx, rec.QuarantineKey, true); err != nil {
		return fmt.Errorf("sender of %s blocked, but the message not learned as spam: %w", rec.MessageID, err)
	}
	return nil
}

func heldAsSpam(reasons []verdict.Reason) bool {
	for _, r := range reasons {
		if r.Code == verdict.Spam || r.Code == verdict.Phish {
			return true
		}
	}
	return false
}
