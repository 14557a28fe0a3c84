// Command digest is the Lambda function EventBridge runs every hour: it sends end users their
// quarantine digests at the hours their domain's policy names and marks expired quarantined
// copies in tracking (package digest holds the handler).
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/digest/digest"
	"github.com/moatmail/moat/shared/lambdamain"
)

func main() {
	c, aws, log := lambdamain.Setup(digest.LoadConfig, func(c digest.Config) slog.Level { return c.LogLevel })
	ctx := context.Background()
	h, err := digest.New(ctx, c, digest.Clients{
		S3: s3.NewFromConfig(aws), DynamoDB: dynamodb.NewFromConfig(aws), SES: ses.NewFromConfig(aws),
		Secrets: secretsmanager.NewFromConfig(aws), SSM: ssm.NewFromConfig(aws),
	}, log)
	if err != nil {
		lambdamain.Exit(log, "link key", err)
	}
	lambda.Start(h.Handle)
}
