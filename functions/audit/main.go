// Command audit is the scheduled blocklist audit (EventBridge): every monitored IP, CIDR and
// sending domain in every zone, the ASN of every IP, state and history in the Reputation
// table, one alert per run to the Alerts topic when something changed (package audit holds
// the handler, so tests and the local stack run the same code).
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/audit/audit"
	"github.com/moatmail/moat/shared/lambdamain"
)

func main() {
	c, aws, log := lambdamain.Setup(audit.LoadConfig, func(c audit.Config) slog.Level { return c.LogLevel })
	h := audit.New(c, audit.Clients{
		DynamoDB: dynamodb.NewFromConfig(aws), SNS: sns.NewFromConfig(aws), SSM: ssm.NewFromConfig(aws),
		Secrets: secretsmanager.NewFromConfig(aws), SES: sesv2.NewFromConfig(aws),
	}, log, os.Stdout)
	lambda.Start(h.Handle)
}
