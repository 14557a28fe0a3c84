package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/schema"
)

// fakeSQS records batches; entryErr and callErr script failures by call number (from 0).
type fakeSQS struct {
	mu       sync.Mutex
	calls    [][]types.SendMessageBatchRequestEntry
	callErr  map[int]error
	entryErr map[string]types.BatchResultErrorEntry // by entry Id
	forget   map[string]bool                        // entries the response leaves out
}

func (f *fakeSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, in.Entries)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.callErr[n]; err != nil {
		return nil, err
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		id := aws.ToString(e.Id)
		switch fe, bad := f.entryErr[id]; {
		case bad:
			fe.Id = e.Id
			out.Failed = append(out.Failed, fe)
		case f.forget[id]:
		default:
			out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m" + id)})
		}
	}
	return out, nil
}

func jobsFor(n int) []Job {
	var jobs []Job
	for i := range n {
		mid := fmt.Sprintf("msg-%04d", i)
		jobs = append(jobs, Job{
			MessageID: mid, Key: "incoming/" + mid, Sender: "alice@example.org",
			Domain: "example.com", Recipients: []string{fmt.Sprintf("user%d@example.com", i)}, Enqueued: enqueued,
		})
	}
	return jobs
}

func failedIndexes(t *testing.T, err error) (perm, temp []int) {
	t.Helper()
	var ee *EnqueueError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v is not an *EnqueueError", err)
	}
	for _, f := range ee.Failures {
		if f.Temporary {
			temp = append(temp, f.Index)
		} else {
			perm = append(perm, f.Index)
		}
	}
	return perm, temp
}

func TestEnqueueReportsEveryFailure(t *testing.T) {
	jobs := jobsFor(25)
	jobs[3].Recipients = nil // invalid: never sent
	f := &fakeSQS{
		callErr: map[int]error{1: &smithy.GenericAPIError{Code: "RequestThrottled", Fault: smithy.FaultClient}},
		entryErr: map[string]types.BatchResultErrorEntry{
			"5": {Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: false},
			"7": {Code: aws.String("InvalidMessageContents"), Message: aws.String("bad"), SenderFault: true},
		},
	}
	err := NewQueue(f, "https://sqs.example/q").Enqueue(context.Background(), jobs...)
	perm, temp := failedIndexes(t, err)
	if !slices.Equal(perm, []int{3, 7}) {
		t.Errorf("permanent failures %v, want [3 7]", perm)
	}
	if want := []int{5, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}; !slices.Equal(temp, want) {
		t.Errorf("temporary failures %v, want %v", temp, want)
	}
	var ee *EnqueueError
	if errors.As(err, &ee); ee.Temporary() || ee.Total != 25 {
		t.Errorf("Temporary() = %t with permanent failures, Total %d", ee.Temporary(), ee.Total)
	}
	if !strings.Contains(err.Error(), "13 of 25 jobs not queued; job 3:") {
		t.Errorf("error text %q", err)
	}
	var sent []string
	for _, c := range f.calls {
		if len(c) > maxBatch {
			t.Errorf("batch of %d entries", len(c))
		}
		for _, e := range c {
			sent = append(sent, aws.ToString(e.Id))
		}
	}
	if slices.Contains(sent, "3") || len(sent) != 24 {
		t.Errorf("sent %d entries %v, want the 24 valid ones", len(sent), sent)
	}
}

func TestEnqueueTemporaryOnly(t *testing.T) {
	f := &fakeSQS{forget: map[string]bool{"1": true}, entryErr: map[string]types.BatchResultErrorEntry{
		"2": {Code: aws.String("KmsThrottled"), SenderFault: false},
	}}
	err := NewQueue(f, "q").Enqueue(context.Background(), jobsFor(4)...)
	perm, temp := failedIndexes(t, err)
	var ee *EnqueueError
	errors.As(err, &ee)
	if len(perm) != 0 || !slices.Equal(temp, []int{1, 2}) || !ee.Temporary() {
		t.Errorf("perm %v temp %v Temporary %t; want [] [1 2] true", perm, temp, ee.Temporary())
	}
	if err := NewQueue(&fakeSQS{}, "q").Enqueue(context.Background(), jobsFor(4)...); err != nil {
		t.Errorf("all queued: %v", err)
	}
	if err := NewQueue(&fakeSQS{}, "q").Enqueue(context.Background()); err != nil {
		t.Errorf("no jobs: %v", err)
	}
}

