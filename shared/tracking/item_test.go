package tracking

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/moatmail/moat/shared/verdict"
)

func TestGSITimeSortsByTime(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// Times whose RFC3339Nano forms would sort wrongly (trailing zeros dropped), across a
	// time zone and a day boundary.
	times := []time.Time{
		base,
		base.Add(500 * time.Millisecond),
		base.Add(time.Nanosecond),
		base.Add(time.Second),
		base.Add(-time.Nanosecond),
		base.In(time.FixedZone("X", 5*3600)).Add(time.Microsecond),
		time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
	}
	var keys []string
	for i, tm := range times {
		keys = append(keys, gsiTime(tm, "m"+string(rune('a'+i)), "r@example.com"))
	}
	byKey := slices.Clone(keys)
	sort.Strings(byKey)
	byTime := slices.Clone(times)
	slices.SortFunc(byTime, func(a, b time.Time) int { return a.Compare(b) })
	for i, tm := range byTime {
		want := keys[slices.IndexFunc(times, func(x time.Time) bool { return x.Equal(tm) })]
		if byKey[i] != want {
			t.Errorf("position %d: key %s, want %s", i, byKey[i], want)
		}
	}
	if got := gsiTime(base, "id-1", "bob@example.com"); got != "2026-11-22T10:00:00.000000000Z#id-1#bob@example.com" {
		t.Errorf("gsiTime = %s", got)
	}
}

