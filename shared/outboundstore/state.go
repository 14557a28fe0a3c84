package outboundstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/moatmail/moat/shared/outbound"
)

// HistoryTTL is how long suspension and resume entries are kept.
const HistoryTTL = 365 * 24 * time.Hour

// State is a tenant's sending state as the monitor and the operators record it.
type State struct {
	Tenant     string `json:"tenant"`
	Suspended  bool   `json:"suspended"`
	Generation int    `json:"generation"` // counter generation, raised by every resume
	// Suspension is the current one when Suspended, otherwise the last one (nil: never).
	Suspension *outbound.Suspension `json:"suspension,omitempty"`
	ResumedBy  string               `json:"resumedBy,omitempty"`
	ResumedAt  time.Time            `json:"resumedAt,omitzero"`
}

// Entry is one suspension or resume in a tenant's history.
type Entry struct {
	Time   time.Time            `json:"time"`
	Action string               `json:"action"` // suspend or resume
	By     string               `json:"by"`
	Detail *outbound.Suspension `json:"detail,omitempty"` // the evidence of a suspension
}

func tenantPK(id string) string { return "OUT#TENANT#" + id }

const skState = "STATE"

// State returns a tenant's state; a tenant never suspended has the zero state.
func (s *Store) State(ctx context.Context, tenant string) (State, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": str(tenantPK(tenant)), "sk": str(skState)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return State{}, fmt.Errorf("get state of tenant %s: %w", tenant, err)
	}
	st := State{Tenant: tenant}
	it := out.Item
	if it == nil {
		return st, nil
	}
	if v, ok := it["suspended"].(*types.AttributeValueMemberBOOL); ok {
		st.Suspended = v.Value
	}
	if _, ok := it["generation"]; ok {
		if st.Generation, err = intAttr(it, "generation"); err != nil {
			return State{}, fmt.Errorf("state of tenant %s: %w", tenant, err)
		}
	}
	if v, ok := it["suspension"].(*types.AttributeValueMemberS); ok {
		var sp outbound.Suspension
		if err := json.Unmarshal([]byte(v.Value), &sp); err != nil {
			return State{}, fmt.Errorf("state of tenant %s: suspension: %w", tenant, err)
		}
		st.Suspension = &sp
	}
	if v, ok := it["resumedBy"].(*types.AttributeValueMemberS); ok {
		st.ResumedBy = v.Value
	}
	if v, ok := it["resumedAt"].(*types.AttributeValueMemberS); ok {
		st.ResumedAt, _ = time.Parse(time.RFC3339Nano, v.Value)
	}
	return st, nil
}

// Suspend records a suspension unless the tenant is already suspended: true when this call
// suspended it, false when it already was (so that one suspension notifies once, whichever
// concurrent invocation gets there first). The history gets an entry in the same transaction.
func (s *Store) Suspend(ctx context.Context, sp outbound.Suspension) (bool, error) {
	body, err := json.Marshal(sp)
	if err != nil {
		return false, err
	}
	since := sp.Since.UTC().Format(time.RFC3339Nano)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:           aws.String(s.table),
			Key:                 map[string]types.AttributeValue{"pk": str(tenantPK(sp.Tenant)), "sk": str(skState)},
			ConditionExpression: aws.String("attribute_not_exists(suspended) OR suspended = :false"),
			UpdateExpression:    aws.String("SET suspended = :true, since = :since, #rule = :rule, suspension = :body"),
			ExpressionAttributeNames: map[string]string{
				"#rule": "rule",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":true": &types.AttributeValueMemberBOOL{Value: true}, ":false": &types.AttributeValueMemberBOOL{Value: false},
				":since": str(since), ":rule": str(string(sp.Rule)), ":body": str(string(body)),
			},
		}},
		{Put: s.historyPut(sp.Tenant, sp.Since, "suspend", sp.By, body)},
	}})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if r.Code != nil && *r.Code == "ConditionalCheckFailed" {
				return false, nil
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("suspend tenant %s: %w", sp.Tenant, err)
	}
	return true, nil
}

// Unsuspend takes back a suspension that could not be carried out (sending not switched off,
// or the notification not sent), so that a retry of the event suspends and notifies again. It
// changes nothing when the state no longer holds that suspension.
func (s *Store) Unsuspend(ctx context.Context, sp outbound.Suspension) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": str(tenantPK(sp.Tenant)), "sk": str(skState)},
		ConditionExpression:       aws.String("suspended = :true AND since = :since"),
		UpdateExpression:          aws.String("SET suspended = :false"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true}, ":false": &types.AttributeValueMemberBOOL{Value: false}, ":since": str(sp.Since.UTC().Format(time.RFC3339Nano))},
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("take back the suspension of tenant %s: %w", sp.Tenant, err)
	}
	return nil
}

