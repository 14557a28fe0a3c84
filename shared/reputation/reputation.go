// Package reputation keeps Moat's dynamic IP reputation: it counts spam verdicts per client IP
// in fixed windows with DynamoDB atomic counters, records a temporary block with an expiry once
// an IP's count reaches a threshold, and pushes active blocks to SES receipt IP filters so SES
// rejects the IP during the SMTP conversation (receiptfilter.go).
//
// The filter core decides whether a block applies to a recipient's domain (its aggressiveness
// level sets the spam count that counts, see filter.Levels); this package only counts and
// stores.
//
// # Item layout (table schema.Reputation: pk, sk, TTL attribute "expires")
//
// Items of this package start their pk with "DYN#"; the audit's items use "AUDIT#".
//
//	pk "DYN#SPAM#<key>"  sk "<window start, RFC 3339 UTC>"   count (N, atomic ADD), expires
//	pk "DYN#BLOCK"       sk "<key>"                         spam, windowSeconds, since, updated, expires
//	pk "DYN#SYNC"        sk "receipt-filters"               last (RFC 3339): the receipt filter sync lease
//
// <key> is the client's prefix: the IPv4 address as a /32 ("192.0.2.1/32"), or the IPv6 /64
// containing the address, since one IPv6 host usually holds a whole /64. A counter item
// expires one day after its window ends; a block item at the block's expiry. DynamoDB deletes
// expired items up to a few days late, so every read compares expires with the clock too.
// All blocks share one partition so that the receipt filter sync can list them with one
// Query; they are written only when an IP reaches the threshold, and read with GetItem.
package reputation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Defaults of a Store.
const (
	DefaultWindow   = time.Hour
	DefaultBlockFor = 24 * time.Hour
)

const (
	pkBlock  = "DYN#BLOCK"
	pkSync   = "DYN#SYNC"
	skSync   = "receipt-filters"
	counters = "DYN#SPAM#"
)

// ErrNotFound is returned by Active for an IP without an active block.
var ErrNotFound = errors.New("no active block")

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Block is a dynamic block of one prefix.
type Block struct {
	Prefix  netip.Prefix  // the blocked IPv4 /32 or IPv6 /64
	Spam    int           // the highest spam count in one window while the block was active
	Window  time.Duration // the counting window
	Since   time.Time     // when the block started
	Updated time.Time     // when the count last raised or extended it
	Expires time.Time
}

// Store counts spam and keeps blocks in the Reputation table.
type Store struct {
	db    DB
	table string
	// Window is the counting window (fixed windows aligned to the Unix epoch); Threshold is
	// the count in one window at which an IP is blocked; BlockFor is how long a block lasts
	// after the last spam message that raised or extended it.
	Window    time.Duration
	Threshold int
	BlockFor  time.Duration
}

// New returns a store on table. threshold is the smallest spam count that blocks at any
// level (filter.MinSpam()).
func New(db DB, table string, threshold int) *Store {
	return &Store{db: db, table: table, Window: DefaultWindow, Threshold: max(threshold, 1), BlockFor: DefaultBlockFor}
}

// Key returns the prefix an address is counted and blocked under: the IPv4 address itself,
// or its IPv6 /64.
func Key(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// CountSpam counts one spam message from ip at now and returns the count of the current
// window. When the count reaches the threshold it records the block (or raises and extends the
// active one) and returns it; otherwise the block is nil.
func (s *Store) CountSpam(ctx context.Context, ip netip.Addr, now time.Time) (int, *Block, error) {
	if !ip.IsValid() {
		return 0, nil, fmt.Errorf("count spam: invalid IP")
	}
	key := Key(ip)
	start := now.UTC().Truncate(s.Window)
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{
			"pk": str(counters + key.String()), "sk": str(start.Format(time.RFC3339)),
		},
		UpdateExpression:          aws.String("ADD #count :one SET #expires = :expires"),
		ExpressionAttributeNames:  map[string]string{"#count": "count", "#expires": "expires"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":expires": num(start.Add(s.Window + 24*time.Hour).Unix())},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, nil, fmt.Errorf("count spam from %s: %w", key, err)
	}
	n, err := intAttr(out.Attributes, "count")
	if err != nil {
		return 0, nil, fmt.Errorf("count spam from %s: %w", key, err)
	}
	if n < s.Threshold {
		return n, nil, nil
	}
	b, err := s.block(ctx, key, n, now)
	if err != nil {
		return n, nil, err
	}
	return n, &b, nil
}

