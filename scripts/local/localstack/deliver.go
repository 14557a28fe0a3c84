package localstack

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/deliver/deliver"
	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/schema"
)

// sqsHandler is a function an SQS event source mapping calls, with partial batch responses.
type sqsHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// poll does what Lambda's SQS event source mapping does: receive batches of up to ten
// messages, call the handler, delete the messages it did not report as failed. A failed
// message becomes visible again after its visibility timeout (which the handler may change) and
// moves to the dead-letter queue after the queue's maximum receives.
func (s *Stack) poll(ctx context.Context, name, queueURL string, h sqsHandler) {
	q := sqs.NewFromConfig(s.AWS)
	arn := "arn:aws:sqs:" + s.Region + ":000000000000:" + name
	log := s.log.With("component", "poller", "queue", name)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for ctx.Err() == nil {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
				MessageAttributeNames:       []string{"All"},
			})
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("receive", "error", err)
					sleep(ctx, time.Second)
				}
				continue
			}
			if len(out.Messages) == 0 {
				continue
			}
			ev := events.SQSEvent{}
			for _, m := range out.Messages {
				ev.Records = append(ev.Records, events.SQSMessage{
					MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
					Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
					EventSourceARN: arn, EventSource: "aws:sqs", AWSRegion: s.Region,
				})
			}
			resp, err := h(ctx, ev)
			if err != nil {
				log.Warn("handler failed the batch; its messages will be received again", "messages", len(ev.Records), "error", err)
				continue
			}
			failed := map[string]bool{}
			for _, f := range resp.BatchItemFailures {
				failed[f.ItemIdentifier] = true
			}
			var del []sqstypes.DeleteMessageBatchRequestEntry
			for _, r := range ev.Records {
				if !failed[r.MessageId] {
					del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(r.MessageId), ReceiptHandle: aws.String(r.ReceiptHandle)})
				}
			}
			if len(del) > 0 {
				if _, err := q.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: del}); err != nil {
					log.Warn("delete handled messages", "error", err)
				}
			}
		}
	}()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Delivery retries locally start after RETRY_BASE_SECONDS (doubling), sooner than the
// deployed function's five minutes, so a stopped sink shows retries while one watches.
const localRetryBase = "10"

// startDelivery runs the delivery function against the delivery queue, as its SQS event source
// mapping does, with routes read through the local stack's short policy cache.
func (s *Stack) startDelivery(ctx context.Context, env map[string]string, pols *policies, cache time.Duration) error {
	get := func(k string) string {
		if k == "RETRY_BASE_SECONDS" {
			return localRetryBase
		}
		return env[k]
	}
	cfg, err := deliver.LoadConfig(get)
	if err != nil {
		return fmt.Errorf("delivery configuration: %w", err)
	}
	h := deliver.New(cfg, deliver.Clients{
		S3: provision.S3(s.AWS), DynamoDB: dynamodb.NewFromConfig(s.AWS), SQS: sqs.NewFromConfig(s.AWS),
		SES: ses.NewFromConfig(s.AWS), SESv2: sesv2.NewFromConfig(s.AWS),
		SSM: ssm.NewFromConfig(s.AWS), SecretsManager: secretsmanager.NewFromConfig(s.AWS),
	}, s.log.With("function", "deliver"))
	h.Routes = deliver.NewRoutes(pols.Store, cache)
	h.Metrics = nil
	s.poll(ctx, "Delivery", s.Resources.Queues[schema.Delivery.ID], h.Handle)
	return nil
}
