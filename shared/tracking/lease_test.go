package tracking

import (
	"errors"
	"testing"
	"time"
)

func TestClaim(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	rec := sample("lease-1", "bob@example.com")
	rec.Status = Queued
	if _, err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	claim := func(owner string, at time.Time) bool {
		t.Helper()
		ok, err := s.Claim(ctx, "lease-1", "Bob@Example.com", owner, at, at.Add(3*time.Minute))
		if err != nil {
			t.Fatalf("claim by %s: %v", owner, err)
		}
		return ok
	}
	if !claim("a", now) {
		t.Fatal("first claim refused")
	}
	got, err := s.Get(ctx, "lease-1", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Lease == nil || got.Lease.Owner != "a" || !got.Lease.Until.Equal(now.Add(3*time.Minute)) {
		t.Fatalf("lease = %+v, want a until %s", got.Lease, now.Add(3*time.Minute))
	}
	if got.Version != 2 {
		t.Errorf("version = %d, want 2 (the claim counts as a write)", got.Version)
	}
	if claim("b", now.Add(time.Minute)) {
		t.Fatal("b took a lease a still holds")
	}
	if !claim("a", now.Add(time.Minute)) {
		t.Fatal("a could not extend its own lease")
	}
	// a's lease (extended to now+4m) runs out: b, a later attempt, takes over.
	if !claim("b", now.Add(4*time.Minute)) {
		t.Fatal("b could not take over an expired lease")
	}
	if claim("a", now.Add(5*time.Minute)) {
		t.Fatal("a took back the lease b holds")
	}

	// Release by someone else changes nothing; by the owner, it ends the lease.
	if err := s.Release(ctx, "lease-1", "bob@example.com", "a"); err != nil {
		t.Fatal(err)
	}
	if claim("c", now.Add(5*time.Minute)) {
		t.Fatal("a's release ended b's lease")
	}
	if err := s.Release(ctx, "lease-1", "bob@example.com", "b"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "lease-1", "bob@example.com"); got.Lease != nil || got.Status != Queued {
		t.Fatalf("after release: %s %+v, want queued without a lease", got.Status, got.Lease)
	}
	if !claim("b", now.Add(5*time.Minute)) {
		t.Fatal("b could not claim again after releasing")
	}
	if err := s.Release(ctx, "lease-missing", "bob@example.com", "b"); err != nil {
		t.Fatalf("release of a missing record: %v", err)
	}

	// A deferred status ends the lease; a final one makes the copy unclaimable.
	if err := s.SetStatus(ctx, "lease-1", "bob@example.com", Deferred, "451", now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "lease-1", "bob@example.com"); got.Lease != nil {
		t.Fatalf("lease after SetStatus = %+v, want none", got.Lease)
	}
	if !claim("c", now.Add(5*time.Minute)) {
		t.Fatal("c could not claim a deferred copy without a lease")
	}
	if err := s.SetStatus(ctx, "lease-1", "bob@example.com", Delivered, "250", now.Add(6*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if claim("d", now.Add(time.Hour)) {
		t.Fatal("d claimed a delivered copy")
	}
	got, _ = s.Get(ctx, "lease-1", "bob@example.com")
	if got.Status != Delivered || got.Lease != nil {
		t.Fatalf("record = %s %+v, want delivered without a lease", got.Status, got.Lease)
	}
}

func TestClaimErrors(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	now := time.Now()
	if _, err := s.Claim(ctx, "lease-missing", "bob@example.com", "a", now, now.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("claim of a missing record: %v, want ErrNotFound", err)
	}
	if _, err := s.Claim(ctx, "lease-missing", "bob@example.com", "", now, now.Add(time.Minute)); err == nil {
		t.Fatal("claim with an empty owner accepted")
	}
	if _, err := s.Claim(ctx, "lease-missing", "bob@example.com", "a", now, now); err == nil {
		t.Fatal("claim with a lease ending now accepted")
	}
}

// Eight attempts claim one recipient in turn: only the first wins while its lease runs. (They
// run one after another: DynamoDB applies each conditional write atomically, but the emulator
// checks and writes non-atomically when requests arrive at once on a busy machine.)
func TestClaimOnlyOneOwner(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	rec := sample("lease-2", "bob@example.com")
	rec.Status = Queued
	if _, err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	wins := 0
	for i := range 8 {
		ok, err := s.Claim(ctx, "lease-2", "bob@example.com", string(rune('a'+i)), now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d of 8 claims won, want exactly 1", wins)
	}
}
