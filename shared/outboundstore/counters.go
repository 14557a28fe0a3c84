// Package outboundstore keeps the outbound monitor's state in the Reputation table: sliding-window
// counters per tenant, per sending IP and per sender, each tenant's suspension state with its
// history, and the claims that make the monitor idempotent on duplicate events. sending.go
// switches a configuration set's sending on and off in SES.
//
// # Item layout (table schema.Reputation: pk, sk, TTL attribute "expires")
//
// Items of this package start their pk with "OUT#" (the dynamic reputation uses "DYN#", the
// audit "AUDIT#").
//
//	pk "OUT#CNT#<tenant>#g<gen>#ip#<ip>"        sk "<bucket start>"  count (N, atomic ADD), expires   1-minute buckets
//	pk "OUT#CNT#<tenant>#g<gen>#sender#<addr>"  sk "<bucket start>"  count, expires                   1-minute buckets
//	pk "OUT#CNT#<tenant>#g<gen>#send"           sk "<bucket start>"  count, expires                   1-hour buckets
//	pk "OUT#CNT#<tenant>#g<gen>#bounce"         sk "<bucket start>"  count, expires                   1-hour buckets
//	pk "OUT#CNT#<tenant>#g<gen>#complaint"      sk "<bucket start>"  count, expires                   1-hour buckets
//	pk "OUT#CNT#<tenant>#g<gen>#hour"           sk "<bucket start>"  count, expires                   5-minute buckets
//	pk "OUT#CNT#<tenant>#day"                   sk "<day start>"     count, expires                   1-day buckets
//	pk "OUT#TENANT#<tenant>"  sk "STATE"                  suspended, generation, since, rule, suspension (JSON), resumedBy, resumedAt
//	pk "OUT#TENANT#<tenant>"  sk "HIST#<time>#<action>"   action (suspend|resume), by, detail (JSON), expires (1 year)
//	pk "OUT#SEEN#<event key>" sk "-"                      expires (7 days): the event was counted
//	pk "OUT#SENDING"          sk "<configuration set>"    enabled: TableSending's switch (local stack, tests)
//
// <bucket start> is RFC 3339 in UTC with seconds ("2026-11-29T10:15:00Z"), whose byte order
// is time order. A window's count is the sum of the buckets that start within it, read with one
// Query: with 1-minute buckets a 5-minute window covers between 4 and 5 minutes before the
// event plus the current minute, a sliding window accurate to a bucket. Counts are of recipient
// copies: a message to ten recipients counts ten, so that one message with a thousand Bcc
// recipients cannot slip under a limit. Counter items expire a day after their bucket leaves
// the longest window that reads it; the daily buckets after the spike baseline's days.
//
// <gen> is the tenant's counter generation, raised by every resume: a resumed tenant starts
// with empty windows instead of being suspended again by the counts that suspended it. The
// daily buckets of the spike baseline do not depend on it.
package outboundstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/moatmail/moat/shared/outbound"
)

// DB is the part of the DynamoDB client the store uses; *dynamodb.Client satisfies it.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store reads and writes the outbound items of one table.
type Store struct {
	db    DB
	table string
}

// New returns a store over table (the Reputation table).
func New(db DB, table string) *Store { return &Store{db: db, table: table} }

const (
	minuteBucket = time.Minute
	hourBucket   = time.Hour
	spikeBucket  = 5 * time.Minute
	dayBucket    = 24 * time.Hour
)

// series is one counter: its partition key, bucket size and how long a bucket is read.
type series struct {
	pk     string
	bucket time.Duration
	window time.Duration
}

func counterPK(tenant string, gen int, metric string) string {
	return fmt.Sprintf("OUT#CNT#%s#g%d#%s", tenant, gen, metric)
}

// add adds n to the bucket holding at, atomically.
func (s *Store) add(ctx context.Context, sr series, n int, at time.Time) error {
	start := at.UTC().Truncate(sr.bucket)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": str(sr.pk), "sk": str(start.Format(time.RFC3339))},
		UpdateExpression:          aws.String("ADD #count :n SET #expires = :expires"),
		ExpressionAttributeNames:  map[string]string{"#count": "count", "#expires": "expires"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n)), ":expires": num(start.Add(sr.window + sr.bucket + 24*time.Hour).Unix())},
	})
	if err != nil {
		return fmt.Errorf("count %s: %w", redactPK(sr.pk), err)
	}
	return nil
}

