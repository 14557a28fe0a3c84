package stack

import (
	"encoding/json"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/moatmail/moat/shared/schema"
)

// The deliver function: sized and timed below the queue's visibility timeout, consuming the
// delivery queue with partial batch responses, configured by names only.
func TestDeliver(t *testing.T) {
	_, fn := only(t, "AWS::Lambda::Function", "DeliveryDeliver")
	p := props(fn)
	if p["MemorySize"] != float64(DeliverMemoryMB) || p["Timeout"] != float64(DeliverTimeout) {
		t.Errorf("memory %v timeout %v", p["MemorySize"], p["Timeout"])
	}
	if DeliverTimeout >= schema.Delivery.VisibilitySeconds {
		t.Errorf("timeout %d s is not below the queue's visibility timeout %d s", DeliverTimeout, schema.Delivery.VisibilitySeconds)
	}
	env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	for _, k := range []string{schema.BucketEnvVar, schema.Policies.EnvVar, schema.Tracking.EnvVar, schema.Delivery.EnvVar} {
		if env[k] == nil {
			t.Errorf("env %s is not set", k)
		}
	}
	if env["BOUNCE_SENDER"] != "mailer-daemon@example.com" || env["TRACKING_TTL_DAYS"] != "60" || env["RETRY_MAX_AGE_HOURS"] != "120" {
		t.Errorf("env %s", js(env))
	}
	for k := range env {
		if regexp.MustCompile(`(?i)secret|password|user`).MatchString(k) {
			t.Errorf("env %s: credentials never travel in the environment", k)
		}
	}

	_, esm := only(t, "AWS::Lambda::EventSourceMapping", "DeliveryDeliver")
	m := props(esm)
	if js(m["FunctionResponseTypes"]) != `["ReportBatchItemFailures"]` || m["BatchSize"] != float64(DeliverBatchSize) ||
		!strings.Contains(js(m["EventSourceArn"]), "StorageDelivery") || strings.Contains(js(m["EventSourceArn"]), "DeadLetters") {
		t.Errorf("event source %s", js(m))
	}
}

// An hour-old delivery job alarms: some mail server has not taken mail for that long.
func TestDeliveryDelayedAlarm(t *testing.T) {
	_, a := only(t, "AWS::CloudWatch::Alarm", "MonitoringDeliveryDelayed")
	p := props(a)
	if !strings.Contains(js(p["Metrics"]), "IF(age \\u003e= 3600, 1, 0)") || !strings.Contains(js(p["Metrics"]), "ApproximateAgeOfOldestMessage") ||
		!strings.Contains(js(p["Metrics"]), "StorageDelivery") || len(list(p["AlarmActions"])) != 1 {
		t.Errorf("alarm %s", js(p))
	}
}

func TestDeliverGrants(t *testing.T) {
	st := policyOf("DeliveryDeliverRole")
	for _, g := range []struct{ action, resource string }{
		{"s3:GetObject", "/incoming/*"},
		{"s3:GetObject", "/quarantine/*"},
		{"s3:ListBucket", "StorageMail"},
		{"dynamodb:GetItem", "StoragePolicies"},
		{"dynamodb:Query", "StorageTracking"},
		{"dynamodb:PutItem", "StorageTracking"},
		{"sqs:ReceiveMessage", "StorageDelivery"},
		{"sqs:DeleteMessage", "StorageDelivery"},
		{"sqs:ChangeMessageVisibility", "StorageDelivery"},
		{"ses:SendRawEmail", ":identity/example.com"},
		{"ses:SendEmail", ":identity/mail.example.net"},
		{"kms:Decrypt", "StorageKey"},
	} {
		if !allows(st, g.action, g.resource) {
			t.Errorf("deliver may not %s on %s", g.action, g.resource)
		}
	}
	for _, g := range []struct{ action, resource string }{
		{"s3:PutObject", ""},
		{"s3:DeleteObject", ""},
		{"s3:GetObject", "/submissions/*"},
		{"dynamodb:PutItem", "StoragePolicies"},
		{"sqs:SendMessage", ""},
		{"ses:SendBounce", ""},
		{"ssm:GetParameter", ""}, // the test routes name no parameters
		{"secretsmanager:GetSecretValue", ""},
	} {
		if allows(st, g.action, g.resource) {
			t.Errorf("deliver may %s on %q, which it does not need", g.action, g.resource)
		}
	}
}

// Routes that name a CA parameter and AUTH secrets give the function read access to exactly
// those: SSM parameters by name, Secrets Manager secrets by name (any version suffix).
func TestDeliverReadsOnlyTheNamedSecrets(t *testing.T) {
	dir, err := placeholders(Built...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testCfg
	cfg.Domains = maps.Clone(cfg.Domains)
	d := cfg.Domains["example.com"]
	d.Route.TLS, d.Route.CAParam, d.Route.AuthSecret = "verify", "/moat/test/ca", "/moat/test/smtp-example-com"
	cfg.Domains["example.com"] = d
	d = cfg.Domains["mail.example.net"]
	d.Route.AuthSecret = "moat/test/smtp-net"
	cfg.Domains["mail.example.net"] = d
	app := awscdk.NewApp(nil)
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
	var ssmRes, smRes []string
	for _, r := range tp["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] != "AWS::IAM::Policy" {
			continue
		}
		p := props(res)
		onDeliver := strings.Contains(js(p["Roles"]), `"DeliveryDeliverRole`)
		for _, s := range list(p["PolicyDocument"].(map[string]any)["Statement"]) {
			st := s.(map[string]any)
			for _, a := range list(st["Action"]) {
				switch a {
				case "ssm:GetParameter", "secretsmanager:GetSecretValue":
					if !onDeliver {
						if strings.Contains(js(st["Resource"]), "moat/test/smtp") || strings.Contains(js(st["Resource"]), "moat/test/ca") {
							t.Errorf("a role other than deliver's may read a route secret: %s", js(p["Roles"]))
						}
						continue
					}
					for _, r := range list(st["Resource"]) {
						if a == "ssm:GetParameter" {
							ssmRes = append(ssmRes, js(r))
						} else {
							smRes = append(smRes, js(r))
						}
					}
				}
			}
		}
	}
	if len(ssmRes) != 2 || !strings.Contains(strings.Join(ssmRes, " "), ":parameter/moat/test/ca") ||
		!strings.Contains(strings.Join(ssmRes, " "), ":parameter/moat/test/smtp-example-com") {
		t.Errorf("ssm:GetParameter on %v, want the CA and the SSM credentials only", ssmRes)
	}
	if len(smRes) != 1 || !strings.Contains(smRes[0], ":secret:moat/test/smtp-net-??????") {
		t.Errorf("secretsmanager:GetSecretValue on %v, want the named secret only", smRes)
	}
	for _, f := range nagFindings(m.Stack, "error") {
		t.Errorf("%s: %s", f.ID, f.Entry.Data)
	}
}
