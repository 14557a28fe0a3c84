// Package modelstore keeps the spam models (shared/classify) in the mail bucket, versioned by
// the object's ETag: the default model the operator trains (DefaultKey) and one model per
// tenant (TenantKey). A tenant's model starts as a copy of the default model's counts when it
// is first written, and a tenant without its own model is served the default one. Trainings add their counts with optimistic concurrency: read
// the model and its ETag, merge, write back only if the ETag is unchanged (a conditional
// PutObject with If-Match, or If-None-Match: * for the first model), and on a conflict read
// again and retry. Because naive Bayes counts merge exactly, concurrent trainings never lose a
// count. A Cache serves the model to the inbound function and picks up new versions with a
// conditional GetObject (If-None-Match) at most once per TTL.
package modelstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/schema"
)

// DefaultKey is where the model lives in the mail bucket.
const DefaultKey = schema.ModelsPrefix + "spam.model"

// TenantsPrefix holds the tenants' models: models/tenants/<tenant>/spam.model.
const TenantsPrefix = schema.ModelsPrefix + "tenants/"

// TenantKey is where a tenant's model lives; tenant "" is the default model. The ID must
// follow the tenants' rule (outbound.TenantID).
func TenantKey(tenant string) (string, error) {
	if tenant == "" {
		return DefaultKey, nil
	}
	if err := outbound.TenantID(tenant); err != nil {
		return "", err
	}
	return TenantsPrefix + tenant + "/spam.model", nil
}

// ForTenant returns the store of a tenant's model, falling back to the default model;
// tenant "" is the default model's store.
func ForTenant(api API, bucket, tenant string) (*Store, error) {
	key, err := TenantKey(tenant)
	if err != nil {
		return nil, err
	}
	s := &Store{S3: api, Bucket: bucket, Key: key}
	if tenant != "" {
		s.Fallback = DefaultKey
	}
	return s, nil
}

// MaxModelBytes bounds what Load reads.
const MaxModelBytes = 256 << 20

// ErrNotFound: no model has been stored yet.
var ErrNotFound = errors.New("no spam model stored yet")

// ErrConflict: Add gave up after MaxAttempts conflicting writes.
var ErrConflict = errors.New("spam model changed during every attempt to update it")

// MaxAttempts bounds Add's read-merge-write rounds.
const MaxAttempts = 20

// API is the part of the S3 client the store uses.
type API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Store is the model object in a bucket.
type Store struct {
	S3     API
	Bucket string
	Key    string // DefaultKey when empty
	// Fallback is the model read while Key has none, and the counts Key's model starts from
	// when it is first written (a tenant's store: DefaultKey); empty: none.
	Fallback string
}

func (s *Store) key() string {
	if s.Key == "" {
		return DefaultKey
	}
	return s.Key
}

// Load returns the stored model and its version (ETag) — the fallback's when Key has none —
// or ErrNotFound.
func (s *Store) Load(ctx context.Context) (*classify.Model, string, error) {
	m, etag, err := s.load(ctx, s.key(), "")
	if errors.Is(err, ErrNotFound) && s.Fallback != "" {
		return s.load(ctx, s.Fallback, "")
	}
	return m, etag, err
}

// load reads the model at key; with known set, an unchanged object returns nil, known, nil.
func (s *Store) load(ctx context.Context, key, known string) (*classify.Model, string, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}
	if known != "" {
		in.IfNoneMatch = aws.String(known)
	}
	out, err := s.S3.GetObject(ctx, in)
	switch {
	case err == nil:
	case known != "" && httpStatus(err) == http.StatusNotModified:
		return nil, known, nil
	case isNotFound(err):
		return nil, "", ErrNotFound
	default:
		return nil, "", fmt.Errorf("get spam model s3://%s/%s: %w", s.Bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, MaxModelBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read spam model s3://%s/%s: %w", s.Bucket, key, err)
	}
	if len(data) > MaxModelBytes {
		return nil, "", fmt.Errorf("spam model s3://%s/%s is over %d MB", s.Bucket, key, MaxModelBytes>>20)
	}
	m, err := classify.UnmarshalModel(data)
	if err != nil {
		return nil, "", fmt.Errorf("spam model s3://%s/%s: %w", s.Bucket, key, err)
	}
	return m, aws.ToString(out.ETag), nil
}

