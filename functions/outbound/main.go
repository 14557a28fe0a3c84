// Command outbound is the Lambda function that monitors the tenants' outbound mail: EventBridge
// (or SNS) delivers the SES sending events of their configuration sets; package outbound holds
// the handler, so the local stack and the tests run the same code.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/moatmail/moat/functions/outbound/outbound"
	"github.com/moatmail/moat/shared/lambdamain"
	"github.com/moatmail/moat/shared/outboundstore"
)

func main() {
	c, aws, log := lambdamain.Setup(outbound.LoadConfig, func(c outbound.Config) slog.Level { return c.LogLevel })
	cl := outbound.Clients{DynamoDB: dynamodb.NewFromConfig(aws), SNS: sns.NewFromConfig(aws)}
	if c.Switch == "ses" {
		cl.Sending = outboundstore.SES{Client: sesv2.NewFromConfig(aws)}
	}
	h := outbound.New(c, cl, log)
	h.Metrics = os.Stdout
	lambda.Start(h.Handle)
}
