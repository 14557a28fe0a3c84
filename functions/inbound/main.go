// Command inbound is the Lambda function SES invokes (Event invocation) for every received
// message: it reads the stored message, runs the filter core and carries out the verdicts
// (package inbound holds the handler, so the local stack runs the same code).
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/inbound/inbound"
	"github.com/moatmail/moat/shared/lambdamain"
)

func main() {
	c, aws, log := lambdamain.Setup(inbound.LoadConfig, func(c inbound.Config) slog.Level { return c.LogLevel })
	h := inbound.New(c, inbound.Clients{
		S3: s3.NewFromConfig(aws), DynamoDB: dynamodb.NewFromConfig(aws),
		SQS: sqs.NewFromConfig(aws), SES: ses.NewFromConfig(aws), SSM: ssm.NewFromConfig(aws),
	}, log)
	lambda.Start(h.Handle)
}
