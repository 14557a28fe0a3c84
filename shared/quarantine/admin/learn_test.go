package admin_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/verdict"
)

// learned records what decisions taught.
type learned struct{ ham, spam []string }

func (l *learned) Learn(_ context.Context, key string, spam bool) error {
	if spam {
		l.spam = append(l.spam, key)
	} else {
		l.ham = append(l.ham, key)
	}
	return nil
}

func TestDecisionsTeachTheModel(t *testing.T) {
	e := admintest.New(t)
	ctx := t.Context()
	l := &learned{}
	e.Admin.Learn = l
	e.Quarantine(t, admintest.Item{ID: "s1", Recipients: []string{"alice@example.com", "bob@example.com"}, Sender: "x@news.example", From: "x@news.example", Subject: "newsletter", Reasons: []verdict.Code{verdict.Spam}, Time: t0})
	e.Quarantine(t, admintest.Item{ID: "x1", Recipients: []string{"alice@example.com"}, Sender: "y@partner.example", From: "y@partner.example", Subject: "tool", Reasons: []verdict.Code{verdict.Executable}, Time: t0})
	e.Quarantine(t, admintest.Item{ID: "d1", Recipients: []string{"alice@example.com"}, Sender: "z@spoof.example", From: "z@spoof.example", Subject: "pay", Reasons: []verdict.Code{verdict.DMARCQuarantine}, Time: t0})

	// A release of spam is ham, once per message whatever its recipients.
	if _, err := e.Admin.Release(ctx, admin.Release{MessageID: "s1", By: "ops"}); err != nil {
		t.Fatal(err)
	}
	// A release of something held for another reason teaches nothing.
	if _, err := e.Admin.Release(ctx, admin.Release{MessageID: "x1", By: "ops"}); err != nil {
		t.Fatal(err)
	}
	// Blocking the sender of a quarantined message is spam.
	if _, err := e.Admin.ListSender(ctx, "d1", "alice@example.com", admin.ApproveSender, policy.Blocked, "end user"); err != nil {
		t.Fatal(err)
	}
	// Approving one is not.
	if _, err := e.Admin.ListSender(ctx, "x1", "alice@example.com", admin.ApproveSender, policy.Approved, "end user"); err != nil {
		t.Fatal(err)
	}
	if len(l.ham) != 1 || !slices.Contains(l.ham, "quarantine/s1") {
		t.Errorf("learned as ham %q, want [quarantine/s1]", l.ham)
	}
	if len(l.spam) != 1 || l.spam[0] != "quarantine/d1" {
		t.Errorf("learned as spam %q, want [quarantine/d1]", l.spam)
	}
}

// recipientLearned records what decisions taught, with the recipient.
type recipientLearned struct{ learned }

func (l *recipientLearned) LearnFor(_ context.Context, key, recipient string, spam bool) error {
	return l.Learn(context.Background(), key+" "+recipient, spam)
}

// TestDecisionsTeachTheRecipientsModel: with a RecipientLearner (tenants' models), a release
// teaches once per recipient domain, naming the recipient.
func TestDecisionsTeachTheRecipientsModel(t *testing.T) {
	e := admintest.New(t)
	ctx := t.Context()
	l := &recipientLearned{}
	e.Admin.Learn = l
	e.Quarantine(t, admintest.Item{ID: "s1", Recipients: []string{"alice@example.com", "bob@example.com"}, Sender: "x@news.example", From: "x@news.example", Subject: "newsletter", Reasons: []verdict.Code{verdict.Spam}, Time: t0})
	e.Quarantine(t, admintest.Item{ID: "d1", Recipients: []string{"alice@example.com"}, Sender: "z@spoof.example", From: "z@spoof.example", Subject: "pay", Reasons: []verdict.Code{verdict.DMARCQuarantine}, Time: t0})
	if _, err := e.Admin.Release(ctx, admin.Release{MessageID: "s1", By: "ops"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admin.ListSender(ctx, "d1", "alice@example.com", admin.ApproveSender, policy.Blocked, "end user"); err != nil {
		t.Fatal(err)
	}
	if len(l.ham) != 1 || !strings.HasPrefix(l.ham[0], "quarantine/s1 ") || !strings.HasSuffix(l.ham[0], "@example.com") {
		t.Errorf("learned as ham %q, want quarantine/s1 once for example.com", l.ham)
	}
	if len(l.spam) != 1 || l.spam[0] != "quarantine/d1 alice@example.com" {
		t.Errorf("learned as spam %q, want quarantine/d1 for alice@example.com", l.spam)
	}
}
