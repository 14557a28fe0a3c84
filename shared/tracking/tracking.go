// Package tracking records what happened to each (message, recipient) in the Tracking table
// and answers the administrator's searches: any time range, by sender, recipient, domain,
// client IP, traffic type and direction, newest first and paged, plus a per-day summary of
// blocked client IPs.
//
// # Item layout (table schema.Tracking: pk, sk, TTL attribute "expires")
//
// One record item per (message, recipient):
//
//	pk            "MSG#<messageId>"
//	sk            "RCPT#<recipient, lower case>"
//	gsiDay        "YYYY-MM-DD" of the record's time, UTC              (index byTime, partition)
//	gsiTime       "<time>#<messageId>#<recipient, lower case>"        (every index, sort)
//	sender        envelope sender, lower case; absent for the null sender <>  (bySender)
//	recipient     recipient, lower case                               (byRecipient)
//	domain        the served domain the record belongs to, lower case (byDomain):
//	              the recipient's domain for inbound mail, the sender's for outbound
//	clientIP      connecting client IP in canonical form; absent when unknown (byClientIP)
//	expires       epoch seconds: record time + the store's TTL (default 90 days)
//	version       optimistic-concurrency counter, 1 on creation
//	traffic, direction, status, action, blockType, messageId, time, envelopeFrom, rcptTo,
//	from, subject, size, reasons, verdicts, key, quarantineKey, events: the Record's fields
//	              (envelopeFrom and rcptTo keep the addresses' original case)
//	leaseOwner    the delivery attempt holding the recipient (Claim); absent when none
//	leaseUntil    epoch milliseconds: when that lease ends
//
// <time> is the record's time in UTC with a fixed nine-digit fraction
// (2006-01-02T15:04:05.000000000Z), an RFC 3339 form whose byte order is time order;
// time.RFC3339Nano drops trailing zeros and would not sort. The message ID and recipient make
// gsiTime unique within every index partition.
//
// One counter item per (day, blocked client IP), incremented atomically, in the same
// transaction as the creation of a blocked record that carries a client IP:
//
//	pk       "BLOCKEDIP#YYYY-MM-DD"
//	sk       "<client IP>"
//	count    number of blocked records created that day from that IP
//	expires  epoch seconds: the end of the day + the store's TTL
//
// Counter items carry no index attributes, so they appear in no index.
//
// The package logs nothing; its errors name message IDs, never addresses or subjects.
package tracking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/moatmail/moat/shared/verdict"
)

// Direction is which way a message travelled through the gateway.
type Direction string

const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Traffic says whether the gateway accepted a message for the recipient or blocked it.
type Traffic string

const (
	Accepted Traffic = "accepted"
	Blocked  Traffic = "blocked"
)

// Status is the last thing that happened to a recipient's copy.
type Status string

const (
	Received       Status = "received"        // filtered, the verdict not carried out yet
	Queued         Status = "queued"          // accepted, waiting for delivery
	Delivered      Status = "delivered"       // the customer's mail server accepted it
	Deferred       Status = "deferred"        // a delivery attempt failed temporarily; it will be retried
	Bounced        Status = "bounced"         // refused with a DSN to the sender
	Quarantined    Status = "quarantined"     // held in quarantine
	Released       Status = "released"        // released from quarantine for delivery
	Deleted        Status = "deleted"         // dropped by policy or deleted from quarantine
	DeliveryFailed Status = "delivery-failed" // delivery failed permanently; the sender was told
)

// Event is one step in a record's history: a delivery attempt, a release, a status change.
type Event struct {
	Time   time.Time `json:"time"`
	Status Status    `json:"status"`
	Detail string    `json:"detail,omitempty"` // the remote server's reply, who released it, ...
}

