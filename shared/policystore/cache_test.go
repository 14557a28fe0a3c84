package policystore

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/moatmail/moat/shared/policy"
)

var (
	throttled = &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem",
		Err: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}}
	denied = &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem",
		Err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized", Fault: smithy.FaultClient}}
)

func TestCacheReloadsAfterTTL(t *testing.T) {
	db := newMemDB()
	s := New(db, "t")
	c := NewCache(s, time.Minute)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	p0, err := c.Policy(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(p0.Domains) != 0 || p0.Defaults.MaxRecipients == nil {
		t.Errorf("nothing stored: %+v, want the default document", p0)
	}
	if _, err := s.Put(ctx, doc(), 0); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Policy(ctx, now.Add(59*time.Second)); p != p0 {
		t.Error("the cache read the store again within its TTL")
	}
	p1, err := c.Policy(ctx, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p1.Domains["example.com"]; !ok {
		t.Fatalf("after the TTL the cache serves %+v, want the new document", p1)
	}
	// Unchanged: the same pointer, so a caller keeps its compiled policy.
	gets := db.getCount()
	if p, _ := c.Policy(ctx, now.Add(2*time.Minute)); p != p1 {
		t.Error("an unchanged version gave a new document")
	}
	if db.getCount() != gets+1 {
		t.Errorf("%d reads to confirm the version, want 1", db.getCount()-gets)
	}
}

func TestCacheServesLastGoodOnTemporaryError(t *testing.T) {
	db := newMemDB()
	s := New(db, "t")
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	c := NewCache(s, 0) // DefaultCacheTTL
	db.fail(throttled)
	if _, err := c.Policy(ctx, now); err == nil {
		t.Fatal("no cached copy and a failing store: no error")
	}
	db.fail(nil)
	if _, err := s.Put(ctx, doc(), 0); err != nil {
		t.Fatal(err)
	}
	p1, err := c.Policy(ctx, now)
	if err != nil {
		t.Fatal(err)
	}

	db.fail(throttled)
	later := now.Add(DefaultCacheTTL)
	if p, err := c.Policy(ctx, later); err != nil || p != p1 {
		t.Fatalf("throttled reload = %v, %v; want the cached document", p, err)
	}
	// It tries again after a tenth of the TTL, not on every call.
	gets := db.getCount()
	if p, err := c.Policy(ctx, later.Add(DefaultCacheTTL/10-time.Second)); err != nil || p != p1 || db.getCount() != gets {
		t.Errorf("within the retry pause: %v, %d reads", err, db.getCount()-gets)
	}
	if p, err := c.Policy(ctx, later.Add(DefaultCacheTTL/10)); err != nil || p != p1 || db.getCount() != gets+1 {
		t.Errorf("after the retry pause: %v, %d reads", err, db.getCount()-gets)
	}

	// A permanent error is not hidden.
	db.fail(denied)
	if _, err := c.Policy(ctx, later.Add(time.Hour)); !errors.Is(err, denied) {
		t.Errorf("access denied: %v, want the error", err)
	}

	// Recovered: the store's document is served again.
	db.fail(nil)
	changed := doc()
	changed.Defaults.Aggressiveness = new(3)
	if _, err := s.Put(ctx, changed, 1); err != nil {
		t.Fatal(err)
	}
	p, err := c.Policy(ctx, later.Add(2*time.Hour))
	if err != nil || p == p1 || *p.Defaults.Aggressiveness != 3 {
		t.Errorf("after recovery: %v; want version 2", err)
	}
}

func TestCacheConcurrent(t *testing.T) {
	db := newMemDB()
	s := New(db, "t")
	if _, err := s.Put(t.Context(), doc(), 0); err != nil {
		t.Fatal(err)
	}
	c := NewCache(s, time.Second)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	docs := make([]*policy.Policy, 64)
	for i := range docs {
		wg.Go(func() {
			p, err := c.Policy(t.Context(), now.Add(time.Duration(i)*100*time.Millisecond))
			if err != nil {
				t.Error(err)
			}
			docs[i] = p
		})
	}
	wg.Wait()
	for i, p := range docs {
		if p != docs[0] {
			t.Fatalf("caller %d got another document although the version never changed", i)
		}
	}
}

func TestCacheCompiledOncePerVersion(t *testing.T) {
	s := New(newMemDB(), "t")
	c := NewCache(s, time.Minute)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c0, err := c.Compiled(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Compiled(ctx, now.Add(2*time.Minute)); again != c0 {
		t.Error("an unchanged version was compiled again")
	}
	if c0.Serves("example.com") {
		t.Error("the default document serves example.com")
	}
	if _, err := s.Put(ctx, doc(), 0); err != nil {
		t.Fatal(err)
	}
	c1, err := c.Compiled(ctx, now.Add(4*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c1 == c0 || !c1.Serves("example.com") {
		t.Error("a new version was not compiled")
	}
}
