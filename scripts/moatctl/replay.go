package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/provision"
)

// failureRecord is the part of Lambda's on-failure destination record that a replay needs.
type failureRecord struct {
	RequestContext struct {
		FunctionARN string `json:"functionArn"`
	} `json:"requestContext"`
	RequestPayload json.RawMessage `json:"requestPayload"`
}

// replayInbound invokes the inbound function again (an Event invocation, as SES makes it)
// with each failed event of the failure queue, and deletes the event from the queue once
// Lambda has accepted it. The function is idempotent per SES message ID, so a replay of an
// event that got through after all changes nothing.
func replayInbound(ctx context.Context, t *target, maxN int, stderr io.Writer) (int, error) {
	queue := t.Getenv(provision.InboundFailuresKey)
	endpoint := t.Getenv(provision.LambdaEndpointKey)
	if endpoint == "" {
		endpoint = "https://lambda." + t.AWS.Region + ".amazonaws.com"
	}
	c := sqs.NewFromConfig(t.AWS)
	replayed, empty := 0, 0
	for empty < 2 && (maxN == 0 || replayed < maxN) {
		n := int32(10)
		if maxN > 0 {
			n = int32(min(10, maxN-replayed))
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: n, WaitTimeSeconds: 1, VisibilityTimeout: 60})
		if err != nil {
			return replayed, fmt.Errorf("receive failed events: %w", err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, m := range out.Messages {
			var rec failureRecord
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &rec); err != nil || rec.RequestContext.FunctionARN == "" || len(rec.RequestPayload) == 0 {
				return replayed, fmt.Errorf("message %s of the failure queue is not a Lambda failure record: look at it in the SQS console and delete it by hand", aws.ToString(m.MessageId))
			}
			if err := invokeEvent(ctx, t.AWS, endpoint, rec.RequestContext.FunctionARN, rec.RequestPayload); err != nil {
				return replayed, err
			}
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return replayed, fmt.Errorf("delete a replayed event: %w (it may be replayed again, which is harmless)", err)
			}
			replayed++
			fmt.Fprintf(stderr, "\rreplayed %d", replayed)
		}
	}
	if replayed > 0 {
		fmt.Fprintln(stderr)
	}
	return replayed, nil
}

// invokeEvent calls Lambda's Invoke API with InvocationType Event, signed with the target's
// credentials (SigV4).
func invokeEvent(ctx context.Context, cfg aws.Config, endpoint, function string, payload []byte) error {
	u := strings.TrimSuffix(endpoint, "/") + "/2015-03-31/functions/" + url.PathEscape(function) + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("invoke %s: %w", function, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return fmt.Errorf("invoke %s: %s %s (the event stays in the failure queue; lambda:InvokeFunction permission?)", function, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
