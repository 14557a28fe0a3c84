package modelstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/modelstore"
)

func TestTenantKey(t *testing.T) {
	if k, err := modelstore.TenantKey("acme"); err != nil || k != "models/tenants/acme/spam.model" {
		t.Errorf("TenantKey(acme) = %q, %v", k, err)
	}
	if k, err := modelstore.TenantKey(""); err != nil || k != modelstore.DefaultKey {
		t.Errorf("TenantKey(\"\") = %q, %v; want the default key", k, err)
	}
	for _, bad := range []string{"Acme", "../x", "a/b", "1abc", strings.Repeat("a", 33)} {
		if _, err := modelstore.TenantKey(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("TenantKey(%q): %v; want an error naming the value", bad, err)
		}
	}
}

func tenantStore(t *testing.T, def *modelstore.Store, tenant string) *modelstore.Store {
	t.Helper()
	s, err := modelstore.ForTenant(def.S3, def.Bucket, tenant)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func same(a, b *classify.Model) bool {
	x, _ := a.MarshalBinary()
	y, _ := b.MarshalBinary()
	return bytes.Equal(x, y)
}

// TestTenantModelStartsFromDefault: a tenant is served the default model until its own is
// written, which starts from the default's counts; the default model is left as it was.
func TestTenantModelStartsFromDefault(t *testing.T) {
	def := store(t)
	ctx := context.Background()
	acme := tenantStore(t, def, "acme")
	if _, _, err := acme.Load(ctx); !errors.Is(err, modelstore.ErrNotFound) {
		t.Fatalf("Load with no model at all: %v, want ErrNotFound", err)
	}
	base := classify.NewModel()
	for i := range 3 {
		d := delta(t, i, i != 1)
		base.Merge(d)
		if _, err := def.Add(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := acme.Load(ctx)
	if err != nil || !same(got, base) {
		t.Fatalf("tenant without a model: %v; want the default model", err)
	}
	own := delta(t, 10, true)
	if _, err := acme.Add(ctx, own); err != nil {
		t.Fatal(err)
	}
	want := classify.NewModel()
	want.Merge(base)
	want.Merge(own)
	got, _, err = acme.Load(ctx)
	if err != nil || !same(got, want) || got.Spam != 3 || got.Ham != 1 {
		t.Errorf("tenant model after its first training: %v; want the default's counts and its own", err)
	}
	d, _, _ := def.Load(ctx)
	if !same(d, base) {
		t.Error("a tenant's training changed the default model")
	}
	// A second default training no longer reaches the tenant, which has its own model now.
	def.Add(ctx, delta(t, 11, false))
	got, _, _ = acme.Load(ctx)
	if !same(got, want) {
		t.Error("the tenant's own model followed the default model")
	}
}

// TestConcurrentTenantTrainings: trainings of two tenants at once, each tenant's counts kept.
func TestConcurrentTenantTrainings(t *testing.T) {
	def := store(t)
	ctx := context.Background()
	base := delta(t, 100, true)
	if _, err := def.Add(ctx, base); err != nil {
		t.Fatal(err)
	}
	const n = 8
	tenants := []string{"alpha", "beta"}
	want := map[string]*classify.Model{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for ti, tenant := range tenants {
		s := tenantStore(t, def, tenant)
		want[tenant] = classify.NewModel()
		want[tenant].Merge(base)
		for i := range n {
			d := delta(t, ti*100+i, i%2 == 0)
			want[tenant].Merge(d)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Add(ctx, d); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, tenant := range tenants {
		got, _, err := tenantStore(t, def, tenant).Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !same(got, want[tenant]) {
			t.Errorf("%s: stored %d spam, %d ham; want %d, %d: a training's counts were lost",
				tenant, got.Spam, got.Ham, want[tenant].Spam, want[tenant].Ham)
		}
	}
}

func TestModelsPerTenant(t *testing.T) {
	def := store(t)
	ctx := context.Background()
	ms := modelstore.NewModels(def.S3, def.Bucket, time.Minute)
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	if m, err := ms.Model(ctx, "acme", t0); m != nil || err != nil {
		t.Fatalf("no model stored: %v, %v; want nil, nil", m, err)
	}
	def.Add(ctx, delta(t, 1, true))
	acme := tenantStore(t, def, "acme")
	acme.Add(ctx, delta(t, 2, false))
	t1 := t0.Add(2 * time.Minute)
	a, err := ms.Model(ctx, "acme", t1)
	if err != nil || a == nil || a.Spam != 1 || a.Ham != 1 {
		t.Fatalf("acme: %+v, %v; want its own model (the default's spam and its ham)", a, err)
	}
	b, err := ms.Model(ctx, "beta", t1)
	if err != nil || b == nil || b.Spam != 1 || b.Ham != 0 {
		t.Fatalf("beta without a model: %+v, %v; want the default model", b, err)
	}
	if d, _ := ms.Model(ctx, "", t1); d != b {
		t.Error("a tenant without a model does not share the default model's cache")
	}
	if _, err := ms.Model(ctx, "Bad/ID", t1); err == nil || !strings.Contains(err.Error(), "Bad/ID") {
		t.Errorf("invalid tenant: %v; want an error naming it", err)
	}
	// beta trains: its own model is picked up after the TTL.
	tenantStore(t, def, "beta").Add(ctx, delta(t, 3, false))
	if b2, _ := ms.Model(ctx, "beta", t1.Add(30*time.Second)); b2 != b {
		t.Error("read again within the TTL")
	}
	b3, _ := ms.Model(ctx, "beta", t1.Add(2*time.Minute))
	if b3 == nil || b3.Ham != 1 || b3.Spam != 1 {
		t.Errorf("beta's own model not picked up: %+v", b3)
	}
}
