// Package admin is quarantine administration: list the quarantined copies by domain,
// recipient, time and reason, show one (headers, verdict trail, a safe text preview), release
// it for delivery (optionally approving the sender for the recipient) and delete it. The
// command line (moatctl quarantine) and the end users' action links (functions/actions) both
// go through it, so a release is the same whoever asks for it.
//
// What a release records: the delivery job (shared/delivery, from quarantine/<messageId>,
// marked Released), and on the tracking record the status released, an event naming who
// released it and the reason code "released" appended to the verdict trail. The inbound
// function treats released as a final status, so a duplicate or redriven SES event for the
// message never quarantines it again.
//
// The quarantined copy (quarantine/<messageId>) is shared by every quarantined recipient of
// a message: Delete removes it only when no recipient still needs it (every quarantined
// recipient deleted); released copies are left to the bucket's lifecycle rule, because the
// delivery function reads them, possibly days later after retries.
//
// The package logs nothing; errors name message IDs, never addresses or subjects.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/filter"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// Tracking is the part of the tracking store the package uses; *tracking.Store satisfies it.
type Tracking interface {
	Search(ctx context.Context, q tracking.Query) (tracking.Page, error)
	ByMessage(ctx context.Context, messageID string) ([]tracking.Record, error)
	Update(ctx context.Context, messageID, recipient string, fn func(*tracking.Record) error) error
}

// Mail reads and deletes quarantined copies; *quarantine.Store satisfies it.
type Mail interface {
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
	Delete(ctx context.Context, key string) error
}

// Queue takes delivery jobs; *delivery.Queue satisfies it.
type Queue interface {
	Enqueue(ctx context.Context, jobs ...delivery.Job) error
}

// Senders keeps end users' own sender lists; *policystore.Store satisfies it.
type Senders interface {
	UserSenderAdd(ctx context.Context, e policy.SenderEntry) error
}

// Admin carries out quarantine operations.
type Admin struct {
	Tracking Tracking
	Mail     Mail
	Queue    Queue   // needed by Release
	Senders  Senders // needed by Release with an approval, and by Approve/Block
	Now      func() time.Time
	// Learn teaches the spam model from decisions (learn.go); nil: decisions are not learned.
	Learn Learner
}

var (
	// ErrNotQuarantined is returned when the message has no quarantined copy for the recipient
	// (never quarantined, already released or deleted, or expired).
	ErrNotQuarantined = errors.New("not in quarantine")
	// ErrNotFound is returned when tracking knows no record for the message (and recipient).
	ErrNotFound = errors.New("no such quarantined message")
	// ErrInvalidFilter is returned by List for a filter it cannot apply.
	ErrInvalidFilter = errors.New("invalid quarantine filter")
)

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// Filter selects quarantined copies for List. Every field is optional.
type Filter struct {
	Domain    string // recipient domain
	Recipient string
	Since     time.Time
	Until     time.Time
	Reasons   []verdict.Code // any of them in the verdict trail
	EndUser   bool           // only what end users may see (EndUserVisible)
	All       bool           // also copies no longer held (released, deleted): the history
	Limit     int            // items per page: tracking.DefaultLimit when 0, at most tracking.MaxLimit
	Cursor    string         // Page.Cursor of the previous page
}

// Page is one page of List, newest first.
type Page struct {
	Items []tracking.Record `json:"items"`
	// Cursor fetches the next page; empty on the last one. A non-empty cursor can lead to an
	// empty page.
	Cursor string `json:"cursor,omitempty"`
}

// maxScanned bounds the tracking records one List call reads, as a multiple of the page size,
// so a page over a long range of blocked but not quarantined mail returns (with a cursor)
// instead of reading the whole range.
const maxScanned = 20

