package modelstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/submission"
)

// Samples turns quarantine decisions into training samples: it copies a quarantined message
// under submissions/<label>/, where the training function picks it up like a submission.
type Samples struct {
	S3     API
	Bucket string
	Now    func() time.Time // time.Now when nil
}

// Learn stores the message at key (a quarantined copy) as a spam or ham sample.
func (s *Samples) Learn(ctx context.Context, key string, spam bool) error {
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("read %s for training: %w", key, err)
	}
	raw, err := io.ReadAll(io.LimitReader(out.Body, submission.MaxMessageBytes+1))
	out.Body.Close()
	if err != nil {
		return fmt.Errorf("read %s for training: %w", key, err)
	}
	if len(raw) > submission.MaxMessageBytes {
		return fmt.Errorf("%s is over %d MB: not learned", key, submission.MaxMessageBytes>>20)
	}
	label := submission.Ham
	if spam {
		label = submission.Spam
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	_, err = s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(submission.Key(label, raw, now())),
		Body: bytes.NewReader(raw), ContentType: aws.String("message/rfc822"),
	})
	if err != nil {
		return fmt.Errorf("store %s as a %s sample: %w", key, label, err)
	}
	return nil
}
