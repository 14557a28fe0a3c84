// Package deliver is the delivery function's handler: it takes delivery jobs from the SQS
// delivery queue, reads each message from the mail bucket, applies the verdict's modifications
// as it streams it (subject tag, X-Moat-* fields; the stored original never changes), and
// hands it to the domain's route: the customer's mail server over SMTP (one transaction per
// job, TLS as the route says, AUTH with credentials from SSM or Secrets Manager) or SES
// forwarding. Temporary failures are retried with exponential backoff through the message's
// visibility timeout until the job's maximum age; permanent failures and expired jobs get a
// DSN (RFC 3464) to the sender. Every attempt is tracked per recipient, recipients already
// delivered are skipped, and each attempt first claims a lease on every recipient it sends to
// (tracking.Store.Claim), so a job the queue hands out twice, even to two attempts at the same
// moment, is not delivered twice.
package deliver

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/awserr"
	"github.com/moatmail/moat/shared/bounce"
	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/metrics"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// Mail opens stored messages; *quarantine.Store satisfies it.
type Mail interface {
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

// Routes gives a domain's route; *PolicyRoutes satisfies it.
type Routes interface {
	Route(ctx context.Context, domain string, now time.Time) (*policy.Route, error)
}

// SecretReader reads what routes name; *Secrets satisfies it.
type SecretReader interface {
	Credentials(ctx context.Context, name string) (*Credentials, error)
	CA(ctx context.Context, name string) (*x509.CertPool, error)
}

// Tracking records each recipient's delivery; *tracking.Store satisfies it.
type Tracking interface {
	ByMessage(ctx context.Context, messageID string) ([]tracking.Record, error)
	Create(ctx context.Context, rec tracking.Record) (bool, error)
	SetStatus(ctx context.Context, messageID, recipient string, st tracking.Status, detail string, now time.Time) error
	Claim(ctx context.Context, messageID, recipient, owner string, now, until time.Time) (bool, error)
	Release(ctx context.Context, messageID, recipient, owner string) error
}

// LeaseMargin is how long a recipient's delivery lease outlasts the attempt's timeout: time to
// record the outcome, and room for clocks a little apart.
const LeaseMargin = time.Minute

// Queue postpones a job's next attempt; *sqs.Client satisfies it.
type Queue interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Retry is the retry schedule: attempt n (from 1) waits Base·2^(n-1), at most Cap, before
// attempt n+1; after MaxAge from the job's first queueing, or when the queue is about to
// give the job to its dead-letter queue (MaxReceives), the sender gets a DSN.
type Retry struct {
	MaxAge      time.Duration
	Base, Cap   time.Duration
	MaxReceives int // the queue's maxReceiveCount; 0: no limit
}

// Delay is the wait after attempt n.
func (r Retry) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := float64(r.Base) * math.Pow(2, float64(n-1))
	if d > float64(r.Cap) || math.IsInf(d, 0) {
		return r.Cap
	}
	return time.Duration(d)
}

// Handler delivers the jobs of the delivery queue.
type Handler struct {
	Mail      Mail
	Routes    Routes
	Secrets   SecretReader
	Tracking  Tracking
	Queue     Queue
	QueueURL  string
	SMTP      *SMTP
	Forwarder *Forwarder
	Bouncer   bounce.Sender
	Retry     Retry
	// AttemptTimeout bounds one delivery attempt; the invocation's deadline bounds it too.
	AttemptTimeout time.Duration
	Concurrency    int // jobs delivered at once; < 1: one
	Log            *slog.Logger
	Metrics        io.Writer // EMF lines; nil: none
	Now            func() time.Time
}

