// Package train is the training function: S3 tells it of each sample that `moatctl submit`
// stores under submissions/spam/ or submissions/ham/, and of each end user's quarantine
// decision under submissions/feedback/ (a JSON object naming a quarantined copy and its label;
// the function reads the copy) (an S3 event notification, or the
// EventBridge "Object Created" event of a bucket with EventBridge notifications); it learns the samples and adds their
// counts to the spam model: a sample under submissions/tenants/<tenant>/ (same layout below)
// trains that tenant's model, any other the default model. It updates the models with optimistic concurrency (shared/modelstore), so
// concurrent invocations never lose a count. A learned sample is tagged, and a tagged one is
// not learned again when S3 delivers an event twice.
package train

import (
	"context"
	"encoding/json"
	"errors"

	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"

	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/moatmail/moat/shared/awserr"
	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/submission"
)

// LearnedTag marks a sample whose counts are in the model.
const LearnedTag = "moat-learned"

// S3 is the part of the S3 client the handler uses.
type S3 interface {
	modelstore.API
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	PutObjectTagging(context.Context, *s3.PutObjectTaggingInput, ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error)
}

// Config is the function's configuration from its environment.
type Config struct {
	Bucket string
}

// LoadConfig reads the configuration, reporting every missing variable at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{Bucket: getenv(schema.BucketEnvVar)}
	if c.Bucket == "" {
		return c, fmt.Errorf("%s is not set", schema.BucketEnvVar)
	}
	return c, nil
}

// Handler learns submitted samples.
type Handler struct {
	S3     S3
	Bucket string
	Model  *modelstore.Store
	Log    *slog.Logger
}

// New wires a handler.
func New(c Config, client S3, log *slog.Logger) *Handler {
	return &Handler{S3: client, Bucket: c.Bucket, Model: &modelstore.Store{S3: client, Bucket: c.Bucket}, Log: log}
}

// objectCreated is the detail of an EventBridge "Object Created" event from S3.
type objectCreated struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key string `json:"key"`
	} `json:"object"`
}