// Record is what the gateway knows about one recipient's copy of one message.
type Record struct {
	MessageID string            `json:"messageId"`
	Recipient string            `json:"recipient"`
	Time      time.Time         `json:"time"` // when the gateway received the message
	Direction Direction         `json:"direction"`
	Sender    string            `json:"sender"`             // envelope sender; empty for <>
	From      string            `json:"from,omitempty"`     // header From address
	Subject   string            `json:"subject,omitempty"`  // never logged
	ClientIP  string            `json:"clientIP,omitempty"` // the connecting client's IP, in canonical form
	Size      int64             `json:"size"`
	Traffic   Traffic           `json:"traffic"`
	Status    Status            `json:"status"`
	Action    verdict.Action    `json:"action,omitempty"`
	BlockType verdict.BlockType `json:"blockType,omitempty"`
	Reasons   []verdict.Reason  `json:"reasons,omitempty"`
	// Verdicts holds SES's verdicts by name (spam, virus, spf, dkim, dmarc) → PASS, FAIL,
	// GRAY or PROCESSING_FAILED.
	Verdicts      map[string]string `json:"verdicts,omitempty"`
	Key           string            `json:"key,omitempty"`           // S3 key of the raw message
	QuarantineKey string            `json:"quarantineKey,omitempty"` // S3 key of the quarantined copy
	Events        []Event           `json:"events,omitempty"`
	// Lease is the delivery attempt that holds the recipient (Claim); nil when none does.
	Lease *Lease `json:"lease,omitempty"`
	// Version counts the writes of the record; the store sets it.
	Version int `json:"version"`
}

// DefaultTTL is how long records are kept when New is given no TTL.
const DefaultTTL = 90 * 24 * time.Hour

// updateAttempts bounds Update's read-modify-write cycles under contention.
const updateAttempts = 5

var (
	// ErrNotFound is returned when no record exists for the message and recipient.
	ErrNotFound = errors.New("tracking record not found")
	// ErrConflict is returned when Update lost the race for a record every time it tried.
	ErrConflict = errors.New("tracking record changed concurrently")
)

// DB is the part of the DynamoDB client the store uses; *dynamodb.Client satisfies it.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store reads and writes tracking records in one table.
type Store struct {
	db    DB
	table string
	ttl   time.Duration
	now   func() time.Time // for Search's default Until
}

// New returns a store over table. Records expire ttl after their time (DefaultTTL when ttl
// is not positive).
func New(db DB, table string, ttl time.Duration) *Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Store{db: db, table: table, ttl: ttl, now: time.Now}
}

// Create stores a new record with version 1. When a record for the message and recipient
// already exists (SES delivered the same event twice), it changes nothing and returns false.
// Creating a blocked record that has a client IP also counts it for BlockedIPs, atomically
// with the record, so a duplicate event is never counted twice.
func (s *Store) Create(ctx context.Context, rec Record) (bool, error) {
	if rec.MessageID == "" || rec.Recipient == "" || rec.Time.IsZero() {
		return false, errors.New("create tracking record: message ID, recipient and time are required")
	}
	rec.Version = 1
	it, err := s.marshal(rec)
	if err != nil {
		return false, fmt.Errorf("create tracking record %s: %w", rec.MessageID, err)
	}
	put := &types.Put{
		TableName:           aws.String(s.table),
		Item:                it,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}
	ip := clientIPKey(rec.ClientIP)
	if rec.Traffic != Blocked || ip == "" {
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression,
		})
		if isConditionFailed(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("create tracking record %s: %w", rec.MessageID, err)
		}
		return true, nil
	}
	day := dayOf(rec.Time)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: put},
			{Update: &types.Update{
				TableName: aws.String(s.table),
				Key: map[string]types.AttributeValue{
					"pk": &types.AttributeValueMemberS{Value: blockedIPPrefix + day},
					"sk": &types.AttributeValueMemberS{Value: ip},
				},
				UpdateExpression:         aws.String("ADD #count :one SET #expires = :expires"),
				ExpressionAttributeNames: map[string]string{"#count": "count", "#expires": "expires"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":one":     &types.AttributeValueMemberN{Value: "1"},
					":expires": epoch(dayStart(rec.Time).Add(24*time.Hour + s.ttl)),
				},
			}},
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create tracking record %s: %w", rec.MessageID, err)
	}
	return true, nil
}

