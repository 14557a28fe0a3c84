// Package digest is the digest function's handler: run every hour by EventBridge, it sends
// each end user who has new spam or graymail in quarantine a digest with action links (at the
// hours the domain's policy names), and marks quarantined copies past the retention period
// deleted in tracking (detail "expired"), as the bucket's lifecycle rule removes them.
package digest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/moatmail/moat/shared/euq"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/token"
	"github.com/moatmail/moat/shared/tracking"
)

// Scan bounds.
const (
	// Overlap is how far before the end of the last scan a scan starts again: a record's time
	// is when SES received the message, and the inbound function may quarantine it hours later
	// (retries of the asynchronous invocation, up to six hours). Watermarks keep the overlap
	// from listing a message twice.
	Overlap = 7 * time.Hour
	// FirstScan is how far back the first digest of a domain looks.
	FirstScan = 24 * time.Hour
	// ExpiryGrace is how long after the retention period a copy is marked expired: the bucket's
	// lifecycle rule removes objects from midnight UTC after they reach the age.
	ExpiryGrace = 24 * time.Hour
	// FirstExpiryScan is how far before the expiry cutoff the first expiry check looks.
	FirstExpiryScan = 7 * 24 * time.Hour
)

// Policies gives the current policy document.
type Policies interface {
	Get(ctx context.Context) (*policy.Policy, int, error)
}

// Mailer sends raw mail; *ses.Client satisfies it.
type Mailer interface {
	SendRawEmail(ctx context.Context, in *ses.SendRawEmailInput, opts ...func(*ses.Options)) (*ses.SendRawEmailOutput, error)
}

// Handler runs the digests and the expiry check.
type Handler struct {
	Policies   Policies
	Admin      *admin.Admin
	State      *State
	Mailer     Mailer
	Signer     *token.Signer
	ActionsURL string        // the action function's URL
	Sender     string        // From of the digests; "" means quarantine@<recipient's domain>
	Retention  time.Duration // how long quarantined copies are kept
	LinkTTL    time.Duration // how long a link works (never beyond the copy's retention)
	Log        *slog.Logger
	Now        func() time.Time
}

// Handle is the scheduled event's entry point.
func (h *Handler) Handle(ctx context.Context, _ events.EventBridgeEvent) error {
	return h.Run(ctx, h.Now().UTC())
}

