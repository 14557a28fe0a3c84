package tracking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Lease is a delivery attempt's hold on one recipient's copy: while it lasts, no other
// attempt may deliver that copy.
type Lease struct {
	Owner string    `json:"owner"` // an ID of the attempt, unique per attempt
	Until time.Time `json:"until"`
}

// Final reports whether a status ends delivery: nothing more is sent for the recipient.
func Final(st Status) bool {
	switch st {
	case Delivered, Bounced, DeliveryFailed, Deleted:
		return true
	}
	return false
}

// Claim takes the delivery lease of a recipient's copy for owner until the given time, with one
// conditional write, so that of two attempts claiming at once exactly one wins. It succeeds when
// the record's status is not final (see Final) and no other owner holds a lease that lasts past
// now; a lease the same owner holds is extended. It returns false, and changes nothing, when the
// copy is final or held by another attempt. A missing record is ErrNotFound. SetStatus ends the
// lease.
func (s *Store) Claim(ctx context.Context, messageID, recipient, owner string, now, until time.Time) (bool, error) {
	if owner == "" {
		return false, fmt.Errorf("claim tracking record %s: empty owner", messageID)
	}
	if !until.After(now) {
		return false, fmt.Errorf("claim tracking record %s: lease end %s is not after %s", messageID,
			until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	ms := func(t time.Time) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
	}
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	// A single-item transaction: the DB interface has no UpdateItem, and the write is the same.
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{{Update: &types.Update{
			TableName: aws.String(s.table),
			Key:       recordKey(messageID, recipient),
			ConditionExpression: aws.String("attribute_exists(pk) AND NOT (#status IN (:delivered, :bounced, :failed, :deleted))" +
				" AND (attribute_not_exists(#until) OR #until <= :now OR #owner = :owner)"),
			UpdateExpression: aws.String("SET #owner = :owner, #until = :until ADD #version :one"),
			ExpressionAttributeNames: map[string]string{
				"#status": "status", "#owner": "leaseOwner", "#until": "leaseUntil", "#version": "version",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":delivered": str(string(Delivered)), ":bounced": str(string(Bounced)),
				":failed": str(string(DeliveryFailed)), ":deleted": str(string(Deleted)),
				":now": ms(now), ":until": ms(until), ":owner": str(owner),
				":one": &types.AttributeValueMemberN{Value: "1"},
			},
		}}},
	})
	if err == nil {
		return true, nil
	}
	if !isConditionFailed(err) {
		return false, fmt.Errorf("claim tracking record %s: %w", messageID, err)
	}
	if _, err := s.Get(ctx, messageID, recipient); errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("claim tracking record %s: %w", messageID, ErrNotFound)
	} else if err != nil {
		return false, fmt.Errorf("claim tracking record %s: %w", messageID, err)
	}
	return false, nil
}

// Release ends owner's lease of a recipient's copy without changing its status, for an attempt
// that ends without an outcome to record (a DSN that could not be sent yet), so the next
// attempt need not wait for the lease to run out. A lease another owner holds, or none, is left
// as it is; so is a missing record.
func (s *Store) Release(ctx context.Context, messageID, recipient, owner string) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       recordKey(messageID, recipient),
			ConditionExpression:       aws.String("#owner = :owner"),
			UpdateExpression:          aws.String("REMOVE #owner, #until ADD #version :one"),
			ExpressionAttributeNames:  map[string]string{"#owner": "leaseOwner", "#until": "leaseUntil", "#version": "version"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":owner": &types.AttributeValueMemberS{Value: owner}, ":one": &types.AttributeValueMemberN{Value: "1"}},
		}}},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("release tracking record %s: %w", messageID, err)
	}
	return nil
}
