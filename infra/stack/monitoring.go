package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/metrics"
	"github.com/moatmail/moat/shared/schema"
)

// Metric names of the mail flow, emitted as EMF lines (shared/metrics) in the Moat namespace.
const (
	MetricMessages   = "Messages"   // inbound: one per action, dimension Action
	MetricDuration   = "Duration"   // inbound: milliseconds per message, no dimension
	MetricDeliveries = "Deliveries" // deliver: dimension Outcome (delivered, deferred, failed)
)

// Monitoring owns the topics from shared/schema (the alert topic with the configured e-mail
// subscriptions), the alarms, and the mail-flow dashboard.
type Monitoring struct {
	Construct constructs.Construct    // the scope of its resources
	Topics    map[string]awssns.Topic // by schema ID
	Alerts    awssns.Topic
	action    awscloudwatch.IAlarmAction
	functions []awslambda.Function
	queues    []awssqs.Queue // queues whose depth the dashboard shows
	dead      []awssqs.Queue // dead-letter and on-failure queues
}

// NewMonitoring creates the topics. key, when not nil, encrypts them; CloudWatch alarms may
// then use it to publish.
func NewMonitoring(scope constructs.Construct, id string, cfg config.Config, key awskms.Key) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Construct: c, Topics: map[string]awssns.Topic{}}
	for _, t := range schema.AllTopics {
		props := &awssns.TopicProps{EnforceSSL: jsii.Bool(true)}
		if key != nil {
			props.MasterKey = key
		}
		topic := awssns.NewTopic(c, jsii.String(t.ID), props)
		if key == nil {
			cdknag.NagSuppressions_AddResourceSuppressions(topic, &[]*cdknag.NagPackSuppression{{
				Id: jsii.String("AwsSolutions-SNS2"),
				Reason: jsii.String("CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key; " +
					"set the kmsKey context to true to encrypt alerts with the stack's customer managed key."),
			}}, nil)
		}
		m.Topics[t.ID] = topic
	}
	m.Alerts = m.Topics[schema.Alerts.ID]
	for _, addr := range cfg.AlertEmails {
		m.Alerts.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(addr), nil))
	}
	if key != nil {
		key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AllowCloudWatchAlarmsToPublish"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			},
		}), nil)
	}
	m.action = awscloudwatchactions.NewSnsAction(m.Alerts)
	return m
}

// WatchFunction alarms on any error or throttle of fn, and puts it on the dashboard.
func (m *Monitoring) WatchFunction(id string, fn awslambda.Function) {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	for _, a := range []struct {
		name   string
		metric awscloudwatch.Metric
		what   string
	}{
		{"Errors", fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), "returned errors (each is retried or sent to its failure queue)"},
		{"Throttles", fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), "was throttled (reserved concurrency or the account limit)"},
	} {
		m.alarm(id+a.name, a.metric, fmt.Sprintf("The %s function %s in the last 5 minutes.", id, a.what))
	}
	m.functions = append(m.functions, fn)
}

// WatchDeadLetters alarms as soon as a message waits in q: a dead-letter queue or an on-failure
// destination, where a message means mail that needs an operator (moatctl redrive).
func (m *Monitoring) WatchDeadLetters(id string, q awssqs.Queue) {
	metric := q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
	})
	m.alarm(id+"NotEmpty", metric, fmt.Sprintf("A message is waiting in %s: inspect it and redrive it with moatctl.", id))
	m.dead = append(m.dead, q)
}

// WatchQueue puts a working queue's depth and age on the dashboard.
func (m *Monitoring) WatchQueue(q awssqs.Queue) { m.queues = append(m.queues, q) }

// Alarm adds an alarm on metric (≥ 1 in one period) that notifies the alert topic.
func (m *Monitoring) Alarm(id string, metric awscloudwatch.IMetric, description string) {
	m.alarm(id, metric, description)
}

func (m *Monitoring) alarm(id string, metric awscloudwatch.IMetric, description string) {
	a := awscloudwatch.NewAlarm(m.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
		Metric:             metric,
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		AlarmDescription:   jsii.String(description),
	})
	a.AddAlarmAction(m.action)
	a.AddOkAction(m.action)
}

// Dashboard creates the mail-flow dashboard from what was watched. Call it last.
func (m *Monitoring) Dashboard() awscloudwatch.Dashboard {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	moat := func(name, stat, label string, dims map[string]string) awscloudwatch.Metric {
		var dm *map[string]*string
		if len(dims) > 0 {
			d := map[string]*string{}
			for k, v := range dims {
				d[k] = jsii.String(v)
			}
			dm = &d
		}
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(name), DimensionsMap: dm,
			Statistic: jsii.String(stat), Period: five, Label: jsii.String(label),
		})
	}
	byAction := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,Action} MetricName="%s"', 'Sum', 300)`, metrics.Namespace, MetricMessages)),
		Label:      jsii.String(""),
		Period:     five,
	})
	row1 := []awscloudwatch.IWidget{
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Messages by action (per recipient)"), Width: jsii.Number(12), Stacked: jsii.Bool(true),
			Left: &[]awscloudwatch.IMetric{byAction},
		}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Filtering time per message (ms)"), Width: jsii.Number(12),
			Left: &[]awscloudwatch.IMetric{
				moat(MetricDuration, "p50", "p50", nil), moat(MetricDuration, "p99", "p99", nil), moat(MetricDuration, "Maximum", "max", nil),
			},
		}),
	}
	var depth, age, dead []awscloudwatch.IMetric
	for _, q := range m.queues {
		depth = append(depth, q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}))
		age = append(age, q.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}))
	}
	for _, q := range m.dead {
		dead = append(dead, q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}))
	}
	row2 := []awscloudwatch.IWidget{
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Deliveries by outcome"), Width: jsii.Number(8),
			Left: &[]awscloudwatch.IMetric{
				moat(MetricDeliveries, "Sum", "delivered", map[string]string{"Outcome": "delivered"}),
				moat(MetricDeliveries, "Sum", "deferred", map[string]string{"Outcome": "deferred"}),
				moat(MetricDeliveries, "Sum", "failed", map[string]string{"Outcome": "failed"}),
			},
		}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Queued deliveries and oldest age (s)"), Width: jsii.Number(8),
			Left: &depth, Right: &age,
		}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Dead letters and failed events"), Width: jsii.Number(8), Left: &dead,
		}),
	}
	var inv, errs, dur []awscloudwatch.IMetric
	for _, fn := range m.functions {
		inv = append(inv, fn.MetricInvocations(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}))
		errs = append(errs, fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}))
		errs = append(errs, fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}))
		dur = append(dur, fn.MetricDuration(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("p99")}))
	}
	row3 := []awscloudwatch.IWidget{
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("Function invocations"), Width: jsii.Number(8), Left: &inv}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("Function errors and throttles"), Width: jsii.Number(8), Left: &errs}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("Function duration p99 (ms)"), Width: jsii.Number(8), Left: &dur}),
	}
	return awscloudwatch.NewDashboard(m.Construct, jsii.String("MailFlow"), &awscloudwatch.DashboardProps{
		Widgets: &[]*[]awscloudwatch.IWidget{&row1, &row2, &row3},
	})
}
