// Package delivery is the contract between the inbound function, which decides what happens to
// each recipient, and the delivery function, which hands the message to the customer's mail
// server: a Job on the SQS delivery queue. A job names one stored message, one recipient domain
// (which selects the route) and at most MaxRecipients recipients that share the same
// modifications, so the delivery function sends it in one SMTP transaction.
package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/quarantine"
)

const (
	// MaxRecipients bounds a job's recipients: SMTP servers commonly accept 100 RCPT TO per
	// transaction (RFC 5321 §4.5.3.1.8 requires at least 100).
	MaxRecipients = 100
	// MaxBodyBytes is SQS's message size limit; a job's JSON must fit in it.
	MaxBodyBytes = 256 * 1024
	// HeaderPrefix starts every header a job may insert.
	HeaderPrefix = "X-Moat-"

	maxAddrLen       = 320
	maxSubjectTagLen = 200
	maxHeaderBytes   = 8 * 1024
)

// ErrInvalid is wrapped by every Validate error.
var ErrInvalid = errors.New("invalid delivery job")

// Job asks the delivery function to deliver one stored message to some recipients of one domain.
type Job struct {
	MessageID string `json:"messageId"` // SES message ID
	// Key is the S3 key of the raw message: incoming/<messageId>, or quarantine/<messageId>
	// when the message was released from quarantine.
	Key string `json:"key"`
	// Sender is the envelope sender (MAIL FROM); empty for a bounce (null reverse-path).
	Sender     string   `json:"sender"`
	Domain     string   `json:"domain"` // recipient domain, lower case; selects the route
	Recipients []string `json:"recipients"`
	// SubjectTag is prepended to the subject at delivery time ("[SPAM] "); empty: none.
	SubjectTag string `json:"subjectTag,omitempty"`
	// Headers are X-Moat-* fields inserted at delivery time; the stored original never changes.
	Headers  map[string]string `json:"headers,omitempty"`
	Released bool              `json:"released,omitempty"` // delivered from quarantine
	Enqueued time.Time         `json:"enqueued"`           // when the inbound function queued it first
	Attempt  int               `json:"attempt,omitempty"`  // delivery attempts so far
}

// Validate reports the first problem that would keep the job from being delivered as asked.
func (j Job) Validate() error {
	if err := j.validate(); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return nil
}

func (j Job) validate() error {
	if !quarantine.ValidID(j.MessageID) {
		return fmt.Errorf("message id %q", j.MessageID)
	}
	want := quarantine.Key(j.MessageID)
	if j.Released {
		want = quarantine.CopyKey(j.MessageID)
	}
	if j.Key != want {
		return fmt.Errorf("key %q, want %q (released %t)", j.Key, want, j.Released)
	}
	if j.Sender != "" {
		if _, err := domainOf(j.Sender); err != nil {
			return fmt.Errorf("sender: %v", err)
		}
	}
	if j.Domain == "" || j.Domain != strings.ToLower(j.Domain) || !validDomain(j.Domain) {
		return fmt.Errorf("domain %q: want a lower-case domain name", j.Domain)
	}
	if len(j.Recipients) == 0 || len(j.Recipients) > MaxRecipients {
		return fmt.Errorf("%d recipients, want 1 to %d", len(j.Recipients), MaxRecipients)
	}
	seen := make(map[string]bool, len(j.Recipients))
	for _, r := range j.Recipients {
		d, err := domainOf(r)
		if err != nil {
			return fmt.Errorf("recipient: %v", err)
		}
		if d != j.Domain {
			return fmt.Errorf("recipient %q is not in domain %q", r, j.Domain)
		}
		if seen[r] {
			return fmt.Errorf("recipient %q twice", r)
		}
		seen[r] = true
	}
	if len(j.SubjectTag) > maxSubjectTagLen || hasControl(j.SubjectTag, false) {
		return errors.New("subject tag: too long or has control characters")
	}
	size := 0
	for name, value := range j.Headers {
		if len(name) <= len(HeaderPrefix) || !strings.EqualFold(name[:len(HeaderPrefix)], HeaderPrefix) {
			return fmt.Errorf("header %q: want an %s* field", name, HeaderPrefix)
		}
		for i := 0; i < len(name); i++ {
			if name[i] <= ' ' || name[i] >= 0x7f || name[i] == ':' {
				return fmt.Errorf("header %q: bad field name", name)
			}
		}
		if hasControl(value, true) {
			return fmt.Errorf("header %s: control characters in the value", name)
		}
		size += len(name) + len(value) + 4
	}
	if size > maxHeaderBytes {
		return fmt.Errorf("headers: %d bytes, at most %d", size, maxHeaderBytes)
	}
	if j.Enqueued.IsZero() {
		return errors.New("enqueued time missing")
	}
	if j.Attempt < 0 {
		return fmt.Errorf("attempt %d", j.Attempt)
	}
	return nil
}

// Decode parses and validates a job from a queue message body.
func Decode(body []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(body, &j); err != nil {
		return Job{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	return j, nil
}

// domainOf returns the lower-cased domain of an addr-spec (local@domain), refusing anything
// that could break an SMTP command: control characters, angle brackets, spaces outside a
// quoted local part.
func domainOf(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || len(addr) > maxAddrLen {
		return "", fmt.Errorf("address %q: want local@domain", addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if hasControl(addr, false) || strings.ContainsAny(addr, "<>") {
		return "", fmt.Errorf("address %q: forbidden characters", addr)
	}
	quoted := len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"'
	if !quoted && strings.ContainsAny(local, " \"") {
		return "", fmt.Errorf("address %q: space in an unquoted local part", addr)
	}
	domain = strings.ToLower(domain)
	if !validDomain(domain) {
		return "", fmt.Errorf("address %q: bad domain", addr)
	}
	return domain, nil
}

// validDomain accepts a dot-separated name without spaces or brackets (or an address literal,
// which SMTP allows in a mailbox).
func validDomain(d string) bool {
	if d == "" || len(d) > 255 || strings.ContainsAny(d, " \t,;()<>@\"\\") || hasControl(d, false) {
		return false
	}
	if d[0] == '[' {
		return d[len(d)-1] == ']'
	}
	return !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".") && !strings.Contains(d, "..")
}

// hasControl reports ASCII control characters (CR, LF, NUL, ...); tab is allowed when tab is set.
func hasControl(s string, tab bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0x7f || c < 0x20 && !(tab && c == '\t') {
			return true
		}
	}
	return false
}
