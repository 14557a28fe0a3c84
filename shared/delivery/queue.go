package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/moatmail/moat/shared/awserr"
)

// maxBatch is SendMessageBatch's entry limit; the batch's payload also shares MaxBodyBytes.
const maxBatch = 10

// API is the part of the SQS client the queue uses; *sqs.Client satisfies it.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Queue sends jobs to the delivery queue.
type Queue struct {
	sqs API
	url string
}

// NewQueue returns a client for the queue at url.
func NewQueue(sqs API, url string) *Queue {
	return &Queue{sqs: sqs, url: url}
}

// Failure is one job Enqueue did not queue.
type Failure struct {
	Index     int   // the job's position in Enqueue's arguments
	Temporary bool  // a retry can help (throttling, a server fault); false for invalid jobs
	Err       error // why
}

// EnqueueError lists the jobs that were not queued; every other job was.
type EnqueueError struct {
	Failures []Failure
	Total    int // jobs passed to Enqueue
}

func (e *EnqueueError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "enqueue: %d of %d jobs not queued", len(e.Failures), e.Total)
	for i, f := range e.Failures {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-i)
			break
		}
		fmt.Fprintf(&b, "; job %d: %v", f.Index, f.Err)
	}
	return b.String()
}

// Temporary reports whether every failure is temporary, so that retrying the failed jobs
// (only those: the others are queued) can succeed.
func (e *EnqueueError) Temporary() bool {
	for _, f := range e.Failures {
		if !f.Temporary {
			return false
		}
	}
	return len(e.Failures) > 0
}

// Enqueue validates the jobs and sends the valid ones with SendMessageBatch, up to ten per
// call and MaxBodyBytes per call. It returns nil when every job is queued, and otherwise an
// *EnqueueError naming each job that was not, by index; nothing is dropped silently. Use
// EnqueueError.Temporary, not awserr.IsTemporary, to decide whether to retry. The queue is a
// standard queue: a job can arrive twice, and the consumer must be idempotent.
func (q *Queue) Enqueue(ctx context.Context, jobs ...Job) error {
	failed := &EnqueueError{Total: len(jobs)}
	fail := func(i int, temporary bool, err error) {
		failed.Failures = append(failed.Failures, Failure{Index: i, Temporary: temporary, Err: err})
	}
	type entry struct {
		index int
		body  string
	}
	var batch []entry
	size := 0
	send := func() {
		if len(batch) == 0 {
			return
		}
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url)}
		for _, e := range batch {
			in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{
				Id:          aws.String(strconv.Itoa(e.index)),
				MessageBody: aws.String(e.body),
			})
		}
		out, err := q.sqs.SendMessageBatch(ctx, in)
		if err != nil {
			// A canceled or expired context says nothing about the jobs: they can be retried.
			temporary := awserr.IsTemporary(err) || ctx.Err() != nil
			for _, e := range batch {
				fail(e.index, temporary, fmt.Errorf("send batch: %w", err))
			}
		} else {
			done := map[string]bool{}
			for _, s := range out.Successful {
				done[aws.ToString(s.Id)] = true
			}
			for _, f := range out.Failed {
				id := aws.ToString(f.Id)
				if i, err := strconv.Atoi(id); err == nil && !done[id] {
					done[id] = true
					fail(i, !f.SenderFault, fmt.Errorf("sqs %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
				}
			}
			for _, e := range batch {
				if !done[strconv.Itoa(e.index)] {
					fail(e.index, true, errors.New("no result for the job in the batch response"))
				}
			}
		}
		batch, size = batch[:0], 0
	}
	for i, j := range jobs {
		if err := j.Validate(); err != nil {
			fail(i, false, err)
			continue
		}
		body, err := json.Marshal(j)
		if err != nil {
			fail(i, false, fmt.Errorf("encode job: %w", err))
			continue
		}
		if len(body) > MaxBodyBytes {
			fail(i, false, fmt.Errorf("%w: %d bytes, over the queue's %d", ErrInvalid, len(body), MaxBodyBytes))
			continue
		}
		if len(batch) == maxBatch || size+len(body) > MaxBodyBytes {
			send()
		}
		batch = append(batch, entry{i, string(body)})
		size += len(body)
	}
	send()
	if len(failed.Failures) > 0 {
		slices.SortFunc(failed.Failures, func(a, b Failure) int { return a.Index - b.Index })
		return failed
	}
	return nil
}
