// Package provision creates the stateful resources that shared/schema describes (the mail
// bucket, the tables with their indexes and TTL, the queues with their dead-letter queues, the
// topics) through the AWS API, under names carrying a suffix. The local stack and the
// integration tests (shared/awstest) create their resources in the emulator with it; the CDK
// app creates the same resources from the same description.
package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/moatmail/moat/shared/schema"
)

// Resources are the physical names of one stack.
type Resources struct {
	Bucket string
	Tables map[string]string // schema Table.ID → name
	Queues map[string]string // schema Queue.ID → URL
	DLQs   map[string]string // schema Queue.ID → dead-letter queue URL
	Topics map[string]string // schema Topic.ID → ARN
}

// Env returns the environment variables a function reads, as the CDK app sets them.
func (r Resources) Env() map[string]string {
	env := map[string]string{schema.BucketEnvVar: r.Bucket}
	for _, tb := range schema.AllTables {
		env[tb.EnvVar] = r.Tables[tb.ID]
	}
	for _, q := range schema.AllQueues {
		env[q.EnvVar] = r.Queues[q.ID]
		env[DLQKey(q)] = r.DLQs[q.ID]
	}
	for _, tp := range schema.AllTopics {
		env[tp.EnvVar] = r.Topics[tp.ID]
	}
	return env
}

// Getenv looks up Env, for handlers' loadConfig(getenv).
func (r Resources) Getenv(key string) string { return r.Env()[key] }

// DLQKey is the key under which Env carries a queue's dead-letter queue URL: the queue's
// variable followed by " (dead letters)", the description of the CDK app's output for it, so
// moatctl finds the URL the same way in a deployed stack and in the local one.
func DLQKey(q schema.Queue) string { return q.EnvVar + " (dead letters)" }

// InboundFailuresKey is the key under which a stack's environment (the CDK app's output
// description, and the local stack's stack.json) names the queue that receives the inbound
// function's failed events, Lambda's on-failure destination for SES's Event invocations.
const InboundFailuresKey = "events the inbound function failed (redrive with moatctl)"

// LambdaEndpointKey names, in the local stack's environment, its stand-in for the Lambda
// Invoke API; a deployed stack has none (the regional endpoint serves).
const LambdaEndpointKey = "LAMBDA_ENDPOINT"

// S3 returns an S3 client with path-style addressing, as the emulator needs, and without the
// SDK's log line for every response the emulator sends without a checksum.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// Stack creates every resource of shared/schema: the bucket mail-<suffix>, and <ID>-<suffix>
// for each table, queue (and <ID>-dlq-<suffix> for its dead-letter queue) and topic. suffix
// must be lower case letters, digits and hyphens (a bucket name).
func Stack(ctx context.Context, cfg aws.Config, suffix string) (Resources, error) {
	r := Resources{
		Bucket: "mail-" + suffix,
		Tables: map[string]string{}, Queues: map[string]string{},
		DLQs: map[string]string{}, Topics: map[string]string{},
	}
	if _, err := S3(cfg).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(r.Bucket)}); err != nil {
		return r, fmt.Errorf("create bucket %s: %w", r.Bucket, err)
	}
	db := dynamodb.NewFromConfig(cfg)
	for _, tb := range schema.AllTables {
		name := tb.ID + "-" + suffix
		if err := Table(ctx, db, tb, name); err != nil {
			return r, err
		}
		r.Tables[tb.ID] = name
	}
	q := sqs.NewFromConfig(cfg)
	for _, qu := range schema.AllQueues {
		dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(qu.ID + "-dlq-" + suffix)})
		if err != nil {
			return r, fmt.Errorf("create queue %s: %w", qu.ID, err)
		}
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return r, fmt.Errorf("queue %s attributes: %w", qu.ID, err)
		}
		redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`,
			attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], qu.MaxReceives)
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{
			QueueName: aws.String(qu.ID + "-" + suffix),
			Attributes: map[string]string{
				string(sqstypes.QueueAttributeNameVisibilityTimeout): fmt.Sprint(qu.VisibilitySeconds),
				string(sqstypes.QueueAttributeNameRedrivePolicy):     redrive,
			},
		})
		if err != nil {
			return r, fmt.Errorf("create queue %s: %w", qu.ID, err)
		}
		r.Queues[qu.ID] = aws.ToString(out.QueueUrl)
		r.DLQs[qu.ID] = aws.ToString(dlq.QueueUrl)
	}
	n := sns.NewFromConfig(cfg)
	for _, tp := range schema.AllTopics {
		out, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(tp.ID + "-" + suffix)})
		if err != nil {
			return r, fmt.Errorf("create topic %s: %w", tp.ID, err)
		}
		r.Topics[tp.ID] = aws.ToString(out.TopicArn)
	}
	return r, nil
}

// Table creates one table of the schema, on demand, with its indexes and TTL.
func Table(ctx context.Context, db *dynamodb.Client, tb schema.Table, name string) error {
	attrs := map[string]bool{}
	var defs []ddbtypes.AttributeDefinition
	def := func(a string) {
		if a != "" && !attrs[a] {
			attrs[a] = true
			defs = append(defs, ddbtypes.AttributeDefinition{AttributeName: aws.String(a), AttributeType: ddbtypes.ScalarAttributeTypeS})
		}
	}
	keySchema := func(k schema.Key) []ddbtypes.KeySchemaElement {
		def(k.Partition)
		ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(k.Partition), KeyType: ddbtypes.KeyTypeHash}}
		if k.Sort != "" {
			def(k.Sort)
			ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.Sort), KeyType: ddbtypes.KeyTypeRange})
		}
		return ks
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:   keySchema(tb.Key),
	}
	for _, ix := range tb.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keySchema(ix.Key),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		})
	}
	in.AttributeDefinitions = defs
	if _, err := db.CreateTable(ctx, in); err != nil {
		// A retried CreateTable whose first answer was lost finds the table it made: look.
		var inUse *ddbtypes.ResourceInUseException
		if !cutShort(err) && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", name, err)
		}
		if _, derr := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}); derr != nil {
			return fmt.Errorf("create table %s: %w", name, err)
		}
	}
	if tb.TTL != "" {
		if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(tb.TTL), Enabled: aws.Bool(true)},
		}); err != nil {
			return fmt.Errorf("table %s TTL: %w", name, err)
		}
	}
	return nil
}