// Handle delivers a batch of jobs. The response lists the jobs to be tried again (each made
// invisible for its backoff first); the rest are done: delivered, bounced or failed, and
// tracked. It never returns an error: each job's fate is in the response.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var (
		mu   sync.Mutex
		resp events.SQSEventResponse
		wg   sync.WaitGroup
	)
	n := max(h.Concurrency, 1)
	sem := make(chan struct{}, n)
	for _, m := range ev.Records {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if h.process(ctx, m) {
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return resp, nil
}

// attempt is one job's delivery attempt.
type attempt struct {
	job      delivery.Job
	n        int // attempt number: earlier attempts (job.Attempt) + receives of this message
	receives int
	start    time.Time
	arrival  map[string]time.Time // recipient (lower case) → when the gateway received it
	header   []byte               // the original's header section, for DSNs
	route    string               // where it went, for tracking ("mail.example.com:587")
	owner    string               // this attempt's lease owner ID
	busy     int                  // pending recipients another attempt holds: tried again later
}

// process handles one queue message and reports whether to try it again.
func (h *Handler) process(ctx context.Context, m events.SQSMessage) bool {
	start := h.Now()
	job, err := delivery.Decode([]byte(m.Body))
	if err != nil {
		// A job that cannot be read is a bug upstream; keep it: after the queue's receive
		// limit it moves to the dead-letter queue, which alarms.
		h.Log.Error("invalid delivery job", "sqs_message_id", m.MessageId, "error", err)
		return true
	}
	receives, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	receives = max(receives, 1)
	a := &attempt{job: job, n: job.Attempt + receives, receives: receives, start: start, arrival: map[string]time.Time{},
		owner: m.MessageId + "/" + rand.Text()}

	pending, err := h.pending(ctx, a)
	if err != nil {
		h.Log.Error("read tracking", "message_id", job.MessageID, "error", err)
		return h.later(ctx, m, a)
	}
	if len(pending) == 0 {
		h.Log.Info("delivery", "message_id", job.MessageID, "attempt", a.n, "skipped", len(job.Recipients), "duration_ms", 0)
		return false
	}
	pending, err = h.claim(ctx, a, pending)
	if err != nil {
		h.Log.Error("claim recipients", "message_id", job.MessageID, "error", err)
		return h.later(ctx, m, a)
	}
	if len(pending) == 0 {
		// Another attempt (a duplicate of this job) is delivering them all; come back after
		// the backoff to see how it went.
		h.Log.Info("delivery", "message_id", job.MessageID, "attempt", a.n, "busy", a.busy, "retry", true, "duration_ms", 0)
		return h.later(ctx, m, a)
	}

	results, err := h.deliver(ctx, a, pending)
	if err != nil {
		// The message could not be read, or the policy loaded: nothing was sent.
		h.Log.Error("delivery attempt", "message_id", job.MessageID, "attempt", a.n, "error", err)
		results = allResults(pending, errorResult(&sourceError{err}))
	}
	return h.record(ctx, m, a, results)
}

// pending returns the job's recipients that still need delivery, and notes when each arrived.
func (h *Handler) pending(ctx context.Context, a *attempt) ([]string, error) {
	recs, err := h.Tracking.ByMessage(ctx, a.job.MessageID)
	if err != nil {
		return nil, err
	}
	status := map[string]tracking.Status{}
	for _, r := range recs {
		k := strings.ToLower(r.Recipient)
		status[k] = r.Status
		a.arrival[k] = r.Time
	}
	var out []string
	for _, r := range a.job.Recipients {
		if tracking.Final(status[strings.ToLower(r)]) {
			continue // done by an earlier attempt: a redelivered job sends nothing twice
		}
		out = append(out, r)
	}
	return out, nil
}

// claim takes the delivery lease of each pending recipient for this attempt and returns those
// it holds. A recipient another attempt holds, or that became final meanwhile, is left out and
// counted in a.busy, so the job comes back after its backoff.
func (h *Handler) claim(ctx context.Context, a *attempt, rcpts []string) ([]string, error) {
	timeout := h.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	now := h.Now()
	until := now.Add(timeout + LeaseMargin)
	var out []string
	for _, r := range rcpts {
		ok, err := h.Tracking.Claim(ctx, a.job.MessageID, r, a.owner, now, until)
		if errors.Is(err, tracking.ErrNotFound) {
			if err = h.create(ctx, a, r); err == nil {
				ok, err = h.Tracking.Claim(ctx, a.job.MessageID, r, a.owner, now, until)
			}
		}
		if err != nil {
			return nil, err
		}
		if !ok {
			a.busy++
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// deliver makes one attempt for the pending recipients. An error means nothing was sent
// because of a local problem (store, policy) that a retry can fix.
func (h *Handler) deliver(ctx context.Context, a *attempt, rcpts []string) ([]Result, error) {
	job := a.job
	route, err := h.Routes.Route(ctx, job.Domain, a.start)
	if errors.Is(err, ErrNoRoute) {
		h.Log.Error("no route", "message_id", job.MessageID, "domain", job.Domain)
		return allResults(rcpts, Result{Outcome: Deferred, Code: 451, Enhanced: "4.3.5",
			Reply:      "no route for " + job.Domain + " in the policy",
			Diagnostic: "451 4.3.5 The destination is not configured"}), nil
	}
	if err != nil {
		return nil, err
	}
	a.route = route.Type
	if route.Type == "smtp" {
		a.route = route.Host + ":" + strconv.Itoa(route.Port)
	}

	timeout := h.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		// Leave time to record the outcome before the invocation ends.
		var c2 context.CancelFunc
		actx, c2 = context.WithDeadline(actx, d.Add(-10*time.Second))
		defer c2()
	}

	var smtpRoute SMTPRoute
	if route.Type == "smtp" {
		smtpRoute, err = h.smtpRoute(ctx, route)
		if err != nil {
			h.Log.Error("route configuration", "message_id", job.MessageID, "domain", job.Domain, "error", err)
			return allResults(rcpts, Result{Outcome: Deferred, Code: 451, Enhanced: "4.3.5",
				Reply:      "route configuration: " + oneLine(err.Error()),
				Diagnostic: "451 4.3.5 The destination is not configured"}), nil
		}
	}

	body, size, err := h.Mail.Open(ctx, job.Key)
	if errors.Is(err, quarantine.ErrNotFound) {
		return allResults(rcpts, Result{Outcome: Failed, Code: 554, Enhanced: "5.3.0", Local: true,
			Reply:      "stored message missing: " + job.Key,
			Diagnostic: "554 5.3.0 The message could not be delivered"}), nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", job.Key, err)
	}
	defer body.Close()

	changes := Changes{
		Prepend:    append([]Field{{Name: "Received", Value: h.received(job, rcpts)}}, moatFields(job.Headers)...),
		SubjectTag: job.SubjectTag,
	}
	if route.Type == "ses-forward" {
		changes.Forward = &ForwardFrom{Address: route.FromAddress, Via: job.Domain, Sender: job.Sender}
	}
	rw, err := Rewrite(sourceReader{body}, changes)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", job.Key, err)
	}
	a.header = rw.Header

	if route.Type == "ses-forward" {
		msg, err := io.ReadAll(io.LimitReader(rw, MaxForwardBytes+1))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", job.Key, err)
		}
		return h.Forwarder.Send(actx, route.FromAddress, route.Forward, rcpts, msg), nil
	}
	results := h.SMTP.Send(actx, smtpRoute, Envelope{Sender: job.Sender, Recipients: rcpts}, rw, size+rw.Delta)
	return results, nil
}

// received is the trace field the gateway adds (RFC 5321 §4.4).
func (h *Handler) received(job delivery.Job, rcpts []string) string {
	v := "by " + h.SMTP.HeloName + " (Moat) with ESMTP id " + job.MessageID
	if len(rcpts) == 1 && isASCII(rcpts[0]) {
		v += " for <" + rcpts[0] + ">"
	}
	return v + "; " + h.Now().UTC().Format(time.RFC1123Z)
}

func (h *Handler) smtpRoute(ctx context.Context, r *policy.Route) (SMTPRoute, error) {
	out := SMTPRoute{Host: r.Host, Port: r.Port, TLS: r.TLS, ImplicitTLS: r.Port == 465}
	if r.TLS == TLSVerify {
		if r.CAParam == "" {
			return out, errors.New("tls verify without caParam")
		}
		ca, err := h.Secrets.CA(ctx, r.CAParam)
		if err != nil {
			return out, err
		}
		out.CA = ca
	}
	if r.AuthSecret != "" {
		c, err := h.Secrets.Credentials(ctx, r.AuthSecret)
		if err != nil {
			return out, err
		}
		out.Auth = c
	}
	return out, nil
}

// record tracks each result, sends one DSN for the recipients that failed for good, and
// schedules the next attempt when some are deferred. It reports whether to try again.
func (h *Handler) record(ctx context.Context, m events.SQSMessage, a *attempt, results []Result) bool {
	job := a.job
	now := h.Now()
	expired := now.Sub(job.Enqueued) >= h.Retry.MaxAge ||
		h.Retry.MaxReceives > 0 && a.receives >= h.Retry.MaxReceives-1
	var (
		again           = a.busy > 0 // another attempt holds some recipients: look again later
		bounced, gaveUp []Result
		counts          = map[Outcome]int{}
		trackErr        error
		where           = a.route
	)
	if where == "" {
		where = "route"
	}
	prefix := fmt.Sprintf("attempt %d to %s: ", a.n, where)
	for _, r := range results {
		counts[r.Outcome]++
		switch {
		case r.Outcome == Delivered:
			trackErr = errors.Join(trackErr, h.setStatus(ctx, a, r.Recipient, tracking.Delivered, prefix+r.Reply, now))
		case r.Outcome == Failed:
			bounced = append(bounced, r)
		case expired:
			gaveUp = append(gaveUp, r)
		default:
			again = true
			trackErr = errors.Join(trackErr, h.setStatus(ctx, a, r.Recipient, tracking.Deferred, prefix+r.Reply, now))
		}
	}
	if len(bounced)+len(gaveUp) > 0 {
		if h.notify(ctx, a, bounced, gaveUp, prefix, now) {
			again = true
		}
	}
	if trackErr != nil {
		h.Log.Error("track delivery", "message_id", job.MessageID, "error", trackErr)
	}
	dur := h.Now().Sub(a.start)
	h.Log.Info("delivery", "message_id", job.MessageID, "route", routeKind(a.route), "attempt", a.n,
		"delivered", counts[Delivered], "deferred", counts[Deferred], "failed", counts[Failed],
		"expired", len(gaveUp), "busy", a.busy, "retry", again, "duration_ms", dur.Milliseconds())
	if h.Metrics != nil {
		for _, o := range []Outcome{Delivered, Deferred, Failed} {
			if counts[o] > 0 {
				metrics.Emit(h.Metrics, a.start, "Recipients", float64(counts[o]), "Count", map[string]string{"Outcome": o.String()})
			}
		}
		metrics.Emit(h.Metrics, a.start, "DeliveryDuration", float64(dur.Milliseconds()), "Milliseconds", nil)
	}
	if again {
		return h.later(ctx, m, a)
	}
	return false
}

// notify sends one DSN for the recipients that failed permanently (bounced) and those whose
// time ran out (gave up), then tracks them. It reports whether the job must be tried again
// because the DSN could not be sent yet.
func (h *Handler) notify(ctx context.Context, a *attempt, bounced, gaveUp []Result, prefix string, now time.Time) bool {
	job := a.job
	b := bounce.Bounce{
		MessageID:       job.MessageID,
		Sender:          job.Sender,
		Arrival:         job.Enqueued,
		OriginalHeaders: a.header,
	}
	for _, r := range bounced {
		b.Recipients = append(b.Recipients, bounce.Recipient{
			Addr:       r.Recipient,
			Status:     verdict.Status{Code: r.Code, Enhanced: r.Enhanced, Text: "Delivery failed"},
			Diagnostic: r.Diagnostic,
		})
		if t, ok := a.arrival[strings.ToLower(r.Recipient)]; ok && !t.IsZero() {
			b.Arrival = t
		}
	}
	age := now.Sub(job.Enqueued).Round(time.Hour)
	for _, r := range gaveUp {
		b.Recipients = append(b.Recipients, bounce.Recipient{
			Addr:   r.Recipient,
			Status: verdict.Status{Code: 550, Enhanced: "5.4.7", Text: "Delivery time expired"},
			Diagnostic: fmt.Sprintf("Delivery time expired: the message could not be delivered in %s; last attempt: %s",
				humanDuration(age), r.Diagnostic),
		})
		if t, ok := a.arrival[strings.ToLower(r.Recipient)]; ok && !t.IsZero() {
			b.Arrival = t
		}
	}
	suffix := "; DSN sent to the sender"
	err := h.Bouncer.Send(ctx, b)
	switch {
	case err == nil:
	case errors.Is(err, bounce.ErrNoBounce):
		suffix = "; no DSN: " + err.Error()
	case awserr.IsTemporary(err):
		// Try the whole thing again later; the recipients stay as they were, and this attempt
		// lets go of them.
		h.Log.Warn("send DSN", "message_id", job.MessageID, "error", err)
		var relErr error
		for _, r := range append(bounced, gaveUp...) {
			relErr = errors.Join(relErr, h.Tracking.Release(ctx, job.MessageID, r.Recipient, a.owner))
		}
		if relErr != nil {
			h.Log.Error("release recipients", "message_id", job.MessageID, "error", relErr)
		}
		return true
	default:
		h.Log.Error("send DSN", "message_id", job.MessageID, "error", err)
		suffix = "; DSN failed: " + oneLine(err.Error())
	}
	var trackErr error
	for _, r := range bounced {
		st := tracking.Bounced
		if r.Local {
			st = tracking.DeliveryFailed
		}
		trackErr = errors.Join(trackErr, h.setStatus(ctx, a, r.Recipient, st, prefix+r.Reply+suffix, now))
	}
	for _, r := range gaveUp {
		detail := fmt.Sprintf("%s%s; gave up after %s%s", prefix, r.Reply, humanDuration(age), suffix)
		trackErr = errors.Join(trackErr, h.setStatus(ctx, a, r.Recipient, tracking.DeliveryFailed, detail, now))
	}
	if trackErr != nil {
		h.Log.Error("track delivery", "message_id", job.MessageID, "error", trackErr)
	}
	return false
}

// setStatus records a status, creating the record first when tracking has none (its TTL
// passed, or the job came from elsewhere).
func (h *Handler) setStatus(ctx context.Context, a *attempt, rcpt string, st tracking.Status, detail string, now time.Time) error {
	err := h.Tracking.SetStatus(ctx, a.job.MessageID, rcpt, st, detail, now)
	if !errors.Is(err, tracking.ErrNotFound) {
		return err
	}
	if err := h.create(ctx, a, rcpt); err != nil {
		return err
	}
	return h.Tracking.SetStatus(ctx, a.job.MessageID, rcpt, st, detail, now)
}

// create makes the queued tracking record of a recipient that has none (its TTL passed, or the
// job came from elsewhere); one that exists meanwhile is left as it is.
func (h *Handler) create(ctx context.Context, a *attempt, rcpt string) error {
	rec := tracking.Record{
		MessageID: a.job.MessageID, Recipient: strings.ToLower(rcpt), Time: a.job.Enqueued,
		Direction: tracking.Inbound, Sender: a.job.Sender, Traffic: tracking.Accepted,
		Status: tracking.Queued, Action: verdict.Deliver, Key: a.job.Key,
	}
	_, err := h.Tracking.Create(ctx, rec)
	return err
}

// later makes the message invisible until its next attempt is due and reports true, so the
// handler lists it as a batch item failure.
func (h *Handler) later(ctx context.Context, m events.SQSMessage, a *attempt) bool {
	delay := h.Retry.Delay(a.n)
	// The last attempt falls at the maximum age rather than up to Cap after it; past it (a DSN
	// that could not be sent yet) the job comes back after the base delay, at most a minute.
	if left := a.job.Enqueued.Add(h.Retry.MaxAge).Sub(h.Now()); left < delay {
		delay = max(left, min(h.Retry.Base, time.Minute), time.Second)
	}
	secs := int32(min(delay, maxVisibility) / time.Second)
	_, err := h.Queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(h.QueueURL), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: secs,
	})
	if err != nil {
		// The queue's own visibility timeout then decides when it comes back.
		h.Log.Warn("postpone job", "message_id", a.job.MessageID, "error", err)
	}
	return true
}

func routeKind(r string) string {
	if r == "ses-forward" || r == "" {
		return r
	}
	return "smtp"
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	default:
		return d.Round(time.Minute).String()
	}
}
