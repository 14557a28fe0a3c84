package stack

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/metrics"
	"github.com/moatmail/moat/shared/schema"
)

// Audit function sizing: 4,096 targets × 10 IP zones is about 45,000 queries, under four
// minutes at the default concurrency with 20 ms answers; the handler keeps the last 20 s of
// the timeout to store its results.
const (
	AuditMemoryMB = 256
	AuditTimeout  = 10 * 60 // seconds
)

// MetricAuditListedTargets is what the audit alarm watches (shared/audit.MetricListedTargets):
// monitored targets listed in their own right, not the collateral listings of their networks.
const MetricAuditListedTargets = "AuditListedTargets"

// Audit is the scheduled blocklist audit of the monitored IPs, CIDRs, domains and SES
// dedicated IPs, with its grants, schedule and alarm.
type Audit struct {
	Construct constructs.Construct
	Function  *Function
	Schedule  awsevents.Rule
}

// AuditProps are what the audit function uses.
type AuditProps struct {
	Config     config.Config
	Functions  *Functions
	Storage    *Storage
	Monitoring *Monitoring
}

// NewAudit creates the audit function, its schedule and its alarm.
func NewAudit(scope constructs.Construct, id string, p AuditProps) *Audit {
	c := constructs.NewConstruct(scope, jsii.String(id))
	cfg, st, mon := p.Config, p.Storage, p.Monitoring
	table := st.Tables[schema.Reputation.ID]

	// The targets travel as the JSON of shared/audit.Spec (config checks that they fit the
	// environment); longer lists live in the SSM parameter audit.targetsParam.
	spec, _ := json.Marshal(struct {
		IPs             []string `json:"ips,omitempty"`
		Domains         []string `json:"domains,omitempty"`
		SESDedicatedIPs bool     `json:"sesDedicatedIPs,omitempty"`
	}{cfg.MonitoredIPs, cfg.MonitoredDomains, cfg.Audit.SESDedicatedIPs})
	env := map[string]string{
		schema.Reputation.EnvVar: *table.TableName(),
		schema.Alerts.EnvVar:     *mon.Alerts.TopicArn(),
		"AUDIT_TARGETS":          string(spec),
		"STAGE":                  cfg.Stage,
	}
	if v := cfg.Audit.TargetsParam; v != "" {
		env["AUDIT_TARGETS_PARAM"] = v
	}
	if len(cfg.Audit.Zones) > 0 {
		env["AUDIT_ZONES"] = strings.Join(cfg.Audit.Zones, ",")
	}
	if v := cfg.DNSBL.Resolver; v != "" {
		env["DNSBL_RESOLVER"] = v
	}
	if v := cfg.DNSBL.DQSKeyParam; v != "" {
		env["DQS_KEY_PARAM"] = v
	}
	fn := p.Functions.New(c, "Audit", FunctionProps{
		Name:        "audit",
		Description: "Moat: scheduled blocklist audit of the monitored IPs and domains",
		MemoryMB:    AuditMemoryMB,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(AuditTimeout)),
		Env:         env,
	})

	// Grants: read and replace its items in the Reputation table (Query, BatchWriteItem), publish
	// the alert, read the named SSM parameters, list the SES dedicated IPs when asked to.
	table.Grant(fn.Role, jsii.String("dynamodb:Query"), jsii.String("dynamodb:BatchWriteItem"))
	mon.Alerts.GrantPublish(fn.Role)
	if st.Key != nil {
		st.Key.GrantEncryptDecrypt(fn.Role) // the table and the topic are encrypted with it
	}
	var params []*string
	for _, name := range []string{cfg.DNSBL.DQSKeyParam, cfg.Audit.TargetsParam} {
		if name != "" {
			params = append(params, parameterARN(c, name))
		}
	}
	if len(params) > 0 {
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("ssm:GetParameter"),
			Resources: &params,
		}))
	}
	if cfg.Audit.SESDedicatedIPs || cfg.Audit.TargetsParam != "" {
		// The parameter may ask for the dedicated IPs too.
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("ses:GetDedicatedIps"),
			Resources: jsii.Strings("*"),
		}))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("ses:GetDedicatedIps supports no resource-level permissions (it lists the account's IPs); " +
			"the KMS data-key actions are the CDK's grant on the stack's own key."),
		AppliesTo: &[]interface{}{"Resource::*", "Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"},
	}}, jsii.Bool(true))

	rule := p.Functions.Schedule(c, "AuditSchedule", fn, cfg.Audit.Schedule, "Moat blocklist audit")

	// An alarm while a monitored target is listed in its own right. The period spans two runs,
	// so that the alarm stays in ALARM between runs instead of flapping.
	period := auditPeriod(cfg.Audit.Schedule)
	mon.Alarm("AuditListings", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(MetricAuditListedTargets),
		Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Seconds(jsii.Number(float64(period))),
	}), "A monitored IP or domain is on a block list (ASN and allocation listings, which are collateral, do not count). "+
		"The audit's alert says which, with the delisting link; moatctl audit report shows the state.")
	return &Audit{Construct: c, Function: fn, Schedule: rule}
}

var rateRE = regexp.MustCompile(`^rate\(([0-9]+) (minute|hour|day)s?\)$`)

// auditPeriod is the alarm period for a schedule: twice the interval, between 10 minutes and
// a day (CloudWatch's limit for an alarm's evaluation); a day for cron expressions.
func auditPeriod(schedule string) int {
	m := rateRE.FindStringSubmatch(schedule)
	if m == nil {
		return 86400
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]int{"minute": 60, "hour": 3600, "day": 86400}[m[2]]
	return min(max(2*n*unit, 600), 86400)
}
