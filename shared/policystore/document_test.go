package policystore

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/schema"
)

// newStore creates a Policies table in the emulator and a store over it.
func newStore(t *testing.T) (*Store, *dynamodb.Client, string) {
	t.Helper()
	cfg := awstest.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	table := awstest.Name(t, "policies")
	if err := awstest.CreateTable(t.Context(), db, schema.Policies, table); err != nil {
		t.Fatal(err)
	}
	return New(db, table), db, table
}

// doc is a small valid document.
func doc() *policy.Policy {
	p := policy.Default()
	p.Domains["example.com"] = policy.Domain{
		Settings:  policy.Settings{MaxRecipients: new(50)},
		Directory: true,
		Route:     &policy.Route{Type: "smtp", Host: "mail.example.com", Port: 587},
	}
	p.Senders = []policy.SenderEntry{{Pattern: "*@partner.example", List: policy.Approved, Domain: "example.com"}}
	p.IPs.Block = []string{"203.0.113.0/24"}
	return p
}

// big is a valid document whose compressed form needs several chunks: many sender entries
// with random (incompressible) names.
func big(entries int) *policy.Policy {
	r := rand.New(rand.NewChaCha8([32]byte{7}))
	p := doc()
	for range entries {
		b := make([]byte, 60)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		p.Senders = append(p.Senders, policy.SenderEntry{
			Pattern: "*@" + hex.EncodeToString(b[:12]) + ".example.net",
			List:    policy.Blocked,
			Comment: hex.EncodeToString(b[12:]),
		})
	}
	return p
}

// items returns the sort keys of the document's items in the table.
func items(t *testing.T, db *dynamodb.Client, table string) []string {
	t.Helper()
	out, err := db.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: docPK}},
		ProjectionExpression:      aws.String("sk"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var sks []string
	for _, it := range out.Items {
		sks = append(sks, str(it["sk"]))
	}
	return sks
}

func TestDocument(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()

	p, v, err := s.Get(ctx)
	if err != nil || v != 0 {
		t.Fatalf("Get before any Put = version %d, %v", v, err)
	}
	if diff := cmp.Diff(policy.Default(), p); diff != "" {
		t.Errorf("Get before any Put is not the default (-want +got):\n%s", diff)
	}

	v, err = s.Put(ctx, doc(), 0)
	if err != nil || v != 1 {
		t.Fatalf("first Put = %d, %v; want version 1", v, err)
	}
	p, v, err = s.Get(ctx)
	if err != nil || v != 1 {
		t.Fatalf("Get = version %d, %v", v, err)
	}
	if diff := cmp.Diff(doc(), p); diff != "" {
		t.Errorf("Get after Put (-want +got):\n%s", diff)
	}

	// Someone who read version 0 (or guesses a future version) lost the race.
	for _, expect := range []int{0, 2} {
		if _, err := s.Put(ctx, doc(), expect); !errors.Is(err, ErrConflict) {
			t.Errorf("Put expecting version %d over version 1: %v, want ErrConflict", expect, err)
		}
	}

	changed := doc()
	changed.Defaults.Aggressiveness = new(4)
	if v, err = s.Put(ctx, changed, 1); err != nil || v != 2 {
		t.Fatalf("Put expecting version 1 = %d, %v; want 2", v, err)
	}
	p, v, _ = s.Get(ctx)
	if v != 2 || *p.Defaults.Aggressiveness != 4 {
		t.Errorf("Get = version %d, aggressiveness %d; want 2, 4", v, *p.Defaults.Aggressiveness)
	}

	// An invalid document is refused with the problem named, and nothing changes.
	bad := doc()
	bad.Senders = append(bad.Senders, policy.SenderEntry{Pattern: "*@*", List: policy.Blocked})
	_, err = s.Put(ctx, bad, 2)
	var verr *policy.ValidationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), `senders[1].pattern: "*@*"`) {
		t.Errorf("Put of an invalid document: %v, want a validation error naming senders[1].pattern", err)
	}
	if _, v, _ := s.Get(ctx); v != 2 {
		t.Errorf("version %d after a refused Put, want 2", v)
	}
	if _, err := s.Put(ctx, nil, 2); err == nil {
		t.Error("Put(nil) succeeded")
	}
}

