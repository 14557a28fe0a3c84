// Package admintest sets up quarantined messages in the emulator (moto) for the tests of
// quarantine administration, the digest and the action links.
package admintest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// Env is one test's stack in the emulator with the stores over it.
type Env struct {
	AWS       aws.Config
	Res       awstest.Resources
	S3        *s3.Client
	DB        *dynamodb.Client
	SQS       *sqs.Client
	Tracking  *tracking.Store
	Mail      *quarantine.Store
	Policies  *policystore.Store
	Queue     *delivery.Queue
	Admin     *admin.Admin
	QueueURL  string
	Bucket    string
	TrackName string
}

// New creates a stack (skipping the test without the emulator) and an Admin over it.
func New(t testing.TB) *Env {
	t.Helper()
	cfg := awstest.Config(t)
	return Over(cfg, awstest.Stack(t, cfg))
}

// Over returns an Env over resources already created (moatctl's tests point it at their
// local stack).
func Over(cfg aws.Config, res awstest.Resources) *Env {
	e := &Env{
		AWS: cfg, Res: res, S3: awstest.S3(cfg), DB: dynamodb.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg),
		QueueURL: res.Getenv(schema.Delivery.EnvVar), Bucket: res.Bucket, TrackName: res.Getenv(schema.Tracking.EnvVar),
	}
	e.Tracking = tracking.New(e.DB, e.TrackName, 0)
	e.Mail = quarantine.New(e.S3, e.Bucket)
	e.Policies = policystore.New(e.DB, res.Getenv(schema.Policies.EnvVar))
	e.Queue = delivery.NewQueue(e.SQS, e.QueueURL)
	e.Admin = &admin.Admin{Tracking: e.Tracking, Mail: e.Mail, Queue: e.Queue, Senders: e.Policies}
	return e
}

// Item is a message to put in quarantine.
type Item struct {
	ID         string // SES message ID
	Recipients []string
	Sender     string // envelope sender
	From       string // header From address
	Subject    string
	Reasons    []verdict.Code
	Time       time.Time
	Raw        string // the message; a small one naming From and Subject when empty
}

// Quarantine stores the message under incoming/, copies it to quarantine/ and creates one
// quarantined tracking record per recipient, as the inbound function does.
func (e *Env) Quarantine(t testing.TB, it Item) {
	t.Helper()
	ctx := context.Background()
	if it.Raw == "" {
		it.Raw = "From: " + it.From + "\r\nTo: " + strings.Join(it.Recipients, ", ") + "\r\nSubject: " + it.Subject +
			"\r\nMessage-ID: <" + it.ID + "@test>\r\n\r\nHello from " + it.From + "\r\n"
	}
	if _, err := e.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.Bucket), Key: aws.String(quarantine.Key(it.ID)), Body: strings.NewReader(it.Raw),
	}); err != nil {
		t.Fatalf("put incoming: %v", err)
	}
	var codes []string
	var reasons []verdict.Reason
	for _, c := range it.Reasons {
		codes = append(codes, string(c))
		reasons = append(reasons, verdict.Reason{Code: c})
	}
	key, err := e.Mail.Put(ctx, it.ID, quarantine.Meta{Reasons: codes, Recipients: it.Recipients, Time: it.Time})
	if err != nil {
		t.Fatalf("quarantine: %v", err)
	}
	for _, r := range it.Recipients {
		rec := tracking.Record{
			MessageID: it.ID, Recipient: r, Time: it.Time, Direction: tracking.Inbound,
			Sender: it.Sender, From: it.From, Subject: it.Subject, Size: int64(len(it.Raw)),
			Traffic: tracking.Blocked, Status: tracking.Quarantined, Action: verdict.Quarantine,
			BlockType: verdict.Permanent, Reasons: reasons, Key: quarantine.Key(it.ID), QuarantineKey: key,
			Events: []tracking.Event{{Time: it.Time, Status: tracking.Quarantined, Detail: strings.Join(codes, ",")}},
		}
		if _, err := e.Tracking.Create(ctx, rec); err != nil {
			t.Fatalf("track: %v", err)
		}
	}
}

// Status returns the tracking status of a recipient's copy.
func (e *Env) Status(t testing.TB, id, rcpt string) tracking.Status {
	t.Helper()
	r, err := e.Tracking.Get(context.Background(), id, rcpt)
	if err != nil {
		t.Fatalf("tracking %s: %v", id, err)
	}
	return r.Status
}

// Jobs receives the delivery jobs waiting on the queue (up to ten per read, until none come).
func (e *Env) Jobs(t testing.TB) []delivery.Job {
	t.Helper()
	var jobs []delivery.Job
	for {
		out, err := e.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.QueueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
		})
		if err != nil {
			t.Fatalf("receive jobs: %v", err)
		}
		if len(out.Messages) == 0 {
			return jobs
		}
		for _, m := range out.Messages {
			j, err := delivery.Decode([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatalf("job: %v", err)
			}
			jobs = append(jobs, j)
		}
	}
}

// Exists reports whether the quarantined copy of id is in the bucket.
func (e *Env) Exists(t testing.TB, id string) bool {
	t.Helper()
	_, err := e.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(e.Bucket), Key: aws.String(quarantine.CopyKey(id))})
	return err == nil
}
