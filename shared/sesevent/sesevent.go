// Package sesevent adapts SES receipt events (the Lambda action's payload) to the filter core:
// the envelope and SES's verdicts.
package sesevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-lambda-go/events"

	"github.com/moatmail/moat/shared/filter"
)

// Decode parses a receipt event strictly: unknown fields are refused so a typo in a sample or
// a hand-written event is reported, not ignored.
func Decode(data []byte) (events.SimpleEmailEvent, error) {
	var ev events.SimpleEmailEvent
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("decode SES receipt event: %w", err)
	}
	if len(ev.Records) == 0 {
		return ev, errors.New("SES receipt event has no Records")
	}
	for i, r := range ev.Records {
		if err := Validate(r); err != nil {
			return ev, fmt.Errorf("event Records[%d]: %w", i, err)
		}
	}
	return ev, nil
}

var messageID = regexp.MustCompile(`^[A-Za-z0-9-]{1,128}$`)

// Validate checks what the inbound function relies on.
func Validate(r events.SimpleEmailRecord) error {
	if !messageID.MatchString(r.SES.Mail.MessageID) {
		return fmt.Errorf("ses.mail.messageId %q is not an SES message ID", r.SES.Mail.MessageID)
	}
	if len(r.SES.Receipt.Recipients) == 0 {
		return errors.New("ses.receipt.recipients is empty")
	}
	return nil
}

// Envelope returns the SMTP envelope of a receipt record.
func Envelope(r events.SimpleEmailRecord) filter.Envelope {
	return filter.Envelope{
		MessageID:   r.SES.Mail.MessageID,
		Sender:      r.SES.Mail.Source,
		Recipients:  r.SES.Receipt.Recipients,
		Destination: r.SES.Mail.Destination,
	}
}

// Verdicts returns SES's verdicts; a missing one is GRAY (not evaluated).
func Verdicts(r events.SimpleEmailRecord) filter.SES {
	rc := r.SES.Receipt
	or := func(s string) string {
		if s == "" {
			return filter.Gray
		}
		return s
	}
	return filter.SES{
		Spam: or(rc.SpamVerdict.Status), Virus: or(rc.VirusVerdict.Status),
		SPF: or(rc.SPFVerdict.Status), DKIM: or(rc.DKIMVerdict.Status), DMARC: or(rc.DMARCVerdict.Status),
		DMARCPolicy: rc.DMARCPolicy,
	}
}
