package policystore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/moatmail/moat/shared/policy"
)

const userPrefix = "USER#"

// senderItem is an end user's sender entry as stored.
type senderItem struct {
	PK        string      `dynamodbav:"pk"`
	SK        string      `dynamodbav:"sk"`
	Pattern   string      `dynamodbav:"pattern"`
	List      policy.List `dynamodbav:"list"`
	Recipient string      `dynamodbav:"recipient"`
	Comment   string      `dynamodbav:"comment,omitempty"`
}

// userEntry validates an end user's entry and returns it normalised, as stored.
func userEntry(e policy.SenderEntry) (senderItem, error) {
	if e.Recipient == "" {
		return senderItem{}, errors.New("recipient is required: an end user's list belongs to one recipient")
	}
	if e.Domain != "" {
		return senderItem{}, fmt.Errorf("domain: %q is not allowed: an end user's entry has the recipient's scope only", e.Domain)
	}
	rcpt, err := normAddress("recipient", e.Recipient)
	if err != nil {
		return senderItem{}, err
	}
	if e.List != policy.Approved && e.List != policy.Blocked {
		return senderItem{}, fmt.Errorf("list: %q is not allowed: must be %s or %s", e.List, policy.Approved, policy.Blocked)
	}
	p, err := policy.ParsePattern(e.Pattern)
	if err != nil {
		return senderItem{}, fmt.Errorf("pattern: %w", err)
	}
	return senderItem{
		PK: userPrefix + rcpt, SK: string(e.List) + "#" + p.String(),
		Pattern: p.String(), List: e.List, Recipient: rcpt, Comment: e.Comment,
	}, nil
}

// UserSenderAdd adds a pattern to an end user's approved or blocked list (e.Recipient must be
// set; e.Domain must not). Adding an entry again replaces its comment. There is no cap on the
// number of entries.
func (s *Store) UserSenderAdd(ctx context.Context, e policy.SenderEntry) error {
	it, err := userEntry(e)
	if err != nil {
		return fmt.Errorf("add sender: %w", err)
	}
	m, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("add sender: %w", err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: m}); err != nil {
		return fmt.Errorf("add sender: %w", err)
	}
	return nil
}

// UserSenderRemove removes a pattern from an end user's list, or returns ErrNotFound.
func (s *Store) UserSenderRemove(ctx context.Context, e policy.SenderEntry) error {
	it, err := userEntry(e)
	if err != nil {
		return fmt.Errorf("remove sender: %w", err)
	}
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: it.PK},
			"sk": &types.AttributeValueMemberS{Value: it.SK},
		},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return fmt.Errorf("remove sender: %w", err)
	}
	if len(out.Attributes) == 0 {
		return fmt.Errorf("remove sender: %s is not on the recipient's %s list: %w", it.Pattern, it.List, ErrNotFound)
	}
	return nil
}

// UserSenders returns an end user's approved and blocked senders, approved first, each list
// ordered by pattern. An address that is not valid has none.
func (s *Store) UserSenders(ctx context.Context, recipient string) ([]policy.SenderEntry, error) {
	entries := []policy.SenderEntry{}
	rcpt, ok := lookupAddress(recipient)
	if !ok {
		return entries, nil
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: userPrefix + rcpt}},
	}
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		var page []senderItem
		if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		for _, it := range page {
			entries = append(entries, policy.SenderEntry{Pattern: it.Pattern, List: it.List, Recipient: it.Recipient, Comment: it.Comment})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read senders: %w", err)
	}
	return entries, nil
}
