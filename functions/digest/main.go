// Command digest is the Lambda function EventBridge runs every hour: it sends end users their
// quarantine digests at the hours their domain's policy names and marks expired quarantined
// copies in tracking (package digest holds the handler).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/digest/digest"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := digest.LoadConfig(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(1)
	}
	log = slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: c.LogLevel}))
	ctx := context.Background()
	aws, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := digest.New(ctx, c, digest.Clients{
		S3: s3.NewFromConfig(aws), DynamoDB: dynamodb.NewFromConfig(aws), SES: ses.NewFromConfig(aws),
		Secrets: secretsmanager.NewFromConfig(aws), SSM: ssm.NewFromConfig(aws),
	}, log)
	if err != nil {
		log.Error("link key", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