// Resume records that by resumed the tenant's sending at at, and raises its counter generation
// so that it starts with empty windows. It works whether or not the tenant was suspended (an
// operator may resume to be sure) and returns the new state.
func (s *Store) Resume(ctx context.Context, tenant, by string, at time.Time) (State, error) {
	if by == "" {
		return State{}, errors.New("resume: who resumes it is required")
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:        aws.String(s.table),
			Key:              map[string]types.AttributeValue{"pk": str(tenantPK(tenant)), "sk": str(skState)},
			UpdateExpression: aws.String("SET suspended = :false, resumedBy = :by, resumedAt = :at ADD generation :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":false": &types.AttributeValueMemberBOOL{Value: false}, ":by": str(by),
				":at": str(at.UTC().Format(time.RFC3339Nano)), ":one": num(1),
			},
		}},
		{Put: s.historyPut(tenant, at, "resume", by, nil)},
	}})
	if err != nil {
		return State{}, fmt.Errorf("resume tenant %s: %w", tenant, err)
	}
	return s.State(ctx, tenant)
}

func (s *Store) historyPut(tenant string, at time.Time, action, by string, detail []byte) *types.Put {
	item := map[string]types.AttributeValue{
		"pk": str(tenantPK(tenant)), "sk": str("HIST#" + at.UTC().Format(time.RFC3339Nano) + "#" + action),
		"action": str(action), "by": str(by), "time": str(at.UTC().Format(time.RFC3339Nano)),
		"expires": num(at.Add(HistoryTTL).Unix()),
	}
	if detail != nil {
		item["detail"] = str(string(detail))
	}
	return &types.Put{TableName: aws.String(s.table), Item: item}
}

// History returns a tenant's suspensions and resumes, newest first, at most limit (all when
// limit ≤ 0).
func (s *Store) History(ctx context.Context, tenant string, limit int) ([]Entry, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :hist)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(tenantPK(tenant)), ":hist": str("HIST#")},
		ScanIndexForward:          aws.Bool(false),
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(limit))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("history of tenant %s: %w", tenant, err)
	}
	var entries []Entry
	for _, it := range out.Items {
		var e Entry
		if v, ok := it["time"].(*types.AttributeValueMemberS); ok {
			e.Time, _ = time.Parse(time.RFC3339Nano, v.Value)
		}
		if v, ok := it["action"].(*types.AttributeValueMemberS); ok {
			e.Action = v.Value
		}
		if v, ok := it["by"].(*types.AttributeValueMemberS); ok {
			e.By = v.Value
		}
		if v, ok := it["detail"].(*types.AttributeValueMemberS); ok {
			var sp outbound.Suspension
			if err := json.Unmarshal([]byte(v.Value), &sp); err == nil {
				e.Detail = &sp
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Claim marks an event (outbound.Event.Key) as being counted: true the first time, false for a
// duplicate. Release takes a claim back when counting failed, so that the retry counts it.
func (s *Store) Claim(ctx context.Context, key string, now time.Time) (bool, error) {
	// The claim carries a token of this call: when the SDK retries a put whose answer was lost,
	// the condition fails on our own claim, which the token tells apart from another's.
	token := rand.Text()
	k := map[string]types.AttributeValue{"pk": str("OUT#SEEN#" + key), "sk": str("-")}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                map[string]types.AttributeValue{"pk": k["pk"], "sk": k["sk"], "token": str(token), "expires": num(now.Add(7 * 24 * time.Hour).Unix())},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: k, ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return false, fmt.Errorf("claim event %s: %w", key, gerr)
		}
		mine, _ := out.Item["token"].(*types.AttributeValueMemberS)
		return mine != nil && mine.Value == token, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim event %s: %w", key, err)
	}
	return true, nil
}

// Release removes a claim.
func (s *Store) Release(ctx context.Context, key string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       map[string]types.AttributeValue{"pk": str("OUT#SEEN#" + key), "sk": str("-")},
	})
	if err != nil {
		return fmt.Errorf("release event %s: %w", key, err)
	}
	return nil
}
