package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Schedule runs fn on an EventBridge schedule (the blocklist audit, the quarantine digests).
// EventBridge retries a failed invocation; what still fails lands in a dead-letter queue that
// alarms. expression is a rate(...) or cron(...) expression.
func (f *Functions) Schedule(scope constructs.Construct, id string, fn *Function, expression, description string) awsevents.Rule {
	c := constructs.NewConstruct(scope, jsii.String(id))
	// SSE-SQS rather than the stack's key: EventBridge writes to the queue as a service, which
	// a customer managed key would have to admit in its key policy.
	props := &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	}
	dlq := awssqs.NewQueue(c, jsii.String("DeadLetters"), props)
	cdknag.NagSuppressions_AddResourceSuppressions(dlq, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is the dead-letter queue of an EventBridge schedule target; it alarms on its first message."),
	}}, nil)
	rule := awsevents.NewRule(c, jsii.String("Rule"), &awsevents.RuleProps{
		Schedule:    awsevents.Schedule_Expression(jsii.String(expression)),
		Description: jsii.String(description),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn.Function, &awseventstargets.LambdaFunctionProps{
			RetryAttempts:   jsii.Number(2),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(1)),
			DeadLetterQueue: dlq,
		})},
	})
	if f.Monitoring != nil {
		f.Monitoring.WatchDeadLetters(id+"DeadLetters", dlq)
	}
	return rule
}
