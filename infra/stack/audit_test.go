package stack

import (
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/schema"
)

// The audit function runs on its schedule with the configured targets, may read and write its
// items, publish the alert and read the two named parameters (nothing else), and an alarm
// watches the listings.
func TestAudit(t *testing.T) {
	if testStack.Audit == nil {
		t.Fatal("the test configuration has monitored targets, but the stack has no audit")
	}
	id, fn := only(t, "AWS::Lambda::Function", "AuditFunction")
	p := props(fn)
	if p["MemorySize"] != float64(AuditMemoryMB) || p["Timeout"] != float64(AuditTimeout) {
		t.Errorf("memory %v timeout %v", p["MemorySize"], p["Timeout"])
	}
	env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	for _, k := range []string{schema.Reputation.EnvVar, schema.Alerts.EnvVar} {
		if env[k] == nil {
			t.Errorf("env %s is not set", k)
		}
	}
	for k, v := range map[string]string{
		"AUDIT_TARGETS_PARAM": "/moat/test/audit-targets", "DNSBL_RESOLVER": "192.0.2.53:53",
		"DQS_KEY_PARAM": "/moat/test/dqs-key", "STAGE": "test", "AUDIT_ZONES": "spamhaus-zen,spamcop,uceprotect-3",
	} {
		if env[k] != v {
			t.Errorf("env %s = %v, want %s", k, env[k], v)
		}
	}
	// The targets are the configuration's, in the form the function reads.
	spec, err := audit.ParseSpec([]byte(env["AUDIT_TARGETS"].(string)))
	if err != nil {
		t.Fatalf("AUDIT_TARGETS %v: %v", env["AUDIT_TARGETS"], err)
	}
	if targets, err := spec.Targets(0); err != nil || len(targets) != 1+8+1 || !spec.SESDedicatedIPs {
		t.Errorf("AUDIT_TARGETS %v: %d targets, %v", env["AUDIT_TARGETS"], len(targets), err)
	}

	// The schedule invokes it, with retries and an alarmed dead-letter queue.
	_, rule := only(t, "AWS::Events::Rule", "AuditAuditSchedule")
	rp := props(rule)
	if rp["ScheduleExpression"] != "rate(6 hours)" || !strings.Contains(js(rp["Targets"]), id) ||
		!strings.Contains(js(rp["Targets"]), "DeadLetterConfig") {
		t.Errorf("schedule %s", js(rp))
	}

	st := policyOf("AuditRole")
	for _, g := range []struct{ action, resource string }{
		{"dynamodb:Query", "StorageReputation"},
		{"dynamodb:BatchWriteItem", "StorageReputation"},
		{"sns:Publish", "MonitoringAlerts"},
		{"ssm:GetParameter", ":parameter/moat/test/dqs-key"},
		{"ssm:GetParameter", ":parameter/moat/test/audit-targets"},
		{"ses:GetDedicatedIps", "*"},
		{"kms:Decrypt", "StorageKey"},
		{"kms:GenerateDataKey*", "StorageKey"},
	} {
		if !allows(st, g.action, g.resource) {
			t.Errorf("audit may not %s on %s", g.action, g.resource)
		}
	}
	for _, g := range []struct{ action, resource string }{
		{"dynamodb:Scan", ""}, {"dynamodb:DeleteTable", ""}, {"dynamodb:Query", "StorageTracking"},
		{"dynamodb:Query", "StoragePolicies"}, {"s3:GetObject", ""}, {"sqs:SendMessage", ""},
		{"ses:SendRawEmail", ""}, {"secretsmanager:GetSecretValue", ""},
	} {
		if allows(st, g.action, g.resource) {
			t.Errorf("audit may %s on %s, which it does not need", g.action, g.resource)
		}
	}

	// The alarm on listed targets: the audit's metric, a period of two runs.
	var alarm map[string]any
	for aid, a := range resources("AWS::CloudWatch::Alarm") {
		if strings.HasPrefix(aid, "MonitoringAuditListings") {
			alarm = props(a)
		}
	}
	if alarm == nil {
		t.Fatal("no alarm MonitoringAuditListings*")
	}
	if alarm["MetricName"] != audit.MetricListedTargets || alarm["Namespace"] != "Moat" || alarm["Period"] != float64(12*3600) ||
		alarm["Statistic"] != "Maximum" || !strings.Contains(js(alarm["AlarmActions"]), "MonitoringAlerts") {
		t.Errorf("alarm %s", js(alarm))
	}
	alarms := js(resources("AWS::CloudWatch::Alarm"))
	for _, want := range []string{"MonitoringAuditErrors", "MonitoringAuditScheduleDeadLettersNotEmpty"} {
		if !strings.Contains(alarms, want) {
			t.Errorf("no alarm %s*", want)
		}
	}
	if MetricAuditListedTargets != audit.MetricListedTargets {
		t.Errorf("the alarm watches %s, the audit emits %s", MetricAuditListedTargets, audit.MetricListedTargets)
	}
}

func TestAuditPeriod(t *testing.T) {
	for s, want := range map[string]int{
		"rate(1 hour)": 7200, "rate(5 minutes)": 600, "rate(6 hours)": 43200, "rate(1 day)": 86400,
		"rate(2 days)": 86400, "cron(0 6 * * ? *)": 86400,
	} {
		if got := auditPeriod(s); got != want {
			t.Errorf("%s: %d, want %d", s, got, want)
		}
	}
}