// HandleRaw takes either event shape: S3 event notification records, or an EventBridge event
// whose detail names the bucket and the object.
func (h *Handler) HandleRaw(ctx context.Context, raw json.RawMessage) error {
	var probe struct {
		Records    json.RawMessage `json:"Records"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		h.Log.Error("event is not JSON, ignored", "error", err)
		return nil // a retry cannot fix it
	}
	if probe.Records != nil {
		var ev events.S3Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			h.Log.Error("not an S3 event, ignored", "error", err)
			return nil
		}
		return h.Handle(ctx, ev)
	}
	var d objectCreated
	if err := json.Unmarshal(probe.Detail, &d); err != nil || d.Object.Key == "" {
		h.Log.Error("not an S3 Object Created event, ignored", "detail_type", probe.DetailType)
		return nil
	}
	var rec events.S3EventRecord
	rec.S3.Bucket.Name = d.Bucket.Name
	rec.S3.Object.URLDecodedKey = d.Object.Key // EventBridge keys are not URL-encoded
	return h.Handle(ctx, events.S3Event{Records: []events.S3EventRecord{rec}})
}

// Handle learns the samples of an S3 event. It returns an error only when a retry can help;
// the counts of one event go into each model they train in one update.
func (h *Handler) Handle(ctx context.Context, ev events.S3Event) error {
	deltas := map[string]*classify.Model{} // by tenant; "" is the default model
	learned := map[string][]string{}
	for _, r := range ev.Records {
		key := r.S3.Object.URLDecodedKey
		if key == "" {
			key = r.S3.Object.Key
		}
		if r.S3.Bucket.Name != "" && r.S3.Bucket.Name != h.Bucket {
			h.Log.Warn("event for another bucket ignored", "bucket", r.S3.Bucket.Name)
			continue
		}
		tenant, rest, ok := submission.SplitTenant(key)
		decision := ok && submission.IsDecisionKey(rest)
		label, parsed := submission.ParseKey(rest)
		if !ok || !parsed && !decision {
			h.Log.Warn("not a submission key, ignored", "key", key)
			continue
		}
		done, err := h.learnedBefore(ctx, key)
		if err != nil {
			return err
		}
		if done {
			h.Log.Info("sample learned before", "key", key)
			continue
		}
		sample := key
		if decision {
			d, ok, err := h.decision(ctx, key)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			sample, label = d.Key, d.Label
		}
		if deltas[tenant] == nil {
			deltas[tenant] = classify.NewModel()
		}
		ok, err = h.learn(ctx, deltas[tenant], sample, label == submission.Spam)
		if err != nil {
			return err
		}
		if ok {
			learned[tenant] = append(learned[tenant], key)
		}
	}
	var errs []error
	// The default model first: a tenant's first model starts from its counts.
	for _, tenant := range slices.Sorted(maps.Keys(learned)) {
		if err := h.add(ctx, tenant, deltas[tenant], learned[tenant]); err != nil {
			errs = append(errs, err) // the other models' samples are tagged: a retry skips them
		}
	}
	return errors.Join(errs...)
}

// add puts delta into the tenant's model (the default model for "") and tags its samples.
func (h *Handler) add(ctx context.Context, tenant string, delta *classify.Model, keys []string) error {
	store := h.Model
	if tenant != "" {
		var err error
		if store, err = modelstore.ForTenant(h.S3, h.Bucket, tenant); err != nil {
			return err
		}
	}
	version, err := store.Add(ctx, delta)
	if err != nil {
		if tenant != "" {
			return fmt.Errorf("update spam model of tenant %s: %w", tenant, err)
		}
		return fmt.Errorf("update spam model: %w", err)
	}
	for _, key := range keys {
		if err := h.markLearned(ctx, key, version); err != nil {
			// The counts are in: a retry would count them twice. Log and go on.
			h.Log.Error("tag learned sample", "key", key, "error", err)
		}
	}
	h.Log.Info("samples learned", "tenant", tenant, "spam", delta.Spam, "ham", delta.Ham, "version", version)
	return nil
}

func (h *Handler) learnedBefore(ctx context.Context, key string) (bool, error) {
	out, err := h.S3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(h.Bucket), Key: aws.String(key)})
	if err != nil {
		if awserr.IsTemporary(err) {
			return false, fmt.Errorf("read tags of %s: %w", key, err)
		}
		return false, nil // gone or unreadable: learn decides
	}
	for _, t := range out.TagSet {
		if aws.ToString(t.Key) == LearnedTag {
			return true, nil
		}
	}
	return false, nil
}

// decision reads an end user's quarantine decision (submission.Decision); false when it is
// gone or invalid.
func (h *Handler) decision(ctx context.Context, key string) (submission.Decision, bool, error) {
	out, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.Bucket), Key: aws.String(key)})
	if err != nil {
		if awserr.IsTemporary(err) {
			return submission.Decision{}, false, fmt.Errorf("get %s: %w", key, err)
		}
		h.Log.Warn("decision not readable, skipped", "key", key, "error", err)
		return submission.Decision{}, false, nil
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, submission.MaxDecisionBytes+1))
	if err != nil {
		return submission.Decision{}, false, fmt.Errorf("read %s: %w", key, err)
	}
	d, err := submission.ParseDecision(data)
	if err != nil {
		h.Log.Warn("invalid decision, skipped", "key", key, "error", err)
		return d, false, nil
	}
	return d, true, nil
}

// learn adds one sample to delta; false when it is gone or not a message.
func (h *Handler) learn(ctx context.Context, delta *classify.Model, key string, spam bool) (bool, error) {
	out, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.Bucket), Key: aws.String(key)})
	if err != nil {
		if awserr.IsTemporary(err) {
			return false, fmt.Errorf("get %s: %w", key, err)
		}
		h.Log.Warn("sample not readable, skipped", "key", key, "error", err)
		return false, nil
	}
	defer out.Body.Close()
	s, err := classify.Prepare(io.LimitReader(out.Body, submission.MaxMessageBytes), spam, heuristic.Context{})
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if s.Unscannable {
		h.Log.Warn("sample is not a message, skipped", "key", key)
		return false, nil
	}
	delta.Learn(s.Tokens, spam)
	return true, nil
}

func (h *Handler) markLearned(ctx context.Context, key, version string) error {
	_, err := h.S3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String(h.Bucket), Key: aws.String(key),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(LearnedTag), Value: aws.String(strings.Trim(version, `"`))}}},
	})
	return err
}
