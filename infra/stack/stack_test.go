package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/schema"
)

// One stack, synthesized once, serves every test: synthesis costs seconds.
var (
	testCfg      config.Config
	testStack    *Moat
	testTemplate assertions.Template
	tpl          map[string]any // the template as plain JSON
)

// testContext exercises both DNS paths (a hosted zone and hand-set records), the customer
// managed key and the optional settings.
const testContext = `{
  "stage": "test",
  "region": "eu-west-1",
  "account": "123456789012",
  "domains": {
    "example.com": {"route": {"host": "mail.example.com"}, "hostedZoneId": "Z0123456789ABCDEFGHIJ"},
    "mail.example.net": {"route": {"host": "192.0.2.10", "port": 2525, "tls": "opportunistic"}}
  },
  "bounceSender": "mailer-daemon@example.com",
  "alertEmails": ["ops@example.com", "oncall@example.net"],
  "dnsbl": {"resolver": "192.0.2.53:53", "dqsKeyParam": "/moat/test/dqs-key"},
  "monitoredIPs": ["192.0.2.25", "198.51.100.0/29"], "monitoredDomains": ["example.com"],
  "audit": {"schedule": "rate(6 hours)", "sesDedicatedIPs": true, "targetsParam": "/moat/test/audit-targets", "zones": ["spamhaus-zen", "spamcop", "uceprotect-3"]},
  "retention": {"incomingDays": 14, "quarantineDays": 45, "submissionsDays": 400, "trackingDays": 60, "logDays": 30},
  "tlsPolicy": "Require",
  "reservedConcurrency": {"inbound": 7},
  "kmsKey": true,
  "versioning": true,
  "tenants": [{"id": "acme", "organisation": "Acme", "domains": ["example.com"], "adminEmails": ["ops@example.com"]}]
}`

