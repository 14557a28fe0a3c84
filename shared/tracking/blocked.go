package tracking

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// IPCount is how many blocked records one client IP caused in a day.
type IPCount struct {
	IP    string `json:"ip"`
	Count int64  `json:"count"`
}

// BlockedIPs returns the client IPs of the blocked records created on day (UTC), most blocked
// first (ties by IP). It reads one counter item per IP, not the records.
func (s *Store) BlockedIPs(ctx context.Context, day time.Time) ([]IPCount, error) {
	d := dayOf(day)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: blockedIPPrefix + d}},
		ProjectionExpression:      aws.String("sk, #count"),
		ExpressionAttributeNames:  map[string]string{"#count": "count"},
	}
	counts := []IPCount{}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("blocked IPs of %s: %w", d, err)
		}
		var page []struct {
			IP    string `dynamodbav:"sk"`
			Count int64  `dynamodbav:"count"`
		}
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &page); err != nil {
			return nil, fmt.Errorf("blocked IPs of %s: decode: %w", d, err)
		}
		for _, c := range page {
			counts = append(counts, IPCount{IP: c.IP, Count: c.Count})
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	slices.SortFunc(counts, func(a, b IPCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.IP, b.IP))
	})
	return counts, nil
}
