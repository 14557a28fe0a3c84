package policystore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB's batch limits.
const (
	writeBatch = 25
	getBatch   = 100
	// batchAttempts bounds the retries of items DynamoDB left unprocessed (throttling).
	batchAttempts = 8
)

// writeAll runs the write requests in batches of 25, retrying unprocessed items with backoff.
// The requests must not name one key twice.
func (s *Store) writeAll(ctx context.Context, reqs []types.WriteRequest) error {
	for start := 0; start < len(reqs); start += writeBatch {
		batch := reqs[start:min(start+writeBatch, len(reqs))]
		for attempt := 0; len(batch) > 0; attempt++ {
			if attempt == batchAttempts {
				return fmt.Errorf("batch write: %d items still unprocessed after %d attempts (throttled)", len(batch), attempt)
			}
			if attempt > 0 {
				if err := s.pause(ctx, attempt-1); err != nil {
					return err
				}
			}
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: batch},
			})
			if err != nil {
				return fmt.Errorf("batch write: %w", err)
			}
			batch = out.UnprocessedItems[s.table]
		}
	}
	return nil
}

// getAll reads the items with the given keys in batches of 100, retrying unprocessed keys
// with backoff, and calls found for each item that exists. The keys must be distinct.
func (s *Store) getAll(ctx context.Context, keys []map[string]types.AttributeValue, projection string, found func(map[string]types.AttributeValue)) error {
	for start := 0; start < len(keys); start += getBatch {
		ka := &types.KeysAndAttributes{Keys: keys[start:min(start+getBatch, len(keys))]}
		if projection != "" {
			ka.ProjectionExpression = aws.String(projection)
		}
		for attempt := 0; ka != nil && len(ka.Keys) > 0; attempt++ {
			if attempt == batchAttempts {
				return fmt.Errorf("batch get: %d keys still unprocessed after %d attempts (throttled)", len(ka.Keys), attempt)
			}
			if attempt > 0 {
				if err := s.pause(ctx, attempt-1); err != nil {
					return err
				}
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.table: *ka},
			})
			if err != nil {
				return fmt.Errorf("batch get: %w", err)
			}
			for _, it := range out.Responses[s.table] {
				found(it)
			}
			next, ok := out.UnprocessedKeys[s.table]
			if !ok {
				break
			}
			ka = &next
		}
	}
	return nil
}

// queryAll runs a query to its end, calling page for each page of items.
func (s *Store) queryAll(ctx context.Context, in *dynamodb.QueryInput, page func([]map[string]types.AttributeValue) error) error {
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return err
		}
		if err := page(out.Items); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
