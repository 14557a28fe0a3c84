package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Store keeps the audit's state and history in the Reputation table (shared/schema), beside
// the filter's IP reputation items, under partition keys of its own.
//
// # Item types (table schema.Reputation: pk, sk, TTL attribute "expires")
//
// Current state, one item per monitored target, replaced by every run; targets no longer
// monitored are deleted:
//
//	pk       "AUDIT#TARGET"
//	sk       the target: an IP address (canonical form) or a domain, lower case
//	target, kind ("ip", "domain"), source (the CIDR or "ses-dedicated" it came from), asn,
//	asName, updated (RFC 3339), zones: a map of zone name → {status (this run: listed,
//	not-listed, error), known (the last listed or not-listed outcome), code, meaning, level,
//	asnListing, error, since (when known last changed)}
//
// Zone health, one item per zone:
//
//	pk "AUDIT#ZONE"   sk the zone name   zone, unusable (bool), reason, since
//
// History, with TTL (default 90 days):
//
//	pk "AUDIT#RUN"      sk <time>                 one per run: the counts (Run)
//	pk "AUDIT#HISTORY"  sk <time>#<nnnnn>         one per change: kind, zone, target, targets,
//	                                              level, code, meaning, asn, asName, delistURL,
//	                                              advice, time
//	expires  epoch seconds: the run's time + the history TTL
//
// <time> is the run's time in UTC with a fixed nine-digit fraction, so that byte order is
// time order. State items have no TTL: they are the baseline of the next run.
type Store struct {
	DB    DB
	Table string
	TTL   time.Duration // of history items; DefaultHistoryTTL if zero
}

// DefaultHistoryTTL is how long runs and changes are kept.
const DefaultHistoryTTL = 90 * 24 * time.Hour

// Partition keys of the store's items.
const (
	PKTarget  = "AUDIT#TARGET"
	PKZone    = "AUDIT#ZONE"
	PKRun     = "AUDIT#RUN"
	PKHistory = "AUDIT#HISTORY"
)

const timeKey = "2006-01-02T15:04:05.000000000Z"

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Run is the summary of one audit.
type Run struct {
	Time            time.Time `json:"time" dynamodbav:"time"`
	Targets         int       `json:"targets" dynamodbav:"targets"`
	Zones           int       `json:"zones" dynamodbav:"zones"`
	ListedTargets   int       `json:"listedTargets" dynamodbav:"listedTargets"`
	NetworkListings int       `json:"networkListings" dynamodbav:"networkListings"`
	Errors          int       `json:"errors" dynamodbav:"errors"`
	Changes         int       `json:"changes" dynamodbav:"changes"`
	Unusable        []string  `json:"unusable,omitempty" dynamodbav:"unusable,omitempty"` // zones
}

// Summary summarises a report and its changes.
func Summary(rep Report, changes []Change) Run {
	r := Run{Time: rep.Time, Targets: len(rep.Targets), Zones: len(rep.Zones), Changes: len(changes)}
	r.ListedTargets, r.NetworkListings = rep.Listings()
	for _, z := range rep.Zones {
		r.Errors += z.Errors
		if z.Unusable != "" {
			r.Unusable = append(r.Unusable, z.Zone)
		}
	}
	return r
}

// HistoryEntry is a change as stored, with the time of its run.
type HistoryEntry struct {
	Time time.Time `json:"time" dynamodbav:"time"`
	Change
}

type key struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
}

// Load reads the current state. An empty table gives an empty state.
func (s *Store) Load(ctx context.Context) (State, error) {
	st := State{Targets: map[string]TargetState{}, Zones: map[string]ZoneState{}}
	err := s.query(ctx, PKTarget, true, 0, func(item map[string]types.AttributeValue) error {
		var ts TargetState
		if err := attributevalue.UnmarshalMap(item, &ts); err != nil {
			return err
		}
		st.Targets[ts.Target] = ts
		return nil
	})
	if err != nil {
		return State{}, fmt.Errorf("load audit state: %w", err)
	}
	err = s.query(ctx, PKZone, true, 0, func(item map[string]types.AttributeValue) error {
		var zs ZoneState
		if err := attributevalue.UnmarshalMap(item, &zs); err != nil {
			return err
		}
		st.Zones[zs.Zone] = zs
		return nil
	})
	if err != nil {
		return State{}, fmt.Errorf("load audit zones: %w", err)
	}
	return st, nil
}