func TestMain(m *testing.M) {
	code, err := setup(m)
	if closeJSII {
		jsii.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		code = 1
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var ctx map[string]any
	if err := json.Unmarshal([]byte(testContext), &ctx); err != nil {
		return 0, err
	}
	cfg, err := config.Parse(ctx)
	if err != nil {
		return 0, err
	}
	testCfg = cfg
	dir, err := placeholders(Built...)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)

	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
	testStack, err = New(app, Props{Config: cfg, FunctionsDir: dir})
	if err != nil {
		return 0, err
	}
	Check(app)
	testTemplate = assertions.Template_FromStack(testStack.Stack, nil)
	b, err := json.Marshal(testTemplate.ToJSON())
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// placeholders writes stand-in bootstraps: the stack needs the asset folders, not real binaries.
func placeholders(names ...string) (string, error) {
	dir, err := os.MkdirTemp("", "moat-infra-test-")
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, n, "bootstrap"), []byte("#!/bin/sh\n# placeholder "+n+"\n"), 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// resources returns the template's resources of a type, by logical ID.
func resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// only returns the single resource of a type whose logical ID starts with prefix.
func only(t *testing.T, typ, prefix string) (string, map[string]any) {
	t.Helper()
	var ids []string
	for id := range resources(typ) {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s with logical ID %s*: found %v, want exactly one", typ, prefix, ids)
	}
	return ids[0], resources(typ)[ids[0]]
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func list(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

func TestStackNameAndRegion(t *testing.T) {
	if got := *testStack.Stack.StackName(); got != "Moat-test" {
		t.Errorf("stack name = %s, want Moat-test", got)
	}
	if got := *testStack.Stack.Region(); got != "eu-west-1" {
		t.Errorf("region = %s", got)
	}
}

// The receipt rule stores the message under incoming/ first, then invokes the inbound function
// asynchronously, with spam/virus scanning and the configured TLS policy, for every domain.
func TestReceiptRule(t *testing.T) {
	testTemplate.HasResourceProperties(jsii.String("AWS::SES::ReceiptRule"), map[string]any{
		"Rule": map[string]any{
			"Name":        RuleName,
			"Enabled":     true,
			"ScanEnabled": true,
			"TlsPolicy":   "Require",
			"Recipients":  []any{"example.com", "mail.example.net"},
			"Actions": []any{
				map[string]any{"S3Action": map[string]any{
					"BucketName":      assertions.Match_AnyValue(),
					"ObjectKeyPrefix": schema.IncomingPrefix,
				}},
				map[string]any{"LambdaAction": map[string]any{
					"FunctionArn":    assertions.Match_AnyValue(),
					"InvocationType": "Event",
				}},
			},
		},
	})
	_, rule := only(t, "AWS::SES::ReceiptRule", "Receiving")
	actions := list(props(rule)["Rule"].(map[string]any)["Actions"])
	s3 := actions[0].(map[string]any)["S3Action"].(map[string]any)
	if _, ok := s3["KmsKeyArn"]; ok {
		t.Error("S3 action sets KmsKeyArn: SES would encrypt client-side and the functions could not read the message")
	}
	if !strings.Contains(js(s3["BucketName"]), "StorageMail") {
		t.Errorf("S3 action bucket = %s, want the mail bucket", js(s3["BucketName"]))
	}
	if fn := js(actions[1].(map[string]any)["LambdaAction"].(map[string]any)["FunctionArn"]); !strings.Contains(fn, "FilteringInbound") {
		t.Errorf("Lambda action function = %s, want the inbound function", fn)
	}
	// SES tests both permissions when it creates the rule.
	deps := js(rule["DependsOn"])
	for _, want := range []string{"StorageMailPolicy", "ReceivingInvokeInbound"} {
		if !strings.Contains(deps, want) {
			t.Errorf("rule DependsOn %s, want %s*", deps, want)
		}
	}
}

// SES may only PutObject under incoming/, and only from this account's rule.
func TestBucketPolicyAllowsSESOnlyFromTheRule(t *testing.T) {
	_, pol := only(t, "AWS::S3::BucketPolicy", "StorageMailPolicy")
	var ses []map[string]any
	for _, s := range list(props(pol)["PolicyDocument"].(map[string]any)["Statement"]) {
		st := s.(map[string]any)
		if strings.Contains(js(st["Principal"]), "ses.amazonaws.com") {
			ses = append(ses, st)
		}
	}
	if len(ses) != 1 {
		t.Fatalf("statements for SES: %d, want 1", len(ses))
	}
	st := ses[0]
	if st["Effect"] != "Allow" || js(st["Action"]) != `"s3:PutObject"` {
		t.Errorf("SES statement = %s", js(st))
	}
	if res := js(st["Resource"]); !strings.Contains(res, `/incoming/*`) {
		t.Errorf("SES may write %s, want only incoming/*", res)
	}
	eq, _ := st["Condition"].(map[string]any)["StringEquals"].(map[string]any)
	if js(eq["aws:SourceAccount"]) != `{"Ref":"AWS::AccountId"}` {
		t.Errorf("aws:SourceAccount = %s", js(eq["aws:SourceAccount"]))
	}
	arn := js(eq["aws:SourceArn"])
	for _, want := range []string{":ses:", ":receipt-rule-set/", "ReceivingRuleSet", ":receipt-rule/" + RuleName} {
		if !strings.Contains(arn, want) {
			t.Errorf("aws:SourceArn = %s, want it to contain %q", arn, want)
		}
	}
	// The Lambda permission names the same rule.
	_, perm := only(t, "AWS::Lambda::Permission", "ReceivingInvokeInbound")
	p := props(perm)
	if p["Principal"] != "ses.amazonaws.com" || js(p["SourceArn"]) != arn || js(p["SourceAccount"]) != `{"Ref":"AWS::AccountId"}` {
		t.Errorf("invoke permission = %s", js(p))
	}
}

func TestBucket(t *testing.T) {
	_, b := only(t, "AWS::S3::Bucket", "StorageMail")
	if b["DeletionPolicy"] != "Retain" || b["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("mail bucket policies: deletion %v, replace %v; want Retain", b["DeletionPolicy"], b["UpdateReplacePolicy"])
	}
	p := props(b)
	enc := js(p["BucketEncryption"])
	if !strings.Contains(enc, `"SSEAlgorithm":"aws:kms"`) || !strings.Contains(enc, "StorageKey") || !strings.Contains(enc, `"BucketKeyEnabled":true`) {
		t.Errorf("encryption = %s, want SSE-KMS with the stack's key and a bucket key", enc)
	}
	if got := js(p["PublicAccessBlockConfiguration"]); got != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
		t.Errorf("public access block = %s", got)
	}
	if js(p["VersioningConfiguration"]) != `{"Status":"Enabled"}` {
		t.Errorf("versioning = %s", js(p["VersioningConfiguration"]))
	}
	days := map[string]float64{}
	for _, r := range list(p["LifecycleConfiguration"].(map[string]any)["Rules"]) {
		rule := r.(map[string]any)
		if prefix, ok := rule["Prefix"].(string); ok {
			days[prefix], _ = rule["ExpirationInDays"].(float64)
		}
	}
	want := map[string]float64{"incoming/": 14, "quarantine/": 45, "submissions/": 400}
	if js(days) != js(want) {
		t.Errorf("lifecycle expiration by prefix = %v, want %v", days, want)
	}
	// TLS only.
	_, pol := only(t, "AWS::S3::BucketPolicy", "StorageMailPolicy")
	if doc := js(props(pol)); !strings.Contains(doc, `"Effect":"Deny"`) || !strings.Contains(doc, `"aws:SecureTransport":"false"`) {
		t.Errorf("mail bucket policy does not deny non-TLS requests: %s", doc)
	}
}

func TestTables(t *testing.T) {
	for _, st := range schema.AllTables {
		t.Run(st.ID, func(t *testing.T) {
			_, tab := only(t, "AWS::DynamoDB::Table", "Storage"+st.ID)
			if tab["DeletionPolicy"] != "Retain" {
				t.Errorf("DeletionPolicy = %v", tab["DeletionPolicy"])
			}
			p := props(tab)
			if p["BillingMode"] != "PAY_PER_REQUEST" {
				t.Errorf("BillingMode = %v", p["BillingMode"])
			}
			if js(p["PointInTimeRecoverySpecification"]) != `{"PointInTimeRecoveryEnabled":true}` {
				t.Errorf("PITR = %s", js(p["PointInTimeRecoverySpecification"]))
			}
			if sse := js(p["SSESpecification"]); !strings.Contains(sse, `"SSEEnabled":true`) || !strings.Contains(sse, "StorageKey") {
				t.Errorf("SSE = %s, want the stack's key", sse)
			}
			keys := js(p["KeySchema"])
			if !strings.Contains(keys, `{"AttributeName":"`+st.Key.Partition+`","KeyType":"HASH"}`) ||
				(st.Key.Sort != "" && !strings.Contains(keys, `{"AttributeName":"`+st.Key.Sort+`","KeyType":"RANGE"}`)) {
				t.Errorf("KeySchema = %s, want %+v", keys, st.Key)
			}
			ttl := js(p["TimeToLiveSpecification"])
			if st.TTL != "" && ttl != `{"AttributeName":"`+st.TTL+`","Enabled":true}` {
				t.Errorf("TTL = %s, want %s", ttl, st.TTL)
			}
			var got, want []string
			for _, g := range list(p["GlobalSecondaryIndexes"]) {
				gsi := g.(map[string]any)
				got = append(got, fmt.Sprintf("%s:%s", gsi["IndexName"], js(gsi["KeySchema"])))
			}
			for _, ix := range st.Indexes {
				ks := `[{"AttributeName":"` + ix.Key.Partition + `","KeyType":"HASH"},{"AttributeName":"` + ix.Key.Sort + `","KeyType":"RANGE"}]`
				want = append(want, ix.Name+":"+ks)
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("GSIs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Every schema queue has a dead-letter queue after MaxReceives; every queue is encrypted and
// TLS-only; every queue that is a last stop (dead letters, failed events) has an alarm.
func TestQueues(t *testing.T) {
	queues := resources("AWS::SQS::Queue")
	for _, q := range schema.AllQueues {
		_, r := only(t, "AWS::SQS::Queue", "Storage"+q.ID+"DeadLetters")
		_ = r
		var main map[string]any
		for id, r := range queues {
			if regexp.MustCompile(`^Storage` + q.ID + `[0-9A-F]{8}$`).MatchString(id) {
				main = r
			}
		}
		if main == nil {
			t.Fatalf("queue %s not found", q.ID)
		}
		rp := js(props(main)["RedrivePolicy"])
		if !strings.Contains(rp, fmt.Sprintf(`"maxReceiveCount":%d`, q.MaxReceives)) || !strings.Contains(rp, "Storage"+q.ID+"DeadLetters") {
			t.Errorf("%s RedrivePolicy = %s", q.ID, rp)
		}
		if v := props(main)["VisibilityTimeout"]; v != float64(q.VisibilitySeconds) {
			t.Errorf("%s VisibilityTimeout = %v, want %d", q.ID, v, q.VisibilitySeconds)
		}
	}
	alarms := js(resources("AWS::CloudWatch::Alarm"))
	for id, r := range queues {
		if _, ok := props(r)["KmsMasterKeyId"]; !ok && props(r)["SqsManagedSseEnabled"] != true {
			t.Errorf("queue %s is not encrypted", id)
		}
		if _, redriven := props(r)["RedrivePolicy"]; redriven {
			continue
		}
		if !strings.Contains(alarms, `"Ref":"`+id+`"`) && !strings.Contains(alarms, `["`+id+`","QueueName"]`) {
			t.Errorf("last-stop queue %s has no alarm", id)
		}
	}
	qpol := js(resources("AWS::SQS::QueuePolicy"))
	for id := range queues {
		if !strings.Contains(qpol, id) {
			t.Errorf("queue %s has no TLS-only queue policy", id)
		}
	}
}

// Every function is a Go bootstrap on arm64 provided.al2023 with its own log group.
func TestFunctions(t *testing.T) {
	fns := resources("AWS::Lambda::Function")
	if len(fns) != len(Built) {
		t.Errorf("%d functions, want %d (%v): the CDK added one of its own?", len(fns), len(Built), Built)
	}
	groups := resources("AWS::Logs::LogGroup")
	for id, f := range fns {
		p := props(f)
		if js(p["Architectures"]) != `["arm64"]` || p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
			t.Errorf("%s: architectures %s runtime %v handler %v", id, js(p["Architectures"]), p["Runtime"], p["Handler"])
		}
		lg := js(p["LoggingConfig"])
		found := false
		for gid, g := range groups {
			if strings.Contains(lg, `"`+gid+`"`) {
				found = true
				if props(g)["RetentionInDays"] != float64(30) {
					t.Errorf("%s log group retention = %v, want 30", id, props(g)["RetentionInDays"])
				}
			}
		}
		if !found {
			t.Errorf("%s has no log group of its own (LoggingConfig %s)", id, lg)
		}
	}
}

func TestInbound(t *testing.T) {
	_, fn := only(t, "AWS::Lambda::Function", "FilteringInbound")
	p := props(fn)
	if p["MemorySize"] != float64(InboundMemoryMB) || p["Timeout"] != float64(InboundTimeout) || p["ReservedConcurrentExecutions"] != float64(7) {
		t.Errorf("memory %v timeout %v reserved %v", p["MemorySize"], p["Timeout"], p["ReservedConcurrentExecutions"])
	}
	env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	for _, k := range []string{schema.BucketEnvVar, schema.Policies.EnvVar, schema.Tracking.EnvVar, schema.Delivery.EnvVar} {
		if env[k] == nil {
			t.Errorf("env %s is not set", k)
		}
	}
	fixed := map[string]string{
		"BOUNCE_SENDER": "mailer-daemon@example.com", "BOUNCE_MODE": "ses", "TRACKING_TTL_DAYS": "60",
		"LOG_LEVEL": "info", "DNSBL_RESOLVER": "192.0.2.53:53", "DQS_KEY_PARAM": "/moat/test/dqs-key",
	}
	for k, v := range fixed {
		if env[k] != v {
			t.Errorf("env %s = %v, want %s", k, env[k], v)
		}
	}
	for k, v := range env {
		if s, ok := v.(string); ok && regexp.MustCompile(`(?i)secret|password|key$`).MatchString(k) && !strings.HasPrefix(s, "/") {
			t.Errorf("env %s=%s looks like a secret value, not a parameter name", k, s)
		}
	}

	_, cfg := only(t, "AWS::Lambda::EventInvokeConfig", "FilteringInbound")
	c := props(cfg)
	if c["MaximumRetryAttempts"] != float64(InboundRetries) || c["MaximumEventAgeInSeconds"] != float64(InboundMaxAge*3600) {
		t.Errorf("async config = %s", js(c))
	}
	if dest := js(c["DestinationConfig"]); !strings.Contains(dest, "OnFailure") || !strings.Contains(dest, "FilteringInboundFailures") {
		t.Errorf("on-failure destination = %s, want the InboundFailures queue", dest)
	}
}

// policyOf collects the statements of every IAM policy attached to a role with the prefix.
func policyOf(rolePrefix string) []map[string]any {
	var out []map[string]any
	for _, pol := range resources("AWS::IAM::Policy") {
		p := props(pol)
		if !strings.Contains(js(p["Roles"]), `"`+rolePrefix) {
			continue
		}
		for _, s := range list(p["PolicyDocument"].(map[string]any)["Statement"]) {
			out = append(out, s.(map[string]any))
		}
	}
	return out
}

func allows(stmts []map[string]any, action, resourceSubstring string) bool {
	for _, s := range stmts {
		if s["Effect"] != "Allow" {
			continue
		}
		for _, a := range list(s["Action"]) {
			if a == action && strings.Contains(js(s["Resource"]), resourceSubstring) {
				return true
			}
		}
	}
	return false
}

func TestInboundGrants(t *testing.T) {
	st := policyOf("FilteringInboundRole")
	for _, g := range []struct{ action, resource string }{
		{"s3:GetObject", "/incoming/*"},
		{"s3:GetObject", "/quarantine/*"},
		{"s3:PutObject", "/quarantine/*"},
		{"s3:PutObjectTagging", "/quarantine/*"},
		{"s3:ListBucket", "StorageMail"},
		{"dynamodb:GetItem", "StoragePolicies"},
		{"dynamodb:Query", "StorageTracking"},
		{"dynamodb:PutItem", "StorageTracking"},
		{"sqs:SendMessage", "StorageDelivery"},
		{"ses:SendBounce", ":identity/example.com"},
		{"ses:SendBounce", ":identity/mail.example.net"},
		{"ses:SendRawEmail", ":identity/example.com"},
		{"ssm:GetParameter", ":parameter/moat/test/dqs-key"},
		{"kms:Decrypt", "StorageKey"},
	} {
		if !allows(st, g.action, g.resource) {
			t.Errorf("inbound may not %s on %s", g.action, g.resource)
		}
	}
	for _, g := range []struct{ action, resource string }{
		{"s3:PutObject", "/incoming/*"},
		{"s3:DeleteObject", ""},
		{"dynamodb:PutItem", "StoragePolicies"},
	} {
		if allows(st, g.action, g.resource) {
			t.Errorf("inbound may %s on %s, which it does not need", g.action, g.resource)
		}
	}
	if allows(st, "dynamodb:Query", "StorageTracking") && !strings.Contains(js(st), "/index/*") {
		t.Error("inbound may not query the tracking indexes")
	}
}

// Least privilege: no "*" actions, "*" resources only for the SES calls that have no resource
// type, no managed policies (so none with FullAccess), no physical names.
func TestNoWildcardIAM(t *testing.T) {
	resourceless := map[string]bool{"ses:SetActiveReceiptRuleSet": true, "ses:DescribeActiveReceiptRuleSet": true,
		"ses:ListReceiptFilters": true, "ses:CreateReceiptFilter": true, "ses:DeleteReceiptFilter": true,
		"ses:GetDedicatedIps": true}
	for id, pol := range resources("AWS::IAM::Policy") {
		for _, s := range list(props(pol)["PolicyDocument"].(map[string]any)["Statement"]) {
			st := s.(map[string]any)
			for _, a := range list(st["Action"]) {
				if a == "*" || strings.HasSuffix(a.(string), ":*") {
					t.Errorf("%s allows action %v", id, a)
				}
			}
			for _, r := range list(st["Resource"]) {
				if r == "*" {
					for _, a := range list(st["Action"]) {
						if !resourceless[a.(string)] {
							t.Errorf("%s allows %v on *", id, a)
						}
					}
				}
			}
		}
	}
	for id, r := range resources("AWS::IAM::Role") {
		if m := js(props(r)["ManagedPolicyArns"]); m != "null" {
			t.Errorf("role %s has managed policies %s", id, m)
		}
	}
	named := regexp.MustCompile(`"(BucketName|TableName|QueueName|TopicName|FunctionName|RoleName|LogGroupName|DashboardName|AlarmName|RuleSetName)":"`)
	for id, r := range tpl["Resources"].(map[string]any) {
		if m := named.FindString(js(props(r.(map[string]any)))); m != "" && r.(map[string]any)["Type"] != "AWS::SES::ReceiptRule" {
			t.Errorf("%s has a fixed physical name (%s)", id, m)
		}
	}
}

// Alarms: dead letters, failed events, function errors and throttles, all to the alert topic.
func TestAlarms(t *testing.T) {
	alarms := resources("AWS::CloudWatch::Alarm")
	byID := map[string]bool{}
	for id, a := range alarms {
		byID[id] = true
		p := props(a)
		if !strings.Contains(js(p["AlarmActions"]), "MonitoringAlerts") {
			t.Errorf("alarm %s does not notify the alert topic: %s", id, js(p["AlarmActions"]))
		}
		if p["Threshold"] != float64(1) || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("alarm %s threshold %v %v", id, p["ComparisonOperator"], p["Threshold"])
		}
	}
	want := []string{"DeliveryDeadLettersNotEmpty", "InboundFailuresNotEmpty", "InboundErrors", "InboundThrottles",
		"ActivatorErrors", "InboundEventsDropped"}
	for _, w := range want {
		ok := false
		for id := range byID {
			if strings.HasPrefix(id, "Monitoring"+w) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no alarm Monitoring%s*", w)
		}
	}
}

func TestAlertTopic(t *testing.T) {
	_, topic := only(t, "AWS::SNS::Topic", "MonitoringAlerts")
	if !strings.Contains(js(props(topic)["KmsMasterKeyId"]), "StorageKey") {
		t.Errorf("alert topic not encrypted with the stack's key: %s", js(props(topic)))
	}
	var emails []string
	for _, s := range resources("AWS::SNS::Subscription") {
		if props(s)["Protocol"] == "email" {
			emails = append(emails, props(s)["Endpoint"].(string))
		}
	}
	sort.Strings(emails)
	if strings.Join(emails, ",") != "oncall@example.net,ops@example.com" {
		t.Errorf("e-mail subscriptions = %v", emails)
	}
	// The key lets CloudWatch alarms publish and SES store mail.
	_, key := only(t, "AWS::KMS::Key", "StorageKey")
	doc := js(props(key)["KeyPolicy"])
	for _, p := range []string{"cloudwatch.amazonaws.com", "ses.amazonaws.com"} {
		if !strings.Contains(doc, p) {
			t.Errorf("key policy does not admit %s", p)
		}
	}
	if key["DeletionPolicy"] != "Retain" || props(key)["EnableKeyRotation"] != true {
		t.Errorf("key: deletion %v rotation %v", key["DeletionPolicy"], props(key)["EnableKeyRotation"])
	}
}

func TestActivation(t *testing.T) {
	_, cr := only(t, ActivatorResourceType, "ReceivingActivation")
	p := props(cr)
	if !strings.Contains(js(p["RuleSetName"]), "ReceivingRuleSet") || !strings.Contains(js(p["ServiceToken"]), "ReceivingActivator") {
		t.Errorf("activation = %s", js(p))
	}
	if !strings.Contains(js(cr["DependsOn"]), "ReceivingRule") {
		t.Errorf("activation does not wait for the rule: DependsOn %s", js(cr["DependsOn"]))
	}
	if !allows(policyOf("ReceivingActivatorRole"), "ses:SetActiveReceiptRuleSet", "*") {
		t.Error("activator may not SetActiveReceiptRuleSet")
	}
}

// A domain with a hosted zone gets MX and DKIM records; one without gets outputs listing them.
func TestDNS(t *testing.T) {
	ids := resources("AWS::SES::EmailIdentity")
	if len(ids) != 2 {
		t.Errorf("%d domain identities, want 2", len(ids))
	}
	for id, r := range ids {
		if dkim := js(props(r)["DkimSigningAttributes"]); dkim != "null" && !strings.Contains(dkim, "RSA_2048") {
			t.Errorf("%s DKIM = %s", id, dkim)
		}
	}
	var mx, cname int
	for _, r := range resources("AWS::Route53::RecordSet") {
		p := props(r)
		if p["HostedZoneId"] != "Z0123456789ABCDEFGHIJ" {
			t.Errorf("record in zone %v", p["HostedZoneId"])
		}
		switch p["Type"] {
		case "MX":
			mx++
			if p["Name"] != "example.com." || js(p["ResourceRecords"]) != `["10 inbound-smtp.eu-west-1.amazonaws.com"]` {
				t.Errorf("MX record = %s", js(p))
			}
		case "CNAME":
			cname++
		}
	}
	if mx != 1 || cname != 3 {
		t.Errorf("records in the zone: %d MX, %d CNAME; want 1 and 3", mx, cname)
	}
	outputs := js(tpl["Outputs"])
	if !strings.Contains(outputs, "mail.example.net. MX 10 inbound-smtp.eu-west-1.amazonaws.com.") {
		t.Errorf("no MX output for mail.example.net: %s", outputs)
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(outputs, fmt.Sprintf(`"MailExampleNetDKIM%d"`, i)) {
			t.Errorf("no DKIM%d output for mail.example.net", i)
		}
	}
	if strings.Contains(outputs, `"ExampleComMX"`) {
		t.Error("example.com has a hosted zone but still gets an MX output")
	}
}

func TestDashboard(t *testing.T) {
	_, d := only(t, "AWS::CloudWatch::Dashboard", "MonitoringMailFlow")
	body := js(props(d)["DashboardBody"])
	for _, want := range []string{`SEARCH('{Moat,Action} MetricName=\\\"Messages\\\"'`, `\"Moat\",\"Duration\"`, `\"Moat\",\"Deliveries\",\"Outcome\",\"deferred\"`} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
}

// cdk-nag AwsSolutions: no unsuppressed error; every suppression carries a reason (cdk-nag
// refuses a suppression without one).
func TestNag(t *testing.T) {
	for _, f := range nagFindings(testStack.Stack, "error") {
		t.Errorf("%s: %s", f.ID, f.Entry.Data)
	}
	for _, f := range nagFindings(testStack.Stack, "warning") {
		t.Logf("warning %s: %s", f.ID, f.Entry.Data)
	}
}

// finding is an annotation as JSON (the Go struct's fields are marked deprecated).
type finding struct {
	ID    string `json:"id"`
	Entry struct {
		Data any `json:"data"`
	} `json:"entry"`
}

// nagFindings returns the stack's cdk-nag AwsSolutions annotations of a level.
func nagFindings(stack awscdk.Stack, level string) []finding {
	a := assertions.Annotations_FromStack(stack)
	match := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	found := a.FindError(jsii.String("*"), match)
	if level == "warning" {
		found = a.FindWarning(jsii.String("*"), match)
	}
	b, _ := json.Marshal(found)
	var out []finding
	_ = json.Unmarshal(b, &out)
	return out
}
