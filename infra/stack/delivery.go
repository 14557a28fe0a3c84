package stack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/schema"
)

// Deliver function sizing: a ses-forward route holds the rewritten message (up to 40 MB) in
// memory; SMTP streams it. The timeout stays well below the delivery queue's visibility
// timeout (schema.Delivery.VisibilitySeconds), and each attempt ends 10 s before it.
const (
	DeliverMemoryMB  = 512
	DeliverTimeout   = 180 // seconds
	DeliverBatchSize = 10
	// DeliveryDelayedSeconds is the age of the oldest delivery job that raises an alarm.
	DeliveryDelayedSeconds = 3600
)

// Delivery is the delivery side of the mail flow: the Delivery queue (made by Storage from
// shared/schema, with its dead-letter queue) and its consumer, the deliver function, with the
// grants it needs and nothing more.
type Delivery struct {
	Construct constructs.Construct // the scope of its resources
	Queue     *Queue
	Deliver   *Function // nil when DeliveryProps has no Functions
}

// DeliveryProps are what delivery uses. Without Functions only the construct is made (tests
// of the extension points add their own consumer).
type DeliveryProps struct {
	Queue     *Queue
	Config    config.Config
	Functions *Functions
	Storage   *Storage
}

// NewDelivery creates the delivery construct and, given Functions, the deliver function.
func NewDelivery(scope constructs.Construct, id string, p DeliveryProps) *Delivery {
	d := &Delivery{Construct: constructs.NewConstruct(scope, jsii.String(id)), Queue: p.Queue}
	if p.Functions == nil || p.Storage == nil {
		return d
	}
	cfg, st := p.Config, p.Storage
	env := st.Env([]string{schema.Policies.ID, schema.Tracking.ID}, []string{schema.Delivery.ID})
	env["BOUNCE_SENDER"] = cfg.BounceSender
	env["TRACKING_TTL_DAYS"] = strconv.Itoa(cfg.Retention.TrackingDays)
	env["RETRY_MAX_AGE_HOURS"] = strconv.Itoa(cfg.Retention.DeliveryDays * 24)
	fn := p.Functions.New(d.Construct, "Deliver", FunctionProps{
		Name:        "deliver",
		Description: "Moat: delivers accepted mail to the customers' mail servers, retries, sends DSNs",
		MemoryMB:    DeliverMemoryMB,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(DeliverTimeout)),
		Env:         env,
	})

	// Grants: read the stored message (incoming/, or quarantine/ for a released one), list
	// the bucket so a missing object is NoSuchKey, read the policy, write tracking, send DSNs
	// and forwarded mail from the served domains, read the routes' named parameters and
	// secrets only. The event source adds receive, delete and ChangeMessageVisibility on the
	// queue.
	st.GrantObjects(fn.Role, []string{"s3:GetObject"}, schema.IncomingPrefix, schema.QuarantinePrefix)
	st.GrantList(fn.Role)
	st.Tables[schema.Policies.ID].GrantReadData(fn.Role)
	st.Tables[schema.Tracking.ID].GrantReadWriteData(fn.Role)
	fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("ses:SendRawEmail", "ses:SendEmail"),
		Resources: identityARNs(d.Construct, cfg.DomainNames()),
	}))
	params, secrets := routeSecrets(cfg)
	if len(params) > 0 {
		arns := make([]*string, len(params))
		for i, n := range params {
			arns[i] = parameterARN(d.Construct, n)
		}
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("ssm:GetParameter"), Resources: &arns,
		}))
	}
	if len(secrets) > 0 {
		arns := make([]*string, len(secrets))
		for i, n := range secrets {
			arns[i] = secretARN(d.Construct, n)
		}
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: &arns,
		}))
	}
	d.AddConsumer(fn, DeliverBatchSize)
	suppressGrantWildcards(fn.Role, st)
	if m := p.Functions.Monitoring; m != nil {
		// Retried jobs stay on the queue: an old one means a mail server that has not taken
		// mail for an hour (down, refusing TLS or AUTH, a missing route).
		five := awscdk.Duration_Minutes(jsii.Number(5))
		m.Alarm("DeliveryDelayed", awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf("IF(age >= %d, 1, 0)", DeliveryDelayedSeconds)),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"age": p.Queue.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
			},
			Period: five,
			Label:  jsii.String("delivery delayed over an hour"),
		}), "A delivery job has waited more than an hour: a mail server is not taking mail. "+
			"See `moatctl tracking search` for deferred recipients and their servers' replies.")
	}
	return d
}

// routeSecrets are the SSM parameters (CA certificates, and AUTH secrets named with a leading
// "/") and the Secrets Manager secrets (other AUTH secret names) the routes name, sorted. The
// deliver function reads these and no others (functions/deliver/deliver.Secrets).
func routeSecrets(cfg config.Config) (params, secrets []string) {
	seenP, seenS := map[string]bool{}, map[string]bool{}
	for _, name := range cfg.DomainNames() {
		rt := cfg.Domains[name].Route
		if n := rt.CAParam; n != "" && !seenP[n] {
			seenP[n] = true
			params = append(params, n)
		}
		switch n := rt.AuthSecret; {
		case n == "":
		case strings.HasPrefix(n, "/"):
			if !seenP[n] {
				seenP[n] = true
				params = append(params, n)
			}
		case !seenS[n]:
			seenS[n] = true
			secrets = append(secrets, n)
		}
	}
	sort.Strings(params)
	sort.Strings(secrets)
	return params, secrets
}

// secretARN matches the Secrets Manager secret with that name: its ARN ends in a dash and six
// random characters.
func secretARN(scope constructs.Construct, name string) *string {
	return awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("secretsmanager"), Resource: jsii.String("secret"),
		ResourceName: jsii.String(name + "-??????"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// AddConsumer makes fn the queue's consumer: batches with partial batch responses (the handler
// returns only the items worth retrying), and the grants to receive and delete messages. The
// function's timeout must stay below the queue's visibility timeout.
func (d *Delivery) AddConsumer(fn *Function, batchSize int) {
	d.Deliver = fn
	fn.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(d.Queue.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(batchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(5)),
	}))
}
