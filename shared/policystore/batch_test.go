package policystore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// memStore is a store over memDB whose batch retries record their attempts instead of waiting.
func memStore() (*Store, *memDB, *[]int) {
	db := newMemDB()
	s := New(db, "t")
	var pauses []int
	s.pause = func(ctx context.Context, attempt int) error {
		pauses = append(pauses, attempt)
		return ctx.Err()
	}
	return s, db, &pauses
}

func TestBatchRetriesUnprocessed(t *testing.T) {
	s, db, pauses := memStore()
	db.unprocessed = 7 // throttled: every batch call leaves its last 7 items, once
	ctx := t.Context()
	if err := s.DirectoryAdd(ctx, "example.com", addrs("example.com", 0, 60)); err != nil {
		t.Fatal(err)
	}
	if n := db.len(); n != 60 {
		t.Fatalf("%d items written, want 60", n)
	}
	// 60 items: batches of 25, 25 and 10, each retried once for its unprocessed items.
	if db.batches != 6 || len(*pauses) != 3 {
		t.Errorf("%d batch calls and %d pauses, want 6 and 3", db.batches, len(*pauses))
	}

	*pauses, db.batches = nil, 0
	look := append(addrs("example.com", 30, 150), "User000@Example.com")
	has, err := s.DirectoryHas(ctx, look)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, ok := range has {
		if ok {
			found++
		}
	}
	if found != 31 || len(has) != len(look) {
		t.Errorf("found %d of %d, want 31 of %d", found, len(has), len(look))
	}
	// 121 keys: batches of 100 and 21, each retried once.
	if db.batches != 4 || len(*pauses) != 2 {
		t.Errorf("%d batch calls and %d pauses, want 4 and 2", db.batches, len(*pauses))
	}
}

func TestBatchGivesUp(t *testing.T) {
	s, db, pauses := memStore()
	db.unprocessed, db.always = 1, true
	err := s.DirectoryAdd(t.Context(), "example.com", addrs("example.com", 0, 3))
	if err == nil || !strings.Contains(err.Error(), "still unprocessed") {
		t.Fatalf("DirectoryAdd when throttled forever: %v", err)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6}; !slices.Equal(*pauses, want) {
		t.Errorf("pauses %v, want %v (growing backoff)", *pauses, want)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.DirectoryHas(ctx, []string{"a@example.com"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DirectoryHas with a cancelled context while throttled: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := backoff(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("backoff on a cancelled context: %v", err)
	}
}
