// Command outbound is the Lambda function that monitors the tenants' outbound mail: EventBridge
// (or SNS) delivers the SES sending events of their configuration sets; package outbound holds
// the handler, so the local stack and the tests run the same code.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/moatmail/moat/functions/outbound/outbound"
	"github.com/moatmail/moat/shared/outboundstore"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := outbound.LoadConfig(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(1)
	}
	log = slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: c.LogLevel}))
	aws, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("AWS configuration", "error", err)
		os.Exit(1)
	}
	cl := outbound.Clients{DynamoDB: dynamodb.NewFromConfig(aws), SNS: sns.NewFromConfig(aws)}
	if c.Switch == "ses" {
		cl.Sending = outboundstore.SES{Client: sesv2.NewFromConfig(aws)}
	}
	h := outbound.New(c, cl, log)
	h.Metrics = os.Stdout
	lambda.Start(h.Handle)
}