// List returns a page of quarantined copies matching f, newest first, from the tracking
// table's indexes (by recipient, else by domain, else by time; blocked inbound traffic).
func (a *Admin) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = tracking.DefaultLimit
	case limit < 0 || limit > tracking.MaxLimit:
		return Page{}, fmt.Errorf("limit %d is out of range, 1 to %d: %w", limit, tracking.MaxLimit, ErrInvalidFilter)
	}
	for _, c := range f.Reasons {
		if !knownCode(c) {
			return Page{}, fmt.Errorf("reason %q is not a reason code (moatctl check --help lists them): %w", c, ErrInvalidFilter)
		}
	}
	q := tracking.Query{
		Since: f.Since, Until: f.Until, Recipient: f.Recipient, Domain: f.Domain,
		Traffic: tracking.Blocked, Direction: tracking.Inbound, Cursor: f.Cursor,
	}
	page := Page{Items: []tracking.Record{}}
	scanned := 0
	for {
		// The cursor does not depend on the page size, so each read asks for exactly what is
		// still missing and the cursor it returns resumes right after the last record kept.
		q.Limit = limit - len(page.Items)
		tp, err := a.Tracking.Search(ctx, q)
		if err != nil {
			return Page{}, err
		}
		scanned += len(tp.Records)
		for _, r := range tp.Records {
			if f.match(r) {
				page.Items = append(page.Items, r)
			}
		}
		if tp.Cursor == "" {
			return page, nil
		}
		q.Cursor = tp.Cursor
		if len(page.Items) == limit || scanned >= maxScanned*limit {
			page.Cursor = tp.Cursor
			return page, nil
		}
	}
}

func (f Filter) match(r tracking.Record) bool {
	if r.QuarantineKey == "" || (!f.All && r.Status != tracking.Quarantined) {
		return false
	}
	if f.EndUser && !EndUserVisible(r.Reasons) {
		return false
	}
	if len(f.Reasons) == 0 {
		return true
	}
	for _, c := range f.Reasons {
		if has(r.Reasons, c) {
			return true
		}
	}
	return false
}

func has(rs []verdict.Reason, c verdict.Code) bool {
	return slices.ContainsFunc(rs, func(r verdict.Reason) bool { return r.Code == c })
}

func knownCode(c verdict.Code) bool {
	for _, d := range verdict.Codes {
		if d.Code == c {
			return true
		}
	}
	return false
}

// records returns the message's records, limited to recipient when it is set.
func (a *Admin) records(ctx context.Context, messageID, recipient string) ([]tracking.Record, error) {
	if !quarantine.ValidID(messageID) {
		return nil, fmt.Errorf("message ID %q: %w", messageID, quarantine.ErrInvalidID)
	}
	recs, err := a.Tracking.ByMessage(ctx, messageID)
	if err != nil {
		return nil, err
	}
	if recipient != "" {
		recs = slices.DeleteFunc(recs, func(r tracking.Record) bool { return !strings.EqualFold(r.Recipient, recipient) })
	}
	recs = slices.DeleteFunc(recs, func(r tracking.Record) bool { return r.QuarantineKey == "" })
	if len(recs) == 0 {
		return nil, fmt.Errorf("message %s: %w", messageID, ErrNotFound)
	}
	return recs, nil
}

// Approval says what Release adds to the recipient's own approved senders.
type Approval string

const (
	ApproveNone   Approval = ""
	ApproveSender Approval = "sender" // the sender's address
	ApproveDomain Approval = "domain" // *@the sender's domain
)

// Release is what to release: a message for some of its quarantined recipients.
type Release struct {
	MessageID  string
	Recipients []string // empty: every recipient whose copy is quarantined
	By         string   // who asked (an administrator's name, "end user"), for the event detail
	Approve    Approval
	// EndUser refuses copies that end users may not release (EndUserVisible false).
	EndUser bool
}

// Result is what Release, Delete and Approve did for one recipient.
type Result struct {
	MessageID string          `json:"messageId"`
	Recipient string          `json:"recipient"`
	Status    tracking.Status `json:"status"`             // the status now
	Approved  string          `json:"approved,omitempty"` // the pattern added to the recipient's approved senders
	Note      string          `json:"note,omitempty"`     // "already released", ...
}

