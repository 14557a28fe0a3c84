package tracking

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/verdict"
)

// newStore creates a Tracking table in the emulator and a store over it.
func newStore(t *testing.T) (*Store, *dynamodb.Client, string) {
	t.Helper()
	cfg := awstest.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	table := awstest.Name(t, "tracking")
	if err := awstest.CreateTable(t.Context(), db, schema.Tracking, table); err != nil {
		t.Fatal(err)
	}
	return New(db, table, 0), db, table
}

var t0 = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

func sample(id, rcpt string) Record {
	return Record{
		MessageID: id,
		Recipient: rcpt,
		Time:      t0,
		Direction: Inbound,
		Sender:    "News@Sender.Example",
		From:      "news@sender.example",
		Subject:   "Weekly news",
		ClientIP:  "203.0.113.7",
		Size:      4321,
		Traffic:   Accepted,
		Status:    Received,
		Action:    verdict.Deliver,
		Reasons:   []verdict.Reason{{Code: verdict.SenderApproved, Detail: "*@sender.example"}},
		Verdicts:  map[string]string{"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "GRAY", "dmarc": "PASS"},
		Key:       "incoming/" + id,
		Events:    []Event{{Time: t0, Status: Received, Detail: "deliver"}},
	}
}

func TestCreateGet(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	rec := sample("msg-1", "Bob@Example.com")

	created, err := s.Create(ctx, rec)
	if err != nil || !created {
		t.Fatalf("Create = %v, %v; want created", created, err)
	}
	again := rec
	again.Status = Quarantined
	created, err = s.Create(ctx, again)
	if err != nil || created {
		t.Fatalf("second Create = %v, %v; want not created and no error", created, err)
	}

	got, err := s.Get(ctx, "msg-1", "bob@EXAMPLE.com")
	if err != nil {
		t.Fatal(err)
	}
	want := rec
	want.Version = 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}

	if _, err := s.Get(ctx, "msg-1", "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing record: %v, want ErrNotFound", err)
	}
	if _, err := s.Create(ctx, Record{MessageID: "x"}); err == nil {
		t.Error("Create accepted a record without recipient and time")
	}
}

