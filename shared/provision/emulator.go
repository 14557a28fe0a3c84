package provision

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// EmulatorConfig is the AWS configuration for the emulator (moto) at endpoint: static test
// credentials, the region, a fresh connection per request, and no retries but one kind: under
// load moto now and then sends a response's headers without its body ("response did not match
// expected checksum ... use of closed network connection"). The request was carried out, so
// only reads and idempotent writes are tried again (up to three times); any other write that
// meets it fails as it would against a broken network. opts come last and may override.
func EmulatorConfig(ctx context.Context, endpoint, region string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	base := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithRetryMaxAttempts(1),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.DisableKeepAlives = true
		})),
		config.WithAPIOptions([]func(*middleware.Stack) error{func(s *middleware.Stack) error {
			return s.Finalize.Insert(readRetry{}, "Retry", middleware.After)
		}}),
	}
	return config.LoadDefaultConfig(ctx, append(base, opts...)...)
}

// readRetry sends a read operation again when the emulator cut its response short.
type readRetry struct{}

func (readRetry) ID() string { return "MoatEmulatorReadRetry" }

func (readRetry) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	read := isRead(awsmiddleware.GetOperationName(ctx))
	for attempt := 1; ; attempt++ {
		out, md, err := next.HandleFinalize(ctx, in)
		if err == nil || !read || attempt == 4 || !cutShort(err) || ctx.Err() != nil {
			return out, md, err
		}
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			if rerr := req.RewindStream(); rerr != nil {
				return out, md, err
			}
		}
	}
}

// isRead reports whether an operation only reads, or sets what is already set when sent twice
// (the test set-up's idempotent writes), and so may be sent again.
func isRead(op string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Query", "Scan", "Head", "BatchGet"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	switch op {
	case "CreateQueue", "CreateTopic", "CreateBucket", "Subscribe", "SetQueueAttributes", "UpdateTimeToLive",
		"PutBucketNotificationConfiguration", "VerifyDomainIdentity", "VerifyEmailIdentity":
		return true
	}
	return false
}

// cutShort recognises a response the emulator cut short.
func cutShort(err error) bool {
	msg := err.Error()
	for _, sign := range []string{"use of closed network connection", "did not match expected checksum", "unexpected EOF", "deserialization failed"} {
		if strings.Contains(msg, sign) {
			return true
		}
	}
	return false
}
