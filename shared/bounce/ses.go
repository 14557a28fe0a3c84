package bounce

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
)

// BounceWindow is how long after receipt SES accepts SendBounce for a message.
const BounceWindow = 24 * time.Hour

// ErrExpired means SESSender cannot bounce the message any more: it arrived more than
// BounceWindow ago. Send the report with RawSender instead.
var ErrExpired = errors.New("bounce: more than 24 hours since receipt, SendBounce refuses")

// BounceAPI is the part of the SES v1 client SESSender uses; *ses.Client satisfies it.
type BounceAPI interface {
	SendBounce(ctx context.Context, in *ses.SendBounceInput, opts ...func(*ses.Options)) (*ses.SendBounceOutput, error)
}

// SESSender bounces a message SES received with SendBounce: SES writes the report and sends it
// to the original's sender. SES allows it within BounceWindow of receipt, at one call per
// second: throttling comes back as an error for awserr.IsTemporary, never as a sleep.
type SESSender struct {
	ses  BounceAPI
	from string
	// Now is the clock for the BounceWindow check; nil means time.Now.
	Now func() time.Time
}

// NewSESSender returns a sender that bounces from the verified address from (for example
// MAILER-DAEMON@mail.example.com).
func NewSESSender(api BounceAPI, from string) *SESSender {
	return &SESSender{ses: api, from: from}
}

// Send bounces b.MessageID for b's recipients.
func (s *SESSender) Send(ctx context.Context, b Bounce) error {
	in, err := s.input(b)
	if err != nil {
		return err
	}
	if _, err := s.ses.SendBounce(ctx, in); err != nil {
		return fmt.Errorf("send bounce for %s: %w", b.MessageID, err)
	}
	return nil
}

func (s *SESSender) input(b Bounce) (*ses.SendBounceInput, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if !validAddr(s.from) {
		return nil, fmt.Errorf("%w: bounce sender %q", ErrInvalid, s.from)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if !b.Arrival.IsZero() && now().Sub(b.Arrival) >= BounceWindow {
		return nil, fmt.Errorf("bounce %s: %w", b.MessageID, ErrExpired)
	}
	in := &ses.SendBounceInput{
		OriginalMessageId: aws.String(b.MessageID),
		BounceSender:      aws.String(s.from),
		Explanation:       aws.String(Explanation),
		MessageDsn:        &types.MessageDsn{ReportingMta: aws.String("dns; " + reportingMTA(b, s.from))},
	}
	if !b.Arrival.IsZero() {
		in.MessageDsn.ArrivalDate = aws.Time(b.Arrival)
	}
	for _, r := range b.Recipients {
		in.BouncedRecipientInfoList = append(in.BouncedRecipientInfoList, types.BouncedRecipientInfo{
			Recipient: aws.String(r.Addr),
			RecipientDsnFields: &types.RecipientDsnFields{
				Action:         types.DsnActionFailed,
				Status:         aws.String(r.Status.Enhanced),
				DiagnosticCode: aws.String("smtp; " + diagnostic(r)),
			},
		})
	}
	return in, nil
}

// RawAPI is the part of the SES v1 client RawSender uses; *ses.Client satisfies it.
type RawAPI interface {
	SendRawEmail(ctx context.Context, in *ses.SendRawEmailInput, opts ...func(*ses.Options)) (*ses.SendRawEmailOutput, error)
}

// RawSender sends the report BuildDSN writes with SendRawEmail, from the bounce address to the
// original's sender. A report should go out with the null envelope sender (MAIL FROM:<>), but
// SES needs a Source, so the bounce address is used; it must be a verified identity.
type RawSender struct {
	ses  RawAPI
	from string
	// Now dates the report; nil means time.Now.
	Now func() time.Time
}

// NewRawSender returns a sender that reports from the verified address from.
func NewRawSender(api RawAPI, from string) *RawSender {
	return &RawSender{ses: api, from: from}
}

// Send builds the report for b and sends it to b.Sender.
func (s *RawSender) Send(ctx context.Context, b Bounce) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	data, err := BuildDSN(b, s.from, now())
	if err != nil {
		return err
	}
	if _, err := s.ses.SendRawEmail(ctx, &ses.SendRawEmailInput{
		Source:       aws.String(s.from),
		Destinations: []string{b.Sender},
		RawMessage:   &types.RawMessage{Data: data},
	}); err != nil {
		return fmt.Errorf("send report for %s: %w", b.MessageID, err)
	}
	return nil
}
