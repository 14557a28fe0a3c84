package provision

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// EmulatorConfig is the AWS configuration for the emulator (moto) at endpoint: static test
// credentials, the region, a fresh connection per request, and retries that also cover the
// emulator's own hiccup: under load moto now and then sends a response's headers without its
// body (DynamoDB's CRC32 header says "{}", the body is empty: "response did not match expected
// checksum ... use of closed network connection"), which would fail a test or lose an SQS
// receive at random. opts come last and may override.
func EmulatorConfig(ctx context.Context, endpoint, region string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	base := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.DisableKeepAlives = true
		})),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.NewExponentialJitterBackoff(200 * time.Millisecond)
				o.Retryables = append(o.Retryables, retry.IsErrorRetryableFunc(emulatorHiccup))
			})
		}),
	}
	return config.LoadDefaultConfig(ctx, append(base, opts...)...)
}

// emulatorHiccup recognises a response the emulator cut short.
func emulatorHiccup(err error) aws.Ternary {
	msg := err.Error()
	if strings.Contains(msg, "use of closed network connection") || strings.Contains(msg, "did not match expected checksum") {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}
