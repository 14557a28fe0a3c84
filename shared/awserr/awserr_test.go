package awserr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// callError wraps an API error the way the SDK returns it from an operation:
// OperationError → ResponseError (with the HTTP status) → the API error.
func callError(status int, api error) error {
	return &smithy.OperationError{
		ServiceID:     "S3",
		OperationName: "GetObject",
		Err: &awshttp.ResponseError{
			RequestID: "req-1",
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      api,
			},
		},
	}
}

func TestIsTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("bad job"), false},

		// Throttling.
		{"SES Throttling", callError(400, &smithy.GenericAPIError{Code: "Throttling", Message: "Maximum sending rate exceeded.", Fault: smithy.FaultClient}), true},
		{"S3 SlowDown", callError(503, &smithy.GenericAPIError{Code: "SlowDown", Fault: smithy.FaultServer}), true},
		{"SQS RequestThrottled", callError(403, &smithy.GenericAPIError{Code: "RequestThrottled", Fault: smithy.FaultClient}), true},
		{"SQS KmsThrottled", callError(400, &smithy.GenericAPIError{Code: "KmsThrottled", Fault: smithy.FaultClient}), true},
		{"HTTP 429 without a known code", callError(429, &smithy.GenericAPIError{Code: "Whatever", Fault: smithy.FaultClient}), true},
		{"after the retryer gave up", &retry.MaxAttemptsError{Attempt: 3, Err: callError(400, &smithy.GenericAPIError{Code: "ThrottlingException"})}, true},

		// Server faults.
		{"500 InternalError", callError(500, &smithy.GenericAPIError{Code: "InternalError", Fault: smithy.FaultServer}), true},
		{"503 ServiceUnavailable", callError(503, &smithy.GenericAPIError{Code: "ServiceUnavailable"}), true},
		{"server fault with an unusual status", callError(400, &smithy.GenericAPIError{Code: "Odd", Fault: smithy.FaultServer}), true},
		{"501 NotImplemented", callError(501, &smithy.GenericAPIError{Code: "NotImplemented"}), true},

		// Timeouts and connections.
		{"context deadline", fmt.Errorf("get object: %w", context.DeadlineExceeded), true},
		{"RequestTimeout", callError(400, &smithy.GenericAPIError{Code: "RequestTimeout"}), true},
		{"dial refused", &smithy.OperationError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, true},
		{"connection reset", &smithy.OperationError{Err: errors.New("read tcp: connection reset by peer")}, true},
		{"request send failed", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: errors.New("EOF")}}, true},

		// Permanent.
		{"context canceled", fmt.Errorf("get object: %w", context.Canceled), false},
		{"NoSuchKey", callError(404, &s3types.NoSuchKey{Message: new("The specified key does not exist.")}), false},
		{"AccessDenied", callError(403, &smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient}), false},
		{"InvalidParameterValue", callError(400, &smithy.GenericAPIError{Code: "InvalidParameterValue", Fault: smithy.FaultClient}), false},
		{"SES MessageRejected", callError(400, &sestypes.MessageRejected{Message: new("Email address is not verified.")}), false},
		{"DNS name not found", &smithy.OperationError{Err: &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}}, false},
		{"wrapped permanent", fmt.Errorf("copy %s: %w", "incoming/x", callError(403, &smithy.GenericAPIError{Code: "AccessDenied"})), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTemporary(tt.err); got != tt.want {
				t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
