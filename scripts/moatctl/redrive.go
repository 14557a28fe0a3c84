package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/schema"
)

// redrive moves messages from a queue's dead-letter queue back to the queue, once the cause of
// the failures (a mail server down for days, a wrong route) is fixed. Each message is sent to
// the queue before it is deleted from the dead-letter queue: an interruption can leave a
// message in both (the consumers are idempotent), never in neither. --queue inbound replays
// the inbound function's failed events instead (see replayInbound).
func runRedrive(args []string, stdout, stderr io.Writer) error {
	names := []string{inboundQueue}
	for _, q := range schema.AllQueues {
		names = append(names, strings.ToLower(q.ID))
	}
	sort.Strings(names)
	fs := newFlags("redrive", "redrive [--queue "+strings.Join(names, "|")+"] [--max N] [--dry-run] [--json]", stderr)
	name := fs.String("queue", "delivery", "the queue whose dead letters to move back ("+strings.Join(names, ", ")+"); inbound replays the inbound function's failed events")
	maxN := fs.Int("max", 0, "move at most N messages (default all)")
	dry := fs.Bool("dry-run", false, "only count the dead letters")
	asJSON := fs.Bool("json", false, `print {"queue","deadLetters","moved"}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	var q schema.Queue
	for _, s := range schema.AllQueues {
		if strings.EqualFold(s.ID, *name) {
			q = s
		}
	}
	inbound := strings.EqualFold(*name, inboundQueue)
	if q.ID == "" && !inbound {
		return usagef("--queue %q: want one of %s", *name, strings.Join(names, ", "))
	}
	if *maxN < 0 {
		return usagef("--max %d: want 0 (all) or more", *maxN)
	}
	ctx := context.Background()
	t, err := connect(ctx)
	if err != nil {
		return err
	}
	client := sqs.NewFromConfig(t.AWS)
	var dlq string
	if inbound {
		q.ID = inboundQueue
		if err := t.Need(provision.InboundFailuresKey); err != nil {
			return err
		}
		dlq = t.Getenv(provision.InboundFailuresKey)
	} else {
		if err := t.Need(q.EnvVar, provision.DLQKey(q)); err != nil {
			return err
		}
		dlq = t.Getenv(provision.DLQKey(q))
	}
	waiting, err := approxMessages(ctx, client, dlq)
	if err != nil {
		return err
	}
	moved := 0
	if !*dry {
		if inbound {
			moved, err = replayInbound(ctx, t, *maxN, stderr)
		} else {
			moved, err = moveMessages(ctx, client, dlq, t.Getenv(q.EnvVar), *maxN, stderr)
		}
		if err != nil {
			return fmt.Errorf("%w (%d done so far; run redrive again to go on)", err, moved)
		}
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"queue": strings.ToLower(q.ID), "deadLetters": waiting, "moved": moved, "dryRun": *dry})
	}
	switch {
	case inbound && *dry:
		fmt.Fprintf(stdout, "%d failed inbound events wait (dry run: nothing replayed)\n", waiting)
	case inbound && moved == 0:
		fmt.Fprintln(stdout, "no failed inbound events")
	case inbound:
		fmt.Fprintf(stdout, "replayed %d failed inbound events into the inbound function; follow them with moatctl tracking search\n", moved)
	case *dry:
		fmt.Fprintf(stdout, "%d dead letters wait for the %s queue (dry run: nothing moved)\n", waiting, strings.ToLower(q.ID))
	case moved == 0:
		fmt.Fprintf(stdout, "no dead letters for the %s queue\n", strings.ToLower(q.ID))
	default:
		fmt.Fprintf(stdout, "moved %d dead letters back to the %s queue; follow them with moatctl tracking search\n", moved, strings.ToLower(q.ID))
	}
	return nil
}

// inboundQueue is redrive's name for the inbound function's failure queue.
const inboundQueue = "inbound"

func approxMessages(ctx context.Context, c *sqs.Client, url string) (int, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, fmt.Errorf("read the dead-letter queue: %w", err)
	}
	var n int
	fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &n)
	return n, nil
}

// moveMessages moves up to maxN messages (0: all) from one queue to another, keeping bodies
// and message attributes.
func moveMessages(ctx context.Context, c *sqs.Client, from, to string, maxN int, stderr io.Writer) (int, error) {
	moved, empty := 0, 0
	for empty < 2 && (maxN == 0 || moved < maxN) {
		n := int32(10)
		if maxN > 0 {
			n = int32(min(10, maxN-moved))
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(from), MaxNumberOfMessages: n, WaitTimeSeconds: 1, VisibilityTimeout: 60,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			return moved, fmt.Errorf("receive dead letters: %w", err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		var send []sqstypes.SendMessageBatchRequestEntry
		for i, m := range out.Messages {
			send = append(send, sqstypes.SendMessageBatchRequestEntry{
				Id: aws.String(fmt.Sprint(i)), MessageBody: m.Body, MessageAttributes: m.MessageAttributes,
			})
		}
		res, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(to), Entries: send})
		if err != nil {
			return moved, fmt.Errorf("send to the queue: %w", err)
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for _, ok := range res.Successful {
			var i int
			fmt.Sscan(aws.ToString(ok.Id), &i)
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: ok.Id, ReceiptHandle: out.Messages[i].ReceiptHandle})
		}
		if len(del) > 0 {
			if _, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(from), Entries: del}); err != nil {
				return moved, fmt.Errorf("delete moved dead letters: %w", err)
			}
		}
		moved += len(del)
		fmt.Fprintf(stderr, "\rmoved %d", moved)
		if len(res.Failed) > 0 {
			fmt.Fprintln(stderr)
			return moved, fmt.Errorf("the queue refused %d messages (%s): they stay in the dead-letter queue", len(res.Failed), aws.ToString(res.Failed[0].Message))
		}
	}
	if moved > 0 {
		fmt.Fprintln(stderr)
	}
	return moved, nil
}