// Release queues the message for delivery to the recipients from its quarantined copy, marks
// their records released and, when asked, approves the sender for each of them. Recipients
// already released are reported, not queued again. Nothing is marked released unless its job
// was queued.
func (a *Admin) Release(ctx context.Context, r Release) ([]Result, error) {
	if r.Approve != ApproveNone && r.Approve != ApproveSender && r.Approve != ApproveDomain {
		return nil, fmt.Errorf("approve %q: want sender or domain", r.Approve)
	}
	recs, err := a.selectRecords(ctx, r.MessageID, r.Recipients)
	if err != nil {
		return nil, err
	}
	now := a.now()
	var out []Result
	var todo []tracking.Record
	for _, rec := range recs {
		switch {
		case r.EndUser && !EndUserVisible(rec.Reasons):
			return nil, fmt.Errorf("message %s: %w: only an administrator may release it", r.MessageID, ErrNotQuarantined)
		case rec.Status == tracking.Quarantined:
			todo = append(todo, rec)
		case rec.Status == tracking.Released || rec.Status == tracking.Delivered || rec.Status == tracking.Queued || rec.Status == tracking.Deferred:
			out = append(out, Result{MessageID: rec.MessageID, Recipient: rec.Recipient, Status: rec.Status, Note: "already released"})
		default:
			return nil, fmt.Errorf("message %s is %s for a recipient: %w", r.MessageID, rec.Status, ErrNotQuarantined)
		}
	}
	if len(todo) > 0 {
		if err := a.enqueue(ctx, todo, now); err != nil {
			return nil, err
		}
	}
	by := r.By
	if by == "" {
		by = "administrator"
	}
	var errs []error
	for _, rec := range todo {
		err := a.Tracking.Update(ctx, rec.MessageID, rec.Recipient, func(t *tracking.Record) error {
			t.Status = tracking.Released
			t.Reasons = append(t.Reasons, verdict.Reason{Code: verdict.Released, Detail: by})
			t.Events = append(t.Events, tracking.Event{Time: now, Status: tracking.Released, Detail: "released by " + by})
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s released: %w", rec.MessageID, err))
			continue
		}
		out = append(out, Result{MessageID: rec.MessageID, Recipient: rec.Recipient, Status: tracking.Released})
	}
	errs = append(errs, a.learnReleased(ctx, todo))
	if r.Approve != ApproveNone {
		for i := range out {
			rec := find(recs, out[i].Recipient)
			pat, err := a.approve(ctx, rec, r.Approve, policy.Approved, "approved on release by "+by)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out[i].Approved = pat
		}
	}
	return out, errors.Join(errs...)
}

func find(recs []tracking.Record, rcpt string) tracking.Record {
	for _, r := range recs {
		if r.Recipient == rcpt {
			return r
		}
	}
	return tracking.Record{}
}

// selectRecords returns the quarantined-at-some-time records of the named recipients (all
// when none are named); a named recipient without one is an error.
func (a *Admin) selectRecords(ctx context.Context, id string, rcpts []string) ([]tracking.Record, error) {
	recs, err := a.records(ctx, id, "")
	if err != nil {
		return nil, err
	}
	if len(rcpts) == 0 {
		return recs, nil
	}
	var out []tracking.Record
	for _, want := range rcpts {
		i := slices.IndexFunc(recs, func(r tracking.Record) bool { return strings.EqualFold(r.Recipient, want) })
		if i < 0 {
			return nil, fmt.Errorf("message %s has no quarantined copy for recipient %q: %w", id, want, ErrNotFound)
		}
		out = append(out, recs[i])
	}
	return out, nil
}

// enqueue queues delivery jobs for the records, which belong to one message.
func (a *Admin) enqueue(ctx context.Context, recs []tracking.Record, now time.Time) error {
	if a.Queue == nil {
		return errors.New("release: no delivery queue configured")
	}
	first := recs[0]
	rs := make([]delivery.Recipient, 0, len(recs))
	for _, r := range recs {
		rs = append(rs, delivery.Recipient{Addr: r.Recipient, Headers: map[string]string{
			filter.HeaderVerdict: string(verdict.Released),
			filter.HeaderReasons: codes(r.Reasons),
			filter.HeaderID:      r.MessageID,
		}})
	}
	jobs, err := delivery.Group(delivery.Job{
		MessageID: first.MessageID, Key: first.QuarantineKey, Sender: first.Sender,
		Released: true, Enqueued: now,
	}, rs)
	if err != nil {
		return fmt.Errorf("release %s: %w", first.MessageID, err)
	}
	if err := a.Queue.Enqueue(ctx, jobs...); err != nil {
		return fmt.Errorf("release %s: %w", first.MessageID, err)
	}
	return nil
}

func codes(rs []verdict.Reason) string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if !slices.Contains(out, string(r.Code)) {
			out = append(out, string(r.Code))
		}
	}
	return strings.Join(out, ", ")
}

// SenderAddress is the address an approval or block names: the header From, which the
// recipient saw, else the envelope sender. The filter matches sender lists against both.
func SenderAddress(r tracking.Record) string {
	if r.From != "" {
		return strings.ToLower(r.From)
	}
	return strings.ToLower(r.Sender)
}

