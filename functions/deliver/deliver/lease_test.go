package deliver

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
)

// delivered counts the Delivered events of a record.
func delivered(r tracking.Record) int {
	n := 0
	for _, ev := range r.Events {
		if ev.Status == tracking.Delivered {
			n++
		}
	}
	return n
}

// Two handlers get the same job while the first is in the middle of the SMTP transaction: the
// second finds the recipient leased, sends nothing and hands the job back for later.
func TestDuplicateJobWhileDelivering(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s := startSink(t, &sink{mail: func(string) error {
		once.Do(func() { close(entered) })
		<-release
		return nil
	}}, newPKI(t), "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com", Recipients: []string{"bob@example.com"}})
	ev := e.receive(10 * time.Second)

	var (
		respA events.SQSEventResponse
		errA  error
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		respA, errA = e.h.Handle(context.Background(), ev)
	}()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatal("the first handler never reached the server")
	}
	respB, err := e.another().Handle(context.Background(), ev)
	close(release)
	<-done
	if err != nil || errA != nil {
		t.Fatal(err, errA)
	}
	if len(respA.BatchItemFailures) != 0 {
		t.Errorf("first handler: batch failures %v, want none", respA.BatchItemFailures)
	}
	if len(respB.BatchItemFailures) != 1 {
		t.Errorf("second handler: batch failures %v, want the job back for later", respB.BatchItemFailures)
	}
	if n := len(s.messages()); n != 1 {
		t.Fatalf("server got %d messages, want 1", n)
	}
	if n := s.connections(); n != 1 {
		t.Errorf("server saw %d connections, want 1 (the second handler must not connect)", n)
	}
	rec := e.status(j.MessageID, "bob@example.com")
	if rec.Status != tracking.Delivered || delivered(rec) != 1 || rec.Lease != nil {
		t.Errorf("record: %s, %d delivered events, lease %+v; want delivered once, no lease", rec.Status, delivered(rec), rec.Lease)
	}
}

// Two handlers start on the same job at the same moment: every recipient reaches the server
// exactly once, whichever handler sends it.
func TestDuplicateJobConcurrent(t *testing.T) {
	s := startSink(t, &sink{}, newPKI(t), "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	rcpts := []string{"bob@example.com", "carol@example.com", "dave@example.com"}
	for round := range 3 {
		j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com", Recipients: rcpts})
		ev := e.receive(10 * time.Second)
		before := len(s.messages())
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			hs    = []*Handler{e.h, e.another()}
			errs  = make([]error, len(hs))
		)
		// DynamoDB applies a conditional write atomically; moto does not when two requests
		// arrive at once on a busy machine. Serialise the handlers' claims, as DynamoDB would.
		claims := &atomicClaims{Tracking: hs[0].Tracking}
		for _, h := range hs {
			h.Tracking = claims
		}
		for i, h := range hs {
			wg.Go(func() {
				<-start
				_, errs[i] = h.Handle(context.Background(), ev)
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]int{}
		for _, m := range s.messages()[before:] {
			if !strings.Contains(m.Data, j.MessageID) {
				continue
			}
			for _, r := range m.Rcpts {
				got[r]++
			}
		}
		for _, r := range rcpts {
			if got[r] != 1 {
				t.Errorf("round %d: %s received %d times, want 1 (all: %v)", round, r, got[r], got)
			}
			if rec := e.status(j.MessageID, r); rec.Status != tracking.Delivered || delivered(rec) != 1 {
				t.Errorf("round %d: %s tracked %s with %d delivered events", round, r, rec.Status, delivered(rec))
			}
		}
		// Done with this job, whichever handler handed it back: delete it, as Lambda would.
		if _, err := e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
			QueueUrl: aws.String(e.res.Queues[schema.Delivery.ID]), ReceiptHandle: aws.String(ev.Records[0].ReceiptHandle)}); err != nil {
			t.Fatal(err)
		}
	}
}

// A lease left by an attempt that crashed is taken over once it has run out; one that still
// runs keeps the recipient from being sent.
func TestExpiredLeaseTakenOver(t *testing.T) {
	s := startSink(t, &sink{}, newPKI(t), "starttls")
	e := newEnv(t, &policy.Route{Host: s.Host, Port: s.Port})
	ctx := context.Background()
	j := e.queue(original, delivery.Job{Sender: "alice@example.org", Domain: "example.com",
		Recipients: []string{"bob@example.com", "carol@example.com"}})
	now := time.Now()
	// bob: a crashed attempt's lease, over a minute ago; carol: a live attempt's lease.
	if ok, err := e.track.Claim(ctx, j.MessageID, "bob@example.com", "crashed", now.Add(-10*time.Minute), now.Add(-time.Minute)); !ok || err != nil {
		t.Fatalf("claim for the crashed attempt: %v %v", ok, err)
	}
	if ok, err := e.track.Claim(ctx, j.MessageID, "carol@example.com", "running", now, now.Add(10*time.Minute)); !ok || err != nil {
		t.Fatalf("claim for the running attempt: %v %v", ok, err)
	}

	resp := e.handle(e.receive(10 * time.Second))
	if len(resp.BatchItemFailures) != 1 {
		t.Errorf("batch failures %v, want the job back for carol", resp.BatchItemFailures)
	}
	got := s.messages()
	if len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "bob@example.com" {
		t.Fatalf("server got %+v, want one message for bob only", got)
	}
	if rec := e.status(j.MessageID, "bob@example.com"); rec.Status != tracking.Delivered || rec.Lease != nil {
		t.Errorf("bob: %s, lease %+v; want delivered, no lease", rec.Status, rec.Lease)
	}
	if rec := e.status(j.MessageID, "carol@example.com"); rec.Status != tracking.Queued || rec.Lease == nil || rec.Lease.Owner != "running" {
		t.Errorf("carol: %s, lease %+v; want still queued under the running attempt's lease", rec.Status, rec.Lease)
	}
}

// atomicClaims makes the emulator's conditional writes of claims atomic, as DynamoDB's are.
type atomicClaims struct {
	Tracking
	mu sync.Mutex
}

func (a *atomicClaims) Claim(ctx context.Context, messageID, recipient, owner string, now, until time.Time) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Tracking.Claim(ctx, messageID, recipient, owner, now, until)
}
