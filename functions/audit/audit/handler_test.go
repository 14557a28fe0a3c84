package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	fn "github.com/moatmail/moat/functions/audit/audit"
	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/dnsbl/dnsbltest"
	"github.com/moatmail/moat/shared/schema"
)

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{schema.Reputation.EnvVar: "rep", schema.Alerts.EnvVar: "arn:topic"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := fn.LoadConfig(env(fn.EnvTargets, `{"ips":["192.0.2.0/30"],"domains":["example.com"]}`,
		fn.EnvZones, "spamcop, uceprotect-3", fn.EnvResolver, "192.0.2.53", fn.EnvHistoryDays, "30"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Zones) != 2 || c.Zones[1].Name != "uceprotect-3" || c.Resolver != "192.0.2.53:53" || c.HistoryTTL != 30*24*time.Hour {
		t.Errorf("config %+v", c)
	}
	_, err = fn.LoadConfig(func(k string) string {
		return map[string]string{
			fn.EnvTargets: `{"ips":["10.0.0.0/8"]}`, fn.EnvZones: "spamcop,sorbs", fn.EnvResolver: "dns.example",
			fn.EnvMaxTargets: "0", fn.EnvDQSKeyParam: "/moat/dqs", fn.EnvDQSKeySecret: "moat/dqs",
			fn.EnvExtraZones: `[{"name":"spamcop","host":"x.example","kind":"ip"}]`,
		}[k]
	})
	for _, want := range []string{
		"REPUTATION_TABLE is not set", "ALERT_TOPIC_ARN is not set", `AUDIT_MAX_TARGETS "0"`,
		`AUDIT_TARGETS: ips[0] "10.0.0.0/8"`, `AUDIT_ZONES "spamcop,sorbs"`, `DNSBL_RESOLVER "dns.example"`,
		"DQS_KEY_PARAM and DQS_KEY_SECRET are both set", `zone "spamcop" is already in the catalogue`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if _, err := fn.LoadConfig(env()); err == nil || !strings.Contains(err.Error(), "nothing to audit") {
		t.Errorf("no targets: %v", err)
	}
}

// fakeSES plays the account's SES dedicated IPs, two pages (moto lacks GetDedicatedIps).
type fakeSES struct{ calls int }

func (f *fakeSES) GetDedicatedIps(_ context.Context, in *sesv2.GetDedicatedIpsInput, _ ...func(*sesv2.Options)) (*sesv2.GetDedicatedIpsOutput, error) {
	f.calls++
	if aws.ToString(in.NextToken) == "" {
		return &sesv2.GetDedicatedIpsOutput{DedicatedIps: []sestypes.DedicatedIp{{Ip: aws.String("198.51.100.7")}}, NextToken: aws.String("p2")}, nil
	}
	return &sesv2.GetDedicatedIpsOutput{DedicatedIps: []sestypes.DedicatedIp{{Ip: aws.String("198.51.100.8")}}}, nil
}

type rig struct {
	t      *testing.T
	srv    *dnsbltest.Server
	h      *fn.Handler
	sqs    *sqs.Client
	queue  string
	db     *dynamodb.Client
	table  string
	now    time.Time
	logs   *bytes.Buffer
	emf    *bytes.Buffer
	dqsKey string
	ssm    *ssm.Client
}

func newRig(t *testing.T) *rig {
	cfg := awstest.Config(t)
	res := awstest.Stack(t, cfg)
	ctx := context.Background()

	srv, err := dnsbltest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	const dqsKey = "abcdefghijklmnopqrstuvwxyz"
	for _, z := range dnsbl.Catalogue() {
		srv.TestPoints(z, dqsKey)
	}
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "198.51.100.7", "198.51.100.8"} {
		srv.SetTXT(dnsbl.ReverseIP(netip.MustParseAddr(ip))+".origin.asn.cymru.com", "64500 | "+ip[:strings.LastIndex(ip, ".")]+".0/24 | ZZ | ripencc | ")
	}
	srv.SetTXT("AS64500.asn.cymru.com", "64500 | ZZ | ripencc |  | EXAMPLE-NET, ZZ")

	// The targets: CIDR from the environment, a domain and the SES IPs from an SSM parameter.
	ps := ssm.NewFromConfig(cfg)
	targetsParam := "/" + awstest.Name(t, "audit-targets")
	dqsParam := "/" + awstest.Name(t, "dqs")
	for name, v := range map[string]string{
		targetsParam: `{"domains":["example.com"],"sesDedicatedIPs":true}`, dqsParam: dqsKey,
	} {
		if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(v),
			Type: ssmtypes.ParameterTypeSecureString}); err != nil {
			t.Fatal(err)
		}
	}

	// An SQS queue subscribed to the alert topic, to read what was published.
	q := sqs.NewFromConfig(cfg)
	queue := awstest.Subscribe(t, cfg, res.Topics[schema.Alerts.ID])

	env := res.Env()
	env[fn.EnvTargets] = `{"ips":["192.0.2.0/31"]}`
	env[fn.EnvTargetsParam] = targetsParam
	env[fn.EnvDQSKeyParam] = dqsParam
	env[fn.EnvResolver] = srv.Addr()
	env[fn.EnvTimeoutMS] = "300"
	env[fn.EnvStage] = "test"
	env[fn.EnvHistoryDays] = "7"
	c, err := fn.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, srv: srv, sqs: q, queue: queue, db: dynamodb.NewFromConfig(cfg),
		table: res.Tables[schema.Reputation.ID], now: time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC),
		logs: &bytes.Buffer{}, emf: &bytes.Buffer{}, dqsKey: dqsKey, ssm: ps}
	r.h = fn.New(c, fn.Clients{DynamoDB: r.db, SNS: sns.NewFromConfig(cfg), SSM: ps, SES: &fakeSES{}},
		slog.New(slog.NewJSONHandler(r.logs, nil)), r.emf)
	r.h.Now = func() time.Time { return r.now }
	return r
}

