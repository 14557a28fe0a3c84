package quarantine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/awserr"
	"github.com/moatmail/moat/shared/awstest"
)

const raw = "Received: from mx.example.org (mx.example.org [192.0.2.1]) by inbound-smtp.us-east-1.amazonaws.com\r\n" +
	"From: a@example.org\r\nTo: b@example.com\r\nSubject: invoice\r\n\r\nbody\r\n"

// newStore returns a store over a fresh bucket in the emulator and the raw S3 client.
func newStore(t *testing.T) (*Store, *s3.Client, string) {
	t.Helper()
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	client := awstest.S3(cfg)
	return New(client, r.Bucket), client, r.Bucket
}

func putIncoming(t *testing.T, client *s3.Client, bucket, id, body string) {
	t.Helper()
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("incoming/" + id), Body: strings.NewReader(body),
	}); err != nil {
		t.Fatalf("put incoming: %v", err)
	}
}

// readAll reads what Open or Incoming returned: readAll(t)(s.Open(ctx, key)).
func readAll(t *testing.T) func(io.ReadCloser, int64, error) string {
	t.Helper()
	return func(rc io.ReadCloser, size int64, err error) string {
		t.Helper()
		return read(t, rc, size, err)
	}
}

func read(t *testing.T, rc io.ReadCloser, size int64, err error) string {
	t.Helper()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if int64(len(b)) != size {
		t.Errorf("size %d, read %d bytes", size, len(b))
	}
	return string(b)
}

func TestPutCopiesAndLabels(t *testing.T) {
	s, client, bucket := newStore(t)
	ctx := context.Background()
	id := "o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1"
	putIncoming(t, client, bucket, id, raw)
	when := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)

	key, err := s.Put(ctx, id, Meta{Reasons: []string{"spam", "dnsbl-listed"}, Recipients: []string{"b@example.com", "c@example.com"}, Time: when})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if key != "quarantine/"+id {
		t.Errorf("key %q, want quarantine/%s", key, id)
	}
	if got := readAll(t)(s.Open(ctx, key)); got != raw {
		t.Errorf("quarantined copy differs:\n%q\nwant\n%q", got, raw)
	}
	// The original stays where SES put it.
	if got := readAll(t)(s.Incoming(ctx, id)); got != raw {
		t.Errorf("incoming differs after quarantine: %q", got)
	}

	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	want := map[string]string{
		MetaReasons: "spam,dnsbl-listed", MetaRecipients: "b@example.com,c@example.com",
		MetaRecipientCount: "2", MetaTime: "2026-11-22T10:30:00Z",
	}
	for k, v := range want {
		if head.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q (all: %v)", k, head.Metadata[k], v, head.Metadata)
		}
	}
	tags, err := client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get tagging: %v", err)
	}
	if len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != TagReasons || aws.ToString(tags.TagSet[0].Value) != "spam dnsbl-listed" {
		t.Errorf("tags %+v, want %s=spam dnsbl-listed", tags.TagSet, TagReasons)
	}

	// A repeated event copies again: same key, same bytes, one object.
	key2, err := s.Put(ctx, id, Meta{Reasons: []string{"spam", "dnsbl-listed"}, Recipients: []string{"b@example.com", "c@example.com"}, Time: when})
	if err != nil || key2 != key {
		t.Fatalf("second put: %q, %v", key2, err)
	}
	if got := readAll(t)(s.Open(ctx, key)); got != raw {
		t.Errorf("copy differs after second put: %q", got)
	}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("quarantine/")})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Contents) != 1 {
		t.Errorf("%d objects under quarantine/, want 1", len(list.Contents))
	}
}

func TestDelete(t *testing.T) {
	s, client, bucket := newStore(t)
	ctx := context.Background()
	id := "0000014a-f4d4-4f89-93b5-example"
	putIncoming(t, client, bucket, id, raw)
	key, err := s.Put(ctx, id, Meta{Reasons: []string{"virus"}, Recipients: []string{"b@example.com"}})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("open after delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("second delete: %v, want nil", err)
	}
	// Deleting the copy leaves the incoming message alone.
	if got := readAll(t)(s.Incoming(ctx, id)); got != raw {
		t.Errorf("incoming after delete: %q", got)
	}
}

func TestMissingIsNotFound(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	id := "nosuchmessage0000000000000000000000000000"

	_, err := s.Put(ctx, id, Meta{Reasons: []string{"spam"}})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("put of a missing message: %v, want ErrNotFound", err)
	}
	if awserr.IsTemporary(err) {
		t.Errorf("put of a missing message is temporary: %v", err)
	}
	if _, _, err := s.Open(ctx, CopyKey(id)); !errors.Is(err, ErrNotFound) {
		t.Errorf("open: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Incoming(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("incoming: %v, want ErrNotFound", err)
	}
}

