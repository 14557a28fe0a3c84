// Package quarantine keeps quarantined messages in the mail bucket. SES stores every received
// message at incoming/<messageId>; quarantining copies it server-side to quarantine/<messageId>,
// one copy per message shared by all its quarantined recipients, labelled with the reason codes.
// The copy outlives the incoming/ object (each prefix has its own lifecycle) until it is
// released or deleted. The package also opens the raw incoming message.
//
// Message IDs are SES message IDs ([A-Za-z0-9-]+); anything else is refused with ErrInvalidID
// so a caller can never name an object outside the two prefixes.
//
// The function role needs s3:GetObject on both prefixes, s3:PutObject and s3:PutObjectTagging
// on quarantine/, s3:DeleteObject on quarantine/, and s3:ListBucket: without ListBucket, S3
// answers a missing key with AccessDenied instead of NoSuchKey and ErrNotFound cannot be told
// apart from a permission error.
package quarantine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/moatmail/moat/shared/schema"
)

var (
	// ErrNotFound is returned when the object does not exist (S3 NoSuchKey or NotFound).
	ErrNotFound = errors.New("quarantine: message not found")
	// ErrInvalidID is returned for a message ID or key that is not an SES message ID under
	// incoming/ or quarantine/.
	ErrInvalidID = errors.New("quarantine: invalid message id")
)

// MaxIDLen bounds a message ID; SES's are 40 characters.
const MaxIDLen = 200

// Object metadata (x-amz-meta-*) and tag names written on a quarantined copy.
const (
	MetaReasons        = "moat-reasons"         // comma-separated reason codes
	MetaRecipients     = "moat-recipients"      // comma-separated recipients, cut to fit (see MetaRecipientCount)
	MetaRecipientCount = "moat-recipient-count" // the number of quarantined recipients, always complete
	MetaTime           = "moat-quarantined"     // RFC 3339 UTC time of quarantine
	TagReasons         = "moat-reasons"         // space-separated reason codes, for lifecycle rules and inventory
)

// S3 allows 2 KB of user metadata per object; these budgets keep well inside it.
const (
	maxReasonsMeta    = 256
	maxRecipientsMeta = 1400
	maxTagValue       = 256
)

// API is the part of the S3 client the store uses; *s3.Client satisfies it.
type API interface {
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, opts ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Meta labels a quarantined copy. It never holds the subject or any other message content.
type Meta struct {
	Reasons    []string  // reason codes (verdict.Code values)
	Recipients []string  // the recipients whose copy is quarantined
	Time       time.Time // when the message was quarantined
}

// Store reads and writes quarantined copies in one bucket.
type Store struct {
	s3     API
	bucket string
}

// New returns a store over the mail bucket.
func New(s3 API, bucket string) *Store {
	return &Store{s3: s3, bucket: bucket}
}

// ValidID reports whether id is acceptable as a message ID: 1 to MaxIDLen characters of
// [A-Za-z0-9-]. SES message IDs always are.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Key returns the key of the raw message SES stored, incoming/<messageID>, or "" when the ID
// is not valid.
func Key(messageID string) string {
	if !ValidID(messageID) {
		return ""
	}
	return schema.IncomingPrefix + messageID
}

// CopyKey returns the key of the quarantined copy, quarantine/<messageID>, or "" when the ID
// is not valid.
func CopyKey(messageID string) string {
	if !ValidID(messageID) {
		return ""
	}
	return schema.QuarantinePrefix + messageID
}

// ParseKey splits a key under incoming/ or quarantine/ into its prefix and message ID.
func ParseKey(key string) (prefix, messageID string, err error) {
	for _, p := range []string{schema.IncomingPrefix, schema.QuarantinePrefix} {
		if id, ok := strings.CutPrefix(key, p); ok && ValidID(id) {
			return p, id, nil
		}
	}
	return "", "", fmt.Errorf("key %q: %w", key, ErrInvalidID)
}

// Put copies incoming/<messageID> to quarantine/<messageID> inside S3 and labels the copy with
// meta; it returns the copy's key. Copying again replaces the copy and its labels with the same
// bytes, so a repeated event is harmless; the last call's meta wins, so pass every quarantined
// recipient of the message at once. ErrNotFound means the incoming message is gone.
func (s *Store) Put(ctx context.Context, messageID string, meta Meta) (string, error) {
	if !ValidID(messageID) {
		return "", fmt.Errorf("quarantine %q: %w", messageID, ErrInvalidID)
	}
	src, dst := Key(messageID), CopyKey(messageID)
	_, err := s.s3.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(s.bucket),
		CopySource:        aws.String(s.bucket + "/" + src), // IDs need no escaping
		Key:               aws.String(dst),
		ContentType:       aws.String("message/rfc822"),
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata:          metadata(meta),
		TaggingDirective:  types.TaggingDirectiveReplace,
		Tagging:           aws.String(tagging(meta)),
	})
	if err != nil {
		return "", fmt.Errorf("copy %s to %s: %w", src, dst, mapErr(err))
	}
	return dst, nil
}

