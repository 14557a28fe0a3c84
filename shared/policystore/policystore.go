// Package policystore keeps the policy document and the large per-domain and per-user data
// beside it in the Policies table: the directory of valid recipients of each domain and end
// users' own approved and blocked senders. Cache serves the document to warm functions.
//
// # Item layout (table schema.Policies: pk, sk)
//
// The policy document, gzip-compressed JSON of policy.Policy, in one header item and, when
// the compressed document is over 350 KB (a DynamoDB item holds at most 400 KB), numbered
// chunk items written in the same transaction:
//
//	pk "POLICY"  sk "HEAD"         version (1, 2, …), chunks (0: inline), enc "gzip",
//	                               size (JSON bytes), sha256 (hex, of the compressed bytes),
//	                               doc (binary, the compressed document when chunks is 0)
//	pk "POLICY"  sk "CHUNK#0001"…  version (the header's), data (binary, ≤ 350 KB)
//
// A transaction carries at most 4 MB, so a compressed document is at most 10 chunks (3.5 MB;
// policy JSON compresses several times over, so well over 10 MB of JSON). Readers take the
// chunks whose version is the header's, check the checksum, and read again when a concurrent
// Put replaced the chunks between their reads.
//
// The directory of valid recipients of a domain, one item per address:
//
//	pk "DIR#<domain>"  sk "<address>"
//
// End users' own sender lists, one item per entry:
//
//	pk "USER#<recipient>"  sk "<list>#<pattern>"  pattern, list, recipient, comment
//
// Domains, addresses and patterns are stored normalised: lower case, domains in their ASCII
// (A-label) form, patterns as policy.Pattern.String writes them.
package policystore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/policy"
)

var (
	// ErrConflict is returned by Put when the stored document is not the version the caller
	// read: someone else wrote it in between.
	ErrConflict = errors.New("policy changed concurrently")
	// ErrNotFound is returned when an entry to remove does not exist.
	ErrNotFound = errors.New("not found")
)

// DB is the part of the DynamoDB client the store uses; *dynamodb.Client satisfies it.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store reads and writes one Policies table.
type Store struct {
	db    DB
	table string
	// pause waits before retrying unprocessed batch items; tests replace it.
	pause func(ctx context.Context, attempt int) error
	// maxChunks is MaxChunks; tests lower it.
	maxChunks int
}

// New returns a store over table.
func New(db DB, table string) *Store {
	return &Store{db: db, table: table, pause: backoff, maxChunks: MaxChunks}
}

// backoff waits 50 ms, 100 ms, 200 ms … (at most 2 s) or until ctx ends.
func backoff(ctx context.Context, attempt int) error {
	d := min(50*time.Millisecond<<attempt, 2*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// normAddress validates an address with policy.ParseAddress and returns its key form.
func normAddress(field, s string) (string, error) {
	a, err := policy.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return strings.ToLower(a), nil
}

// lookupAddress is the key form of an address read from mail; ok is false when it is not a
// valid address, which nothing stored can match.
func lookupAddress(s string) (string, bool) {
	a, err := policy.ParseAddress(s)
	if err != nil {
		return "", false
	}
	return strings.ToLower(a), true
}

// normDomain validates a mail domain and returns its key form.
func normDomain(d string) (string, error) {
	if strings.ContainsAny(d, "@") || strings.TrimSpace(d) != d {
		return "", fmt.Errorf("domain: %q is not a valid domain name", d)
	}
	a, err := policy.ParseAddress("postmaster@" + d)
	if err != nil {
		// The reason follows the address ParseAddress was given; name the domain instead.
		reason := err.Error()
		if _, r, ok := strings.Cut(reason, "is not a valid address: "); ok {
			reason = r
		}
		reason = strings.TrimPrefix(reason, fmt.Sprintf("the domain %q is not valid: ", d))
		return "", fmt.Errorf("domain: %q is not a valid domain name: %s", d, reason)
	}
	return domainOf(strings.ToLower(a)), nil
}

func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
