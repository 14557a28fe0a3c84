// Package bounce sends non-delivery reports: delivery status notifications (RFC 3464) to the
// envelope sender of mail that the gateway accepted and then refused, or could not deliver.
//
// Two senders implement Sender: SESSender asks SES to bounce the message it received
// (SendBounce, the production path, possible within 24 hours of receipt), and RawSender builds
// the report with BuildDSN and sends it with SendRawEmail (the local stack, the emulator, and
// failures found after 24 hours). Both refuse to create backscatter: a message from the null
// sender, from MAILER-DAEMON or postmaster, or one that is itself automatic (Auto-Submitted,
// a multipart/report) is never bounced; Send returns ErrNoBounce and the caller records
// "bounce suppressed".
//
// Everything in a report reaches the sender, so it says only what the standard statuses say
// (verdict.Status texts); reason codes and policy names stay in the logs and tracking.
package bounce

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/verdict"
)

var (
	// ErrNoBounce means the message must not be bounced: the sender is null or a mailer
	// daemon, or the message is itself an automatic one. Record "bounce suppressed".
	ErrNoBounce = errors.New("bounce suppressed")
	// ErrInvalid means the bounce itself is malformed (no recipients, a status that is not a
	// permanent failure, a bad bounce sender); it is a bug in the caller, not worth a retry.
	ErrInvalid = errors.New("invalid bounce")
)

// MaxOriginalHeaders is the most of the original's header section a report returns.
const MaxOriginalHeaders = 64 * 1024

// Explanation is the generic text that opens every report.
const Explanation = "Your message could not be delivered to one or more recipients. " +
	"It has been returned to you with the reasons below."

// Recipient is one recipient the message is bounced for.
type Recipient struct {
	Addr   string
	Status verdict.Status // a permanent failure: 5xx and 5.x.y
	// Diagnostic is the text after the SMTP codes in the Diagnostic-Code field, such as the
	// reply of the customer's mail server; empty: Status.Text. It reaches the sender.
	Diagnostic string
}

// Bounce is a report about one received message.
type Bounce struct {
	MessageID  string // SES message ID of the original
	Sender     string // the original's envelope sender (MAIL FROM), who is told
	Recipients []Recipient
	Arrival    time.Time // when SES received the original
	// OriginalHeaders is the original's header section; past MaxOriginalHeaders it is cut
	// at a line boundary.
	OriginalHeaders []byte
	ReportingMTA    string // host name for Reporting-MTA; empty: the bounce sender's domain
}

// Sender sends a bounce. It returns ErrNoBounce for mail that must not be bounced and
// ErrInvalid for a malformed bounce; any other error comes from the service and
// awserr.IsTemporary says whether to try again. A Sender never sleeps to pace itself.
type Sender interface {
	Send(ctx context.Context, b Bounce) error
}

var (
	enhancedRE  = regexp.MustCompile(`^5\.[0-9]{1,3}\.[0-9]{1,3}$`)
	messageIDRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,200}$`)
)

// Validate returns ErrNoBounce (wrapped, saying why) when b must not be bounced, ErrInvalid
// when it is malformed, and nil when it can be sent.
func (b Bounce) Validate() error {
	if err := bounceable(b); err != nil {
		return err
	}
	if !messageIDRE.MatchString(b.MessageID) {
		return fmt.Errorf("%w: message id %q", ErrInvalid, b.MessageID)
	}
	if len(b.Recipients) == 0 {
		return fmt.Errorf("%w: no recipients", ErrInvalid)
	}
	for _, r := range b.Recipients {
		if !validAddr(r.Addr) {
			return fmt.Errorf("%w: recipient %q", ErrInvalid, r.Addr)
		}
		if r.Status.Code < 500 || r.Status.Code > 599 || !enhancedRE.MatchString(r.Status.Enhanced) {
			return fmt.Errorf("%w: recipient %s: status %d %s is not a permanent failure", ErrInvalid, r.Addr, r.Status.Code, r.Status.Enhanced)
		}
	}
	if b.ReportingMTA != "" && !validHost(b.ReportingMTA) {
		return fmt.Errorf("%w: reporting MTA %q", ErrInvalid, b.ReportingMTA)
	}
	return nil
}

// bounceable applies the backscatter rules.
func bounceable(b Bounce) error {
	s := strings.TrimSpace(b.Sender)
	if s == "" || s == "<>" {
		return fmt.Errorf("%w: null sender", ErrNoBounce)
	}
	if !validAddr(s) || s != b.Sender {
		return fmt.Errorf("%w: sender %q is not an address", ErrNoBounce, b.Sender)
	}
	local := strings.ToLower(s[:strings.LastIndexByte(s, '@')])
	if local == "mailer-daemon" || local == "postmaster" {
		return fmt.Errorf("%w: sender is %s", ErrNoBounce, local)
	}
	for name, value := range headerFields(b.OriginalHeaders) {
		switch strings.ToLower(name) {
		case "auto-submitted":
			if v := strings.ToLower(strings.TrimSpace(value)); v != "" && !strings.HasPrefix(v, "no") {
				return fmt.Errorf("%w: the original is Auto-Submitted: %s", ErrNoBounce, firstWord(v))
			}
		case "content-type":
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(value)), "multipart/report") {
				return fmt.Errorf("%w: the original is a report", ErrNoBounce)
			}
		case "x-failed-recipients":
			return fmt.Errorf("%w: the original is a bounce", ErrNoBounce)
		}
	}
	return nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t;("); i >= 0 {
		return s[:i]
	}
	return s
}

// validAddr accepts a bare addr-spec (local@domain) of at most 254 octets.
func validAddr(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, "\r\n\x00") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || strings.LastIndexByte(s, '@') <= 0 {
		return false
	}
	return a.Address == s || a.String() == "<"+s+">" // a quoted local part comes back unquoted
}

// validHost accepts a host name made of letters, digits, hyphens and dots.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// domain returns the part after the last @ of a valid address.
func domain(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }
