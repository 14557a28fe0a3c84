package admin

import (
	"context"
	"fmt"
	"strings"

	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// Learner stores a quarantined copy as a training sample; *modelstore.Samples satisfies it.
type Learner interface {
	Learn(ctx context.Context, quarantineKey string, spam bool) error
}

// RecipientLearner is a Learner that trains the model of the recipient's tenant
// (*modelstore.Samples, *modelstore.Decisions); Admin prefers it when Learn implements it.
type RecipientLearner interface {
	LearnFor(ctx context.Context, quarantineKey, recipient string, spam bool) error
}

// learn teaches the model of rec's recipient (its tenant's, with a RecipientLearner).
func (a *Admin) learn(ctx context.Context, rec tracking.Record, spam bool) error {
	if rl, ok := a.Learn.(RecipientLearner); ok {
		return rl.LearnFor(ctx, rec.QuarantineKey, rec.Recipient, spam)
	}
	return a.Learn.Learn(ctx, rec.QuarantineKey, spam)
}

// learnReleased teaches the model that released copies held as spam or phishing were wanted
// (ham). A message released once is learned once per recipient domain (the learner stores one
// sample per model), whatever the number of its recipients.
func (a *Admin) learnReleased(ctx context.Context, recs []tracking.Record) error {
	if a.Learn == nil {
		return nil
	}
	done := map[string]bool{}
	_, perRecipient := a.Learn.(RecipientLearner)
	for _, rec := range recs {
		id := rec.QuarantineKey
		if perRecipient {
			id += " " + strings.ToLower(rec.Recipient[strings.LastIndexByte(rec.Recipient, '@')+1:])
		}
		if done[id] || rec.QuarantineKey == "" || !heldAsSpam(rec.Reasons) {
			continue
		}
		done[id] = true
		if err := a.learn(ctx, rec, false); err != nil {
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
	if err := a.learn(ctx, rec, true); err != nil {
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
