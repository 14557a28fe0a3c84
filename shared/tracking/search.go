package tracking

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Page sizes of Search.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Query selects records for Search. Every field is optional; set fields all have to match.
// Addresses, domains and IPs match whole values, ignoring case.
type Query struct {
	// Since and Until bound the records' time: Since ≤ time < Until. A zero Until is now; a
	// zero Since is Until minus the store's TTL, the oldest a record can be.
	Since, Until time.Time
	Sender       string // envelope sender
	Recipient    string
	Domain       string // served domain: the recipient's (inbound) or the sender's (outbound)
	ClientIP     string
	Traffic      Traffic
	Direction    Direction
	Limit        int    // records per page: DefaultLimit when 0, at most MaxLimit
	Cursor       string // Page.Cursor of the previous page; empty for the first page
}

// Page is one page of search results, newest first.
type Page struct {
	Records []Record `json:"records"`
	// Cursor fetches the next page; empty on the last page. It is only valid with the same
	// Query. A non-empty cursor can lead to an empty last page.
	Cursor string `json:"cursor,omitempty"`
}

// ErrInvalidCursor is returned for a cursor that this store did not make for this query.
var ErrInvalidCursor = errors.New("invalid search cursor")

// plan is how Search reads: one index, the partition to read (per day for byTime), and a
// filter for the other conditions.
type plan struct {
	index     string
	part      string // the index's partition attribute
	value     string // its value; byTime reads the days from first back to last
	first     time.Time
	last      time.Time
	lo, hi    string // gsiTime BETWEEN lo AND hi selects [Since, Until)
	filter    string
	names     map[string]string
	values    map[string]types.AttributeValue
	limit     int
	emptyTime bool // Since == Until: nothing to read
}

func (p plan) byTime() bool { return p.index == "byTime" }

// planQuery picks the index for q: the most selective of recipient, sender, client IP and
// domain that is set, otherwise byTime; other conditions become a filter expression.
func planQuery(q Query, now time.Time, ttl time.Duration) (plan, error) {
	until := q.Until
	if until.IsZero() {
		until = now
	}
	since := q.Since
	if since.IsZero() {
		since = until.Add(-ttl)
	}
	if until.Before(since) {
		return plan{}, fmt.Errorf("until %s is before since %s", until.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339))
	}
	p := plan{
		lo: timeKey(since), hi: timeKey(until),
		first: dayStart(until.Add(-time.Nanosecond)), last: dayStart(since),
		names:     map[string]string{"#part": "", "#time": "gsiTime"},
		values:    map[string]types.AttributeValue{},
		limit:     q.Limit,
		emptyTime: !since.Before(until),
	}
	switch {
	case q.Limit == 0:
		p.limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return plan{}, fmt.Errorf("limit %d is out of range: 1 to %d", q.Limit, MaxLimit)
	}
	switch q.Traffic {
	case "", Accepted, Blocked:
	default:
		return plan{}, fmt.Errorf("traffic %q is not one of %s, %s", q.Traffic, Accepted, Blocked)
	}
	switch q.Direction {
	case "", Inbound, Outbound:
	default:
		return plan{}, fmt.Errorf("direction %q is not one of %s, %s", q.Direction, Inbound, Outbound)
	}
	keys := []struct{ attr, value, index string }{
		{"recipient", recipientKey(q.Recipient), "byRecipient"},
		{"sender", recipientKey(q.Sender), "bySender"},
		{"clientIP", clientIPKey(q.ClientIP), "byClientIP"},
		{"domain", strings.ToLower(strings.TrimSpace(q.Domain)), "byDomain"},
		{"traffic", string(q.Traffic), ""},
		{"direction", string(q.Direction), ""},
	}
	var conds []string
	for _, k := range keys {
		if k.value == "" {
			continue
		}
		if p.index == "" && k.index != "" {
			p.index, p.part, p.value = k.index, k.attr, k.value
			continue
		}
		n := len(conds)
		p.names[fmt.Sprintf("#f%d", n)] = k.attr
		p.values[fmt.Sprintf(":f%d", n)] = &types.AttributeValueMemberS{Value: k.value}
		conds = append(conds, fmt.Sprintf("#f%d = :f%d", n, n))
	}
	if p.index == "" {
		p.index, p.part = "byTime", "gsiDay"
	}
	p.names["#part"] = p.part
	p.filter = strings.Join(conds, " AND ")
	return p, nil
}

