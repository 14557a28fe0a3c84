package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/awserr"
	"github.com/moatmail/moat/shared/metrics"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/outboundstore"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// Reason codes of outbound tracking records (verdict.Virus is reused for SES's virus rejects).
const (
	CodeBounce    verdict.Code = "outbound-bounce"    // the recipient's server or SES bounced it
	CodeComplaint verdict.Code = "outbound-complaint" // the recipient marked it as spam
	CodeRejected  verdict.Code = "ses-rejected"       // SES refused to send it
	CodeDelayed   verdict.Code = "outbound-delayed"   // SES keeps trying to deliver it
	CodeRendering verdict.Code = "rendering-failure"  // SES could not render its template
)

// MonitorName is who suspends a tenant when the monitor does (Suspension.By).
const MonitorName = "outbound monitor"

// DB is what the handler needs of DynamoDB: the tracking and outbound stores.
type DB interface {
	tracking.DB
	outboundstore.DB
}

// Clients are the AWS clients the handler uses, built once by main.
type Clients struct {
	DynamoDB DB
	SNS      outboundstore.Publisher
	Sending  outboundstore.Sending // nil: SES v2 must be given by main; the table switch in tests
}

// Handler processes sending events.
type Handler struct {
	cfg      Config
	tracking *tracking.Store
	store    *outboundstore.Store
	sns      outboundstore.Publisher
	sending  outboundstore.Sending
	log      *slog.Logger
	Metrics  io.Writer        // EMF lines; nil: none
	Now      func() time.Time // the clock; time.Now by default
}

// New returns a handler.
func New(c Config, cl Clients, log *slog.Logger) *Handler {
	st := outboundstore.New(cl.DynamoDB, c.ReputationTable)
	sw := cl.Sending
	if sw == nil {
		sw = outboundstore.TableSending{Store: st}
	}
	return &Handler{
		cfg: c, tracking: tracking.New(cl.DynamoDB, c.TrackingTable, c.TrackingTTL), store: st,
		sns: cl.SNS, sending: sw, log: log, Now: time.Now,
	}
}

// Store returns the handler's outbound store (for tests and the local stack).
func (h *Handler) Store() *outboundstore.Store { return h.store }

