// Package inbound is the inbound function's handler: it reads the message SES stored, runs the
// filter core and carries out each recipient's verdict (track, quarantine, bounce, queue).
package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/moatmail/moat/shared/awserr"
	"github.com/moatmail/moat/shared/bounce"
	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/filter"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/metrics"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/sesevent"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// Mail reads SES's stored copy and makes quarantine copies.
type Mail interface {
	Incoming(ctx context.Context, messageID string) (io.ReadCloser, int64, error)
	Put(ctx context.Context, messageID string, meta quarantine.Meta) (string, error)
}

// Policies gives the current compiled policy and the per-recipient data kept beside it.
type Policies interface {
	Compiled(ctx context.Context, now time.Time) (*policy.Compiled, error)
	DirectoryHas(ctx context.Context, addrs []string) (map[string]bool, error)
	UserSenders(ctx context.Context, recipient string) ([]policy.SenderEntry, error)
}

// Tracking records what happened to each (message, recipient).
type Tracking interface {
	Create(ctx context.Context, rec tracking.Record) (bool, error)
	ByMessage(ctx context.Context, messageID string) ([]tracking.Record, error)
	SetStatus(ctx context.Context, messageID, recipient string, st tracking.Status, detail string, now time.Time) error
	Update(ctx context.Context, messageID, recipient string, fn func(*tracking.Record) error) error
}

// Queue takes delivery jobs.
type Queue interface {
	Enqueue(ctx context.Context, jobs ...delivery.Job) error
}

// Handler runs the filter core on each message SES received.
type Handler struct {
	Mail     Mail
	Policies Policies
	Tracking Tracking
	Queue    Queue
	Bouncer  bounce.Sender
	Fallback bounce.Sender // used when Bouncer reports bounce.ErrExpired; nil: none
	Log      *slog.Logger
	Metrics  io.Writer // EMF lines; nil: none
	Now      func() time.Time
	IP       *IPReputation     // DNSBL lookups and dynamic blocks (reputation.go); nil: admin IP lists only
	Models   Models            // the spam models (spam.go); nil: heuristics and SES's spam verdict only
	Tenants  map[string]string // recipient domain (lower case) → tenant whose model scores it; others: the default model
}

// Handle processes a receipt event. It returns an error only when a retry can help (Lambda
// retries the Event invocation, then sends it to the on-failure queue); every recipient's
// outcome is tracked, and work already done is not repeated on a retry.
func (h *Handler) Handle(ctx context.Context, ev events.SimpleEmailEvent) error {
	var errs []error
	for i, rec := range ev.Records {
		if err := sesevent.Validate(rec); err != nil {
			// A malformed event cannot be retried into shape; nothing names a message to keep.
			h.Log.Error("invalid receipt event", "record", i, "error", err)
			continue
		}
		if err := h.message(ctx, rec); err != nil {
			errs = append(errs, fmt.Errorf("message %s: %w", rec.SES.Mail.MessageID, err))
		}
	}
	return errors.Join(errs...)
}

// final statuses: the recipient's copy has been dealt with.
func final(st tracking.Status) bool { return st != tracking.Received && st != "" }

func (h *Handler) message(ctx context.Context, rec events.SimpleEmailRecord) error {
	start := h.Now()
	env := sesevent.Envelope(rec)
	id := env.MessageID

	done, err := h.alreadyDone(ctx, id)
	if err != nil {
		return err
	}
	if done {
		h.Log.Info("duplicate event", "message_id", id)
		return nil
	}

	pol, err := h.Policies.Compiled(ctx, start)
	if err != nil {
		return fmt.Errorf("load policy: %w", err) // retry: mail waits in S3
	}
	msg, err := h.parse(ctx, pol, env)
	if errors.Is(err, quarantine.ErrNotFound) {
		// SES stores before it invokes us, so a missing object is an operational fault (a
		// lifecycle rule, a deleted object). Track it and retry; after the retries the event
		// lands in the on-failure queue, alarmed, for `moatctl redrive`.
		h.trackMissing(ctx, rec, start)
		return fmt.Errorf("incoming object missing: %w", err)
	}
	if err != nil {
		return err
	}
	facts, err := h.facts(ctx, pol, env.Recipients)
	if err != nil {
		return err
	}
	h.ipFacts(ctx, msg, &facts)
	h.spamModel(ctx, start, env.Recipients, &facts)
	verdicts := filter.Evaluate(pol, filter.Input{Msg: msg, Envelope: env, SES: sesevent.Verdicts(rec), Facts: facts})
	if err := h.act(ctx, rec, msg, verdicts); err != nil {
		return err
	}
	h.countSpam(ctx, pol, msg.ClientIP, verdicts)
	h.logVerdict(id, verdicts, start)
	return nil
}

