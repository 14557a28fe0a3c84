package config

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// valid is a complete, valid context as cdk.json would give it (decoded JSON).
func valid(t *testing.T) map[string]any {
	t.Helper()
	const doc = `{
	  "stage": "prod",
	  "region": "eu-west-1",
	  "account": "123456789012",
	  "domains": {
	    "example.com": {"route": {"type": "smtp", "host": "mail.example.com", "port": 587, "tls": "required"}, "hostedZoneId": "Z0123456789ABCDEFGHIJ"},
	    "example.org": {"route": {"host": "192.0.2.10", "port": 465, "tls": "verify", "caParam": "/moat/prod/ca"}}
	  },
	  "bounceSender": "mailer-daemon@example.com",
	  "alertEmails": ["ops@example.com"],
	  "monitoredIPs": ["192.0.2.1", "2001:db8::1"],
	  "monitoredDomains": ["example.com"],
	  "dnsbl": {"resolver": "192.0.2.53:53", "dqsKeyParam": "/moat/prod/dqs-key"},
	  "retention": {"incomingDays": 14, "quarantineDays": 30, "submissionsDays": 365, "trackingDays": 90, "logDays": 30},
	  "tlsPolicy": "Require",
	  "reservedConcurrency": {"inbound": 20},
	  "kmsKey": true,
	  "@aws-cdk/aws-lambda:recognizeLayerVersion": true,
	  "aws:cdk:enable-path-metadata": true,
	  "acknowledged-issue-numbers": [1]
	}`
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseValid(t *testing.T) {
	c, err := Parse(valid(t))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.StackName() != "Moat-prod" || c.Region != "eu-west-1" || c.TLSPolicy != "Require" {
		t.Errorf("got stack %s region %s tls %s", c.StackName(), c.Region, c.TLSPolicy)
	}
	org := c.Domains["example.org"]
	if org.Route.Type != "smtp" || org.Route.Port != 465 {
		t.Errorf("example.org route = %+v, want type smtp defaulted, port 465 kept", org.Route)
	}
	if z := c.Domains["example.com"].HostedZoneName; z != "example.com" {
		t.Errorf("hostedZoneName defaulted to %q, want the domain", z)
	}
	if got := c.DomainNames(); strings.Join(got, ",") != "example.com,example.org" {
		t.Errorf("DomainNames = %v", got)
	}
	if !c.Activate() || c.ReservedConcurrency["inbound"] != 20 || !c.KMSKey {
		t.Errorf("activate %v, reserved %v, kms %v", c.Activate(), c.ReservedConcurrency, c.KMSKey)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse(map[string]any{
		"stage": "dev", "region": "us-east-1",
		"domains":      map[string]any{"example.com": map[string]any{"route": map[string]any{"host": "mx.example.com"}}},
		"bounceSender": "postmaster@example.com",
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r := c.Retention
	if r.IncomingDays != DefaultIncomingDays || r.QuarantineDays != DefaultQuarantineDays ||
		r.SubmissionsDays != DefaultSubmissionsDays || r.TrackingDays != DefaultTrackingDays || r.LogDays != DefaultLogDays ||
		r.DeliveryDays != DefaultDeliveryDays {
		t.Errorf("retention defaults = %+v", r)
	}
	rt := c.Domains["example.com"].Route
	if rt.Type != "smtp" || rt.Port != 587 || rt.TLS != "required" {
		t.Errorf("route defaults = %+v", rt)
	}
	if c.TLSPolicy != "Optional" || c.LogLevel != "info" || c.KMSKey || c.Versioning || !c.Activate() {
		t.Errorf("defaults: tls %s log %s kms %v versioning %v activate %v", c.TLSPolicy, c.LogLevel, c.KMSKey, c.Versioning, c.Activate())
	}
}

// Values given with -c on the command line arrive as strings.
func TestParseCommandLineStrings(t *testing.T) {
	m := valid(t)
	m["kmsKey"] = "false"
	m["reservedConcurrency"] = `{"inbound": 5}`
	m["alertEmails"] = `["a@example.com","b@example.com"]`
	m["activateRuleSet"] = "false"
	c, err := Parse(m)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.KMSKey || c.ReservedConcurrency["inbound"] != 5 || len(c.AlertEmails) != 2 || c.Activate() {
		t.Errorf("got kms %v reserved %v alerts %v activate %v", c.KMSKey, c.ReservedConcurrency, c.AlertEmails, c.Activate())
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   []string // every one must appear in the error
	}{
		{"no stage", func(m map[string]any) { delete(m, "stage") }, []string{"stage is required"}},
		{"bad stage", func(m map[string]any) { m["stage"] = "prod env" }, []string{`stage "prod env"`}},
		{"no region", func(m map[string]any) { delete(m, "region") }, []string{"region is required", "eu-west-1"}},
		{"region without receiving", func(m map[string]any) { m["region"] = "eu-north-1" },
			[]string{`region "eu-north-1"`, "does not receive email", "us-east-1"}},
		{"bad account", func(m map[string]any) { m["account"] = "1234" }, []string{`account "1234"`, "12-digit"}},
		{"account as number", func(m map[string]any) { m["account"] = 123456789012.0 }, []string{"account", "want a string"}},
		{"unknown key", func(m map[string]any) { m["domian"] = map[string]any{} }, []string{`context key "domian" is unknown`}},
		{"unknown nested field", func(m map[string]any) {
			m["retention"] = map[string]any{"incomingDay": 3}
		}, []string{"retention", `unknown field "incomingDay"`}},
		{"no domains", func(m map[string]any) { delete(m, "domains") }, []string{"domains is required"}},
		{"upper-case domain", func(m map[string]any) {
			m["domains"] = map[string]any{"Example.com": map[string]any{"route": map[string]any{"host": "mx.example.com"}}}
			m["bounceSender"] = "x@Example.com"
		}, []string{`domains: key "Example.com"`, "lower case"}},
		{"port 25", func(m map[string]any) { route(m, "example.org")["port"] = 25 }, []string{`domains.example.org.route.port 25`, "Lambda cannot connect to port 25"}},
		{"port out of range", func(m map[string]any) { route(m, "example.org")["port"] = 70000 }, []string{`domains.example.org.route.port 70000`}},
		{"port as text", func(m map[string]any) { route(m, "example.org")["port"] = "587" }, []string{`domains.example.org: field "route.port" wants a number, not a JSON string`}},
		{"no host", func(m map[string]any) { delete(route(m, "example.org"), "host") }, []string{"domains.example.org.route.host is required"}},
		{"bad host", func(m map[string]any) { route(m, "example.org")["host"] = "mail server" }, []string{`domains.example.org.route.host "mail server"`}},
		{"bad tls", func(m map[string]any) { route(m, "example.org")["tls"] = "starttls" }, []string{`domains.example.org.route.tls "starttls"`, "required, opportunistic or verify"}},
		{"bad route type", func(m map[string]any) { route(m, "example.org")["type"] = "lmtp" }, []string{`domains.example.org.route.type "lmtp"`}},
		{"secret value instead of name", func(m map[string]any) { route(m, "example.org")["authSecret"] = "user:p@ss word" }, []string{`domains.example.org.route.authSecret "user:p@ss word"`, "NAME"}},
		{"ses-forward without forward", func(m map[string]any) {
			r := route(m, "example.org")
			delete(r, "host")
			r["type"] = "ses-forward"
			r["fromAddress"] = "fwd@example.org"
		}, []string{"domains.example.org.route.forward is required"}},
		{"bad zone id", func(m map[string]any) {
			m["domains"].(map[string]any)["example.com"].(map[string]any)["hostedZoneId"] = "abc"
		}, []string{`domains.example.com.hostedZoneId "abc"`}},
		{"zone name not a parent", func(m map[string]any) {
			m["domains"].(map[string]any)["example.com"].(map[string]any)["hostedZoneName"] = "other.com"
		}, []string{`domains.example.com.hostedZoneName "other.com"`}},
		{"no bounce sender", func(m map[string]any) { delete(m, "bounceSender") }, []string{"bounceSender is required"}},
		{"bounce sender elsewhere", func(m map[string]any) { m["bounceSender"] = "bounces@other.net" }, []string{`bounceSender "bounces@other.net"`, "verified identity"}},
		{"bounce sender with name", func(m map[string]any) { m["bounceSender"] = "Moat <m@example.com>" }, []string{`bounceSender "Moat <m@example.com>"`}},
		{"bad alert e-mail", func(m map[string]any) { m["alertEmails"] = []any{"ops"} }, []string{`alertEmails[0] "ops"`}},
		{"bad monitored IP", func(m map[string]any) { m["monitoredIPs"] = []any{"192.0.2.0/24", "192.0.2.300"} }, []string{`monitoredIPs[1] "192.0.2.300"`}},
		{"monitored prefix too large", func(m map[string]any) { m["monitoredIPs"] = []any{"192.0.2.1", "10.0.0.0/20"} }, []string{`monitoredIPs[1] "10.0.0.0/20"`, "at most 4096 addresses"}},
		{"bad audit schedule", func(m map[string]any) { m["audit"] = map[string]any{"schedule": "hourly"} }, []string{`audit.schedule "hourly"`}},
		{"bad audit zone", func(m map[string]any) { m["audit"] = map[string]any{"zones": []any{"spamcop", "sorbs"}} }, []string{`audit.zones[1] "sorbs"`}},
		{"bad targets parameter", func(m map[string]any) { m["audit"] = map[string]any{"targetsParam": "a b"} }, []string{`audit.targetsParam "a b"`}},
		{"bad monitored domain", func(m map[string]any) { m["monitoredDomains"] = []any{"localhost"} }, []string{`monitoredDomains[0] "localhost"`}},
		{"bad resolver", func(m map[string]any) { m["dnsbl"] = map[string]any{"resolver": "dns.google"} }, []string{`dnsbl.resolver "dns.google"`}},
		{"DQS key instead of its name", func(m map[string]any) { m["dnsbl"] = map[string]any{"dqsKeyParam": "abc def"} }, []string{`dnsbl.dqsKeyParam "abc def"`}},
		{"reserved parameter prefix", func(m map[string]any) { m["dnsbl"] = map[string]any{"dqsKeyParam": "/aws/x"} }, []string{`dnsbl.dqsKeyParam "/aws/x"`}},
		{"retention zero", func(m map[string]any) { m["retention"] = map[string]any{"quarantineDays": -1} }, []string{"retention.quarantineDays -1"}},
		{"log days not accepted", func(m map[string]any) { m["retention"] = map[string]any{"logDays": 10} }, []string{"retention.logDays 10", "CloudWatch Logs accepts"}},
		{"verify without a CA", func(m map[string]any) { route(m, "example.org")["caParam"] = nil }, []string{"domains.example.org.route.caParam is required with tls verify"}},
		{"delivery days over the queue's", func(m map[string]any) { m["retention"] = map[string]any{"deliveryDays": 14} }, []string{"retention.deliveryDays 14", "from 1 to 13"}},
		{"incoming expires before delivery gives up", func(m map[string]any) {
			m["retention"] = map[string]any{"incomingDays": 3, "deliveryDays": 5}
		}, []string{"retention.deliveryDays 5", "incoming/ objects expire after 3 days"}},
		{"bad tls policy", func(m map[string]any) { m["tlsPolicy"] = "Always" }, []string{`tlsPolicy "Always"`}},
		{"unknown function", func(m map[string]any) { m["reservedConcurrency"] = map[string]any{"inbund": 3} }, []string{`reservedConcurrency "inbund"`}},
		{"concurrency too high", func(m map[string]any) { m["reservedConcurrency"] = map[string]any{"inbound": 1000} }, []string{"reservedConcurrency.inbound 1000"}},
		{"bad log level", func(m map[string]any) { m["logLevel"] = "verbose" }, []string{`logLevel "verbose"`}},
		{"bad -c JSON", func(m map[string]any) { m["kmsKey"] = "yes" }, []string{`kmsKey: yes`}},
		{"unreadable and invalid values together", func(m map[string]any) {
			m["domian"] = 1
			m["retention"] = "[1]"
			m["region"] = "mars-1"
		}, []string{`context key "domian"`, "retention: want an object, not a JSON array", `region "mars-1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid(t)
			tt.mutate(m)
			_, err := Parse(m)
			if err == nil {
				t.Fatal("Parse accepted an invalid configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// Every problem is reported at once.
func TestParseReportsAll(t *testing.T) {
	m := valid(t)
	m["region"] = "sa-east-1"
	m["tlsPolicy"] = "x"
	m["logLevel"] = "y"
	_, err := Parse(m)
	if err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Fatalf("want three problems, got %v", err)
	}
}

// The repository's cdk.json and the README's complete example must stay valid.
func TestExamplesParse(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok0 := strings.Cut(string(readme), "### Configuration\n")
	_, block, ok := strings.Cut(section, "```json\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok0 || !ok || !ok2 {
		t.Fatal("README.md has no ```json example under ### Configuration")
	}
	cdkJSON, err := os.ReadFile("../../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"cdk.json": string(cdkJSON), "README example": block} {
		t.Run(name, func(t *testing.T) {
			var d struct {
				App     string         `json:"app"`
				Context map[string]any `json:"context"`
			}
			if err := json.Unmarshal([]byte(doc), &d); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !strings.Contains(d.App, "scripts/build-functions.sh") || !strings.Contains(d.App, "./infra") {
				t.Errorf("app %q does not build the functions and run ./infra", d.App)
			}
			if _, err := Parse(d.Context); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
}

func route(m map[string]any, domain string) map[string]any {
	return m["domains"].(map[string]any)[domain].(map[string]any)["route"].(map[string]any)
}