// block records or raises the block of key: read, compute, and write on the condition that
// nobody wrote in between (a few retries).
func (s *Store) block(ctx context.Context, key netip.Prefix, spam int, now time.Time) (Block, error) {
	for range 8 {
		old, found, err := s.get(ctx, key, true)
		if err != nil {
			return Block{}, err
		}
		if found && old.Spam >= spam && !old.Expires.Before(now.Add(s.BlockFor).Truncate(time.Second)) {
			return old, nil // a concurrent writer got there first with as much
		}
		b := Block{Prefix: key, Spam: spam, Window: s.Window, Since: now, Updated: now, Expires: now.Add(s.BlockFor)}
		if found && old.Expires.After(now) {
			b.Since, b.Spam = old.Since, max(old.Spam, spam)
		}
		in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: blockItem(b)}
		if found {
			in.ConditionExpression = aws.String("#updated = :old")
			in.ExpressionAttributeNames = map[string]string{"#updated": "updated"}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":old": str(old.Updated.UTC().Format(time.RFC3339Nano))}
		} else {
			in.ConditionExpression = aws.String("attribute_not_exists(pk)")
		}
		_, err = s.db.PutItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			continue // another invocation wrote the block: read it again
		}
		if err != nil {
			return Block{}, fmt.Errorf("block %s: %w", key, err)
		}
		return b, nil
	}
	return Block{}, fmt.Errorf("block %s: too many concurrent writers", key)
}

// Active returns the active block covering ip, or ErrNotFound.
func (s *Store) Active(ctx context.Context, ip netip.Addr, now time.Time) (Block, error) {
	if !ip.IsValid() {
		return Block{}, ErrNotFound
	}
	b, found, err := s.get(ctx, Key(ip), false)
	if err != nil {
		return Block{}, err
	}
	if !found || !b.Expires.After(now) {
		return Block{}, ErrNotFound
	}
	return b, nil
}

// ActiveBlocks returns every active block, oldest expiry first.
func (s *Store) ActiveBlocks(ctx context.Context, now time.Time) ([]Block, error) {
	var out []Block
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("#expires > :now"),
		ExpressionAttributeNames:  map[string]string{"#expires": "expires"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkBlock), ":now": num(now.Unix())},
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list blocks: %w", err)
		}
		for _, item := range page.Items {
			b, err := parseBlock(item)
			if err != nil {
				return nil, fmt.Errorf("list blocks: %w", err)
			}
			if b.Expires.After(now) {
				out = append(out, b)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sortByExpiry(out)
	return out, nil
}

// Unblock ends the block of ip's prefix at once (an administrator's decision).
func (s *Store) Unblock(ctx context.Context, ip netip.Addr) error {
	key := Key(ip)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": str(pkBlock), "sk": str(key.String())},
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		UpdateExpression:          aws.String("SET #expires = :zero"),
		ExpressionAttributeNames:  map[string]string{"#expires": "expires"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("unblock %s: %w", key, err)
	}
	return nil
}

// TakeSync claims the receipt filter sync when nobody did within every: true means the caller
// should sync now. Concurrent callers race on a conditional write; one wins.
func (s *Store) TakeSync(ctx context.Context, every time.Duration, now time.Time) (bool, error) {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			"pk": str(pkSync), "sk": str(skSync), "last": num(now.UnixNano()),
		},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #last <= :before"),
		ExpressionAttributeNames:  map[string]string{"#last": "last"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":before": num(now.Add(-every).UnixNano())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take receipt filter sync: %w", err)
	}
	return true, nil
}

func (s *Store) get(ctx context.Context, key netip.Prefix, consistent bool) (Block, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": str(pkBlock), "sk": str(key.String())},
		ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return Block{}, false, fmt.Errorf("read block %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return Block{}, false, nil
	}
	b, err := parseBlock(out.Item)
	if err != nil {
		return Block{}, false, fmt.Errorf("read block %s: %w", key, err)
	}
	return b, true, nil
}

func blockItem(b Block) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk":            str(pkBlock),
		"sk":            str(b.Prefix.String()),
		"spam":          num(int64(b.Spam)),
		"windowSeconds": num(int64(b.Window / time.Second)),
		"since":         str(b.Since.UTC().Format(time.RFC3339Nano)),
		"updated":       str(b.Updated.UTC().Format(time.RFC3339Nano)),
		"expires":       num(b.Expires.Unix()),
	}
}

func parseBlock(item map[string]types.AttributeValue) (Block, error) {
	var b Block
	sk, _ := item["sk"].(*types.AttributeValueMemberS)
	if sk == nil {
		return b, errors.New("block item without sk")
	}
	p, err := netip.ParsePrefix(sk.Value)
	if err != nil {
		return b, fmt.Errorf("block item %q: %w", sk.Value, err)
	}
	b.Prefix = p
	spam, err := intAttr(item, "spam")
	if err != nil {
		return b, err
	}
	b.Spam = spam
	w, _ := intAttr(item, "windowSeconds")
	b.Window = time.Duration(w) * time.Second
	exp, err := intAttr(item, "expires")
	if err != nil {
		return b, err
	}
	b.Expires = time.Unix(int64(exp), 0).UTC()
	for name, dst := range map[string]*time.Time{"since": &b.Since, "updated": &b.Updated} {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			*dst, _ = time.Parse(time.RFC3339Nano, v.Value)
		}
	}
	return b, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func intAttr(item map[string]types.AttributeValue, name string) (int, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s missing", name)
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return int(n), nil
}