// alreadyDone reports whether every recipient of the message already has a final status.
func (h *Handler) alreadyDone(ctx context.Context, id string) (bool, error) {
	recs, err := h.Tracking.ByMessage(ctx, id)
	if err != nil {
		return false, fmt.Errorf("read tracking: %w", err)
	}
	if len(recs) == 0 {
		return false, nil
	}
	for _, r := range recs {
		if !final(r.Status) {
			return false, nil
		}
	}
	return true, nil
}

func (h *Handler) parse(ctx context.Context, pol *policy.Compiled, env filter.Envelope) (*message.Message, error) {
	body, _, err := h.Mail.Incoming(ctx, env.MessageID)
	if err != nil {
		return nil, fmt.Errorf("open incoming message: %w", err)
	}
	defer body.Close()
	msg, err := message.Parse(body, filter.ParseOptions(pol, env.Recipients))
	if err != nil {
		return nil, fmt.Errorf("read incoming message: %w", err)
	}
	return msg, nil
}

// facts looks up the directory entries and end users' sender lists of the recipients.
func (h *Handler) facts(ctx context.Context, pol *policy.Compiled, rcpts []string) (filter.Facts, error) {
	f := filter.Facts{UserSenders: map[string][]policy.SenderEntry{}}
	var lookup []string
	for _, r := range rcpts {
		r = strings.ToLower(r)
		if pol.Effective(domainOf(r)).Directory && !pol.InDirectory(r) {
			lookup = append(lookup, r)
		}
		if !pol.Serves(domainOf(r)) {
			continue
		}
		entries, err := h.Policies.UserSenders(ctx, r)
		if err != nil {
			return f, fmt.Errorf("read sender lists: %w", err)
		}
		f.UserSenders[r] = entries
	}
	if len(lookup) > 0 {
		has, err := h.Policies.DirectoryHas(ctx, lookup)
		if err != nil {
			return f, fmt.Errorf("read directory: %w", err)
		}
		f.Directory = has
	}
	return f, nil
}

// act tracks each recipient and carries out its verdict: one quarantine copy, one DSN for all
// bounced recipients, delivery jobs grouped by domain and modifications.
func (h *Handler) act(ctx context.Context, rec events.SimpleEmailRecord, msg *message.Message, verdicts []verdict.Verdict) error {
	now := h.Now()
	env := sesevent.Envelope(rec)
	id := env.MessageID
	var pending []verdict.Verdict
	for _, v := range verdicts {
		r := h.record(rec, msg, v, now)
		created, err := h.Tracking.Create(ctx, r)
		if err != nil {
			return fmt.Errorf("track %s: %w", id, err)
		}
		if !created {
			if h.recipientDone(ctx, id, v.Recipient) {
				continue
			}
			// An earlier attempt tracked the recipient but did not finish (a missing object
			// now found, a failed enqueue): the verdict of this attempt is the one that counts.
			if err := h.Tracking.Update(ctx, id, v.Recipient, func(old *tracking.Record) error {
				r.Events, r.Version = append(old.Events, tracking.Event{Time: now, Status: tracking.Received, Detail: "retry: " + string(v.Action)}), old.Version
				*old = r
				return nil
			}); err != nil {
				return fmt.Errorf("track %s: %w", id, err)
			}
		}
		pending = append(pending, v)
	}

	var errs []error
	byAction := map[verdict.Action][]verdict.Verdict{}
	for _, v := range pending {
		byAction[v.Action] = append(byAction[v.Action], v)
	}
	if q := byAction[verdict.Quarantine]; len(q) > 0 {
		errs = append(errs, h.quarantine(ctx, id, q, now))
	}
	if b := byAction[verdict.Bounce]; len(b) > 0 {
		errs = append(errs, h.bounce(ctx, rec, msg, b, now))
	}
	if d := append(byAction[verdict.Deliver], byAction[verdict.Tag]...); len(d) > 0 {
		errs = append(errs, h.enqueue(ctx, env, d, now))
	}
	for _, v := range byAction[verdict.Delete] {
		errs = append(errs, h.Tracking.SetStatus(ctx, id, v.Recipient, tracking.Deleted, "", now))
	}
	return errors.Join(errs...)
}

func (h *Handler) recipientDone(ctx context.Context, id, rcpt string) bool {
	recs, err := h.Tracking.ByMessage(ctx, id)
	if err != nil {
		return false
	}
	for _, r := range recs {
		if r.Recipient == rcpt {
			return final(r.Status)
		}
	}
	return false
}

