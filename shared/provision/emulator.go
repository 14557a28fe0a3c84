package provision

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// EmulatorConfig is the AWS configuration for the emulator (moto) at endpoint: static test
// credentials, the region, and a fresh connection per request — moto's server sometimes closes
// a kept-alive connection while the SDK reads the next response on it ("use of closed network
// connection"), which loses an SQS receive or fails a test at random. opts come last and may
// override (awstest turns retries off).
func EmulatorConfig(ctx context.Context, endpoint, region string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	base := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.DisableKeepAlives = true
		})),
	}
	return config.LoadDefaultConfig(ctx, append(base, opts...)...)
}
