package inbound

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/miekg/dns"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/reputation"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

// repEnv is a gateway in moto whose handler looks client IPs up in a dnsbltest server and
// pushes dynamic blocks to in-memory receipt filters (moto has none).
type repEnv struct {
	*env
	dns     *dnsbltest.Server
	filters *reputation.MemoryFilters
}

func newRepEnv(t *testing.T, policyDoc string, vars map[string]string) *repEnv {
	t.Helper()
	srv, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	zones, _ := dnsbl.Select(dnsbl.Catalogue(), "spamhaus-zen", "spamcop")
	for _, z := range zones {
		srv.TestPoints(z, "")
	}

	cfg := awstest.Config(t)
	res := awstest.Stack(t, cfg)
	e := &env{t: t, cfg: cfg, res: res, s3: awstest.S3(cfg), sqs: sqs.NewFromConfig(cfg)}
	all := res.Env()
	all["BOUNCE_SENDER"] = "mailer-daemon@example.com"
	all["BOUNCE_MODE"] = "dsn"
	all["POLICY_CACHE_SECONDS"] = "0"
	all["DNSBL_ZONES"] = "spamhaus-zen,spamcop"
	all["DNSBL_RESOLVER"] = srv.Addr()
	all["RECEIPT_FILTER_BUDGET"] = "10"
	for k, v := range vars {
		all[k] = v
	}
	c, err := LoadConfig(func(k string) string { return all[k] })
	if err != nil {
		t.Fatal(err)
	}
	awstest.VerifySender(t, cfg, "example.com")
	db := dynamodb.NewFromConfig(cfg)
	pol, err := policy.Parse([]byte(policyDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policystore.New(db, c.PolicyTable).Put(context.Background(), pol, 0); err != nil {
		t.Fatal(err)
	}
	e.h = New(c, Clients{S3: e.s3, DynamoDB: db, SQS: e.sqs, SES: ses.NewFromConfig(cfg)},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	e.h.Metrics = io.Discard
	if e.h.IP == nil || e.h.IP.DNSBL == nil || e.h.IP.Store == nil || e.h.IP.Syncer == nil {
		t.Fatalf("IP reputation not wired: %+v", e.h.IP)
	}
	filters := &reputation.MemoryFilters{}
	e.h.IP.Syncer.Filters = filters
	return &repEnv{env: e, dns: srv, filters: filters}
}

// mail builds a receipt event from a sample in events/ with another message ID, client IP and
// recipient, stores the message and returns the event.
func (e *repEnv) mail(sample, id, ip, rcpt string) events.SimpleEmailEvent {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", sample))
	if err != nil {
		e.t.Fatal(err)
	}
	var ev events.SimpleEmailEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		e.t.Fatal(err)
	}
	m := ev.Records[0].SES.Mail
	oldIP := netip.MustParseAddr(strings.Split(strings.Split(m.Headers[0].Value, "[")[1], "]")[0]).String()
	s := strings.NewReplacer(m.MessageID, id, oldIP, ip, "alice@example.com", rcpt).Replace(string(b))
	ev = events.SimpleEmailEvent{}
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		e.t.Fatal(err)
	}
	e.store(ev, "Hello.\r\n")
	return ev
}

func (e *repEnv) handle(ev events.SimpleEmailEvent) tracking.Record {
	e.t.Helper()
	if err := e.h.Handle(context.Background(), ev); err != nil {
		e.t.Fatal(err)
	}
	r := ev.Records[0].SES
	got := e.tracked(r.Mail.MessageID)[strings.ToLower(r.Receipt.Recipients[0])]
	if got.MessageID == "" {
		e.t.Fatalf("message %s not tracked", r.Mail.MessageID)
	}
	return got
}

func msgID(n int) string { return fmt.Sprintf("rep%037d", n) }

func TestDNSBLListingBlocks(t *testing.T) {
	e := newRepEnv(t, "domains:\n  example.com: {aggressiveness: 2}\n  example.org: {aggressiveness: 0}\n", nil)
	e.dns.ListIP("zen.spamhaus.org", "203.0.113.50", "127.0.0.2")
	e.dns.ListIP("bl.spamcop.net", "203.0.113.50")

	r := e.handle(e.mail("clean.json", msgID(1), "203.0.113.50", "alice@example.com"))
	if r.Action != verdict.Delete || r.BlockType != verdict.Permanent || r.Status != tracking.Deleted || !hasReason(r, verdict.DNSBLListed) {
		t.Errorf("listed on SBL at level 2: %s %s %s %v; want deleted, permanent, dnsbl-listed", r.Action, r.BlockType, r.Status, r.Reasons)
	}
	// Level 0 looks up and records, never blocks.
	r = e.handle(e.mail("clean.json", msgID(2), "203.0.113.50", "bob@example.org"))
	if r.Action != verdict.Deliver || r.Status != tracking.Queued || !hasReason(r, verdict.DNSBLNoted) || hasReason(r, verdict.DNSBLListed) {
		t.Errorf("level 0: %s %s %v; want delivered with dnsbl-noted", r.Action, r.Status, r.Reasons)
	}
	// A clean IP is delivered without DNSBL reasons.
	r = e.handle(e.mail("clean.json", msgID(3), "198.51.100.23", "alice@example.com"))
	if r.Action != verdict.Deliver || len(r.Reasons) != 0 {
		t.Errorf("clean IP: %s %v", r.Action, r.Reasons)
	}
	if n := e.dns.QueriesFor("50.113.0.203.zen.spamhaus.org."); n != 1 {
		t.Errorf("%d queries for the listed IP in ZEN, want 1 (cached for the second message)", n)
	}
}

func TestDNSBLFailures(t *testing.T) {
	doc := `domains:
  open.example: {aggressiveness: 2}
  closed.example: {aggressiveness: 2, failOpen: false}
  strict.example: {aggressiveness: 2, failOpen: false, failClosedOnTimeout: true}
`
	e := newRepEnv(t, doc, map[string]string{"DNSBL_TIMEOUT_MS": "150", "DNSBL_DEADLINE_MS": "1000"})
	e.dns.Drop("60.113.0.203.bl.spamcop.net.")                             // no answer: a timeout
	e.dns.SetRcode("61.113.0.203.bl.spamcop.net.", dns.RcodeServerFailure) // an error
	e.dns.ListIP("zen.spamhaus.org", "203.0.113.62", "127.255.255.254")    // an error code, never a listing

	for i, tc := range []struct {
		ip, rcpt string
		action   verdict.Action
		block    verdict.BlockType
		code     verdict.Code
	}{
		{"203.0.113.60", "a@open.example", verdict.Deliver, "", verdict.DNSBLTimeout},
		{"203.0.113.60", "a@closed.example", verdict.Deliver, "", verdict.DNSBLTimeout},
		{"203.0.113.60", "a@strict.example", verdict.Quarantine, verdict.Temporary, verdict.DNSBLTimeout},
		{"203.0.113.61", "a@open.example", verdict.Deliver, "", verdict.DNSBLError},
		{"203.0.113.61", "a@closed.example", verdict.Quarantine, verdict.Temporary, verdict.DNSBLError},
		{"203.0.113.62", "a@open.example", verdict.Deliver, "", verdict.DNSBLError},
		{"203.0.113.62", "a@closed.example", verdict.Quarantine, verdict.Temporary, verdict.DNSBLError},
	} {
		t.Run(tc.ip+" "+tc.rcpt, func(t *testing.T) {
			e.t = t
			id := msgID(400 + i)
			r := e.handle(e.mail("clean.json", id, tc.ip, tc.rcpt))
			if r.Action != tc.action || r.BlockType != tc.block || !hasReason(r, tc.code) || hasReason(r, verdict.DNSBLListed) {
				t.Errorf("got %s/%s %v; want %s/%s with %s", r.Action, r.BlockType, r.Reasons, tc.action, tc.block, tc.code)
			}
		})
	}
}

func TestDynamicBlock(t *testing.T) {
	// Level 4 blocks after 5 spam messages in a window; it is the only domain, so the block
	// also goes to SES's receipt filters.
	e := newRepEnv(t, "domains:\n  example.com: {aggressiveness: 4}\n", nil)
	spammer, other := "192.0.2.66", "192.0.2.67"
	start := time.Now()
	for i := range 5 {
		if e.filters.Blocks(netip.MustParseAddr(spammer)) {
			t.Fatalf("pushed to the receipt filters after %d spam messages", i)
		}
		r := e.handle(e.mail("spam-fail.json", msgID(100+i), spammer, "alice@example.com"))
		if !hasReason(r, verdict.Spam) || hasReason(r, verdict.IPDynamicBlock) {
			t.Fatalf("spam message %d: %v", i+1, r.Reasons)
		}
	}
	b, err := e.h.IP.Store.Active(context.Background(), netip.MustParseAddr(spammer), time.Now())
	if err != nil || b.Spam != 5 || b.Expires.Before(start.Add(reputation.DefaultBlockFor-time.Minute)) {
		t.Fatalf("block after 5 spam messages: %+v %v", b, err)
	}
	if !e.filters.Blocks(netip.MustParseAddr(spammer)) || e.filters.Blocks(netip.MustParseAddr(other)) {
		t.Errorf("receipt filters after the block: %v", must(e.filters.List(context.Background())))
	}

	// The next message from the IP, clean by SES's verdicts, is held by the dynamic block.
	r := e.handle(e.mail("clean.json", msgID(200), spammer, "alice@example.com"))
	if r.Action != verdict.Quarantine || r.BlockType != verdict.Temporary || !hasReason(r, verdict.IPDynamicBlock) || r.Status != tracking.Quarantined {
		t.Errorf("after the block: %s %s %s %v; want quarantined, temporary, ip-dynamic-block", r.Action, r.BlockType, r.Status, r.Reasons)
	}
	// Its neighbour is not.
	r = e.handle(e.mail("clean.json", msgID(201), other, "alice@example.com"))
	if r.Action != verdict.Deliver {
		t.Errorf("neighbour: %s %v", r.Action, r.Reasons)
	}
	// Clean mail is not counted.
	if n, _, _ := e.h.IP.Store.CountSpam(context.Background(), netip.MustParseAddr(other), time.Now()); n != 1 {
		t.Errorf("clean mail counted: %d", n)
	}
}

func TestDynamicBlockNotPushedBelowEveryDomainsLevel(t *testing.T) {
	// example.org at level 2 honours blocks from 20 spam messages: 5 block only for example.com,
	// so SES, which rejects for every domain, must not get the block.
	e := newRepEnv(t, "domains:\n  example.com: {aggressiveness: 4}\n  example.org: {aggressiveness: 2}\n", nil)
	ip := "192.0.2.70"
	for i := range 5 {
		e.handle(e.mail("spam-fail.json", msgID(300+i), ip, "alice@example.com"))
	}
	r := e.handle(e.mail("clean.json", msgID(310), ip, "bob@example.org"))
	if r.Action != verdict.Deliver || hasReason(r, verdict.IPDynamicBlock) {
		t.Errorf("level 2 domain: %s %v", r.Action, r.Reasons)
	}
	r = e.handle(e.mail("clean.json", msgID(311), ip, "alice@example.com"))
	if !hasReason(r, verdict.IPDynamicBlock) {
		t.Errorf("level 4 domain: %s %v", r.Action, r.Reasons)
	}
	if e.filters.Blocks(netip.MustParseAddr(ip)) {
		t.Error("a block that only level 4 honours was pushed to SES")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLoadReputationConfig(t *testing.T) {
	base := map[string]string{
		"MAIL_BUCKET": "b", "POLICY_TABLE": "p", "TRACKING_TABLE": "t", "DELIVERY_QUEUE_URL": "q",
		"BOUNCE_SENDER": "mailer-daemon@example.com",
	}
	load := func(vars map[string]string) (Config, error) {
		all := map[string]string{}
		for k, v := range base {
			all[k] = v
		}
		for k, v := range vars {
			all[k] = v
		}
		return LoadConfig(func(k string) string { return all[k] })
	}
	c, err := load(nil)
	if err != nil || len(c.Reputation.Zones) != 0 || c.Reputation.FilterBudget != 0 || c.Reputation.Deadline != DefaultDNSBLDeadline {
		t.Fatalf("without settings: no lookups, no filters: %+v %v", c.Reputation, err)
	}
	c, err = load(map[string]string{
		"DNSBL_ZONES": "default", "DNSBL_RESOLVER": "192.0.2.53", "RECEIPT_FILTER_BUDGET": "40",
		"DNSBL_EXTRA_ZONES": `[{"name":"local-bl","host":"bl.example.net","kind":"ip","codes":{"127.0.0.2":{"text":"local","listing":true,"severity":"high"}}}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Reputation.Zones) != len(DefaultZones)+1 || c.Reputation.Resolver != "192.0.2.53:53" || c.Reputation.FilterBudget != 40 || c.Reputation.FilterPrefix != reputation.DefaultFilterPrefix {
		t.Errorf("default zones plus one: %d zones, resolver %s, budget %d, prefix %s", len(c.Reputation.Zones), c.Reputation.Resolver, c.Reputation.FilterBudget, c.Reputation.FilterPrefix)
	}
	// Without a resolver of one's own or a DQS key, Spamhaus would refuse every query.
	c, err = load(map[string]string{"DNSBL_ZONES": "default", "RECEIPT_FILTER_PREFIX": "moat-prod-dyn-"})
	if err != nil || len(c.Reputation.Zones) != len(DefaultZones)-1 || c.Reputation.Zones[0].Name == "spamhaus-zen" || c.Reputation.FilterPrefix != "moat-prod-dyn-" {
		t.Errorf("default zones through AWS's resolver: %v %v", c.Reputation.Zones, err)
	}
	_, err = load(map[string]string{
		"DNSBL_ZONES": "spamcop,nosuch,spamhaus-dbl", "DNSBL_RESOLVER": "dns.google", "RECEIPT_FILTER_BUDGET": "150",
		"DNSBL_DEADLINE_MS": "soon", "DQS_KEY_PARAM": "my secret key", "RECEIPT_FILTER_PREFIX": "-moat.dyn",
	})
	for _, want := range []string{`DNSBL_ZONES "nosuch": unknown zone`, `DNSBL_ZONES "spamhaus-dbl": the zone lists domains`,
		`DNSBL_RESOLVER "dns.google"`, "RECEIPT_FILTER_BUDGET 150", `DNSBL_DEADLINE_MS "soon"`, `DQS_KEY_PARAM "my secret key"`, `RECEIPT_FILTER_PREFIX "-moat.dyn"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestPushThreshold(t *testing.T) {
	for doc, want := range map[string]int{
		"domains:\n  a.example: {aggressiveness: 4}\n":                                   5,
		"domains:\n  a.example: {aggressiveness: 4}\n  b.example: {}\n":                  20,
		"domains:\n  a.example: {aggressiveness: 4}\n  b.example: {aggressiveness: 0}\n": 0,
		"defaults: {aggressiveness: 1}\ndomains:\n  a.example: {}\n":                     50,
	} {
		p, err := policy.Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		c, err := policy.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := PushThreshold(c); got != want {
			t.Errorf("%s: PushThreshold = %d, want %d", doc, got, want)
		}
	}
}