// Get returns the record of one recipient of a message, or ErrNotFound.
func (s *Store) Get(ctx context.Context, messageID, recipient string) (Record, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            recordKey(messageID, recipient),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Record{}, fmt.Errorf("get tracking record %s: %w", messageID, err)
	}
	if len(out.Item) == 0 {
		return Record{}, fmt.Errorf("get tracking record %s: %w", messageID, ErrNotFound)
	}
	rec, err := unmarshal(out.Item)
	if err != nil {
		return Record{}, fmt.Errorf("get tracking record %s: %w", messageID, err)
	}
	return rec, nil
}

// ByMessage returns the records of every recipient of a message, ordered by recipient; none
// (and no error) when the message is unknown.
func (s *Store) ByMessage(ctx context.Context, messageID string) ([]Record, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: msgPrefix + messageID}},
		ConsistentRead:            aws.Bool(true),
	}
	var recs []Record
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("tracking records of %s: %w", messageID, err)
		}
		for _, it := range out.Items {
			rec, err := unmarshal(it)
			if err != nil {
				return nil, fmt.Errorf("tracking records of %s: %w", messageID, err)
			}
			recs = append(recs, rec)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return recs, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Update reads a record, lets fn change it and writes it back if nobody else wrote it in
// between; otherwise it reads it again and calls fn again, a few times, before giving up with
// ErrConflict. fn must not change the message ID or the recipient. An error from fn stops the
// update and is returned. A missing record is ErrNotFound.
//
// Update does not touch the blocked-IP counters, which count records at creation.
func (s *Store) Update(ctx context.Context, messageID, recipient string, fn func(*Record) error) error {
	for range updateAttempts {
		rec, err := s.Get(ctx, messageID, recipient)
		if err != nil {
			return fmt.Errorf("update tracking record: %w", err)
		}
		old := rec.Version
		if err := fn(&rec); err != nil {
			return fmt.Errorf("update tracking record %s: %w", messageID, err)
		}
		if rec.MessageID != messageID || recipientKey(rec.Recipient) != recipientKey(recipient) {
			return fmt.Errorf("update tracking record %s: the message ID and recipient cannot change", messageID)
		}
		if rec.Time.IsZero() {
			return fmt.Errorf("update tracking record %s: the time cannot be cleared", messageID)
		}
		rec.Version = old + 1
		it, err := s.marshal(rec)
		if err != nil {
			return fmt.Errorf("update tracking record %s: %w", messageID, err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      it,
			ConditionExpression:       aws.String("#version = :version"),
			ExpressionAttributeNames:  map[string]string{"#version": "version"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":version": &types.AttributeValueMemberN{Value: fmt.Sprint(old)}},
		})
		if isConditionFailed(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("update tracking record %s: %w", messageID, err)
		}
		return nil
	}
	return fmt.Errorf("update tracking record %s: %w", messageID, ErrConflict)
}

// SetStatus sets a record's status and appends an Event with the time and detail (the remote
// server's reply, for a delivery attempt). It ends the record's delivery lease: the status is
// the outcome of the attempt that held it.
func (s *Store) SetStatus(ctx context.Context, messageID, recipient string, st Status, detail string, now time.Time) error {
	return s.Update(ctx, messageID, recipient, func(r *Record) error {
		r.Status = st
		r.Lease = nil
		r.Events = append(r.Events, Event{Time: now, Status: st, Detail: detail})
		return nil
	})
}

// isConditionFailed reports whether err is a failed condition of a PutItem, or of the first
// (conditional) item of a transaction.
func isConditionFailed(err error) bool {
	if err == nil {
		return false
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 {
		return aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed"
	}
	return false
}
