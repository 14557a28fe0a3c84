package reputation

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/schema"
)

func newStore(t *testing.T, threshold int) *Store {
	t.Helper()
	cfg := awstest.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	name := awstest.Name(t, "reputation")
	if err := awstest.CreateTable(context.Background(), db, schema.Reputation, name); err != nil {
		t.Fatal(err)
	}
	return New(db, name, threshold)
}

func TestCountSpamBlocksAtThreshold(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 3)
	ip := netip.MustParseAddr("192.0.2.25")
	now := t0.Add(10 * time.Minute)
	for i := 1; i <= 2; i++ {
		n, b, err := s.CountSpam(ctx, ip, now)
		if err != nil || n != i || b != nil {
			t.Fatalf("spam %d: count %d, block %v, err %v", i, n, b, err)
		}
	}
	if _, err := s.Active(ctx, ip, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("blocked below the threshold: %v", err)
	}
	n, b, err := s.CountSpam(ctx, ip, now.Add(time.Minute))
	if err != nil || n != 3 || b == nil {
		t.Fatalf("spam 3: count %d, block %v, err %v", n, b, err)
	}
	got, err := s.Active(ctx, ip, now.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Spam != 3 || got.Prefix.String() != "192.0.2.25/32" || !got.Expires.Equal(now.Add(time.Minute+DefaultBlockFor).Truncate(time.Second)) || got.Window != time.Hour {
		t.Errorf("block %+v", got)
	}

	// More spam raises the count and extends the block; the start stays.
	later := now.Add(5 * time.Minute)
	if _, b, err = s.CountSpam(ctx, ip, later); err != nil || b.Spam != 4 || !b.Since.Equal(now.Add(time.Minute)) {
		t.Fatalf("spam 4: %+v %v", b, err)
	}
	// A new window starts counting from one; the block keeps its highest count.
	next := t0.Add(time.Hour + time.Minute)
	if n, b, err := s.CountSpam(ctx, ip, next); err != nil || n != 1 || b != nil {
		t.Fatalf("new window: count %d, block %v, err %v", n, b, err)
	}
	if got, _ := s.Active(ctx, ip, next); got.Spam != 4 {
		t.Errorf("block after a new window: %+v", got)
	}

	// Expired: not active, not listed.
	gone := later.Add(DefaultBlockFor + time.Second)
	if _, err := s.Active(ctx, ip, gone); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired block still active: %v", err)
	}
	if bs, err := s.ActiveBlocks(ctx, gone); err != nil || len(bs) != 0 {
		t.Errorf("expired block listed: %v %v", bs, err)
	}
	// Blocked again after expiry: a new block with a new start.
	for range 3 {
		_, b, err = s.CountSpam(ctx, ip, gone)
	}
	if err != nil || b == nil || !b.Since.Equal(gone) || b.Spam != 3 {
		t.Errorf("re-block: %+v %v", b, err)
	}
}

func TestCountSpamConcurrent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 5)
	ip := netip.MustParseAddr("198.51.100.9")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, _, err := s.CountSpam(ctx, ip, t0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b, err := s.Active(ctx, ip, t0)
	if err != nil || b.Spam < 5 || b.Spam > 20 || !b.Since.Equal(t0) {
		t.Errorf("after 20 concurrent spam messages: %+v %v", b, err)
	}
	// The exact count is not asserted here: moto's UpdateItem ADD is not atomic under
	// concurrent requests (DynamoDB's is); TestCountSpamBlocksAtThreshold checks counting.
}

func TestIPv6CountedPer64(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 2)
	if _, _, err := s.CountSpam(ctx, netip.MustParseAddr("2001:db8:1:2::a"), t0); err != nil {
		t.Fatal(err)
	}
	if _, b, err := s.CountSpam(ctx, netip.MustParseAddr("2001:db8:1:2:ffff::1"), t0); err != nil || b == nil {
		t.Fatalf("second address of the /64 did not block it: %v %v", b, err)
	}
	if b, err := s.Active(ctx, netip.MustParseAddr("2001:db8:1:2::77"), t0); err != nil || b.Prefix.String() != "2001:db8:1:2::/64" {
		t.Errorf("neighbour in the /64: %+v %v", b, err)
	}
	if _, err := s.Active(ctx, netip.MustParseAddr("2001:db8:1:3::a"), t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("other /64 blocked: %v", err)
	}
}

func TestActiveBlocksAndUnblock(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 1)
	ips := []string{"192.0.2.1", "192.0.2.2", "203.0.113.5"}
	for i, ip := range ips {
		if _, _, err := s.CountSpam(ctx, netip.MustParseAddr(ip), t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	bs, err := s.ActiveBlocks(ctx, t0.Add(time.Hour))
	if err != nil || len(bs) != 3 || bs[0].Prefix.String() != "192.0.2.1/32" || bs[2].Prefix.String() != "203.0.113.5/32" {
		t.Fatalf("active blocks, soonest expiry first: %+v %v", bs, err)
	}
	if err := s.Unblock(ctx, netip.MustParseAddr("192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Unblock(ctx, netip.MustParseAddr("10.9.9.9")); !errors.Is(err, ErrNotFound) {
		t.Errorf("unblock unknown: %v", err)
	}
	if bs, _ := s.ActiveBlocks(ctx, t0.Add(time.Hour)); len(bs) != 2 {
		t.Errorf("after unblock: %+v", bs)
	}

	// The blocks go to the receipt filters.
	m := &MemoryFilters{}
	bs, _ = s.ActiveBlocks(ctx, t0.Add(time.Hour))
	if _, err := NewSyncer(m).Sync(ctx, bs); err != nil {
		t.Fatal(err)
	}
	if !m.Blocks(netip.MustParseAddr("192.0.2.1")) || m.Blocks(netip.MustParseAddr("192.0.2.2")) || !m.Blocks(netip.MustParseAddr("203.0.113.5")) {
		t.Errorf("receipt filters %+v", m.filters)
	}
}

func TestTakeSync(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 1)
	every := 5 * time.Minute
	if ok, err := s.TakeSync(ctx, every, t0); !ok || err != nil {
		t.Fatalf("first: %v %v", ok, err)
	}
	if ok, err := s.TakeSync(ctx, every, t0.Add(time.Minute)); ok || err != nil {
		t.Fatalf("within the interval: %v %v", ok, err)
	}
	if ok, err := s.TakeSync(ctx, every, t0.Add(every)); !ok || err != nil {
		t.Fatalf("after the interval: %v %v", ok, err)
	}
}