// Run does one hour's work for every served domain and returns what failed (EventBridge
// retries; the state makes a retry send only what is still due).
func (h *Handler) Run(ctx context.Context, now time.Time) error {
	doc, _, err := h.Policies.Get(ctx)
	if err != nil {
		return fmt.Errorf("load policy: %w", err)
	}
	pol, err := policy.Compile(doc)
	if err != nil {
		return fmt.Errorf("stored policy is invalid: %w", err)
	}
	var errs []error
	for _, d := range pol.Domains() {
		st, err := h.State.Domain(ctx, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := h.expire(ctx, d, st, now); err != nil {
			errs = append(errs, fmt.Errorf("expire %s: %w", d, err))
		}
		slot := now.Format("2006-01-02T15")
		if !pol.Effective(d).DigestHours.Has(now.Hour()) || st.Slot == slot {
			continue
		}
		if err := h.digests(ctx, d, st, slot, now); err != nil {
			errs = append(errs, fmt.Errorf("digests for %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// quarantined returns when the copy was quarantined: the last quarantine event, else the
// record's time.
func quarantined(r tracking.Record) time.Time {
	for i := len(r.Events) - 1; i >= 0; i-- {
		if r.Events[i].Status == tracking.Quarantined {
			return r.Events[i].Time
		}
	}
	return r.Time
}

// all pages through List.
func (h *Handler) all(ctx context.Context, f admin.Filter) ([]tracking.Record, error) {
	f.Limit = tracking.MaxLimit
	var out []tracking.Record
	for {
		p, err := h.Admin.List(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Cursor == "" {
			return out, nil
		}
		f.Cursor = p.Cursor
	}
}

// digests sends one digest to every recipient of the domain with new end-user-visible
// quarantined mail since their watermark.
func (h *Handler) digests(ctx context.Context, domain string, st DomainState, slot string, now time.Time) error {
	since := now.Add(-FirstScan)
	if !st.Scanned.IsZero() {
		since = st.Scanned.Add(-Overlap)
	}
	items, err := h.all(ctx, admin.Filter{Domain: domain, Since: since, Until: now, EndUser: true})
	if err != nil {
		return err
	}
	byRcpt := map[string][]tracking.Record{}
	var rcpts []string
	for _, r := range items {
		rc := strings.ToLower(r.Recipient)
		if _, ok := byRcpt[rc]; !ok {
			rcpts = append(rcpts, rc)
		}
		byRcpt[rc] = append(byRcpt[rc], r)
	}
	slices.Sort(rcpts)
	var errs []error
	sent := 0
	for _, rc := range rcpts {
		ok, err := h.recipient(ctx, domain, rc, byRcpt[rc], now)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			sent++
		}
	}
	h.Log.Info("digests", "domain", domain, "recipients", len(rcpts), "sent", sent, "failed", len(errs))
	if len(errs) > 0 {
		return errors.Join(errs...) // the scan is not recorded: the next run looks again
	}
	return h.State.SetScanned(ctx, domain, slot, now)
}

// recipient sends one recipient's digest if it has new items, and moves its watermark.
func (h *Handler) recipient(ctx context.Context, domain, rcpt string, recs []tracking.Record, now time.Time) (bool, error) {
	if !plainAddress(rcpt) {
		return false, fmt.Errorf("recipient address not usable in a header (message %s)", recs[0].MessageID)
	}
	mark, err := h.State.Mark(ctx, domain, rcpt)
	if err != nil {
		return false, err
	}
	var fresh []tracking.Record
	for _, r := range recs {
		if quarantined(r).After(mark) {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) == 0 {
		return false, nil
	}
	slices.SortFunc(fresh, func(a, b tracking.Record) int { return quarantined(b).Compare(quarantined(a)) })
	newest := quarantined(fresh[0])
	d := Digest{From: h.Sender, To: rcpt, Date: now, Expiry: int(h.Retention.Hours() / 24)}
	if d.From == "" {
		d.From = "quarantine@" + domain
	}
	for i, r := range fresh {
		if i == MaxItems {
			d.More = len(fresh) - MaxItems
			break
		}
		e, err := h.entry(r, rcpt, now)
		if err != nil {
			return false, err
		}
		d.Entries = append(d.Entries, e)
	}
	raw, err := Render(d)
	if err != nil {
		return false, fmt.Errorf("render digest: %w", err)
	}
	if _, err := h.Mailer.SendRawEmail(ctx, &ses.SendRawEmailInput{
		Source: aws.String(d.From), Destinations: []string{rcpt}, RawMessage: &sestypes.RawMessage{Data: raw},
	}); err != nil {
		return false, fmt.Errorf("send digest: %w", err)
	}
	return true, h.State.SetMark(ctx, domain, rcpt, newest, now)
}

// entry describes one record with its signed links. A link expires after LinkTTL or when the
// copy leaves quarantine, whichever is first.
func (h *Handler) entry(r tracking.Record, rcpt string, now time.Time) (Entry, error) {
	exp := now.Add(h.LinkTTL)
	if end := quarantined(r).Add(h.Retention); end.Before(exp) {
		exp = end
	}
	e := Entry{Time: r.Time.UTC(), From: display(admin.SenderAddress(r), 120), Subject: display(r.Subject, 200), Reason: reasonOf(r)}
	links, err := actionLinks(h.ActionsURL, func(a euq.Action) (string, error) {
		return h.Signer.Make(token.Claims{Purpose: string(a), MessageID: r.MessageID, Recipient: rcpt, Expires: exp.Unix()})
	})
	if err != nil {
		return Entry{}, err
	}
	e.Links = links
	return e, nil
}

func reasonOf(r tracking.Record) string {
	for _, x := range r.Reasons {
		if t := reasonText(string(x.Code)); t != string(x.Code) {
			return t
		}
	}
	return "suspected spam"
}

// plainAddress reports whether addr can go into a header and an SES destination as is.
func plainAddress(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || len(addr) > 254 {
		return false
	}
	for _, c := range addr {
		if c <= ' ' || c == '<' || c == '>' || c == '"' || c == ',' || c == 0x7f {
			return false
		}
	}
	return true
}

// expire marks the domain's quarantined copies past retention deleted ("expired"), reading
// each range of records once.
func (h *Handler) expire(ctx context.Context, domain string, st DomainState, now time.Time) error {
	cutoff := now.Add(-h.Retention - ExpiryGrace)
	since := st.Expired
	if since.IsZero() {
		since = cutoff.Add(-FirstExpiryScan)
	}
	if !since.Before(cutoff) {
		return nil
	}
	items, err := h.all(ctx, admin.Filter{Domain: domain, Since: since, Until: cutoff})
	if err != nil {
		return err
	}
	var errs []error
	n := 0
	for _, r := range items {
		if _, err := h.Admin.Delete(ctx, r.MessageID, []string{r.Recipient}, "retention", "expired"); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if n > 0 {
		h.Log.Info("expired", "domain", domain, "records", n)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return h.State.SetExpired(ctx, domain, cutoff)
}