// keys are the key and index attributes of an item.
type keys struct {
	PK, SK, GSIDay, SenderKey, RecipientKey, Domain, ClientIP string
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want keys
	}{
		{
			name: "inbound, mixed case",
			rec: Record{MessageID: "abc", Recipient: "Bob@Example.COM", Sender: "Alice@Sender.Example",
				ClientIP: "203.0.113.7", Direction: Inbound, Time: time.Date(2026, 11, 22, 23, 59, 59, 0, time.FixedZone("Y", -3600))},
			want: keys{PK: "MSG#abc", SK: "RCPT#bob@example.com", GSIDay: "2026-11-23", SenderKey: "alice@sender.example",
				RecipientKey: "bob@example.com", Domain: "example.com", ClientIP: "203.0.113.7"},
		},
		{
			name: "outbound: the sender's domain",
			rec:  Record{MessageID: "abc", Recipient: "x@elsewhere.example", Sender: "Carol@Example.com", Direction: Outbound, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			want: keys{PK: "MSG#abc", SK: "RCPT#x@elsewhere.example", GSIDay: "2026-01-02", SenderKey: "carol@example.com",
				RecipientKey: "x@elsewhere.example", Domain: "example.com"},
		},
		{
			name: "null sender, IPv6 client",
			rec:  Record{MessageID: "abc", Recipient: "bob@example.com", ClientIP: "2001:DB8:0:0::1", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			want: keys{PK: "MSG#abc", SK: "RCPT#bob@example.com", GSIDay: "2026-01-02", RecipientKey: "bob@example.com",
				Domain: "example.com", ClientIP: "2001:db8::1"},
		},
		{
			name: "IPv4-mapped client",
			rec:  Record{MessageID: "abc", Recipient: "bob@example.com", ClientIP: "::ffff:192.0.2.1", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			want: keys{PK: "MSG#abc", SK: "RCPT#bob@example.com", GSIDay: "2026-01-02", RecipientKey: "bob@example.com",
				Domain: "example.com", ClientIP: "192.0.2.1"},
		},
	}
	s := New(nil, "t", 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := s.marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			str := func(a string) string {
				if v, ok := m[a].(*types.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			got := keys{PK: str("pk"), SK: str("sk"), GSIDay: str("gsiDay"), SenderKey: str("sender"),
				RecipientKey: str("recipient"), Domain: str("domain"), ClientIP: str("clientIP")}
			if got != tt.want {
				t.Errorf("keys = %+v\nwant   %+v", got, tt.want)
			}
			for _, a := range []string{"sender", "domain", "clientIP"} {
				if v, ok := m[a]; ok && str(a) == "" {
					t.Errorf("index attribute %s is present and empty: %v", a, v)
				}
			}
			if !strings.HasPrefix(str("gsiTime"), tt.rec.Time.UTC().Format(timeLayout)+"#abc#") {
				t.Errorf("gsiTime = %s", str("gsiTime"))
			}
			n, _ := m["expires"].(*types.AttributeValueMemberN)
			if want := tt.rec.Time.Add(DefaultTTL).Unix(); n == nil || n.Value != itoa(want) {
				t.Errorf("expires = %v, want %d", m["expires"], want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPlanQuery(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		q      Query
		index  string
		value  string
		filter []string // attributes in the filter
		err    string
	}{
		{name: "time only", q: Query{}, index: "byTime"},
		{name: "traffic only", q: Query{Traffic: Blocked}, index: "byTime", filter: []string{"traffic"}},
		{name: "recipient first", q: Query{Recipient: "Bob@Example.com", Sender: "a@b.example", Domain: "example.com"},
			index: "byRecipient", value: "bob@example.com", filter: []string{"sender", "domain"}},
		{name: "sender", q: Query{Sender: "A@B.example", Direction: Inbound}, index: "bySender", value: "a@b.example", filter: []string{"direction"}},
		{name: "client IP before domain", q: Query{ClientIP: "2001:DB8::1", Domain: "Example.com"}, index: "byClientIP", value: "2001:db8::1", filter: []string{"domain"}},
		{name: "domain", q: Query{Domain: "Example.com", Traffic: Accepted, Direction: Outbound}, index: "byDomain", value: "example.com", filter: []string{"traffic", "direction"}},
		{name: "bad traffic", q: Query{Traffic: "spam"}, err: `traffic "spam"`},
		{name: "bad direction", q: Query{Direction: "up"}, err: `direction "up"`},
		{name: "limit too big", q: Query{Limit: MaxLimit + 1}, err: "limit 1001"},
		{name: "negative limit", q: Query{Limit: -1}, err: "limit -1"},
		{name: "reversed range", q: Query{Since: now, Until: now.Add(-time.Hour)}, err: "is before since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planQuery(tt.q, now, DefaultTTL)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.index != tt.index || p.value != tt.value {
				t.Errorf("index %s = %q, want %s = %q", p.index, p.value, tt.index, tt.value)
			}
			var attrs []string
			for i := range len(tt.filter) + 3 {
				if a, ok := p.names["#f"+itoa(int64(i))]; ok {
					attrs = append(attrs, a)
				}
			}
			if !slices.Equal(attrs, tt.filter) {
				t.Errorf("filter on %v, want %v (%s)", attrs, tt.filter, p.filter)
			}
		})
	}
}

func TestPlanQueryTimeRange(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p, err := planQuery(Query{}, now, 3*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p.first.Format(dayLayout) != "2026-11-22" || p.last.Format(dayLayout) != "2026-11-19" {
		t.Errorf("default days %s back to %s", p.first.Format(dayLayout), p.last.Format(dayLayout))
	}
	if p.hi != "2026-11-22T12:00:00.000000000Z" || p.lo != "2026-11-19T12:00:00.000000000Z" {
		t.Errorf("default range %s .. %s", p.lo, p.hi)
	}
	// Until is exclusive: a range ending at midnight does not read the next day.
	p, _ = planQuery(Query{Since: now.AddDate(0, 0, -2), Until: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}, now, DefaultTTL)
	if p.first.Format(dayLayout) != "2026-11-21" || p.last.Format(dayLayout) != "2026-11-20" {
		t.Errorf("days %s back to %s", p.first.Format(dayLayout), p.last.Format(dayLayout))
	}
	p, _ = planQuery(Query{Since: now, Until: now}, now, DefaultTTL)
	if !p.emptyTime {
		t.Error("an empty range is not recognised")
	}
}

func TestCursor(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	byTime, _ := planQuery(Query{Since: now.AddDate(0, 0, -2), Until: now}, now, DefaultTTL)
	bySender, _ := planQuery(Query{Sender: "a@b.example"}, now, DefaultTTL)
	key := map[string]string{"pk": "MSG#1", "sk": "RCPT#x@example.com", "gsiDay": "2026-11-21", "gsiTime": "2026-11-21T01:00:00.000000000Z#1#x@example.com"}
	senderKey := map[string]string{"pk": "MSG#1", "sk": "RCPT#x@example.com", "sender": "a@b.example", "gsiTime": "t"}

	tests := []struct {
		name    string
		plan    plan
		cursor  string
		day     string
		wantKey bool
		err     bool
	}{
		{name: "byTime with key", plan: byTime, cursor: encodeCursor(cursor{Index: "byTime", Day: "2026-11-21", Key: key}), day: "2026-11-21", wantKey: true},
		{name: "byTime next day, no key", plan: byTime, cursor: encodeCursor(cursor{Index: "byTime", Day: "2026-11-20"}), day: "2026-11-20"},
		{name: "bySender", plan: bySender, cursor: encodeCursor(cursor{Index: "bySender", Key: senderKey}), wantKey: true},
		{name: "another index", plan: bySender, cursor: encodeCursor(cursor{Index: "byTime", Day: "2026-11-21", Key: key}), err: true},
		{name: "day out of range", plan: byTime, cursor: encodeCursor(cursor{Index: "byTime", Day: "2026-11-23"}), err: true},
		{name: "day before range", plan: byTime, cursor: encodeCursor(cursor{Index: "byTime", Day: "2026-11-19"}), err: true},
		{name: "missing key attribute", plan: bySender, cursor: encodeCursor(cursor{Index: "bySender", Key: map[string]string{"pk": "x"}}), err: true},
		{name: "extra key attribute", plan: bySender, cursor: encodeCursor(cursor{Index: "bySender", Key: map[string]string{"pk": "x", "sk": "y", "sender": "z", "gsiTime": "t", "subject": "s"}}), err: true},
		{name: "not base64", plan: byTime, cursor: "!!!", err: true},
		{name: "not JSON", plan: byTime, cursor: "bm90IGpzb24", err: true},
		{name: "empty object", plan: byTime, cursor: encodeCursor(cursor{}), err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decodeCursor(tt.cursor)
			var day time.Time
			var k map[string]types.AttributeValue
			if err == nil {
				day, k, err = tt.plan.start(c)
			}
			if tt.err {
				if !errors.Is(err, ErrInvalidCursor) {
					t.Fatalf("err = %v, want ErrInvalidCursor", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.day != "" && day.Format(dayLayout) != tt.day {
				t.Errorf("day = %s, want %s", day.Format(dayLayout), tt.day)
			}
			if (k != nil) != tt.wantKey {
				t.Errorf("key = %v, want one: %v", k, tt.wantKey)
			}
			if tt.wantKey {
				if got := keyStrings(k); len(got) != 4 || got["pk"] != "MSG#1" {
					t.Errorf("key = %v", got)
				}
			}
		})
	}
}

func TestRecordJSON(t *testing.T) {
	// The CLI prints records with --json: camelCase names, and they read back the same.
	rec := Record{
		MessageID: "m1", Recipient: "bob@example.com", Time: time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC),
		Direction: Inbound, Sender: "a@b.example", From: "a@b.example", Subject: "s", ClientIP: "192.0.2.1",
		Size: 10, Traffic: Blocked, Status: Quarantined, Action: verdict.Quarantine, BlockType: verdict.Permanent,
		Reasons: []verdict.Reason{{Code: verdict.Spam}}, Verdicts: map[string]string{"spam": "FAIL"},
		Key: "incoming/m1", QuarantineKey: "quarantine/m1", Events: []Event{{Time: time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC), Status: Quarantined}},
		Version: 2,
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"messageId", "recipient", "time", "direction", "sender", "from", "subject", "clientIP", "size",
		"traffic", "status", "action", "blockType", "reasons", "verdicts", "key", "quarantineKey", "events", "version"}
	got := slices.Sorted(maps.Keys(m))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("JSON names %v, want %v", got, want)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}