// Handle processes one invocation: an EventBridge event, or an SNS event with one or more
// records. An event that cannot be decoded is logged and dropped (a retry cannot fix it); an
// AWS error is returned so that the invocation is retried (and, at last, reaches the
// dead-letter queue); duplicates are counted once.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) error {
	evs, via, err := outbound.DecodeEvents(payload)
	if err != nil {
		h.log.Error("undecodable sending event", "via", via, "error", err)
		return nil
	}
	var errs []error
	for _, ev := range evs {
		if err := h.Process(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Process handles one sending event.
func (h *Handler) Process(ctx context.Context, ev outbound.Event) error {
	start := h.Now()
	t, ok := h.cfg.Tenants.ByConfigurationSet(ev.ConfigurationSet())
	if !ok {
		t, ok = h.cfg.Tenants.BySender(ev.Mail.Source)
	}
	if !ok {
		h.log.Warn("sending event of no tenant", "message_id", ev.Mail.MessageID, "event", ev.EventType, "configuration_set", ev.ConfigurationSet())
		return nil
	}
	switch ev.EventType {
	case outbound.Open, outbound.Click, outbound.Subscription:
		return nil
	}
	key := ev.Key()
	first, err := h.store.Claim(ctx, key, start)
	if err != nil {
		return err
	}
	if !first {
		h.log.Info("duplicate sending event", "message_id", ev.Mail.MessageID, "event", ev.EventType, "tenant", t.ID)
		return nil
	}
	if err := h.process(ctx, t, ev); err != nil {
		if rerr := h.store.Release(ctx, key); rerr != nil {
			h.log.Error("release event claim", "message_id", ev.Mail.MessageID, "error", rerr)
		}
		h.log.Error("sending event", "message_id", ev.Mail.MessageID, "event", ev.EventType, "tenant", t.ID,
			"temporary", awserr.IsTemporary(err), "error", err)
		return err
	}
	h.log.Info("sending event", "message_id", ev.Mail.MessageID, "event", ev.EventType, "tenant", t.ID,
		"recipients", len(ev.Recipients()), "duration_ms", h.Now().Sub(start).Milliseconds())
	if h.Metrics != nil {
		metrics.Emit(h.Metrics, start, "OutboundEvents", float64(len(ev.Recipients())), "Count", map[string]string{"Tenant": t.ID, "EventType": string(ev.EventType)})
	}
	return nil
}

func (h *Handler) process(ctx context.Context, t outbound.Tenant, ev outbound.Event) error {
	if err := h.track(ctx, t, ev); err != nil {
		return err
	}
	st, err := h.store.State(ctx, t.ID)
	if err != nil {
		return err
	}
	at := ev.Time()
	n := len(ev.Recipients())
	var counts outbound.Counts
	switch {
	case ev.EventType == outbound.Send:
		counts, err = h.store.CountSend(ctx, t, st.Generation, ev.Mail.Source, canonicalIP(ev.SourceIP()), n, at)
	case ev.EventType == outbound.Bounce && ev.Bounce.BounceType == "Permanent":
		counts, err = h.store.CountOutcome(ctx, t, st.Generation, outboundstore.Bounced, n, at)
	case ev.EventType == outbound.Complaint:
		counts, err = h.store.CountOutcome(ctx, t, st.Generation, outboundstore.Complained, n, at)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	if st.Suspended {
		return nil
	}
	v := t.Policy.Evaluate(counts)
	if len(v) == 0 {
		return nil
	}
	return h.suspend(ctx, t, outbound.Suspension{
		Tenant: t.ID, Since: h.Now().UTC(), Rule: v[0].Rule, Violations: v, Counts: counts,
		MessageID: ev.Mail.MessageID, By: MonitorName,
	})
}

// suspend records the suspension, switches the tenant's sending off and notifies, once per
// suspension. When switching or notifying fails, it takes everything back so that the retry of
// the event suspends and notifies again.
func (h *Handler) suspend(ctx context.Context, t outbound.Tenant, sp outbound.Suspension) error {
	err := outboundstore.Suspend(ctx, h.store, h.sending, h.sns, h.cfg.AlertTopic, t, sp)
	if errors.Is(err, outboundstore.ErrAlreadySuspended) {
		return nil
	}
	if err != nil {
		return err
	}
	h.log.Warn("tenant suspended", "tenant", t.ID, "rule", sp.Rule, "message_id", sp.MessageID)
	if h.Metrics != nil {
		metrics.Emit(h.Metrics, sp.Since, "OutboundSuspensions", 1, "Count", map[string]string{"Tenant": t.ID, "Rule": string(sp.Rule)})
	}
	return nil
}

// track writes what the event means into the outbound tracking records of its recipients.
func (h *Handler) track(ctx context.Context, t outbound.Tenant, ev outbound.Event) error {
	for _, rcpt := range ev.Recipients() {
		o := outcome(ev, rcpt)
		rec := tracking.Record{
			MessageID: ev.Mail.MessageID, Recipient: rcpt, Time: ev.Mail.Timestamp, Direction: tracking.Outbound,
			Sender: ev.Mail.Source, From: fromAddress(ev.Mail.CommonHeaders.From), Subject: ev.Mail.CommonHeaders.Subject,
			ClientIP: canonicalIP(ev.SourceIP()), Traffic: o.traffic, Status: o.status, Action: o.action, BlockType: o.block,
			Events: []tracking.Event{{Time: ev.Time(), Status: o.status, Detail: o.detail}},
		}
		if o.reason.Code != "" {
			rec.Reasons = []verdict.Reason{o.reason}
		}
		if o.traffic == tracking.Blocked {
			// The per-day summary of blocked client IPs counts records created blocked; it is
			// about inbound senders, so an outbound record is created accepted and then updated.
			rec = tracking.Record{MessageID: rec.MessageID, Recipient: rcpt, Time: rec.Time, Direction: tracking.Outbound,
				Sender: rec.Sender, From: rec.From, Subject: rec.Subject, ClientIP: rec.ClientIP, Traffic: tracking.Accepted, Status: tracking.Queued}
		}
		created, err := h.tracking.Create(ctx, rec)
		if err != nil {
			return err
		}
		if created && o.traffic != tracking.Blocked {
			continue
		}
		err = h.tracking.Update(ctx, ev.Mail.MessageID, rcpt, func(r *tracking.Record) error {
			e := tracking.Event{Time: ev.Time(), Status: o.status, Detail: o.detail}
			for _, old := range r.Events {
				if old.Time.Equal(e.Time) && old.Status == e.Status && old.Detail == e.Detail {
					return nil // written by an earlier attempt at this event
				}
			}
			r.Events = append(r.Events, e)
			if rank(o.status) >= rank(r.Status) && !o.keepStatus {
				r.Status, r.Traffic = o.status, o.traffic
				if o.action != "" {
					r.Action, r.BlockType = o.action, o.block
				}
			}
			if o.reason.Code != "" {
				r.Reasons = append(r.Reasons, o.reason)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type outcomeOf struct {
	status     tracking.Status
	traffic    tracking.Traffic
	action     verdict.Action
	block      verdict.BlockType
	reason     verdict.Reason
	detail     string
	keepStatus bool // an event that does not change the status (a complaint)
}

// outcome is what an event means for one recipient's record.
func outcome(ev outbound.Event, rcpt string) outcomeOf {
	why := ev.Reason(rcpt)
	o := outcomeOf{traffic: tracking.Accepted, detail: why}
	switch ev.EventType {
	case outbound.Send:
		o.status, o.detail = tracking.Queued, "accepted by SES for delivery"
	case outbound.Delivery:
		o.status, o.action, o.detail = tracking.Delivered, verdict.Deliver, ev.Delivery.SMTPResponse
	case outbound.Bounce:
		o.status, o.reason = tracking.Bounced, verdict.Reason{Code: CodeBounce, Detail: why}
	case outbound.Complaint:
		o.status, o.keepStatus, o.reason = tracking.Delivered, true, verdict.Reason{Code: CodeComplaint, Detail: why}
	case outbound.Reject:
		o.status, o.traffic, o.action, o.block = tracking.Deleted, tracking.Blocked, verdict.Delete, verdict.Permanent
		o.reason = verdict.Reason{Code: CodeRejected, Detail: why}
		if strings.EqualFold(ev.Reject.Reason, "Bad content") {
			o.reason.Code = verdict.Virus
		}
	case outbound.DeliveryDelay:
		o.status, o.reason = tracking.Deferred, verdict.Reason{Code: CodeDelayed, Detail: why}
	case outbound.RenderingFailure:
		o.status, o.reason = tracking.DeliveryFailed, verdict.Reason{Code: CodeRendering, Detail: why}
	default:
		o.status = tracking.Queued
	}
	return o
}

// rank orders statuses so that a late event never takes a record back: SES publishes events
// at least once and not in order (a Delivery can arrive before its Send).
func rank(s tracking.Status) int {
	switch s {
	case tracking.Queued, tracking.Received:
		return 0
	case tracking.Deferred:
		return 1
	default:
		return 2
	}
}

func fromAddress(from []string) string {
	if len(from) == 0 {
		return ""
	}
	if a, err := mail.ParseAddress(from[0]); err == nil {
		return a.Address
	}
	return ""
}

func canonicalIP(s string) string {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return ip.Unmap().String()
}

var _ DB = (*dynamodb.Client)(nil)