// cursor is what Page.Cursor carries: the index (to refuse a cursor of another search), the
// byTime day being read, and DynamoDB's LastEvaluatedKey (all its attributes are strings).
type cursor struct {
	Index string            `json:"i"`
	Day   string            `json:"d,omitempty"`
	Key   map[string]string `json:"k,omitempty"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrInvalidCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Index == "" {
		return cursor{}, ErrInvalidCursor
	}
	return c, nil
}

// start checks a decoded cursor against the plan and returns the day and key to resume at.
func (p plan) start(c cursor) (time.Time, map[string]types.AttributeValue, error) {
	if c.Index != p.index {
		return time.Time{}, nil, ErrInvalidCursor
	}
	day := p.first
	if p.byTime() {
		d, err := time.Parse(dayLayout, c.Day)
		if err != nil || d.After(p.first) || d.Before(p.last) {
			return time.Time{}, nil, ErrInvalidCursor
		}
		day = d
	} else if c.Day != "" {
		return time.Time{}, nil, ErrInvalidCursor
	}
	if len(c.Key) == 0 {
		return day, nil, nil
	}
	key := map[string]types.AttributeValue{}
	for _, a := range []string{"pk", "sk", p.part, "gsiTime"} {
		v, ok := c.Key[a]
		if !ok {
			return time.Time{}, nil, ErrInvalidCursor
		}
		key[a] = &types.AttributeValueMemberS{Value: v}
	}
	if len(key) != len(c.Key) {
		return time.Time{}, nil, ErrInvalidCursor
	}
	return day, key, nil
}

// keyOf is the index key of a stored item, to resume a query right after it.
func keyOf(it map[string]types.AttributeValue, part string) map[string]types.AttributeValue {
	key := map[string]types.AttributeValue{}
	for _, a := range []string{"pk", "sk", part, "gsiTime"} {
		key[a] = it[a]
	}
	return key
}

func keyStrings(key map[string]types.AttributeValue) map[string]string {
	m := make(map[string]string, len(key))
	for a, v := range key {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			m[a] = s.Value
		}
	}
	return m
}

// Search returns a page of the records that match q, newest first. It reads one index: by
// recipient, sender, client IP or domain when one is set (in that order of preference),
// otherwise byTime, one day at a time from Until back to Since. Any time range works; long
// ranges take more pages, not bigger ones.
func (s *Store) Search(ctx context.Context, q Query) (Page, error) {
	p, err := planQuery(q, s.now(), s.ttl)
	if err != nil {
		return Page{}, fmt.Errorf("search tracking: %w", err)
	}
	page := Page{Records: []Record{}}
	if p.emptyTime {
		return page, nil
	}
	day, key := p.first, map[string]types.AttributeValue(nil)
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err == nil {
			day, key, err = p.start(c)
		}
		if err != nil {
			return Page{}, fmt.Errorf("search tracking: %w", err)
		}
	}
	for {
		value := p.value
		if p.byTime() {
			value = day.Format(dayLayout)
		}
		values := map[string]types.AttributeValue{
			":part": &types.AttributeValueMemberS{Value: value},
			":lo":   &types.AttributeValueMemberS{Value: p.lo},
			":hi":   &types.AttributeValueMemberS{Value: p.hi},
		}
		for k, v := range p.values {
			values[k] = v
		}
		need := p.limit - len(page.Records)
		in := &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(p.index),
			KeyConditionExpression:    aws.String("#part = :part AND #time BETWEEN :lo AND :hi"),
			ExpressionAttributeNames:  p.names,
			ExpressionAttributeValues: values,
			ScanIndexForward:          aws.Bool(false),
			ExclusiveStartKey:         key,
		}
		if p.filter != "" {
			// A filter is applied after Limit; read a full page (1 MB) and cut it below.
			in.FilterExpression = aws.String(p.filter)
		} else {
			in.Limit = aws.Int32(int32(need))
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return Page{}, fmt.Errorf("search tracking: %w", err)
		}
		items, next := out.Items, out.LastEvaluatedKey
		if len(items) > need {
			items = items[:need]
			next = keyOf(items[need-1], p.part)
		}
		for _, it := range items {
			rec, err := unmarshal(it)
			if err != nil {
				return Page{}, fmt.Errorf("search tracking: %w", err)
			}
			page.Records = append(page.Records, rec)
		}
		key = next
		if len(key) == 0 {
			if !p.byTime() || !day.After(p.last) {
				return page, nil // every partition read
			}
			day = day.AddDate(0, 0, -1)
		}
		if len(page.Records) == p.limit {
			c := cursor{Index: p.index, Key: keyStrings(key)}
			if p.byTime() {
				c.Day = day.Format(dayLayout)
			}
			page.Cursor = encodeCursor(c)
			return page, nil
		}
	}
}
