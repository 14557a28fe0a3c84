// Package awstest connects integration tests to the AWS emulator (moto) that `make test`
// starts, and creates the resources of shared/schema in it under names unique to the test.
// Tests that use it skip, with a message, when AWS_ENDPOINT_URL is not set.
package awstest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/moatmail/moat/shared/schema"
)

// Region is the region every test uses.
const Region = "us-east-1"

// Config returns an AWS configuration pointed at the emulator, or skips the test when
// AWS_ENDPOINT_URL is unset. Retries are off so failures show at once.
func Config(t testing.TB) aws.Config {
	t.Helper()
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		t.Skip("integration test: AWS_ENDPOINT_URL is not set (run `make test`, which starts moto)")
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithRetryMaxAttempts(1),
		config.WithBaseEndpoint(endpoint),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

var seq atomic.Int64

// Name returns a resource name unique to this test run, usable for tables, queues and buckets.
func Name(t testing.TB, base string) string {
	t.Helper()
	n := fmt.Sprintf("%s-%d-%d", base, time.Now().UnixNano()%1e9, seq.Add(1))
	return strings.ToLower(n)
}

// S3 returns an S3 client with path-style addressing, as moto needs.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// Resources are the physical names of one test's stack.
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
	}
	for _, tp := range schema.AllTopics {
		env[tp.EnvVar] = r.Topics[tp.ID]
	}
	return env
}

// Getenv looks up Env, for handlers' loadConfig(getenv).
func (r Resources) Getenv(key string) string { return r.Env()[key] }

// Stack creates every resource of shared/schema under unique names and returns them.
func Stack(t testing.TB, cfg aws.Config) Resources {
	t.Helper()
	ctx := context.Background()
	r := Resources{
		Bucket: Name(t, "mail"),
		Tables: map[string]string{}, Queues: map[string]string{},
		DLQs: map[string]string{}, Topics: map[string]string{},
	}
	if err := CreateStack(ctx, cfg, strings.TrimPrefix(r.Bucket, "mail-"), &r); err != nil {
		t.Fatalf("create test stack: %v", err)
	}
	return r
}

// CreateStack creates the schema's resources with names carrying suffix and records them in r
// (r.Bucket must be set). The local stack uses it too.
func CreateStack(ctx context.Context, cfg aws.Config, suffix string, r *Resources) error {
	if _, err := S3(cfg).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(r.Bucket)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", r.Bucket, err)
	}
	db := dynamodb.NewFromConfig(cfg)
	for _, tb := range schema.AllTables {
		name := tb.ID + "-" + suffix
		if err := CreateTable(ctx, db, tb, name); err != nil {
			return err
		}
		r.Tables[tb.ID] = name
	}
	q := sqs.NewFromConfig(cfg)
	for _, qu := range schema.AllQueues {
		dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(qu.ID + "-dlq-" + suffix)})
		if err != nil {
			return fmt.Errorf("create queue %s: %w", qu.ID, err)
		}
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return fmt.Errorf("queue %s attributes: %w", qu.ID, err)
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
			return fmt.Errorf("create queue %s: %w", qu.ID, err)
		}
		r.Queues[qu.ID] = aws.ToString(out.QueueUrl)
		r.DLQs[qu.ID] = aws.ToString(dlq.QueueUrl)
	}
	n := sns.NewFromConfig(cfg)
	for _, tp := range schema.AllTopics {
		out, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(tp.ID + "-" + suffix)})
		if err != nil {
			return fmt.Errorf("create topic %s: %w", tp.ID, err)
		}
		r.Topics[tp.ID] = aws.ToString(out.TopicArn)
	}
	return nil
}

// CreateTable creates one table of the schema, on demand, with its indexes and TTL.
func CreateTable(ctx context.Context, db *dynamodb.Client, tb schema.Table, name string) error {
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
		return fmt.Errorf("create table %s: %w", name, err)
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

// VerifySender verifies an SES identity in the emulator so SendRawEmail accepts it.
func VerifySender(t testing.TB, cfg aws.Config, domain string) {
	t.Helper()
	if _, err := ses.NewFromConfig(cfg).VerifyDomainIdentity(context.Background(),
		&ses.VerifyDomainIdentityInput{Domain: aws.String(domain)}); err != nil {
		t.Fatalf("verify SES domain %s: %v", domain, err)
	}
}