// A canceled context is no fault of the jobs: they stay retryable.
func TestEnqueueCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewQueue(&fakeSQS{}, "q").Enqueue(ctx, jobsFor(12)...)
	perm, temp := failedIndexes(t, err)
	if len(perm) != 0 || len(temp) != 12 {
		t.Errorf("perm %v temp %v, want 12 temporary", perm, temp)
	}
}

// Ten jobs of about 40 KB each are more than one SendMessageBatch may carry.
func TestEnqueueSplitsBatchesBySize(t *testing.T) {
	local := strings.Repeat("x", 64)
	var rcpts []Recipient
	for i := range 1000 {
		rcpts = append(rcpts, Recipient{Addr: fmt.Sprintf("%s%04d@%s.example.com", local, i, strings.Repeat("d", 200))})
	}
	jobs, err := Group(Job{MessageID: id, Key: "incoming/" + id, Enqueued: enqueued}, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSQS{}
	if err := NewQueue(f, "q").Enqueue(context.Background(), jobs...); err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, c := range f.calls {
		size := 0
		for _, e := range c {
			size += len(aws.ToString(e.MessageBody))
		}
		if size > MaxBodyBytes {
			t.Errorf("batch of %d entries carries %d bytes, over %d", len(c), size, MaxBodyBytes)
		}
		entries += len(c)
	}
	if entries != len(jobs) || len(f.calls) < 2 {
		t.Errorf("%d entries in %d calls, want %d in several", entries, len(f.calls), len(jobs))
	}
}

// receive reads and deletes n messages from the queue, failing after a deadline.
func receive(t *testing.T, client *sqs.Client, url string, n int) []types.Message {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	var msgs []types.Message
	for len(msgs) < n && time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		var del []types.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			msgs = append(msgs, m)
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			if _, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
	if len(msgs) != n {
		t.Fatalf("received %d messages, want %d", len(msgs), n)
	}
	return msgs
}

func TestEnqueueArrivesComplete(t *testing.T) {
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	client := sqs.NewFromConfig(cfg)
	url := r.Queues[schema.Delivery.ID]

	jobs := jobsFor(250)
	if err := NewQueue(client, url).Enqueue(context.Background(), jobs...); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	seen := map[string]bool{}
	for _, m := range receive(t, client, url, len(jobs)) {
		j, err := Decode([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatalf("decode %s: %v", aws.ToString(m.Body), err)
		}
		if seen[j.MessageID] {
			t.Errorf("job %s twice", j.MessageID)
		}
		seen[j.MessageID] = true
	}
	for _, j := range jobs {
		if !seen[j.MessageID] {
			t.Errorf("job %s missing", j.MessageID)
		}
	}
}

func TestLargeGroupSplitsUnderQueueLimit(t *testing.T) {
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	client := sqs.NewFromConfig(cfg)
	url := r.Queues[schema.Delivery.ID]

	var rcpts []Recipient
	var want []string
	for i := range 2500 {
		a := fmt.Sprintf("%s.%04d@example.com", strings.Repeat("r", 59), i) // 64-octet local parts, the maximum
		want = append(want, a)
		rcpts = append(rcpts, Recipient{Addr: a, SubjectTag: "[SPAM] ", Headers: map[string]string{"X-Moat-Verdict": "tag; reason=spam"}})
	}
	jobs, err := Group(Job{MessageID: id, Key: "incoming/" + id, Sender: "alice@example.org", Enqueued: enqueued}, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 25 {
		t.Errorf("%d jobs, want 25", len(jobs))
	}
	if err := NewQueue(client, url).Enqueue(context.Background(), jobs...); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	var got []string
	for _, m := range receive(t, client, url, len(jobs)) {
		body := aws.ToString(m.Body)
		if len(body) >= MaxBodyBytes {
			t.Errorf("body of %d bytes, not under %d", len(body), MaxBodyBytes)
		}
		j, err := Decode([]byte(body))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(j.Recipients) > MaxRecipients {
			t.Errorf("job with %d recipients", len(j.Recipients))
		}
		if j.SubjectTag != "[SPAM] " || j.Headers["X-Moat-Verdict"] != "tag; reason=spam" {
			t.Errorf("modifications lost: %q %v", j.SubjectTag, j.Headers)
		}
		got = append(got, j.Recipients...)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("received %d recipients, want the %d sent, each once", len(got), len(want))
	}
}
