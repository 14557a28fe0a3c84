package stack

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// The later issues add their functions with one call each: a queue consumer (deliver) and a
// scheduled function (audit, digest). This builds them on a fresh stack with placeholder
// bootstraps and checks what they must get: partial batch responses, a schedule with retries
// and an alarmed dead-letter queue, a log group, arm64.
func TestExtensionPoints(t *testing.T) {
	dir, err := placeholders(append(Built, "digest")...)
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(nil)
	cfg := testCfg
	m, err := New(app, Props{Config: cfg, FunctionsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// The queue consumer, deliver, is made by NewDelivery itself (deliver_test.go checks it).
	// The audit is made by NewAudit itself (audit_test.go checks it); a digest-like function here.
	digest := m.Functions.New(m.Stack, "Digest", FunctionProps{Name: "digest", MemoryMB: 256, Timeout: awscdk.Duration_Minutes(jsii.Number(5))})
	m.Functions.Schedule(m.Stack, "DigestSchedule", digest, "rate(1 hour)", "quarantine digests")
	Check(app)

	tmpl := assertions.Template_FromStack(m.Stack, nil)
	tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
		"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
		"BatchSize":             10,
	})
	tmpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"ScheduleExpression": "rate(1 hour)",
		"Targets": []any{assertions.Match_ObjectLike(&map[string]any{
			"RetryPolicy":      map[string]any{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
			"DeadLetterConfig": assertions.Match_AnyValue(),
		})},
	})
	tmpl.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(len(Built)+1))
	tmpl.ResourceCountIs(jsii.String("AWS::Logs::LogGroup"), jsii.Number(len(Built)+1))
	alarms := js(tmpl.FindResources(jsii.String("AWS::CloudWatch::Alarm"), nil))
	for _, want := range []string{"MonitoringDigestScheduleDeadLettersNotEmpty", "MonitoringDeliverErrors", "MonitoringDigestThrottles"} {
		if !strings.Contains(alarms, want) {
			t.Errorf("no alarm %s*", want)
		}
	}
	for _, f := range nagFindings(m.Stack, "error") {
		t.Errorf("%s: %s", f.ID, f.Entry.Data)
	}
}
