// Command deliver is the Lambda function that consumes the delivery queue: it hands each
// accepted message to the customer's mail server (or forwards it through SES), retries
// temporary failures with backoff and tells the sender about permanent ones (package deliver
// holds the handler, so the local stack runs the same code).
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/deliver/deliver"
	"github.com/moatmail/moat/shared/lambdamain"
)

func main() {
	c, aws, log := lambdamain.Setup(deliver.LoadConfig, func(c deliver.Config) slog.Level { return c.LogLevel })
	h := deliver.New(c, deliver.Clients{
		S3: s3.NewFromConfig(aws), DynamoDB: dynamodb.NewFromConfig(aws), SQS: sqs.NewFromConfig(aws),
		SES: ses.NewFromConfig(aws), SESv2: sesv2.NewFromConfig(aws),
		SSM: ssm.NewFromConfig(aws), SecretsManager: secretsmanager.NewFromConfig(aws),
	}, log)
	lambda.Start(h.Handle)
}
