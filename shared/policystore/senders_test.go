package policystore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moatmail/moat/shared/policy"
)

func TestUserSenders(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	add := func(e policy.SenderEntry) {
		t.Helper()
		if err := s.UserSenderAdd(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	add(policy.SenderEntry{Pattern: "*@Newsletter.EXAMPLE", List: policy.Blocked, Recipient: "Bob@Example.com", Comment: "too many"})
	add(policy.SenderEntry{Pattern: "alice@partner.example", List: policy.Approved, Recipient: "bob@example.com"})
	add(policy.SenderEntry{Pattern: "*@*.partner.example", List: policy.Approved, Recipient: "bob@example.com"})
	add(policy.SenderEntry{Pattern: "*@newsletter.example", List: policy.Blocked, Recipient: "bob@example.com", Comment: "really"}) // replaces
	add(policy.SenderEntry{Pattern: "*@newsletter.example", List: policy.Approved, Recipient: "carol@example.com"})

	got, err := s.UserSenders(ctx, "BOB@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.SenderEntry{
		{Pattern: "*@*.partner.example", List: policy.Approved, Recipient: "bob@example.com"},
		{Pattern: "alice@partner.example", List: policy.Approved, Recipient: "bob@example.com"},
		{Pattern: "*@newsletter.example", List: policy.Blocked, Recipient: "bob@example.com", Comment: "really"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UserSenders (-want +got):\n%s", diff)
	}

	if err := s.UserSenderRemove(ctx, policy.SenderEntry{Pattern: "ALICE@partner.example", List: policy.Approved, Recipient: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	err = s.UserSenderRemove(ctx, policy.SenderEntry{Pattern: "alice@partner.example", List: policy.Approved, Recipient: "bob@example.com"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("removing it again: %v, want ErrNotFound", err)
	}
	if got, _ := s.UserSenders(ctx, "bob@example.com"); len(got) != 2 {
		t.Errorf("%d entries after a removal, want 2", len(got))
	}
	if got, err := s.UserSenders(ctx, "nobody@example.com"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("UserSenders of a user without lists = %#v, %v; want an empty list", got, err)
	}
	if got, err := s.UserSenders(ctx, "not an address"); err != nil || len(got) != 0 {
		t.Errorf("UserSenders of a bad address = %v, %v", got, err)
	}
}

func TestUserSendersNoCap(t *testing.T) {
	s, _, _ := newStore(t)
	for i := range 150 {
		e := policy.SenderEntry{Pattern: fmt.Sprintf("*@s%03d.example.net", i), List: policy.Blocked, Recipient: "bob@example.com"}
		if err := s.UserSenderAdd(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.UserSenders(t.Context(), "bob@example.com")
	if err != nil || len(got) != 150 {
		t.Errorf("UserSenders = %d entries, %v; want 150", len(got), err)
	}
}

func TestUserSenderValidation(t *testing.T) {
	s, _, _ := newStore(t)
	tests := []struct {
		name string
		e    policy.SenderEntry
		want string
	}{
		{"no recipient", policy.SenderEntry{Pattern: "*@x.example", List: policy.Blocked}, "recipient is required"},
		{"domain scope", policy.SenderEntry{Pattern: "*@x.example", List: policy.Blocked, Recipient: "bob@example.com", Domain: "example.com"}, `domain: "example.com" is not allowed`},
		{"bad recipient", policy.SenderEntry{Pattern: "*@x.example", List: policy.Blocked, Recipient: "bob"}, `recipient: "bob" is not a valid address`},
		{"every sender", policy.SenderEntry{Pattern: "*@*", List: policy.Blocked, Recipient: "bob@example.com"}, `pattern: "*@*" is refused`},
		{"public suffix", policy.SenderEntry{Pattern: "*@*.com", List: policy.Approved, Recipient: "bob@example.com"}, `pattern: "*@*.com" is refused`},
		{"named wildcard", policy.SenderEntry{Pattern: "name@*.example.com", List: policy.Approved, Recipient: "bob@example.com"}, `pattern: "name@*.example.com" is refused`},
		{"bad list", policy.SenderEntry{Pattern: "*@x.example", List: "maybe", Recipient: "bob@example.com"}, `list: "maybe" is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for op, f := range map[string]func(policy.SenderEntry) error{
				"add": func(e policy.SenderEntry) error { return s.UserSenderAdd(t.Context(), e) },
				"remove": func(e policy.SenderEntry) error {
					return s.UserSenderRemove(t.Context(), e)
				},
			} {
				err := f(tt.e)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: %v, want %q", op, err, tt.want)
				}
			}
		})
	}
}
