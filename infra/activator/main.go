// Command activator is the Lambda function behind the stack's Custom::ActiveReceiptRuleSet
// resource: SES has one active receipt rule set per account and region, and CloudFormation has no
// property for it. On create and update it activates the stack's rule set; on delete it
// deactivates receiving only if the stack's rule set is still the active one, so that a rule set
// activated since (by hand or by another stack) is left alone.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ses"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	aws, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("AWS configuration", "error", err)
		os.Exit(1)
	}
	a := &Activator{SES: ses.NewFromConfig(aws), Log: log}
	lambda.Start(cfn.LambdaWrap(a.Handle))
}
