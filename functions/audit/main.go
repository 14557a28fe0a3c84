// Command audit is the scheduled blocklist audit (EventBridge): every monitored IP, CIDR and
// sending domain in every zone, the ASN of every IP, state and history in the Reputation
// table, one alert per run to the Alerts topic when something changed (package audit holds
// the handler, so tests and the local stack run the same code).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/audit/audit"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := audit.LoadConfig(os.Getenv)
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
	h := audit.New(c, audit.Clients{
		DynamoDB: dynamodb.NewFromConfig(aws), SNS: sns.NewFromConfig(aws), SSM: ssm.NewFromConfig(aws),
		Secrets: secretsmanager.NewFromConfig(aws), SES: sesv2.NewFromConfig(aws),
	}, log, os.Stdout)
	lambda.Start(h.Handle)
}
