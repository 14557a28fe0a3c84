// Package awserr classifies errors from the AWS SDK as temporary (a retry can help: throttling,
// server faults, timeouts, broken connections) or permanent (missing objects, access denied,
// invalid input). The SDK's retryer already retries temporary errors a few times; IsTemporary
// tells a handler whether to give the work back to its queue or to record a permanent failure.
package awserr

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// extraCodes are temporary error codes beyond the SDK's defaults: server faults that some
// services report with a 4xx status, and throttling of the KMS key behind an encrypted queue.
var extraCodes = map[string]bool{
	"InternalError":           true,
	"InternalFailure":         true,
	"ServiceUnavailable":      true,
	"KmsThrottled":            true,
	"KMS.ThrottlingException": true,
}

// IsTemporary reports whether err is worth retrying later: throttling (any of the SDK's
// throttle codes, HTTP 429), server faults (5xx), timeouts (including an expired context
// deadline) and connection errors. Everything else is permanent: NoSuchKey, AccessDenied,
// validation errors, a canceled context, and errors that did not come from a call at all.
func IsTemporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) {
	case aws.TrueTernary:
		return true
	case aws.FalseTernary:
		return false
	}
	if retry.IsErrorTimeouts(retry.DefaultTimeouts).IsErrorTimeout(err) == aws.TrueTernary {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && (status.HTTPStatusCode() == 429 || status.HTTPStatusCode() >= 500) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorFault() == smithy.FaultServer || extraCodes[api.ErrorCode()]
	}
	return false
}