// Save writes the next state (deleting the targets of prev it no longer holds), the run and
// its changes.
func (s *Store) Save(ctx context.Context, prev, next State, run Run, changes []Change) error {
	var reqs []types.WriteRequest
	put := func(k key, v any, expires int64) error {
		item, err := attributevalue.MarshalMap(v)
		if err != nil {
			return err
		}
		item["pk"] = &types.AttributeValueMemberS{Value: k.PK}
		item["sk"] = &types.AttributeValueMemberS{Value: k.SK}
		if expires > 0 {
			item["expires"] = &types.AttributeValueMemberN{Value: fmt.Sprint(expires)}
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		return nil
	}
	for name, ts := range next.Targets {
		if err := put(key{PKTarget, name}, ts, 0); err != nil {
			return fmt.Errorf("save audit state %s: %w", name, err)
		}
	}
	for name := range prev.Targets {
		if _, ok := next.Targets[name]; !ok {
			k, _ := attributevalue.MarshalMap(key{PKTarget, name})
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
	}
	for name, zs := range next.Zones {
		if err := put(key{PKZone, name}, zs, 0); err != nil {
			return fmt.Errorf("save audit zone %s: %w", name, err)
		}
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultHistoryTTL
	}
	at := run.Time.UTC()
	expires := at.Add(ttl).Unix()
	if err := put(key{PKRun, at.Format(timeKey)}, run, expires); err != nil {
		return fmt.Errorf("save audit run: %w", err)
	}
	for i, c := range changes {
		if err := put(key{PKHistory, fmt.Sprintf("%s#%05d", at.Format(timeKey), i)}, HistoryEntry{Time: at, Change: c}, expires); err != nil {
			return fmt.Errorf("save audit change: %w", err)
		}
	}
	return s.batchWrite(ctx, reqs)
}

// batchWrite writes in batches of 25, retrying unprocessed items a few times.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(25, len(reqs))
		batch := reqs[:n]
		reqs = reqs[n:]
		for attempt := 0; len(batch) > 0; attempt++ {
			if attempt == 5 {
				return fmt.Errorf("save audit: %d items left unprocessed after %d attempts", len(batch), attempt)
			}
			if attempt > 0 {
				select {
				case <-time.After(time.Duration(attempt*attempt) * 50 * time.Millisecond):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			out, err := s.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.Table: batch},
			})
			if err != nil {
				return fmt.Errorf("save audit: %w", err)
			}
			batch = out.UnprocessedItems[s.Table]
		}
	}
	return nil
}

// Runs returns the latest runs, newest first (limit ≤ 0: all kept).
func (s *Store) Runs(ctx context.Context, limit int) ([]Run, error) {
	var runs []Run
	err := s.query(ctx, PKRun, false, limit, func(item map[string]types.AttributeValue) error {
		var r Run
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return err
		}
		runs = append(runs, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit runs: %w", err)
	}
	return runs, nil
}

// History returns the latest changes, newest first (limit ≤ 0: all kept).
func (s *Store) History(ctx context.Context, limit int) ([]HistoryEntry, error) {
	var hs []HistoryEntry
	err := s.query(ctx, PKHistory, false, limit, func(item map[string]types.AttributeValue) error {
		var h HistoryEntry
		if err := attributevalue.UnmarshalMap(item, &h); err != nil {
			return err
		}
		hs = append(hs, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit history: %w", err)
	}
	return hs, nil
}

// query reads a partition page by page, up to limit items (≤ 0: all).
func (s *Store) query(ctx context.Context, pk string, forward bool, limit int, fn func(map[string]types.AttributeValue) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ScanIndexForward:          aws.Bool(forward),
	}
	n := 0
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(min(limit-n, 1000)))
		}
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, item := range out.Items {
			if err := fn(item); err != nil {
				return err
			}
			n++
		}
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && n >= limit) {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