func TestConcurrentPuts(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.Put(ctx, doc(), 0); err != nil {
		t.Fatal(err)
	}
	// Two administrators read version 1 and both save: exactly one wins.
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			p := doc()
			p.Defaults.MaxRecipients = new(100 + i)
			_, err := s.Put(ctx, p, 1)
			errs <- err
		}()
	}
	var won, lost int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			won++
		case errors.Is(err, ErrConflict):
			lost++
		default:
			t.Fatal(err)
		}
	}
	if won != 1 || lost != 1 {
		t.Errorf("%d Puts won and %d lost, want one each", won, lost)
	}
	if _, v, _ := s.Get(ctx); v != 2 {
		t.Errorf("version %d, want 2", v)
	}
}

func TestLargeDocumentInChunks(t *testing.T) {
	s, db, table := newStore(t)
	ctx := t.Context()
	large := big(12000)
	js, _ := json.Marshal(large)
	if len(js) < 1<<20 {
		t.Fatalf("test document is only %d bytes", len(js))
	}

	if _, err := s.Put(ctx, large, 0); err != nil {
		t.Fatal(err)
	}
	sks := items(t, db, table)
	if len(sks) < 3 || sks[0] != "CHUNK#0001" || sks[len(sks)-1] != headSK {
		t.Fatalf("stored items %v, want a header and at least two chunks", sks)
	}
	p, v, err := s.Get(ctx)
	if err != nil || v != 1 {
		t.Fatalf("Get = version %d, %v", v, err)
	}
	if !reflect.DeepEqual(large, p) { // cmp.Diff is slow on 12000 entries; use it to explain
		t.Errorf("large document round trip (-want +got):\n%s", cmp.Diff(large, p))
	}

	// A smaller large document, then a small one: stale chunks are deleted.
	smaller := big(6000)
	if _, err := s.Put(ctx, smaller, 1); err != nil {
		t.Fatal(err)
	}
	if got := items(t, db, table); len(got) != 3 || len(sks) != 4 {
		t.Errorf("after a smaller document: items %v (before %v)", got, sks)
	}
	if p, _, _ := s.Get(ctx); len(p.Senders) != len(smaller.Senders) {
		t.Errorf("Get = %d senders, want %d", len(p.Senders), len(smaller.Senders))
	}
	if _, err := s.Put(ctx, doc(), 2); err != nil {
		t.Fatal(err)
	}
	if got := items(t, db, table); len(got) != 1 || got[0] != headSK {
		t.Errorf("after a small document: items %v, want the header only", got)
	}
	if p, v, _ := s.Get(ctx); v != 3 || cmp.Diff(doc(), p) != "" {
		t.Errorf("Get = version %d, %d senders", v, len(p.Senders))
	}
}

func TestTooLargeDocument(t *testing.T) {
	s, db, table := newStore(t)
	s.maxChunks = 2 // as MaxChunks, with less data to compress
	_, err := s.Put(t.Context(), big(12000), 0)
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("Put of a document over the limit: %v, want too large", err)
	}
	if got := items(t, db, table); len(got) != 0 {
		t.Errorf("a refused Put left items %v", got)
	}
}

// A reader that meets chunks of another version (a Put between its reads) reads again, and
// gives up with ErrConflict if that keeps happening; damaged data is reported, not decoded.
func TestChunkGuards(t *testing.T) {
	s, db, table := newStore(t)
	ctx := t.Context()
	if _, err := s.Put(ctx, big(6000), 0); err != nil {
		t.Fatal(err)
	}
	update := func(expr string, names map[string]string, values map[string]types.AttributeValue) {
		t.Helper()
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: docKey(chunkSK(2)), UpdateExpression: aws.String(expr),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	update("SET #v = :v", map[string]string{"#v": "version"}, map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "2"}})
	if _, _, err := s.Get(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("Get with a chunk of another version: %v, want ErrConflict", err)
	}
	update("SET #v = :v, #d = :d", map[string]string{"#v": "version", "#d": "data"}, map[string]types.AttributeValue{
		":v": &types.AttributeValueMemberN{Value: "1"},
		":d": &types.AttributeValueMemberB{Value: []byte("garbage")},
	})
	if _, _, err := s.Get(ctx); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Get of damaged chunks: %v, want a checksum error", err)
	}
}