// refuse is an API that fails the test when called: invalid IDs must not reach S3.
type refuse struct{ t *testing.T }

func (r refuse) CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	r.t.Error("CopyObject called")
	return nil, errors.New("called")
}

func (r refuse) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	r.t.Error("GetObject called")
	return nil, errors.New("called")
}

func (r refuse) DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	r.t.Error("DeleteObject called")
	return nil, errors.New("called")
}

func TestBadIDsRefused(t *testing.T) {
	s := New(refuse{t}, "mail")
	ctx := context.Background()
	for _, id := range []string{"", "..", "../secrets", "a/b", `a\b`, "a b", "a%2Fb", "a\x00b", "id\r\n", "é", strings.Repeat("a", MaxIDLen+1)} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			if _, err := s.Put(ctx, id, Meta{}); !errors.Is(err, ErrInvalidID) {
				t.Errorf("put: %v, want ErrInvalidID", err)
			}
			if _, _, err := s.Incoming(ctx, id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("incoming: %v, want ErrInvalidID", err)
			}
			for _, key := range []string{"quarantine/" + id, "incoming/" + id} {
				if _, _, err := s.Open(ctx, key); !errors.Is(err, ErrInvalidID) {
					t.Errorf("open %q: %v, want ErrInvalidID", key, err)
				}
			}
			if err := s.Delete(ctx, "quarantine/"+id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("delete: %v, want ErrInvalidID", err)
			}
			if Key(id) != "" || CopyKey(id) != "" {
				t.Errorf("Key/CopyKey name an object for an invalid ID: %q %q", Key(id), CopyKey(id))
			}
		})
	}
	for _, key := range []string{"submissions/abc", "abc", "/quarantine/abc", "quarantine/abc/", "quarantine//abc", "incoming/abc"} {
		if err := s.Delete(ctx, key); !errors.Is(err, ErrInvalidID) {
			t.Errorf("delete %q: %v, want ErrInvalidID", key, err)
		}
	}
	for _, key := range []string{"submissions/abc", "abc", "quarantine/", "incoming/abc/def"} {
		if _, _, err := s.Open(ctx, key); !errors.Is(err, ErrInvalidID) {
			t.Errorf("open %q: %v, want ErrInvalidID", key, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key, prefix, id string
	}{
		{"incoming/abc-123", "incoming/", "abc-123"},
		{"quarantine/ABC", "quarantine/", "ABC"},
	}
	for _, tt := range tests {
		prefix, id, err := ParseKey(tt.key)
		if err != nil || prefix != tt.prefix || id != tt.id {
			t.Errorf("ParseKey(%q) = %q, %q, %v", tt.key, prefix, id, err)
		}
	}
}

// Thousands of recipients must not push the metadata over S3's 2 KB limit.
func TestMetadataFitsS3Limit(t *testing.T) {
	var rcpts []string
	for i := range 3000 {
		rcpts = append(rcpts, fmt.Sprintf("user%04d@example.com", i))
	}
	rcpts[0] = "jürgen@example.com"
	rcpts[1] = "evil,\r\nx-amz-meta-a: b@example.com"
	md := metadata(Meta{Reasons: []string{"spam"}, Recipients: rcpts, Time: time.Unix(0, 0)})
	size := 0
	for k, v := range md {
		size += len(k) + len(v)
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] >= 0x7f {
				t.Errorf("metadata %s has byte %#x", k, v[i])
			}
		}
	}
	if size > 2048 {
		t.Errorf("metadata is %d bytes, over S3's 2 KB", size)
	}
	if md[MetaRecipientCount] != "3000" {
		t.Errorf("count %q, want 3000", md[MetaRecipientCount])
	}
	if !strings.HasPrefix(md[MetaRecipients], "=?utf-8?q?j=C3=BCrgen@example.com?=,evilx-amz-meta-a: b@example.com,user0002@") {
		t.Errorf("recipients %q", md[MetaRecipients][:120])
	}
	if got := tagging(Meta{Reasons: []string{"spam", "content-rule", "a,b&c=d"}}); got != "moat-reasons=spam+content-rule+abc%3Dd" {
		t.Errorf("tagging %q", got)
	}
}

func ExampleCopyKey() {
	fmt.Println(Key("o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1"))
	fmt.Println(CopyKey("o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1"))
	fmt.Printf("%q\n", CopyKey("../incoming/x"))
	// Output:
	// incoming/o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1
	// quarantine/o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1
	// ""
}
