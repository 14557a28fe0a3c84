package deliver

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/moatmail/moat/shared/awserr"
)

// MaxForwardBytes is the largest message SES sends (v2 API).
const MaxForwardBytes = 40 << 20

// maxSESRecipients is SES's limit of destinations per message.
const maxSESRecipients = 50

// SESAPI is the part of the SES v2 client Forwarder uses; *sesv2.Client satisfies it.
type SESAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// Forwarder sends messages through SES to the addresses a ses-forward route maps the
// recipients to.
type Forwarder struct {
	SES SESAPI
}

// Send sends msg (already rewritten: From at the verified address) from the verified address
// from to the forwarding address of each recipient in forward, and returns one result per
// recipient.
func (f *Forwarder) Send(ctx context.Context, from string, forward map[string]string, rcpts []string, msg []byte) []Result {
	results := make([]Result, len(rcpts))
	byTarget := map[string][]int{}
	var targets []string
	for i, r := range rcpts {
		results[i].Recipient = r
		to, ok := lookupForward(forward, r)
		if !ok {
			results[i] = Result{Recipient: r, Outcome: Deferred, Code: 451, Enhanced: "4.3.5",
				Reply:      "ses-forward: no forwarding address for the recipient in the route",
				Diagnostic: "451 4.3.5 The destination is not configured"}
			continue
		}
		key := strings.ToLower(to)
		if _, seen := byTarget[key]; !seen {
			targets = append(targets, to)
		}
		byTarget[key] = append(byTarget[key], i)
	}
	if len(msg) > MaxForwardBytes {
		for _, t := range targets {
			for _, i := range byTarget[strings.ToLower(t)] {
				results[i] = Result{Recipient: rcpts[i], Outcome: Failed, Code: 552, Enhanced: "5.3.4",
					Reply:      "ses-forward: message over SES's 40 MB",
					Diagnostic: "552 5.3.4 Message too big for the destination"}
			}
		}
		return results
	}
	if f.SES == nil {
		for _, t := range targets {
			for _, i := range byTarget[strings.ToLower(t)] {
				results[i] = Result{Recipient: rcpts[i], Outcome: Deferred, Code: 451, Enhanced: "4.3.5",
					Reply: "ses-forward: no SES client", Diagnostic: "451 4.3.5 The destination is not configured"}
			}
		}
		return results
	}
	for chunk := range slices.Chunk(targets, maxSESRecipients) {
		out, err := f.SES.SendEmail(ctx, &sesv2.SendEmailInput{
			FromEmailAddress: aws.String(from),
			Destination:      &types.Destination{ToAddresses: chunk},
			Content:          &types.EmailContent{Raw: &types.RawMessage{Data: msg}},
		})
		r := sesResult(out, err)
		for _, t := range chunk {
			for _, i := range byTarget[strings.ToLower(t)] {
				results[i] = r
				results[i].Recipient = rcpts[i]
			}
		}
	}
	return results
}

func lookupForward(forward map[string]string, rcpt string) (string, bool) {
	if to, ok := forward[rcpt]; ok {
		return to, true
	}
	for k, v := range forward {
		if strings.EqualFold(k, rcpt) {
			return v, true
		}
	}
	return "", false
}

// sesResult classifies SES's answer. Throttling, quotas and faults, and account or identity
// problems (the administrator's to fix) are deferred; a message SES refuses bounces.
func sesResult(out *sesv2.SendEmailOutput, err error) Result {
	if err == nil {
		return Result{Outcome: Delivered, Code: 250, Enhanced: "2.0.0",
			Reply: "250 SES message " + aws.ToString(out.MessageId)}
	}
	reply := "ses-forward: " + oneLine(err.Error())
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case awserr.IsTemporary(err) || code == "LimitExceededException" || code == "TooManyRequestsException":
		return Result{Outcome: Deferred, Code: 451, Enhanced: "4.3.0", Reply: reply,
			Diagnostic: "451 4.3.0 Temporary local problem"}
	case code == "MessageRejected" && !strings.Contains(strings.ToLower(ae.ErrorMessage()), "not verified"),
		code == "BadRequestException":
		return Result{Outcome: Failed, Code: 554, Enhanced: "5.6.0", Reply: reply,
			Diagnostic: "554 5.6.0 The message was refused by the forwarding service"}
	default:
		return Result{Outcome: Deferred, Code: 451, Enhanced: "4.3.5", Reply: reply,
			Diagnostic: "451 4.3.5 The destination is not configured"}
	}
}
