// Command train is the training function: it learns the samples moatctl submit stores under
// submissions/ and adds them to the spam model (package train holds the handler).
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/functions/train/train"
	"github.com/moatmail/moat/shared/lambdamain"
)

func main() {
	c, aws, log := lambdamain.Setup(train.LoadConfig, func(train.Config) slog.Level { return slog.LevelInfo })
	lambda.Start(train.New(c, s3.NewFromConfig(aws), log).HandleRaw)
}
