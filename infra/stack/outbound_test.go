package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/outbound"
)

// TestOutbound synthesizes a stack with two tenants (one sending from a served domain, one from
// its own) and checks the configuration sets, their event destinations, the rule, the
// function's environment and grants, the administrators' filtered subscriptions, the outputs,
// and cdk-nag.
func TestOutbound(t *testing.T) {
	if testStack.Outbound == nil {
		t.Fatal("the main test stack has a tenant, but no outbound monitoring")
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(testContext), &ctx); err != nil {
		t.Fatal(err)
	}
	ctx["tenants"] = []any{
		map[string]any{"id": "acme", "organisation": "Acme Ltd", "domains": []any{"example.com"},
			"adminEmails": []any{"it@example.com", "ops@example.com"}, "sendingIPs": []any{"203.0.113.25"}},
		map[string]any{"id": "beta", "organisation": "Beta", "domains": []any{"beta.example", "mail.beta.example"},
			"adminEmails": []any{"it@example.com"}, "policy": map[string]any{"perSender": map[string]any{"limit": 100}}},
	}
	cfg, err := config.Parse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := placeholders(Built...)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
	m, err := New(app, Props{Config: cfg, FunctionsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	Check(app)
	var tp map[string]any
	b, _ := json.Marshal(assertions.Template_FromStack(m.Stack, nil).ToJSON())
	if err := json.Unmarshal(b, &tp); err != nil {
		t.Fatal(err)
	}
	res := func(typ string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for id, r := range tp["Resources"].(map[string]any) {
			if r.(map[string]any)["Type"] == typ {
				out[id] = r.(map[string]any)
			}
		}
		return out
	}

	// One configuration set per tenant, sending on, each publishing the sending events to the
	// default bus.
	sets := res("AWS::SES::ConfigurationSet")
	if len(sets) != 2 {
		t.Fatalf("%d configuration sets, want 2", len(sets))
	}
	dests := res("AWS::SES::ConfigurationSetEventDestination")
	if len(dests) != 2 {
		t.Fatalf("%d event destinations", len(dests))
	}
	for id, d := range dests {
		s := js(props(d))
		for _, want := range []string{`"EventBridgeDestination"`, `event-bus/default`, `"send"`, `"delivery"`, `"bounce"`, `"complaint"`, `"reject"`, `"deliveryDelay"`, `"renderingFailure"`} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %s: %s", id, want, s)
			}
		}
		if strings.Contains(s, `"open"`) || strings.Contains(s, `"click"`) {
			t.Errorf("%s publishes opens or clicks", id)
		}
	}
	// The served domain's identity and the tenant's own domains default to their sets.
	idents := res("AWS::SES::EmailIdentity")
	withSet := 0
	for _, i := range idents {
		if strings.Contains(js(props(i)), "ConfigurationSetAttributes") {
			withSet++
		}
	}
	if len(idents) != 4 || withSet != 3 {
		t.Errorf("%d identities (want 2 served + 2 of beta), %d with a configuration set (want 3)", len(idents), withSet)
	}

	// The rule: SES's events of the tenants' sets to the function, with a dead-letter queue.
	var rule map[string]any
	for id, r := range res("AWS::Events::Rule") {
		if strings.HasPrefix(id, "OutboundEvents") {
			rule = props(r)
		}
	}
	if rule == nil {
		t.Fatal("no outbound events rule")
	}
	rs := js(rule)
	for _, want := range []string{`"source":["aws.ses"]`, `"Email Bounced"`, `"Email Complaint Received"`, `"ses:configuration-set"`, `OutboundTenantAcmeConfigurationSet`, `DeadLetterConfig`, `OutboundFunction`} {
		if !strings.Contains(rs, want) {
			t.Errorf("rule lacks %s: %s", want, rs)
		}
	}

	// The function's own failures go to the same queue after Lambda's retries.
	var invoke string
	for _, c := range res("AWS::Lambda::EventInvokeConfig") {
		if strings.Contains(js(props(c)), "OutboundFunction") {
			invoke = js(props(c))
		}
	}
	if !strings.Contains(invoke, "OutboundDeadLetters") || !strings.Contains(invoke, `"MaximumRetryAttempts":2`) {
		t.Errorf("async invoke config %s", invoke)
	}

	// The function's environment: tables, topic, and the tenants with their sets.
	var env map[string]any
	for id, f := range res("AWS::Lambda::Function") {
		if strings.HasPrefix(id, "OutboundFunction") {
			env = props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		}
	}
	for _, k := range []string{"REPUTATION_TABLE", "TRACKING_TABLE", "ALERT_TOPIC_ARN", OutboundTenantsEnvVar, "TRACKING_TTL_DAYS"} {
		if env[k] == nil {
			t.Errorf("env %s missing", k)
		}
	}
	// The tenants' JSON is a Fn::Join of text and the sets' Refs; with stand-in names it parses.
	joined, _ := env[OutboundTenantsEnvVar].(map[string]any)["Fn::Join"].([]any)
	if len(joined) != 2 {
		t.Fatalf("tenants env %v", env[OutboundTenantsEnvVar])
	}
	var text strings.Builder
	for i, part := range joined[1].([]any) {
		if s, ok := part.(string); ok {
			text.WriteString(s)
		} else {
			fmt.Fprintf(&text, "moat-set-%d", i)
		}
	}
	ts, err := outbound.ParseTenants([]byte(text.String()))
	if err != nil || len(ts) != 2 || ts[1].Policy.PerSender.Limit != 100 || ts[0].Policy.PerSender.Limit != 500 ||
		!strings.HasPrefix(ts[0].ConfigurationSet, "moat-set-") || len(ts[0].AdminEmails) != 0 {
		t.Errorf("tenants env %s: %v", text.String(), err)
	}

	// Grants: the sending switch of the tenants' sets only, no sending, no scans.
	var stmts []map[string]any
	for id, p := range res("AWS::IAM::Policy") {
		if strings.HasPrefix(id, "OutboundRole") {
			for _, s := range list(props(p)["PolicyDocument"].(map[string]any)["Statement"]) {
				stmts = append(stmts, s.(map[string]any))
			}
		}
	}
	has := func(action, resource string) bool {
		for _, s := range stmts {
			if strings.Contains(js(s["Action"]), `"`+action+`"`) && strings.Contains(js(s["Resource"]), resource) {
				return true
			}
		}
		return false
	}
	for _, g := range [][2]string{
		{"ses:PutConfigurationSetSendingOptions", "configuration-set/"}, {"dynamodb:UpdateItem", "StorageReputation"},
		{"dynamodb:PutItem", "StorageTracking"}, {"sns:Publish", "MonitoringAlerts"},
	} {
		if !has(g[0], g[1]) {
			t.Errorf("outbound may not %s on %s", g[0], g[1])
		}
	}
	for _, a := range []string{"ses:SendRawEmail", "ses:SendEmail", "dynamodb:Scan", "s3:GetObject", "iam:CreateUser"} {
		if has(a, "") {
			t.Errorf("outbound may %s", a)
		}
	}
	for _, s := range stmts {
		if strings.Contains(js(s["Action"]), "ses:") && strings.Contains(js(s["Resource"]), `"*"`) {
			t.Errorf("ses actions on *: %s", js(s))
		}
	}

	// Administrators: one subscription per address, filtered on their tenants; an address that
	// already gets every alert is not subscribed twice.
	subs := map[string]string{}
	for _, s := range res("AWS::SNS::Subscription") {
		p := props(s)
		subs[p["Endpoint"].(string)] = js(p["FilterPolicy"])
	}
	if got := subs["it@example.com"]; got != `{"tenant":["acme","beta"]}` {
		t.Errorf("it@example.com filter %s", got)
	}
	if got := subs["ops@example.com"]; got != "null" {
		t.Errorf("ops@example.com (an alert address) has filter %s", got)
	}

	// Outputs: the tenants for moatctl, DKIM records of the new identities.
	outs := js(tp["Outputs"])
	for _, want := range []string{`"OutboundTenants"`, `"Description":"OUTBOUND_TENANTS"`, `TenantBetaBetaExampleDKIM1`} {
		if !strings.Contains(outs, want) {
			t.Errorf("outputs lack %s", want)
		}
	}
	// The tenants' sending IPs are audited.
	if !contains(cfg.MonitoredIPs, "203.0.113.25") {
		t.Errorf("monitoredIPs %v", cfg.MonitoredIPs)
	}
	for _, f := range nagFindings(m.Stack, "error") {
		t.Errorf("%s: %s", f.ID, f.Entry.Data)
	}
}