func (h *Handler) record(rec events.SimpleEmailRecord, msg *message.Message, v verdict.Verdict, now time.Time) tracking.Record {
	ses := sesevent.Verdicts(rec)
	traffic := tracking.Accepted
	if v.Action.Intercepts() {
		traffic = tracking.Blocked
	}
	r := tracking.Record{
		MessageID: rec.SES.Mail.MessageID,
		Recipient: v.Recipient,
		Time:      rec.SES.Mail.Timestamp,
		Direction: tracking.Inbound,
		Sender:    rec.SES.Mail.Source,
		From:      msg.From.Addr,
		Subject:   msg.Subject,
		Size:      msg.Size,
		Traffic:   traffic,
		Status:    tracking.Received,
		Action:    v.Action,
		BlockType: v.BlockType,
		Reasons:   v.Reasons,
		Verdicts: map[string]string{
			"spam": ses.Spam, "virus": ses.Virus, "spf": ses.SPF, "dkim": ses.DKIM, "dmarc": ses.DMARC,
		},
		Key:    schema.IncomingPrefix + rec.SES.Mail.MessageID,
		Events: []tracking.Event{{Time: now, Status: tracking.Received, Detail: string(v.Action)}},
	}
	if r.Time.IsZero() {
		r.Time = now
	}
	if msg.ClientIP.IsValid() {
		r.ClientIP = msg.ClientIP.String()
	}
	return r
}

func (h *Handler) quarantine(ctx context.Context, id string, vs []verdict.Verdict, now time.Time) error {
	meta := quarantine.Meta{Time: now}
	for _, v := range vs {
		meta.Recipients = append(meta.Recipients, v.Recipient)
		for _, r := range v.Reasons {
			meta.Reasons = append(meta.Reasons, string(r.Code))
		}
	}
	meta.Reasons = dedupe(meta.Reasons)
	key, err := h.Mail.Put(ctx, id, meta)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	var errs []error
	for _, v := range vs {
		errs = append(errs, h.Tracking.Update(ctx, id, v.Recipient, func(r *tracking.Record) error {
			r.QuarantineKey = key
			r.Status = tracking.Quarantined
			r.Events = append(r.Events, tracking.Event{Time: now, Status: tracking.Quarantined, Detail: reasonCodes(v)})
			return nil
		}))
	}
	return errors.Join(errs...)
}

func (h *Handler) bounce(ctx context.Context, rec events.SimpleEmailRecord, msg *message.Message, vs []verdict.Verdict, now time.Time) error {
	id := rec.SES.Mail.MessageID
	b := bounce.Bounce{
		MessageID:       id,
		Sender:          rec.SES.Mail.Source,
		Arrival:         rec.SES.Mail.Timestamp,
		OriginalHeaders: originalHeaders(msg),
	}
	for _, v := range vs {
		b.Recipients = append(b.Recipients, bounce.Recipient{
			Addr:   v.Recipient,
			Status: statusOf(v),
		})
	}
	detail := ""
	err := h.Bouncer.Send(ctx, b)
	if errors.Is(err, bounce.ErrExpired) && h.Fallback != nil {
		err = h.Fallback.Send(ctx, b) // a redriven event past SendBounce's 24 hours: send a DSN
	}
	switch {
	case errors.Is(err, bounce.ErrNoBounce):
		detail = "no DSN sent: " + err.Error()
	case err != nil && awserr.IsTemporary(err):
		return fmt.Errorf("send bounce: %w", err) // retry the event; tracked recipients wait
	case err != nil:
		detail = "DSN failed: " + err.Error()
	default:
		detail = fmt.Sprintf("%d %s", vs[0].SMTPCode, vs[0].EnhancedCode)
	}
	var errs []error
	for _, v := range vs {
		errs = append(errs, h.Tracking.SetStatus(ctx, id, v.Recipient, tracking.Bounced, detail, now))
	}
	return errors.Join(errs...)
}

