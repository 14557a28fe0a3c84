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
// credentials, the region, a fresh connection per request, and the SDK's standard retries with
// short pauses. Those retries matter: now and then a response's body cannot be read because the
// Go transport closed the connection under it ("use of closed network connection", with
// DynamoDB's checksum then failing; aws-sdk-go-v2 issues 1825 and 2737, seen against AWS too),
// and the SDK retries that by default, as the functions do in AWS. Like there, a retried write
// may have been carried out once already: the code under test must be idempotent. opts come
// last and may override.
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
				o.Retryables = append(o.Retryables, retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
					if cutShort(err) {
						return aws.TrueTernary
					}
					return aws.UnknownTernary
				}))
			})
		}),
	}
	return config.LoadDefaultConfig(ctx, append(base, opts...)...)
}

// cutShort recognises a response whose body could not be read.
func cutShort(err error) bool {
	msg := err.Error()
	for _, sign := range []string{"use of closed network connection", "did not match expected checksum", "unexpected EOF"} {
		if strings.Contains(msg, sign) {
			return true
		}
	}
	return false
}