// sum returns the total of the buckets that start in [from, to], and how many had counts.
func (s *Store) sum(ctx context.Context, sr series, from, to time.Time) (int, int, error) {
	var total, buckets int
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sr.pk), ":from": str(from.Format(time.RFC3339)), ":to": str(to.Format(time.RFC3339))},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return 0, 0, fmt.Errorf("read %s: %w", redactPK(sr.pk), err)
		}
		for _, it := range out.Items {
			n, err := intAttr(it, "count")
			if err != nil {
				return 0, 0, fmt.Errorf("read %s: %w", redactPK(sr.pk), err)
			}
			total += n
			buckets++
		}
		if len(out.LastEvaluatedKey) == 0 {
			return total, buckets, nil
		}
		start = out.LastEvaluatedKey
	}
}

// window sums sr over its window ending with the bucket of at.
func (s *Store) window(ctx context.Context, sr series, at time.Time) (int, error) {
	to := at.UTC().Truncate(sr.bucket)
	n, _, err := s.sum(ctx, sr, to.Add(-sr.window+sr.bucket), to)
	return n, err
}

// CountSend counts a Send event of n recipient copies from sender through ip, at the event's
// time, and returns the counts the send rules read: the IP's and the sender's windows, the last
// hour and the spike baseline. gen is the tenant's counter generation (State.Generation).
func (s *Store) CountSend(ctx context.Context, t outbound.Tenant, gen int, sender, ip string, n int, at time.Time) (outbound.Counts, error) {
	p := t.Policy
	sender = strings.ToLower(sender)
	c := outbound.Counts{IP: ip, Sender: sender}
	ipS := series{counterPK(t.ID, gen, "ip#"+ip), minuteBucket, p.PerIP.Window.D()}
	senderS := series{counterPK(t.ID, gen, "sender#"+sender), minuteBucket, p.PerSender.Window.D()}
	sendS := series{counterPK(t.ID, gen, "send"), hourBucket, p.RateWindow.D()}
	hourS := series{counterPK(t.ID, gen, "hour"), spikeBucket, time.Hour}
	dayS := series{fmt.Sprintf("OUT#CNT#%s#day", t.ID), dayBucket, time.Duration(p.Spike.BaselineDays) * dayBucket}
	all := []series{sendS, hourS, dayS}
	if ip != "" {
		all = append(all, ipS)
	}
	if sender != "" {
		all = append(all, senderS)
	}
	for _, sr := range all {
		if err := s.add(ctx, sr, n, at); err != nil {
			return c, err
		}
	}
	var err error
	if ip != "" {
		if c.IPCount, err = s.window(ctx, ipS, at); err != nil {
			return c, err
		}
	}
	if sender != "" {
		if c.SenderCount, err = s.window(ctx, senderS, at); err != nil {
			return c, err
		}
	}
	if c.LastHour, err = s.window(ctx, hourS, at); err != nil {
		return c, err
	}
	today := at.UTC().Truncate(dayBucket)
	total, days, err := s.sum(ctx, dayS, today.Add(-dayS.window), today.Add(-dayBucket))
	if err != nil {
		return c, err
	}
	if days > 0 {
		c.BaselineDays = days
		c.BaselineHourly = float64(total) / float64(days*24)
	}
	return c, nil
}

// Outcome is a counted delivery outcome.
type Outcome string

const (
	Bounced    Outcome = "bounce"    // a permanent bounce
	Complained Outcome = "complaint" // a complaint
)

// CountOutcome counts n permanent bounces or complaints at the event's time and returns the
// tenant's sends, bounces and complaints within its rate window.
func (s *Store) CountOutcome(ctx context.Context, t outbound.Tenant, gen int, o Outcome, n int, at time.Time) (outbound.Counts, error) {
	w := t.Policy.RateWindow.D()
	sr := func(m string) series { return series{counterPK(t.ID, gen, m), hourBucket, w} }
	var c outbound.Counts
	if err := s.add(ctx, sr(string(o)), n, at); err != nil {
		return c, err
	}
	var err error
	if c.Sends, err = s.window(ctx, sr("send"), at); err != nil {
		return c, err
	}
	if c.Bounces, err = s.window(ctx, sr(string(Bounced)), at); err != nil {
		return c, err
	}
	if c.Complaints, err = s.window(ctx, sr(string(Complained)), at); err != nil {
		return c, err
	}
	return c, nil
}

// redactPK keeps sender addresses out of error messages (which reach logs).
func redactPK(pk string) string {
	if i := strings.Index(pk, "#sender#"); i >= 0 {
		return pk[:i] + "#sender#…"
	}
	return pk
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
