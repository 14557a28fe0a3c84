package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/shared/bounce"
	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/tracking"
)

// The benchmarks measure the delivery function against a local go-smtp server over STARTTLS
// with 50 KB messages, with the AWS services replaced by in-memory stores so that the numbers
// are the function's and not the emulator's:
//
//	go test -run XXX -bench . -benchtime 2000x ./functions/deliver/deliver
//
// BenchmarkDirectSMTP is the bare SMTP transaction (go-smtp client, STARTTLS, one message per
// connection); BenchmarkHandlerOneJob the handler doing the same for one job per invocation —
// the difference is the latency the function adds per message. BenchmarkHandlerBatches is the
// throughput of one function instance with batches of 10 jobs. Each handler benchmark runs with
// a new connection per message and with the connection pool the function uses.

func benchMessage() []byte {
	var b bytes.Buffer
	b.WriteString("Received: from mx.example.org\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Quarterly report\r\nMessage-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n")
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1) + "\r\n"
	for b.Len() < 50<<10 {
		b.WriteString(line)
	}
	return b.Bytes()
}

type memMail struct{ msg []byte }

func (m memMail) Open(context.Context, string) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(m.msg)), int64(len(m.msg)), nil
}

type fixedRoute struct{ r *policy.Route }

func (f fixedRoute) Route(context.Context, string, time.Time) (*policy.Route, error) { return f.r, nil }

type memTracking struct {
	mu   sync.Mutex
	recs map[string]tracking.Record
}

func (m *memTracking) ByMessage(_ context.Context, id string) ([]tracking.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []tracking.Record
	for k, r := range m.recs {
		if strings.HasPrefix(k, id+"\x00") {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memTracking) Create(_ context.Context, r tracking.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := r.MessageID + "\x00" + r.Recipient
	if _, ok := m.recs[k]; ok {
		return false, nil
	}
	m.recs[k] = r
	return true, nil
}

func (m *memTracking) SetStatus(_ context.Context, id, rcpt string, st tracking.Status, detail string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := id + "\x00" + strings.ToLower(rcpt)
	r, ok := m.recs[k]
	if !ok {
		return tracking.ErrNotFound
	}
	r.Status = st
	r.Lease = nil
	r.Events = append(r.Events, tracking.Event{Time: now, Status: st, Detail: detail})
	m.recs[k] = r
	return nil
}

func (m *memTracking) Claim(_ context.Context, id, rcpt, owner string, now, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := id + "\x00" + strings.ToLower(rcpt)
	r, ok := m.recs[k]
	if !ok {
		return false, tracking.ErrNotFound
	}
	if tracking.Final(r.Status) || r.Lease != nil && r.Lease.Owner != owner && r.Lease.Until.After(now) {
		return false, nil
	}
	r.Lease = &tracking.Lease{Owner: owner, Until: until}
	m.recs[k] = r
	return true, nil
}

func (m *memTracking) Release(_ context.Context, id, rcpt, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := id + "\x00" + strings.ToLower(rcpt)
	if r, ok := m.recs[k]; ok && r.Lease != nil && r.Lease.Owner == owner {
		r.Lease = nil
		m.recs[k] = r
	}
	return nil
}

type noQueue struct{}

func (noQueue) ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

type noBounce struct{}

func (noBounce) Send(context.Context, bounce.Bounce) error { return nil }

func benchHandler(b *testing.B, s *sink, concurrency int, pool *Pool) (*Handler, *memTracking) {
	tr := &memTracking{recs: map[string]tracking.Record{}}
	return &Handler{
		Mail:     memMail{benchMessage()},
		Routes:   fixedRoute{&policy.Route{Type: "smtp", Host: s.Host, Port: s.Port, TLS: TLSRequired}},
		Tracking: tr,
		Queue:    noQueue{},
		SMTP:     &SMTP{HeloName: "gw.example.net", ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, Pool: pool},
		Bouncer:  noBounce{},
		Retry:    Retry{MaxAge: DefaultMaxAge, Base: time.Minute, Cap: time.Hour},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: concurrency, Now: time.Now,
	}, tr
}

func benchJob(i int) events.SQSMessage {
	id := "bench-" + strconv.Itoa(i)
	j := delivery.Job{MessageID: id, Key: "incoming/" + id, Sender: "alice@example.org", Domain: "example.com",
		Recipients: []string{"bob@example.com"}, SubjectTag: "[SPAM] ",
		Headers: map[string]string{"X-Moat-Verdict": "tag; reason=spam"}, Enqueued: time.Now()}
	body, _ := json.Marshal(j)
	return events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: string(body), Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func BenchmarkDirectSMTP(b *testing.B) {
	s := startSink(b, &sink{discard: true}, newPKI(b), "starttls")
	msg := benchMessage()
	addr := fmt.Sprintf("%s:%d", s.Host, s.Port)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for range b.N {
		c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.SendMail("alice@example.org", []string{"bob@example.com"}, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
		c.Quit()
	}
}

func BenchmarkHandlerOneJob(b *testing.B) {
	b.Run("new connection", func(b *testing.B) { benchOneJob(b, nil) })
	b.Run("pooled connection", func(b *testing.B) { benchOneJob(b, &Pool{}) })
}

func benchOneJob(b *testing.B, pool *Pool) {
	s := startSink(b, &sink{discard: true}, newPKI(b), "starttls")
	h, _ := benchHandler(b, s, 1, pool)
	b.SetBytes(int64(len(benchMessage())))
	b.ResetTimer()
	for i := range b.N {
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{benchJob(i)}})
		if len(resp.BatchItemFailures) != 0 {
			b.Fatal("delivery failed")
		}
	}
	b.StopTimer()
	if s.count != b.N {
		b.Fatalf("server got %d messages, want %d", s.count, b.N)
	}
}

func BenchmarkHandlerBatches(b *testing.B) {
	b.Run("new connections", func(b *testing.B) { benchBatches(b, nil) })
	b.Run("pooled connections", func(b *testing.B) { benchBatches(b, &Pool{}) })
}

func benchBatches(b *testing.B, pool *Pool) {
	s := startSink(b, &sink{discard: true}, newPKI(b), "starttls")
	h, _ := benchHandler(b, s, 10, pool)
	b.SetBytes(int64(len(benchMessage())))
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i += 10 {
		var ev events.SQSEvent
		for k := i; k < min(i+10, b.N); k++ {
			ev.Records = append(ev.Records, benchJob(k))
		}
		resp, _ := h.Handle(context.Background(), ev)
		if len(resp.BatchItemFailures) != 0 {
			b.Fatal("delivery failed")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(s.connections())/float64(b.N), "conns/msg")
	if s.count != b.N {
		b.Fatalf("server got %d messages, want %d", s.count, b.N)
	}
}

// BenchmarkRewrite is the cost of the modifications alone: a 50 KB message read through the
// rewrite with a subject tag and three inserted fields.
func BenchmarkRewrite(b *testing.B) {
	msg := benchMessage()
	c := Changes{SubjectTag: "[SPAM] ", Prepend: []Field{{"Received", "by gw.example.net (Moat) with ESMTP id x; Sun, 29 Nov 2026 23:00:00 +0000"},
		{"X-Moat-Reason", "spam"}, {"X-Moat-Verdict", "tag; reason=spam"}}}
	b.SetBytes(int64(len(msg)))
	for range b.N {
		rw, err := Rewrite(bytes.NewReader(msg), c)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, rw)
	}
}
