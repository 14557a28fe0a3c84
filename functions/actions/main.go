// Command actions is the Lambda function behind the function URL of the quarantine digests'
// links: GET shows a confirmation page, POST carries out the action the signed token names
// (package actions holds the handler).
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/actions/actions"
	"github.com/moatmail/moat/shared/lambdamain"
)

func main() {
	c, aws, log := lambdamain.Setup(actions.LoadConfig, func(c actions.Config) slog.Level { return c.LogLevel })
	ctx := context.Background()
	h, err := actions.New(ctx, c, actions.Clients{
		S3: s3.NewFromConfig(aws), DynamoDB: dynamodb.NewFromConfig(aws), SQS: sqs.NewFromConfig(aws),
		Secrets: secretsmanager.NewFromConfig(aws), SSM: ssm.NewFromConfig(aws),
	}, log)
	if err != nil {
		lambdamain.Exit(log, "link key", err)
	}
	lambda.Start(h.Handle)
}
