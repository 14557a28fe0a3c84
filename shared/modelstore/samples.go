package modelstore

import (
	"bytes"
	"context"
	"encoding/json"
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

// Putter is the part of the S3 client Decisions uses.
type Putter interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Decisions turns quarantine decisions into training feedback without reading the message: it
// writes a small decision object under submissions/feedback/ naming the quarantined copy and
// the label, and the training function reads the copy and learns it. Its writer needs only
// s3:PutObject on submissions/feedback/*. A decision already stored is not written again, so
// it is learned once.
type Decisions struct {
	S3     Putter
	Bucket string
}

// Learn records that the quarantined copy at key is spam (or ham).
func (d *Decisions) Learn(ctx context.Context, key string, spam bool) error {
	dec := submission.Decision{Key: key, Label: submission.Ham}
	if spam {
		dec.Label = submission.Spam
	}
	if err := dec.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(dec)
	if err != nil {
		return err
	}
	_, err = d.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(d.Bucket), Key: aws.String(submission.DecisionKey(dec)),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
		IfNoneMatch: aws.String("*"),
	})
	if isConflict(err) {
		return nil // recorded before, or by a concurrent writer
	}
	if err != nil {
		return fmt.Errorf("record %s as %s: %w", key, dec.Label, err)
	}
	return nil
}