func TestByMessage(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	for _, r := range []string{"carol@example.com", "alice@example.com", "bob@example.org"} {
		if _, err := s.Create(ctx, sample("msg-2", r)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, sample("msg-3", "alice@example.com")); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ByMessage(ctx, "msg-2")
	if err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	for _, r := range recs {
		rcpts = append(rcpts, r.Recipient)
	}
	if want := []string{"alice@example.com", "bob@example.org", "carol@example.com"}; !slices.Equal(rcpts, want) {
		t.Errorf("ByMessage recipients = %v, want %v", rcpts, want)
	}
	if recs, err := s.ByMessage(ctx, "unknown"); err != nil || len(recs) != 0 {
		t.Errorf("ByMessage(unknown) = %v, %v; want none", recs, err)
	}
}

func TestUpdateRetriesOnConflict(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, sample("msg-4", "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := s.Update(ctx, "msg-4", "bob@example.com", func(r *Record) error {
		calls++
		if calls == 1 {
			// Another writer gets in between this read and its write.
			if err := s.SetStatus(ctx, "msg-4", "bob@example.com", Queued, "", t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		r.QuarantineKey = "quarantine/msg-4"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("fn called %d times, want 2 (once more after the conflict)", calls)
	}
	got, err := s.Get(ctx, "msg-4", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != Queued || got.QuarantineKey != "quarantine/msg-4" || got.Version != 3 {
		t.Errorf("after both writes: status %s, quarantine key %q, version %d; want queued, the key, 3", got.Status, got.QuarantineKey, got.Version)
	}
}

func TestUpdateGivesUp(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, sample("msg-5", "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := s.Update(ctx, "msg-5", "bob@example.com", func(r *Record) error {
		calls++
		if err := s.SetStatus(ctx, "msg-5", "bob@example.com", Deferred, fmt.Sprint(calls), t0); err != nil {
			t.Fatal(err)
		}
		r.Status = Delivered
		return nil
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Update under constant contention: %v, want ErrConflict", err)
	}
	if calls != updateAttempts {
		t.Errorf("fn called %d times, want %d", calls, updateAttempts)
	}
	got, _ := s.Get(ctx, "msg-5", "bob@example.com")
	if got.Status != Deferred || len(got.Events) != 1+updateAttempts {
		t.Errorf("the losing write landed: status %s, %d events", got.Status, len(got.Events))
	}
}

func TestUpdateErrors(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, sample("msg-6", "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stop")
	if err := s.Update(ctx, "msg-6", "bob@example.com", func(*Record) error { return errStop }); !errors.Is(err, errStop) {
		t.Errorf("fn's error: got %v", err)
	}
	if err := s.Update(ctx, "msg-6", "bob@example.com", func(r *Record) error { r.Recipient = "eve@example.com"; return nil }); err == nil {
		t.Error("Update let fn change the recipient")
	}
	if err := s.Update(ctx, "nope", "bob@example.com", func(*Record) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a missing record: %v, want ErrNotFound", err)
	}
	got, _ := s.Get(ctx, "msg-6", "bob@example.com")
	if got.Version != 1 {
		t.Errorf("version %d after failed updates, want 1", got.Version)
	}
}

func TestSetStatus(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, sample("msg-7", "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		st     Status
		detail string
	}{
		{Queued, ""},
		{Deferred, "451 4.7.1 try again later"},
		{Delivered, "250 2.0.0 Ok: queued as 4F2"},
	}
	for i, st := range steps {
		if err := s.SetStatus(ctx, "msg-7", "bob@example.com", st.st, st.detail, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, "msg-7", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Time: t0, Status: Received, Detail: "deliver"},
		{Time: t0.Add(time.Minute), Status: Queued},
		{Time: t0.Add(2 * time.Minute), Status: Deferred, Detail: "451 4.7.1 try again later"},
		{Time: t0.Add(3 * time.Minute), Status: Delivered, Detail: "250 2.0.0 Ok: queued as 4F2"},
	}
	if got.Status != Delivered {
		t.Errorf("status %s, want delivered", got.Status)
	}
	if diff := cmp.Diff(want, got.Events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// fixture is the 30 records of the search tests: three days, five senders, three client IPs,
// two domains, a third blocked, a fifth outbound.
func fixture(t *testing.T, s *Store) []Record {
	t.Helper()
	var recs []Record
	for i := range 30 {
		r := sample(fmt.Sprintf("m%02d", i), fmt.Sprintf("User%d@%s", i%4, []string{"example.com", "example.org"}[i%2]))
		r.Time = t0.Add(time.Duration(i) * 2 * time.Hour) // 2026-11-20 09:30 … 2026-11-22 19:30
		r.Sender = fmt.Sprintf("Sender%d@Mail.Example", i%5)
		r.ClientIP = fmt.Sprintf("198.51.100.%d", i%3)
		if i%3 == 0 {
			r.Traffic, r.Action, r.BlockType = Blocked, verdict.Quarantine, verdict.Permanent
		}
		if i%5 == 4 {
			r.Direction = Outbound
			r.Sender, r.Recipient = fmt.Sprintf("user%d@example.com", i%4), "someone@remote.example"
			r.ClientIP = ""
		}
		if ok, err := s.Create(t.Context(), r); err != nil || !ok {
			t.Fatalf("create %d: %v, %v", i, ok, err)
		}
		r.Version = 1
		recs = append(recs, r)
	}
	return recs
}

// searchAll follows the cursor to the end and returns every record and the page sizes.
func searchAll(t *testing.T, s *Store, q Query) ([]Record, []int) {
	t.Helper()
	var all []Record
	var sizes []int
	for range 100 {
		p, err := s.Search(t.Context(), q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		all = append(all, p.Records...)
		sizes = append(sizes, len(p.Records))
		if p.Cursor == "" {
			return all, sizes
		}
		q.Cursor = p.Cursor
	}
	t.Fatal("search did not end")
	return nil, nil
}

func ids(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.MessageID)
	}
	return out
}

// expect returns the IDs of the fixture records that match, newest first.
func expect(recs []Record, match func(Record) bool) []string {
	var out []string
	for i := len(recs) - 1; i >= 0; i-- {
		if match(recs[i]) {
			out = append(out, recs[i].MessageID)
		}
	}
	return out
}

func TestSearch(t *testing.T) {
	s, _, _ := newStore(t)
	recs := fixture(t, s)
	since, until := t0.Add(-time.Hour), t0.Add(3*24*time.Hour)
	domainOfRec := func(r Record) string {
		if r.Direction == Outbound {
			return domainOf(recipientKey(r.Sender))
		}
		return domainOf(recipientKey(r.Recipient))
	}
	tests := []struct {
		name  string
		q     Query
		match func(Record) bool
	}{
		{"everything", Query{}, func(Record) bool { return true }},
		{"by sender", Query{Sender: "SENDER2@mail.example"}, func(r Record) bool { return r.Sender == "Sender2@Mail.Example" }},
		{"by recipient", Query{Recipient: "user1@EXAMPLE.org"}, func(r Record) bool { return r.Recipient == "User1@example.org" }},
		{"by domain", Query{Domain: "Example.COM"}, func(r Record) bool { return domainOfRec(r) == "example.com" }},
		{"by client IP", Query{ClientIP: "198.51.100.1"}, func(r Record) bool { return r.ClientIP == "198.51.100.1" }},
		{"blocked", Query{Traffic: Blocked}, func(r Record) bool { return r.Traffic == Blocked }},
		{"outbound", Query{Direction: Outbound}, func(r Record) bool { return r.Direction == Outbound }},
		{"blocked from one IP at one domain", Query{ClientIP: "198.51.100.0", Domain: "example.com", Traffic: Blocked},
			func(r Record) bool {
				return r.ClientIP == "198.51.100.0" && domainOfRec(r) == "example.com" && r.Traffic == Blocked
			}},
		{"inbound accepted from a sender", Query{Sender: "sender1@mail.example", Traffic: Accepted, Direction: Inbound},
			func(r Record) bool {
				return r.Sender == "Sender1@Mail.Example" && r.Traffic == Accepted && r.Direction == Inbound
			}},
		{"no match", Query{Recipient: "nobody@example.com"}, func(Record) bool { return false }},
	}
	for _, tt := range tests {
		for _, limit := range []int{0, 4} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				q := tt.q
				q.Since, q.Until, q.Limit = since, until, limit
				got, sizes := searchAll(t, s, q)
				want := expect(recs, tt.match)
				if diff := cmp.Diff(want, ids(got)); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
				for i, n := range sizes {
					if limit > 0 && n > limit {
						t.Errorf("page %d has %d records, over the limit %d", i, n, limit)
					}
				}
			})
		}
	}
}

func TestSearchPagesAcrossDays(t *testing.T) {
	s, _, _ := newStore(t)
	recs := fixture(t, s)
	// Three days exactly: 2026-11-20 00:00 to 2026-11-23 00:00, seven records a page.
	q := Query{Since: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Limit: 7}
	got, sizes := searchAll(t, s, q)
	if diff := cmp.Diff(expect(recs, func(Record) bool { return true }), ids(got)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if want := []int{7, 7, 7, 7, 2}; !slices.Equal(sizes, want) {
		t.Errorf("page sizes %v, want %v", sizes, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.After(got[i-1].Time) {
			t.Errorf("record %d (%s) is newer than record %d", i, got[i].Time, i-1)
		}
	}
	if diff := cmp.Diff(recs[29], got[0]); diff != "" {
		t.Errorf("a record read through the index differs (-want +got):\n%s", diff)
	}

	// A window inside the days: from 2026-11-21 05:30 (record 10) to before 2026-11-22 03:30 (record 21).
	q = Query{Since: t0.Add(20 * time.Hour), Until: t0.Add(42 * time.Hour), Limit: 3}
	got, _ = searchAll(t, s, q)
	want := expect(recs, func(r Record) bool { return !r.Time.Before(q.Since) && r.Time.Before(q.Until) })
	if diff := cmp.Diff(want, ids(got)); diff != "" || len(want) != 11 {
		t.Errorf("window (-want +got):\n%s", diff)
	}

	// A range beyond the records is empty, not an error; an empty range too.
	for _, q := range []Query{
		{Since: t0.AddDate(0, 0, -30), Until: t0.AddDate(0, 0, -20)},
		{Since: t0, Until: t0},
	} {
		p, err := s.Search(t.Context(), q)
		if err != nil || len(p.Records) != 0 || p.Cursor != "" {
			t.Errorf("Search(%s..%s) = %d records, cursor %q, %v", q.Since, q.Until, len(p.Records), p.Cursor, err)
		}
	}
}

func TestSearchRefusesForeignCursor(t *testing.T) {
	s, _, _ := newStore(t)
	fixture(t, s)
	p, err := s.Search(t.Context(), Query{Sender: "sender0@mail.example", Since: t0, Until: t0.AddDate(0, 0, 3), Limit: 1})
	if err != nil || p.Cursor == "" {
		t.Fatalf("first page: %v, cursor %q", err, p.Cursor)
	}
	_, err = s.Search(t.Context(), Query{Since: t0, Until: t0.AddDate(0, 0, 3), Cursor: p.Cursor})
	if !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("a bySender cursor on a time search: %v, want ErrInvalidCursor", err)
	}
	_, err = s.Search(t.Context(), Query{Cursor: "garbage"})
	if !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("garbage cursor: %v, want ErrInvalidCursor", err)
	}
}

func TestBlockedIPs(t *testing.T) {
	s, db, table := newStore(t)
	ctx := t.Context()
	day2 := t0.AddDate(0, 0, 1)
	add := func(id, ip string, traffic Traffic, at time.Time) {
		t.Helper()
		r := sample(id, "bob@example.com")
		r.ClientIP, r.Traffic, r.Time = ip, traffic, at
		if _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		add(fmt.Sprintf("a%d", i), "192.0.2.1", Blocked, t0.Add(time.Duration(i)*time.Minute))
	}
	add("a0", "192.0.2.1", Blocked, t0) // SES delivered an event twice: counted once
	for i := range 3 {
		add(fmt.Sprintf("b%d", i), "2001:DB8::1", Blocked, t0)
	}
	for i := range 3 {
		add(fmt.Sprintf("c%d", i), "192.0.2.3", Blocked, t0)
	}
	add("d0", "192.0.2.4", Accepted, t0)                  // accepted: not counted
	add("e0", "", Blocked, t0)                            // no client IP
	add("f0", "192.0.2.1", Blocked, day2)                 // another day
	add("g0", "192.0.2.9", Blocked, t0.Add(14*time.Hour)) // 23:30 UTC, still day one

	got, err := s.BlockedIPs(ctx, t0.In(time.FixedZone("Z", -8*3600)))
	if err != nil {
		t.Fatal(err)
	}
	want := []IPCount{{"192.0.2.1", 5}, {"192.0.2.3", 3}, {"2001:db8::1", 3}, {"192.0.2.9", 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BlockedIPs day one (-want +got):\n%s", diff)
	}
	got, _ = s.BlockedIPs(ctx, day2)
	if diff := cmp.Diff([]IPCount{{"192.0.2.1", 1}}, got); diff != "" {
		t.Errorf("BlockedIPs day two (-want +got):\n%s", diff)
	}
	got, err = s.BlockedIPs(ctx, t0.AddDate(0, 0, 5))
	if err != nil || len(got) != 0 {
		t.Errorf("BlockedIPs of a quiet day = %v, %v", got, err)
	}

	// The counter item expires with the records of its day.
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "BLOCKEDIP#2026-11-20"}, "sk": &types.AttributeValueMemberS{Value: "192.0.2.1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := out.Item["expires"].(*types.AttributeValueMemberN)
	if want := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC).Add(DefaultTTL).Unix(); exp == nil || exp.Value != itoa(want) {
		t.Errorf("counter expires = %v, want %d", out.Item["expires"], want)
	}
}