// Add merges delta's counts into the stored model (creating it when there is none, from the
// fallback model's counts when there is one) and returns the new version's ETag. Concurrent Adds all land: a write only succeeds on the
// version it read, and a loser reads again and merges onto the winner's model.
func (s *Store) Add(ctx context.Context, delta *classify.Model) (string, error) {
	for attempt := range MaxAttempts {
		cur, etag, err := s.load(ctx, s.key(), "")
		if errors.Is(err, ErrNotFound) && s.Fallback != "" {
			cur, _, err = s.load(ctx, s.Fallback, "") // its counts are the start; etag stays ""
		}
		switch {
		case errors.Is(err, ErrNotFound):
			cur = classify.NewModel()
		case err != nil:
			return "", err
		}
		cur.Merge(delta)
		data, err := cur.MarshalBinary()
		if err != nil {
			return "", err
		}
		in := &s3.PutObjectInput{
			Bucket: aws.String(s.Bucket), Key: aws.String(s.key()),
			Body: bytes.NewReader(data), ContentType: aws.String("application/octet-stream"),
		}
		if etag == "" {
			in.IfNoneMatch = aws.String("*")
		} else {
			in.IfMatch = aws.String(etag)
		}
		out, err := s.S3.PutObject(ctx, in)
		if err == nil {
			return aws.ToString(out.ETag), nil
		}
		if !isConflict(err) {
			return "", fmt.Errorf("put spam model s3://%s/%s: %w", s.Bucket, s.key(), err)
		}
		// Someone else wrote first: back off a little, with jitter, and merge onto theirs.
		d := time.Duration(rand.Int64N(int64(10*time.Millisecond)<<min(attempt, 5))) + time.Millisecond
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(d):
		}
	}
	return "", ErrConflict
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
		return true
	}
	return httpStatus(err) == http.StatusNotFound
}

// isConflict: the precondition failed (412), or S3 saw a concurrent conditional write (409
// ConditionalRequestConflict).
func isConflict(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return true
	}
	s := httpStatus(err)
	return s == http.StatusPreconditionFailed || s == http.StatusConflict
}

// DefaultCacheTTL is how long a Cache serves a model before it asks for a newer version.
const DefaultCacheTTL = 5 * time.Minute

// Cache serves the model to a warm function. It is safe for concurrent use.
type Cache struct {
	s        *Store
	ttl      time.Duration
	fallback *Cache // serves while s has no model of its own; nil: none

	fallingBack bool // s had no model at the last check

	mu    sync.Mutex
	model *classify.Model
	etag  string
	next  time.Time
}

// NewCache returns a cache over s that checks for a new version after ttl (DefaultCacheTTL
// when not positive).
func NewCache(s *Store, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Cache{s: s, ttl: ttl}
}

// Model returns the current model, or nil when none is stored (the filter then scores with
// heuristics and SES's verdict only). Callers share it and must not modify it. A failed check
// keeps the last model; without one the error is returned (until a tenth of the TTL has
// passed, the cache answers nil without asking again).
func (c *Cache) Model(ctx context.Context, now time.Time) (*classify.Model, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.next) {
		return c.current(ctx, now)
	}
	m, etag, err := c.s.load(ctx, c.s.key(), c.etag)
	switch {
	case errors.Is(err, ErrNotFound):
		c.model, c.etag, c.fallingBack = nil, "", c.fallback != nil
	case err != nil:
		c.next = now.Add(c.ttl / 10) // ask again soon, not on every message
		if c.model != nil || c.fallingBack {
			return c.current(ctx, now)
		}
		return nil, err
	case m != nil:
		c.model, c.etag, c.fallingBack = m, etag, false
	}
	c.next = now.Add(c.ttl)
	return c.current(ctx, now)
}

func (c *Cache) current(ctx context.Context, now time.Time) (*classify.Model, error) {
	if c.fallingBack {
		return c.fallback.Model(ctx, now)
	}
	return c.model, nil
}

// Models serves the default model and the tenants' models to a warm function, each cached
// like a Cache; a tenant without its own model shares the default model's cache. It is safe
// for concurrent use.
type Models struct {
	s3     API
	bucket string
	ttl    time.Duration
	def    *Cache

	mu      sync.Mutex
	tenants map[string]*Cache
}

// NewModels returns the models of bucket, checked for new versions after ttl (DefaultCacheTTL
// when not positive).
func NewModels(api API, bucket string, ttl time.Duration) *Models {
	return &Models{s3: api, bucket: bucket, ttl: ttl, tenants: map[string]*Cache{},
		def: NewCache(&Store{S3: api, Bucket: bucket}, ttl)}
}

// Model returns the tenant's model (tenant "": the default model), the default model while
// the tenant has none, or nil when neither is stored. Callers must not modify it.
func (ms *Models) Model(ctx context.Context, tenant string, now time.Time) (*classify.Model, error) {
	if tenant == "" {
		return ms.def.Model(ctx, now)
	}
	ms.mu.Lock()
	c, ok := ms.tenants[tenant]
	if !ok {
		s, err := ForTenant(ms.s3, ms.bucket, tenant)
		if err != nil {
			ms.mu.Unlock()
			return nil, err
		}
		c = NewCache(s, ms.ttl)
		c.fallback = ms.def
		ms.tenants[tenant] = c
	}
	ms.mu.Unlock()
	return c.Model(ctx, now)
}
