package digest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// State keeps the digest's progress in the Policies table, one partition per domain:
//
//	pk "DIGEST#<domain>"  sk "DOMAIN"            scanned  (RFC 3339 UTC) end of the last complete digest scan
//	                                             slot     "YYYY-MM-DDTHH" of the last complete digest run
//	                                             expired  (RFC 3339 UTC) records older than this were checked for expiry
//	pk "DIGEST#<domain>"  sk "RCPT#<recipient>"  mark     (RFC 3339 UTC, nanoseconds) the newest quarantine time a
//	                                                      digest to the recipient listed (the watermark)
//	                                             sent     (RFC 3339 UTC) when that digest was sent
//
// Domains and recipients are lower case. The items hold no subjects or senders.
type State struct {
	db    DB
	table string
}

// DB is the part of the DynamoDB client State uses; *dynamodb.Client satisfies it.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// NewState returns the digest state kept in the Policies table.
func NewState(db DB, table string) *State { return &State{db: db, table: table} }

// DomainState is a domain's progress.
type DomainState struct {
	Scanned time.Time
	Slot    string
	Expired time.Time
}

func key(domain, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "DIGEST#" + strings.ToLower(domain)},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func (s *State) get(ctx context.Context, domain, sk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(domain, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read digest state of %s: %w", domain, err)
	}
	return out.Item, nil
}

func timeAttr(item map[string]types.AttributeValue, name string) time.Time {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		t, err := time.Parse(time.RFC3339Nano, v.Value)
		if err == nil {
			return t
		}
	}
	return time.Time{}
}

func (s *State) set(ctx context.Context, domain, sk string, attrs map[string]string) error {
	var sets []string
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	i := 0
	for k, v := range attrs {
		sets = append(sets, fmt.Sprintf("#a%d = :v%d", i, i))
		names[fmt.Sprintf("#a%d", i)] = k
		values[fmt.Sprintf(":v%d", i)] = &types.AttributeValueMemberS{Value: v}
		i++
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(domain, sk),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("write digest state of %s: %w", domain, err)
	}
	return nil
}

// Domain returns a domain's progress; zero before its first run.
func (s *State) Domain(ctx context.Context, domain string) (DomainState, error) {
	it, err := s.get(ctx, domain, "DOMAIN")
	if err != nil {
		return DomainState{}, err
	}
	d := DomainState{Scanned: timeAttr(it, "scanned"), Expired: timeAttr(it, "expired")}
	if v, ok := it["slot"].(*types.AttributeValueMemberS); ok {
		d.Slot = v.Value
	}
	return d, nil
}

// SetScanned records a complete digest run for slot that scanned up to t.
func (s *State) SetScanned(ctx context.Context, domain, slot string, t time.Time) error {
	return s.set(ctx, domain, "DOMAIN", map[string]string{"scanned": t.UTC().Format(time.RFC3339Nano), "slot": slot})
}

// SetExpired records that records older than t were checked for expiry.
func (s *State) SetExpired(ctx context.Context, domain string, t time.Time) error {
	return s.set(ctx, domain, "DOMAIN", map[string]string{"expired": t.UTC().Format(time.RFC3339Nano)})
}

// Mark returns a recipient's watermark; zero before the first digest.
func (s *State) Mark(ctx context.Context, domain, rcpt string) (time.Time, error) {
	it, err := s.get(ctx, domain, "RCPT#"+strings.ToLower(rcpt))
	if err != nil {
		return time.Time{}, err
	}
	return timeAttr(it, "mark"), nil
}

// SetMark records the watermark of a digest sent to a recipient at sent.
func (s *State) SetMark(ctx context.Context, domain, rcpt string, mark, sent time.Time) error {
	if mark.IsZero() {
		return errors.New("zero watermark")
	}
	return s.set(ctx, domain, "RCPT#"+strings.ToLower(rcpt), map[string]string{
		"mark": mark.UTC().Format(time.RFC3339Nano), "sent": sent.UTC().Format(time.RFC3339Nano),
	})
}