// run invokes the handler as EventBridge does and returns the alert published, if any.
func (r *rig) run() (fn.Result, *alert) {
	r.t.Helper()
	r.now = r.now.Add(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.h.Handle(ctx, scheduledEvent(r.t))
	if err != nil {
		r.t.Fatalf("Handle: %v", err)
	}
	out, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &r.queue, MaxNumberOfMessages: 10})
	if err != nil {
		r.t.Fatal(err)
	}
	switch len(out.Messages) {
	case 0:
		return res, nil
	case 1:
	default:
		r.t.Fatalf("%d alerts for one run", len(out.Messages))
	}
	m := out.Messages[0]
	if _, err := r.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &r.queue, ReceiptHandle: m.ReceiptHandle}); err != nil {
		r.t.Fatal(err)
	}
	var a alert
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &a); err != nil {
		r.t.Fatalf("SNS envelope %q: %v", aws.ToString(m.Body), err)
	}
	return res, &a
}

// scheduledEvent is the sample EventBridge event, decoded as Lambda decodes it.
func scheduledEvent(t *testing.T) events.CloudWatchEvent {
	t.Helper()
	b, err := os.ReadFile("../../../events/schedule/audit.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" {
		t.Fatalf("sample event %+v", ev)
	}
	return ev
}

type alert struct {
	Subject string
	Message string
}

func (r *rig) listIP(zoneHost, ip string, codes ...string) {
	host := zoneHost
	if zoneHost == "zen.spamhaus.org" {
		host = r.dqsKey + ".zen.dq.spamhaus.net"
	}
	r.srv.ListIP(host, ip, codes...)
}

// TestScheduledAudit runs the function against moto (state, history, SNS → SQS) and a local
// DNS server: listings alert once, an unchanged state alerts nobody, a delisting alerts again.
func TestScheduledAudit(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()

	// First run: one IP listed through DQS, the ASN on UCEPROTECT level 3, a domain on the DBL.
	r.listIP("zen.spamhaus.org", "192.0.2.1", "127.0.0.2")
	r.listIP("dnsbl-3.uceprotect.net", "192.0.2.1")
	r.listIP("dnsbl-3.uceprotect.net", "198.51.100.7")
	r.srv.ListDomain(r.dqsKey+".dbl.dq.spamhaus.net", "example.com", "127.0.1.2")
	res, a := r.run()
	if res.Targets != 5 || res.Zones != 12 || res.ListedTargets != 2 || res.NetworkListings != 2 || res.Errors != 0 || !res.Alerted {
		t.Errorf("result %+v", res)
	}
	if a == nil {
		t.Fatal("no alert for new listings")
	}
	if a.Subject != "Moat blocklist audit (test): 2 new listings, 1 new ASN listing" {
		t.Errorf("subject %q", a.Subject)
	}
	for _, want := range []string{
		"- 192.0.2.1 (AS64500 EXAMPLE-NET, ZZ) in spamhaus-zen: 127.0.0.2 Spamhaus SBL",
		"- example.com in spamhaus-dbl: 127.0.1.2",
		"- AS64500 EXAMPLE-NET, ZZ in uceprotect-3", "your IPs in it: 192.0.2.1, 198.51.100.7",
		"Do not pay for delisting", "UCEPROTECT level 3 to stop using it",
		"delisting: https://check.spamhaus.org",
	} {
		if !strings.Contains(a.Message, want) {
			t.Errorf("alert lacks %q:\n%s", want, a.Message)
		}
	}
	if strings.Contains(a.Message, r.dqsKey) || strings.Contains(r.logs.String(), r.dqsKey) {
		t.Error("the DQS key leaked into the alert or the logs")
	}

	// The state: every target, the SES dedicated IPs with their source.
	store := &audit.Store{DB: r.db, Table: r.table}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Targets) != 5 || st.Targets["198.51.100.8"].Source != audit.SESSource || st.Targets["192.0.2.0"].Source != "192.0.2.0/31" {
		t.Errorf("state targets %v", st.Targets)
	}
	if e := st.Targets["192.0.2.1"].Zones["spamhaus-zen"]; e.Known != dnsbl.Listed || e.Code != "127.0.0.2" {
		t.Errorf("state entry %+v", e)
	}
	if !strings.Contains(r.emf.String(), `"AuditListedTargets":2`) || !strings.Contains(r.emf.String(), `"Zone":"uceprotect-3"`) {
		t.Errorf("metrics:\n%s", r.emf)
	}

	// Second run, nothing changed: no alert, a run recorded.
	res, a = r.run()
	if a != nil || res.Alerted || res.Changes != 0 {
		t.Fatalf("alert without a change: %+v %+v", res, a)
	}

	// Third run after a delisting: one alert with the delisting only.
	r.srv.Delete(dnsbl.ReverseIP(netip.MustParseAddr("192.0.2.1")) + "." + r.dqsKey + ".zen.dq.spamhaus.net")
	res, a = r.run()
	if a == nil || res.Changes != 1 {
		t.Fatalf("delisting: %+v %+v", res, a)
	}
	if a.Subject != "Moat blocklist audit (test): 1 delisting" ||
		!strings.Contains(a.Message, "- 192.0.2.1 (AS64500 EXAMPLE-NET, ZZ) is no longer listed in spamhaus-zen (was 127.0.0.2") {
		t.Errorf("delisting alert %q:\n%s", a.Subject, a.Message)
	}

	// History: three runs and four changes, newest first, each with a TTL.
	runs, err := store.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Changes != 1 || runs[1].Changes != 0 || runs[2].Changes != 3 || !runs[0].Time.After(runs[1].Time) {
		t.Errorf("runs %+v", runs)
	}
	hist, err := store.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[0].Kind != audit.ChangeDelisted || hist[0].Target != "192.0.2.1" ||
		hist[1].Kind != audit.ChangeASNListed || len(hist[1].Targets) != 2 || hist[3].Kind != audit.ChangeListed {
		t.Errorf("history %+v", hist)
	}
	if h, _ := store.History(ctx, 2); len(h) != 2 {
		t.Errorf("history limit: %d", len(h))
	}
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{TableName: &r.table, KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: audit.PKHistory}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range out.Items {
		n, ok := item["expires"].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("history item without expires: %v", item)
		}
		day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC) // 2026-11-29 + 7 days
		if n.Value != fmt.Sprint(day.Add(7*time.Hour).Unix()) && n.Value != fmt.Sprint(day.Add(9*time.Hour).Unix()) {
			t.Errorf("expires %s", n.Value)
		}
	}

	// A target dropped from the configuration leaves the state without an alert.
	r.h.Config.Spec.IPs = nil
	res, a = r.run()
	if a != nil {
		t.Errorf("alert for a target no longer monitored: %s", a.Message)
	}
	if st, _ := store.Load(ctx); len(st.Targets) != 3 || res.Targets != 3 {
		t.Errorf("state after dropping the CIDR: %d targets", len(st.Targets))
	}
}