// Pattern returns the sender-list pattern for the record's sender: the address, or *@domain.
func Pattern(r tracking.Record, scope Approval) (string, error) {
	addr := SenderAddress(r)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", fmt.Errorf("message %s has no sender address to list", r.MessageID)
	}
	pat := addr
	if scope == ApproveDomain {
		pat = "*@" + addr[at+1:]
	}
	if _, err := policy.ParsePattern(pat); err != nil {
		return "", fmt.Errorf("message %s: sender pattern: %w", r.MessageID, err)
	}
	return pat, nil
}

// approve adds the record's sender (or its domain) to the recipient's own list.
func (a *Admin) approve(ctx context.Context, rec tracking.Record, scope Approval, list policy.List, comment string) (string, error) {
	if a.Senders == nil {
		return "", errors.New("no sender list store configured")
	}
	pat, err := Pattern(rec, scope)
	if err != nil {
		return "", err
	}
	e := policy.SenderEntry{Pattern: pat, List: list, Recipient: strings.ToLower(rec.Recipient), Comment: comment}
	if err := a.Senders.UserSenderAdd(ctx, e); err != nil {
		return "", fmt.Errorf("add to %s senders: %w", list, err)
	}
	return pat, nil
}

// ListSender adds the sender of a quarantined message (scope ApproveSender: the address;
// ApproveDomain: *@its domain) to the recipient's own approved or blocked list, and returns
// the pattern. The message stays where it is.
func (a *Admin) ListSender(ctx context.Context, messageID, recipient string, scope Approval, list policy.List, by string) (string, error) {
	if scope != ApproveSender && scope != ApproveDomain {
		return "", fmt.Errorf("scope %q: want sender or domain", scope)
	}
	if list != policy.Approved && list != policy.Blocked {
		return "", fmt.Errorf("list %q: want approved or blocked", list)
	}
	recs, err := a.records(ctx, messageID, recipient)
	if err != nil {
		return "", err
	}
	pat, err := a.approve(ctx, recs[0], scope, list, string(list)+" from quarantine by "+by)
	if err == nil && list == policy.Blocked {
		err = a.learnBlocked(ctx, recs[0])
	}
	return pat, err
}

// Delete marks the recipients' quarantined copies deleted (all quarantined recipients when
// none are named) and removes the stored copy once no recipient still needs it.
func (a *Admin) Delete(ctx context.Context, messageID string, recipients []string, by, detail string) ([]Result, error) {
	recs, err := a.selectRecords(ctx, messageID, recipients)
	if err != nil {
		return nil, err
	}
	if by == "" {
		by = "administrator"
	}
	if detail == "" {
		detail = "deleted by " + by
	}
	now := a.now()
	var out []Result
	var errs []error
	for _, rec := range recs {
		if rec.Status != tracking.Quarantined {
			out = append(out, Result{MessageID: rec.MessageID, Recipient: rec.Recipient, Status: rec.Status, Note: "not in quarantine"})
			continue
		}
		err := a.Tracking.Update(ctx, rec.MessageID, rec.Recipient, func(t *tracking.Record) error {
			if t.Status != tracking.Quarantined {
				return nil // released or deleted in between
			}
			t.Status = tracking.Deleted
			t.Events = append(t.Events, tracking.Event{Time: now, Status: tracking.Deleted, Detail: detail})
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s deleted: %w", rec.MessageID, err))
			continue
		}
		out = append(out, Result{MessageID: rec.MessageID, Recipient: rec.Recipient, Status: tracking.Deleted})
	}
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	return out, a.removeIfUnused(ctx, messageID)
}

// removeIfUnused deletes the quarantined copy when every recipient that had one is deleted.
func (a *Admin) removeIfUnused(ctx context.Context, messageID string) error {
	all, err := a.Tracking.ByMessage(ctx, messageID)
	if err != nil {
		return err
	}
	key := ""
	for _, r := range all {
		if r.QuarantineKey == "" {
			continue
		}
		if r.Status != tracking.Deleted {
			return nil
		}
		key = r.QuarantineKey
	}
	if key == "" {
		return nil
	}
	if err := a.Mail.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete quarantined copy of %s: %w", messageID, err)
	}
	return nil
}

// Record returns the tracking record of one recipient's quarantined (or formerly quarantined)
// copy of a message.
func (a *Admin) Record(ctx context.Context, messageID, recipient string) (tracking.Record, error) {
	recs, err := a.records(ctx, messageID, recipient)
	if err != nil {
		return tracking.Record{}, err
	}
	return recs[0], nil
}
