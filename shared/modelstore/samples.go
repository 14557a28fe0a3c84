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
// under submissions/<label>/ (submissions/tenants/<tenant>/<label>/ for a recipient of a
// tenant's domain), where the training function picks it up like a submission.
type Samples struct {
	S3      API
	Bucket  string
	Now     func() time.Time  // time.Now when nil
	Tenants map[string]string // recipient domain → tenant (ParseTenantDomains); nil: the default model only
}

// Learn stores the message at key (a quarantined copy) as a spam or ham sample of the default
// model.
func (s *Samples) Learn(ctx context.Context, key string, spam bool) error {
	return s.LearnFor(ctx, key, "", spam)
}

// LearnFor stores the message at key as a sample of the model of the recipient's tenant (the
// default model when its domain belongs to none).
func (s *Samples) LearnFor(ctx context.Context, key, recipient string, spam bool) error {
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
	sample, err := submission.ForTenant(TenantOf(s.Tenants, recipient), submission.Key(label, raw, now()))
	if err != nil {
		return err
	}
	_, err = s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(sample),
		Body: bytes.NewReader(raw), ContentType: aws.String("message/rfc822"),
		IfNoneMatch: aws.String("*"), // stored before (or by another recipient's decision): learned once
	})
	if isConflict(err) {
		return nil
	}
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
// it is learned once. A decision of a recipient whose domain belongs to a tenant goes under
// submissions/tenants/<tenant>/feedback/ and trains the tenant's model.
type Decisions struct {
	S3      Putter
	Bucket  string
	Tenants map[string]string // recipient domain → tenant (ParseTenantDomains); nil: the default model only
}

// Learn records that the quarantined copy at key is spam (or ham), for the default model.
func (d *Decisions) Learn(ctx context.Context, key string, spam bool) error {
	return d.LearnFor(ctx, key, "", spam)
}

// LearnFor records the decision for the model of the recipient's tenant (the default model
// when its domain belongs to none).
func (d *Decisions) LearnFor(ctx context.Context, key, recipient string, spam bool) error {
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
	decKey, err := submission.ForTenant(TenantOf(d.Tenants, recipient), submission.DecisionKey(dec))
	if err != nil {
		return err
	}
	_, err = d.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(d.Bucket), Key: aws.String(decKey),
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
