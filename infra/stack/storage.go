package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/schema"
)

// Storage holds the stateful resources, all kept when the stack is deleted: the mail bucket
// (and its access-log bucket), the tables and queues that shared/schema describes, and the
// optional customer managed key that encrypts them.
type Storage struct {
	Construct constructs.Construct // the scope of its resources
	Key       awskms.Key           // nil unless kmsKey is configured
	Bucket    awss3.Bucket
	Tables    map[string]awsdynamodb.Table // by schema ID
	Queues    map[string]*Queue            // by schema ID
}

// Queue is a schema queue and its dead-letter queue.
type Queue struct {
	Schema      schema.Queue
	Queue       awssqs.Queue
	DeadLetters awssqs.Queue
}

// NewStorage creates the stateful resources.
func NewStorage(scope constructs.Construct, id string, cfg config.Config) *Storage {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &Storage{Construct: c, Tables: map[string]awsdynamodb.Table{}, Queues: map[string]*Queue{}}
	if cfg.KMSKey {
		s.Key = awskms.NewKey(c, jsii.String("Key"), &awskms.KeyProps{
			Description:       jsii.String("Moat " + cfg.Stage + ": mail, tables, queues and alerts"),
			EnableKeyRotation: jsii.Bool(true),
			RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		})
	}
	s.bucket(cfg)
	for _, t := range schema.AllTables {
		s.table(t)
	}
	for _, q := range schema.AllQueues {
		s.queue(q)
	}
	return s
}

func (s *Storage) bucket(cfg config.Config) {
	// Server access logs must go to an SSE-S3 bucket (S3 cannot write them with a KMS key).
	logs := awss3.NewBucket(s.Construct, jsii.String("AccessLogs"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("expire"), Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(logs, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("This is the server access log bucket of the mail bucket; logging it into itself would loop."),
	}}, jsii.Bool(true))

	var rules []*awss3.LifecycleRule
	for _, r := range []struct {
		id, prefix string
		days       int
	}{
		{"incoming", schema.IncomingPrefix, cfg.Retention.IncomingDays},
		{"quarantine", schema.QuarantinePrefix, cfg.Retention.QuarantineDays},
		{"submissions", schema.SubmissionsPrefix, cfg.Retention.SubmissionsDays},
	} {
		rule := &awss3.LifecycleRule{
			Id:         jsii.String(r.id),
			Prefix:     jsii.String(r.prefix),
			Expiration: awscdk.Duration_Days(jsii.Number(float64(r.days))),
		}
		if cfg.Versioning {
			rule.NoncurrentVersionExpiration = awscdk.Duration_Days(jsii.Number(7))
		}
		rules = append(rules, rule)
	}
	rules = append(rules, &awss3.LifecycleRule{
		Id:                                  jsii.String("abort-incomplete-uploads"),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
	})
	props := &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:              jsii.Bool(cfg.Versioning),
		LifecycleRules:         &rules,
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("mail/"),
	}
	if s.Key != nil {
		props.Encryption = awss3.BucketEncryption_KMS
		props.EncryptionKey = s.Key
		props.BucketKeyEnabled = jsii.Bool(true)
	}
	s.Bucket = awss3.NewBucket(s.Construct, jsii.String("Mail"), props)
}

func (s *Storage) table(t schema.Table) {
	props := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(t.Key.Partition), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
		DeletionProtection: jsii.Bool(true),
	}
	if t.Key.Sort != "" {
		props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(t.Key.Sort), Type: awsdynamodb.AttributeType_STRING}
	}
	if t.TTL != "" {
		props.TimeToLiveAttribute = jsii.String(t.TTL)
	}
	if s.Key != nil {
		props.Encryption = awsdynamodb.TableEncryption_CUSTOMER_MANAGED
		props.EncryptionKey = s.Key
	}
	table := awsdynamodb.NewTable(s.Construct, jsii.String(t.ID), props)
	for _, ix := range t.Indexes {
		gsi := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.Key.Partition), Type: awsdynamodb.AttributeType_STRING},
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		}
		if ix.Key.Sort != "" {
			gsi.SortKey = &awsdynamodb.Attribute{Name: jsii.String(ix.Key.Sort), Type: awsdynamodb.AttributeType_STRING}
		}
		table.AddGlobalSecondaryIndex(gsi)
	}
	s.Tables[t.ID] = table
}

func (s *Storage) queue(q schema.Queue) {
	props := func() *awssqs.QueueProps {
		p := &awssqs.QueueProps{
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
			RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
		}
		if s.Key != nil {
			p.Encryption = awssqs.QueueEncryption_KMS
			p.EncryptionMasterKey = s.Key
		}
		return p
	}
	dlp := props()
	dlq := awssqs.NewQueue(s.Construct, jsii.String(q.ID+"DeadLetters"), dlp)
	p := props()
	p.VisibilityTimeout = awscdk.Duration_Seconds(jsii.Number(float64(q.VisibilitySeconds)))
	p.DeadLetterQueue = &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(float64(q.MaxReceives))}
	s.Queues[q.ID] = &Queue{Schema: q, Queue: awssqs.NewQueue(s.Construct, jsii.String(q.ID), p), DeadLetters: dlq}
}

// Env is the environment that carries the physical names of the given tables and queues (by
// schema ID) and of the mail bucket to a function.
func (s *Storage) Env(tables, queues []string) map[string]string {
	env := map[string]string{schema.BucketEnvVar: *s.Bucket.BucketName()}
	for _, t := range schema.AllTables {
		for _, id := range tables {
			if id == t.ID {
				env[t.EnvVar] = *s.Tables[id].TableName()
			}
		}
	}
	for _, q := range schema.AllQueues {
		for _, id := range queues {
			if id == q.ID {
				env[q.EnvVar] = *s.Queues[id].Queue.QueueUrl()
			}
		}
	}
	return env
}

// GrantObjects lets grantee call the S3 object actions on the keys under the prefixes (with
// the key's encrypt or decrypt permissions when the bucket uses the customer managed key).
func (s *Storage) GrantObjects(grantee awsiam.IGrantable, actions []string, prefixes ...string) {
	resources := make([]*string, len(prefixes))
	for i, p := range prefixes {
		resources[i] = s.Bucket.ArnForObjects(jsii.String(p + "*"))
	}
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
	if s.Key == nil {
		return
	}
	write := false
	for _, a := range actions {
		if a == "s3:PutObject" {
			write = true
		}
	}
	if write {
		s.Key.GrantEncryptDecrypt(grantee)
	} else {
		s.Key.GrantDecrypt(grantee)
	}
}

// GrantList lets grantee list the bucket. Without it S3 answers a GetObject of a missing key
// with AccessDenied rather than NoSuchKey. The permission is not narrowed by an s3:prefix
// condition: a GetObject request carries no prefix, so such a condition would bring the
// AccessDenied back.
func (s *Storage) GrantList(grantee awsiam.IGrantable) {
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: &[]*string{s.Bucket.BucketArn()},
	}))
}
