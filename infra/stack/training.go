package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/schema"
)

// Training is the spam model's training: the bucket sends its Object Created events to
// EventBridge, and a rule hands those under submissions/ to the train function, which adds the
// samples' counts to the model under models/ (conditional writes keep concurrent counts).
type Training struct {
	Construct   constructs.Construct // the scope of its resources
	Train       *Function
	Rule        awsevents.Rule
	DeadLetters awssqs.Queue
}

// TrainingProps are what training uses.
type TrainingProps struct {
	Config     config.Config
	Functions  *Functions
	Storage    *Storage
	Monitoring *Monitoring
}

// NewTraining creates the train function, its event rule and its grants.
func NewTraining(scope constructs.Construct, id string, p TrainingProps) *Training {
	c := constructs.NewConstruct(scope, jsii.String(id))
	st := p.Storage
	t := &Training{Construct: c}
	t.Train = p.Functions.New(c, "Train", FunctionProps{
		Name:        "train",
		Description: "Moat: learns submitted spam and ham samples into the spam model",
		MemoryMB:    512,
		Timeout:     awscdk.Duration_Minutes(jsii.Number(2)),
		Env:         st.Env(nil, nil),
	})
	// Grants: read the samples and tag them learned; read and replace the model.
	st.GrantObjects(t.Train.Role, []string{"s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"}, schema.SubmissionsPrefix)
	st.GrantObjects(t.Train.Role, []string{"s3:GetObject", "s3:PutObject"}, schema.ModelsPrefix)
	// Read the quarantined copies end users' decisions (submissions/feedback/) name.
	st.GrantObjects(t.Train.Role, []string{"s3:GetObject"}, schema.QuarantinePrefix)
	st.GrantList(t.Train.Role)
	suppressGrantWildcards(t.Train.Role, st)

	// S3 → EventBridge (no notification custom resource, no circular dependency).
	bucket := st.Bucket.Node().DefaultChild().(awss3.CfnBucket)
	bucket.AddPropertyOverride(jsii.String("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled"), true)

	t.DeadLetters = awssqs.NewQueue(c, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(t.DeadLetters, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is the dead-letter queue of the training rule's target; it alarms on its first message."),
	}}, nil)
	t.Rule = awsevents.NewRule(c, jsii.String("Submissions"), &awsevents.RuleProps{
		Description: jsii.String("Moat: samples stored under submissions/ to the train function"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.s3"),
			DetailType: jsii.Strings("Object Created"),
			Detail: &map[string]any{
				"bucket": map[string]any{"name": []any{st.Bucket.BucketName()}},
				"object": map[string]any{"key": []any{map[string]any{"prefix": schema.SubmissionsPrefix}}},
			},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(t.Train.Function, &awseventstargets.LambdaFunctionProps{
			RetryAttempts:   jsii.Number(8),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(6)),
			DeadLetterQueue: t.DeadLetters,
		})},
	})
	if p.Monitoring != nil {
		p.Monitoring.WatchDeadLetters("TrainingDeadLetters", t.DeadLetters)
	}
	return t
}