func (h *Handler) enqueue(ctx context.Context, env filter.Envelope, vs []verdict.Verdict, now time.Time) error {
	var rs []delivery.Recipient
	for _, v := range vs {
		rs = append(rs, delivery.Recipient{Addr: v.Recipient, SubjectTag: v.SubjectTag, Headers: v.Headers})
	}
	jobs, err := delivery.Group(delivery.Job{
		MessageID: env.MessageID,
		Key:       schema.IncomingPrefix + env.MessageID,
		Sender:    env.Sender,
		Enqueued:  now,
	}, rs)
	if err != nil {
		// The verdict produced a job the queue would refuse (a recipient address SES accepted
		// but delivery cannot route): keep the mail in quarantine rather than lose it.
		h.Log.Error("delivery job refused", "message_id", env.MessageID, "error", err)
		return h.holdUndeliverable(ctx, env.MessageID, vs, err.Error(), now)
	}
	if err := h.Queue.Enqueue(ctx, jobs...); err != nil {
		var ee *delivery.EnqueueError
		if errors.As(err, &ee) && !ee.Temporary() {
			h.Log.Error("delivery job refused", "message_id", env.MessageID, "error", err)
			return h.holdUndeliverable(ctx, env.MessageID, vs, err.Error(), now)
		}
		return fmt.Errorf("enqueue delivery: %w", err)
	}
	var errs []error
	for _, v := range vs {
		errs = append(errs, h.Tracking.Update(ctx, env.MessageID, v.Recipient, func(r *tracking.Record) error {
			// The delivery function may already have delivered the job and written a later
			// status: queued only follows received.
			if r.Status == tracking.Received {
				r.Status = tracking.Queued
				r.Events = append(r.Events, tracking.Event{Time: now, Status: tracking.Queued})
			}
			return nil
		}))
	}
	return errors.Join(errs...)
}

// holdUndeliverable quarantines copies that could not be queued for delivery, with the reason,
// so an administrator can release them once the cause is fixed.
func (h *Handler) holdUndeliverable(ctx context.Context, id string, vs []verdict.Verdict, why string, now time.Time) error {
	held := make([]verdict.Verdict, len(vs))
	for i, v := range vs {
		v.Action = verdict.Quarantine
		v.Reasons = append(v.Reasons[:len(v.Reasons):len(v.Reasons)], verdict.Reason{Code: verdict.Malformed, Detail: "delivery job refused: " + why})
		held[i] = v
	}
	return h.quarantine(ctx, id, held, now)
}

// trackMissing records, once, that the stored message could not be found.
func (h *Handler) trackMissing(ctx context.Context, rec events.SimpleEmailRecord, now time.Time) {
	for _, rcpt := range rec.SES.Receipt.Recipients {
		v := verdict.Verdict{Recipient: strings.ToLower(rcpt), Action: verdict.Quarantine}
		v.Add(verdict.Malformed, "stored message missing from S3")
		r := h.record(rec, &message.Message{}, v, now)
		if _, err := h.Tracking.Create(ctx, r); err != nil {
			h.Log.Error("track missing message", "message_id", rec.SES.Mail.MessageID, "error", err)
		}
	}
}

// logVerdict writes the one verdict line per message and its metrics.
func (h *Handler) logVerdict(id string, vs []verdict.Verdict, start time.Time) {
	actions := map[string]int{}
	var codes []string
	for _, v := range vs {
		actions[string(v.Action)]++
		for _, r := range v.Reasons {
			codes = append(codes, string(r.Code))
		}
	}
	names := make([]string, 0, len(actions))
	for a := range actions {
		names = append(names, a)
	}
	sort.Strings(names)
	action := strings.Join(names, ",")
	dur := h.Now().Sub(start)
	h.Log.Info("verdict", "message_id", id, "action", action, "recipients", len(vs),
		"reason", strings.Join(dedupe(codes), ","), "duration_ms", dur.Milliseconds())
	if h.Metrics != nil {
		for _, a := range names {
			metrics.Emit(h.Metrics, start, "Messages", float64(actions[a]), "Count", map[string]string{"Action": a})
		}
		metrics.Emit(h.Metrics, start, "Duration", float64(dur.Milliseconds()), "Milliseconds", nil)
	}
}

func statusOf(v verdict.Verdict) verdict.Status {
	for _, st := range []verdict.Status{verdict.StatusNoSuchUser, verdict.StatusSizeLimit, verdict.StatusTooManyRcpts} {
		if st.Code == v.SMTPCode && st.Enhanced == v.EnhancedCode {
			return st
		}
	}
	return verdict.Status{Code: v.SMTPCode, Enhanced: v.EnhancedCode, Text: verdict.StatusPolicy.Text}
}

// originalHeaders renders the message's header section for the DSN, at most 64 KB.
func originalHeaders(msg *message.Message) []byte {
	var b strings.Builder
	for _, f := range msg.Header {
		if b.Len()+len(f.Name)+len(f.Value)+4 > 64<<10 {
			break
		}
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	return []byte(b.String())
}

func reasonCodes(v verdict.Verdict) string {
	codes := make([]string, 0, len(v.Reasons))
	for _, r := range v.Reasons {
		codes = append(codes, string(r.Code))
	}
	return strings.Join(codes, ",")
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}