// A zone that becomes unusable (here: Spamhaus answering "public resolver" to its test points
// because the DQS key is missing) alerts once, as a zone problem, never as listings.
func TestUnusableZoneAlert(t *testing.T) {
	r := newRig(t)
	r.h.Config.DQSKeyParam = ""
	for _, tp := range []string{"2.0.0.127.zen.spamhaus.org", "1.0.0.127.zen.spamhaus.org"} {
		r.srv.Set(tp, dnsbltest.Record{A: []string{"127.255.255.254"}})
	}
	_, a := r.run()
	if a == nil {
		t.Fatal("no alert")
	}
	if !strings.Contains(a.Subject, "zones unusable") || !strings.Contains(a.Message, "- spamhaus-zen: zone unusable") ||
		!strings.Contains(a.Message, "configure a Spamhaus DQS key") || strings.Contains(a.Message, "NEWLY LISTED") {
		t.Errorf("alert %q:\n%s", a.Subject, a.Message)
	}
	if _, a := r.run(); a != nil {
		t.Errorf("second alert for the same unusable zone: %s", a.Subject)
	}
}

// The DQS key may come from Secrets Manager instead of SSM: queries then go through DQS too.
func TestDQSKeyFromSecretsManager(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(awstest.Config(t))
	name := awstest.Name(t, "dqs")
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(r.dqsKey + "\n")}); err != nil {
		t.Fatal(err)
	}
	r.h.Config.DQSKeyParam, r.h.Config.DQSKeySecret, r.h.Clients.Secrets = "", name, sm
	r.listIP("zen.spamhaus.org", "192.0.2.1", "127.0.0.3")
	res, a := r.run()
	if a == nil || res.Errors != 0 || !strings.Contains(a.Message, "- 192.0.2.1 (AS64500 EXAMPLE-NET, ZZ) in spamhaus-zen: 127.0.0.3") {
		t.Errorf("result %+v alert %+v", res, a)
	}
}

// Bad targets in the SSM parameter fail the run (EventBridge retries, then the dead-letter
// queue alarms), naming the parameter, the field and the value; nothing is stored.
func TestBadTargetsParameter(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	name := r.h.Config.TargetsParam
	if _, err := r.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Overwrite: aws.Bool(true),
		Value: aws.String(`{"ips":["192.0.2.0/16"],"domains":["localhost"]}`), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	_, err := r.h.Handle(ctx, scheduledEvent(t))
	for _, want := range []string{"SSM parameter " + name + ` ips[0] "192.0.2.0/16"`, "65536 addresses",
		"SSM parameter " + name + ` domains[0] "localhost"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if !strings.Contains(r.logs.String(), `"msg":"audit failed"`) {
		t.Errorf("not logged: %s", r.logs)
	}
	if runs, err := (&audit.Store{DB: r.db, Table: r.table}).Runs(ctx, 0); err != nil || len(runs) != 0 {
		t.Errorf("runs stored: %v %v", runs, err)
	}
}
