// Package stack is Moat's CDK stack: one construct per concern, each owning its resources and
// the grants on them (Storage, Monitoring, Filtering, Receiving, Delivery; Audit and the digests
// join when their functions exist), and one helper, Functions, for every Go function.
package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/schema"
)

// Props configure the stack.
type Props struct {
	Config       config.Config
	FunctionsDir string // holds <name>/bootstrap, built by scripts/build-functions.sh
}

// Moat is the whole gateway in one stack.
type Moat struct {
	Stack      awscdk.Stack
	Storage    *Storage
	Monitoring *Monitoring
	Filtering  *Filtering
	Receiving  *Receiving
	Delivery   *Delivery
	Quarantine *Quarantine
	Audit      *Audit    // nil when there is nothing to audit
	Outbound   *Outbound // nil without tenants
	Training   *Training
	Functions  *Functions
}

// Built are the functions the stack deploys today; each needs its bootstrap.
var Built = []string{"inbound", "activator", "deliver", "audit", "digest", "actions", "outbound", "train"}

// New creates the stack Moat-<stage> in scope.
func New(scope constructs.Construct, p Props) (*Moat, error) {
	cfg := p.Config
	fns := &Functions{
		Dir: p.FunctionsDir, LogDays: cfg.Retention.LogDays, LogLevel: cfg.LogLevel,
		Reserved: cfg.ReservedConcurrency,
	}
	needed := []string{"inbound", "deliver", "digest", "actions"}
	if cfg.Activate() {
		needed = append(needed, "activator")
	}
	if cfg.AuditEnabled() {
		needed = append(needed, "audit")
	}
	if len(cfg.Tenants) > 0 {
		needed = append(needed, "outbound")
	}
	if err := fns.Check(needed...); err != nil {
		return nil, err
	}

	env := &awscdk.Environment{Region: jsii.String(cfg.Region)}
	if cfg.Account != "" {
		env.Account = jsii.String(cfg.Account)
	}
	st := awscdk.NewStack(scope, jsii.String(cfg.StackName()), &awscdk.StackProps{
		Env:         env,
		Description: jsii.String("Moat email security gateway, stage " + cfg.Stage),
		Tags:        &map[string]*string{"moat:stage": jsii.String(cfg.Stage)},
	})
	// Server access logs reach their bucket through a bucket policy, not the legacy
	// LogDeliveryWrite ACL (set here, not in cdk.json, so that tests synthesize the same).
	st.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	m := &Moat{Stack: st, Functions: fns}
	m.Storage = NewStorage(st, "Storage", cfg)
	m.Monitoring = NewMonitoring(st, "Monitoring", cfg, m.Storage.Key)
	fns.Monitoring = m.Monitoring
	for _, q := range schema.AllQueues {
		sq := m.Storage.Queues[q.ID]
		m.Monitoring.WatchQueue(sq.Queue)
		m.Monitoring.WatchDeadLetters(q.ID+"DeadLetters", sq.DeadLetters)
	}
	m.Filtering = NewFiltering(st, "Filtering", FilteringProps{
		Config: cfg, Functions: fns, Storage: m.Storage, Monitoring: m.Monitoring,
	})
	recv, err := NewReceiving(st, "Receiving", ReceivingProps{
		Config: cfg, Storage: m.Storage, Inbound: m.Filtering.Inbound.Function, Functions: fns,
	})
	if err != nil {
		return nil, err
	}
	m.Receiving = recv
	m.Delivery = NewDelivery(st, "Delivery", DeliveryProps{
		Queue: m.Storage.Queues[schema.Delivery.ID], Config: cfg, Functions: fns, Storage: m.Storage,
	})
	if cfg.AuditEnabled() {
		m.Audit = NewAudit(st, "Audit", AuditProps{Config: cfg, Functions: fns, Storage: m.Storage, Monitoring: m.Monitoring})
	}
	if len(cfg.Tenants) > 0 {
		if m.Outbound, err = NewOutbound(st, "Outbound", OutboundProps{Config: cfg, Functions: fns, Storage: m.Storage, Monitoring: m.Monitoring, Receiving: m.Receiving}); err != nil {
			return nil, err
		}
	}
	m.Quarantine = NewQuarantine(st, "Quarantine", QuarantineProps{Config: cfg, Functions: fns, Storage: m.Storage})
	m.Training = NewTraining(st, "Training", TrainingProps{Config: cfg, Functions: fns, Storage: m.Storage, Monitoring: m.Monitoring})
	m.Monitoring.Dashboard()
	m.outputs()
	return m, nil
}

// outputs name the resources an operator (moatctl) needs, under the environment variable names
// the functions use.
func (m *Moat) outputs() {
	out := func(id, value, description string) {
		awscdk.NewCfnOutput(m.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(description)})
	}
	out("MailBucket", *m.Storage.Bucket.BucketName(), schema.BucketEnvVar)
	for _, t := range schema.AllTables {
		out(t.ID+"Table", *m.Storage.Tables[t.ID].TableName(), t.EnvVar)
	}
	for _, q := range schema.AllQueues {
		out(q.ID+"QueueUrl", *m.Storage.Queues[q.ID].Queue.QueueUrl(), q.EnvVar)
		out(q.ID+"DeadLettersUrl", *m.Storage.Queues[q.ID].DeadLetters.QueueUrl(), q.EnvVar+" (dead letters)")
	}
	for _, t := range schema.AllTopics {
		out(t.ID+"TopicArn", *m.Monitoring.Topics[t.ID].TopicArn(), t.EnvVar)
	}
	out("InboundFailuresUrl", *m.Filtering.Failures.QueueUrl(), "events the inbound function failed (redrive with moatctl)")
}

// Check applies the cdk-nag AwsSolutions rules to everything in scope: an unsuppressed finding
// is an error annotation, which fails `cdk synth`. Each suppression in this package says why.
func Check(scope constructs.Construct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