// Open opens the object at key, which must be a key under incoming/ or quarantine/ as Key,
// CopyKey or Put return, and returns its body and size. The caller closes the body.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if _, _, err := ParseKey(key); err != nil {
		return nil, 0, fmt.Errorf("open: %w", err)
	}
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, mapErr(err))
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// Incoming opens the raw message SES stored for messageID.
func (s *Store) Incoming(ctx context.Context, messageID string) (io.ReadCloser, int64, error) {
	if !ValidID(messageID) {
		return nil, 0, fmt.Errorf("open incoming %q: %w", messageID, ErrInvalidID)
	}
	return s.Open(ctx, Key(messageID))
}

// Delete removes a quarantined copy; key must be under quarantine/. Deleting a copy that is
// already gone succeeds (S3 does not say whether it existed), so a retried delete is harmless.
func (s *Store) Delete(ctx context.Context, key string) error {
	prefix, _, err := ParseKey(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if prefix != schema.QuarantinePrefix {
		return fmt.Errorf("delete %s: not a quarantined copy: %w", key, ErrInvalidID)
	}
	if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("delete %s: %w", key, mapErr(err))
	}
	return nil
}

// mapErr adds ErrNotFound to a missing-object error and keeps the SDK error for logs and
// awserr.IsTemporary.
func mapErr(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// metadata renders meta as S3 user metadata within S3's 2 KB budget. Values must be ASCII to
// be signed, so non-ASCII addresses are RFC 2047 encoded, as S3 documents.
func metadata(m Meta) map[string]string {
	md := map[string]string{MetaRecipientCount: strconv.Itoa(len(m.Recipients))}
	if r := join(m.Reasons, ",", maxReasonsMeta, metaValue); r != "" {
		md[MetaReasons] = r
	}
	if r := join(m.Recipients, ",", maxRecipientsMeta, metaValue); r != "" {
		md[MetaRecipients] = r
	}
	if !m.Time.IsZero() {
		md[MetaTime] = m.Time.UTC().Format(time.RFC3339)
	}
	return md
}

// tagging renders the reason codes as the object's tag set (URL query form).
func tagging(m Meta) string {
	v := url.Values{}
	if r := join(m.Reasons, " ", maxTagValue, tagValue); r != "" {
		v.Set(TagReasons, r)
	}
	return v.Encode()
}

// join cleans each item and joins as many whole items as fit in max bytes.
func join(items []string, sep string, max int, clean func(string) string) string {
	var b strings.Builder
	for _, it := range items {
		it = clean(it)
		if it == "" {
			continue
		}
		n := len(it)
		if b.Len() > 0 {
			n += len(sep)
		}
		if b.Len()+n > max {
			break
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(it)
	}
	return b.String()
}

// metaValue makes s safe for an x-amz-meta header: no separators, no control characters,
// ASCII only (RFC 2047 for the rest).
func metaValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == ',' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// tagValue keeps the characters S3 allows in a tag value (letters, digits, + - = . _ : / @).
func tagValue(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		case strings.ContainsRune("+-=._:/@", r):
			return r
		}
		return -1
	}, s)
}
