package awstest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AtomicS3 is an S3 client for tests of optimistic concurrency against the emulator. S3 applies
// a conditional PutObject (If-Match, If-None-Match) atomically; moto checks and writes in two
// steps, so two conditional puts arriving at once on a busy machine can both succeed. AtomicS3
// sends conditional puts one at a time, which is what S3 guarantees; everything else passes.
type AtomicS3 struct {
	*s3.Client
	mu sync.Mutex
}

// PutObject serialises conditional puts.
func (a *AtomicS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if in.IfMatch != nil || in.IfNoneMatch != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
	}
	return a.Client.PutObject(ctx, in, opts...)
}
