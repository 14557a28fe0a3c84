// Command actions is the Lambda function behind the function URL of the quarantine digests'
// links: GET shows a confirmation page, POST carries out the action the signed token names
// (package actions holds the handler).
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/actions/actions"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := actions.LoadConfig(os.Getenv)
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
	h, err := actions.New(ctx, c, actions.Clients{
		S3: s3.NewFromConfig(aws), DynamoDB: dynamodb.NewFromConfig(aws), SQS: sqs.NewFromConfig(aws),
		Secrets: secretsmanager.NewFromConfig(aws), SSM: ssm.NewFromConfig(aws),
	}, log)
	if err != nil {
		log.Error("link key", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
