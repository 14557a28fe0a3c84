package stack

import (
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/reputation"
	"github.com/moatmail/moat/shared/schema"
)

// Inbound function sizing: a 40 MB message with nested archives is filtered by streaming in
// 512 MB (DESIGN.md §8); five minutes leaves room for DNSBL lookups and S3 copies of such a
// message (SES waits for nothing: the invocation is asynchronous).
const (
	InboundMemoryMB = 512
	InboundTimeout  = 5 * 60 // seconds
	InboundRetries  = 2
	InboundMaxAge   = 6 // hours an event may wait (retries, throttling) before its failure queue
)

// Filtering is the inbound function, which SES invokes for every received message, with the
// grants it needs and the queue where its failed events land.
type Filtering struct {
	Construct constructs.Construct // the scope of its resources
	Inbound   *Function
	Failures  awssqs.Queue // on-failure destination of the asynchronous invocations
}

// FilteringProps are what the inbound function uses.
type FilteringProps struct {
	Config     config.Config
	Functions  *Functions
	Storage    *Storage
	Monitoring *Monitoring
}

// NewFiltering creates the inbound function.
func NewFiltering(scope constructs.Construct, id string, p FilteringProps) *Filtering {
	c := constructs.NewConstruct(scope, jsii.String(id))
	cfg, st := p.Config, p.Storage

	env := st.Env([]string{schema.Policies.ID, schema.Tracking.ID, schema.Reputation.ID}, []string{schema.Delivery.ID})
	env["BOUNCE_SENDER"] = cfg.BounceSender
	env["BOUNCE_MODE"] = "ses"
	env["TRACKING_TTL_DAYS"] = strconv.Itoa(cfg.Retention.TrackingDays)
	if cfg.DNSBL.Resolver != "" {
		env["DNSBL_RESOLVER"] = cfg.DNSBL.Resolver
	}
	if cfg.DNSBL.DQSKeyParam != "" {
		env["DQS_KEY_PARAM"] = cfg.DNSBL.DQSKeyParam
	}
	// IP reputation: the default DNSBLs of the client IP, dynamic blocks pushed to SES receipt
	// filters within a budget that leaves half the account's 100 to the administrator.
	env["DNSBL_ZONES"] = "default"
	env["RECEIPT_FILTER_BUDGET"] = strconv.Itoa(reputation.DefaultBudget)
	env["RECEIPT_FILTER_PREFIX"] = filterPrefix(cfg.StackName())
	if v := modelstore.TenantDomainsJSON(cfg.Tenants); v != "" {
		env[modelstore.TenantsEnvVar] = v // each tenant's domains are scored with its spam model
	}
	fn := p.Functions.New(c, "Inbound", FunctionProps{
		Name:        "inbound",
		Description: "Moat: filters each message SES receives and carries out the verdicts",
		MemoryMB:    InboundMemoryMB,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(InboundTimeout)),
		Env:         env,
	})

	// Grants: read the stored message, copy it to quarantine/ with its labels, read policies,
	// write tracking, queue deliveries, bounce through SES from the served domains only.
	st.GrantObjects(fn.Role, []string{"s3:GetObject"}, schema.IncomingPrefix, schema.QuarantinePrefix, schema.ModelsPrefix)
	st.GrantObjects(fn.Role, []string{"s3:PutObject", "s3:PutObjectTagging"}, schema.QuarantinePrefix)
	st.GrantList(fn.Role)
	st.Tables[schema.Policies.ID].GrantReadData(fn.Role)
	st.Tables[schema.Tracking.ID].GrantReadWriteData(fn.Role)
	st.Queues[schema.Delivery.ID].Queue.GrantSendMessages(fn.Role)
	fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("ses:SendBounce", "ses:SendRawEmail"),
		Resources: identityARNs(c, cfg.DomainNames()),
	}))
	st.Tables[schema.Reputation.ID].Grant(fn.Role, jsii.String("dynamodb:GetItem"), jsii.String("dynamodb:PutItem"), jsii.String("dynamodb:UpdateItem"), jsii.String("dynamodb:Query"))
	if st.Key != nil {
		st.Key.GrantEncryptDecrypt(fn.Role)
	}
	receiptFilters := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("ses:ListReceiptFilters", "ses:CreateReceiptFilter", "ses:DeleteReceiptFilter"),
		Resources: jsii.Strings("*"),
	})
	fn.Role.AddToPrincipalPolicy(receiptFilters)
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("SES receipt IP filters have no ARNs: ses:ListReceiptFilters, ses:CreateReceiptFilter and " +
			"ses:DeleteReceiptFilter only accept Resource \"*\". The function touches only the filters named moat-dyn-*."),
		AppliesTo: &[]interface{}{"Resource::*"},
	}}, jsii.Bool(true))
	if name := cfg.DNSBL.DQSKeyParam; name != "" {
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("ssm:GetParameter"),
			Resources: &[]*string{parameterARN(c, name)},
		}))
	}

	// Asynchronous invocation: Lambda retries twice, keeps an event up to six hours (through
	// throttling), then sends it to the failure queue, which alarms. The message is still in
	// incoming/: moatctl redrives the event.
	failProps := &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	}
	if st.Key != nil {
		failProps.Encryption = awssqs.QueueEncryption_KMS
		failProps.EncryptionMasterKey = st.Key
	}
	failures := awssqs.NewQueue(c, jsii.String("InboundFailures"), failProps)
	cdknag.NagSuppressions_AddResourceSuppressions(failures, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the last stop: the on-failure destination of the inbound " +
			"function's asynchronous invocations. It alarms on its first message; moatctl redrives it."),
	}}, nil)
	fn.Function.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(InboundRetries),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(InboundMaxAge)),
		OnFailure:     awslambdadestinations.NewSqsDestination(failures),
	})
	if m := p.Monitoring; m != nil {
		m.WatchDeadLetters("InboundFailures", failures)
		m.Alarm("InboundEventsDropped", fn.Function.Metric(jsii.String("AsyncEventsDropped"), nil),
			"Lambda dropped an SES event for the inbound function without sending it to the failure queue.")
	}

	suppressGrantWildcards(fn.Role, st)
	return &Filtering{Construct: c, Inbound: fn, Failures: failures}
}

// filterPrefix names the receipt filters of one stack, so stages sharing an account never
// delete each other's: "moat-prod-dyn-" for the stack Moat-prod.
func filterPrefix(stack string) string {
	b := []byte(strings.ToLower(stack))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b[:min(len(b), 35)]) + "-dyn-"
}

// identityARNs are the SES identity ARNs of the domains.
func identityARNs(scope constructs.Construct, domains []string) *[]*string {
	stack := awscdk.Stack_Of(scope)
	arns := make([]*string, len(domains))
	for i, d := range domains {
		arns[i] = stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ses"), Resource: jsii.String("identity"), ResourceName: jsii.String(d),
		})
	}
	return &arns
}

// parameterARN is the ARN of the SSM parameter with that name.
func parameterARN(scope constructs.Construct, name string) *string {
	return awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ssm"), Resource: jsii.String("parameter"),
		ResourceName: jsii.String(strings.TrimPrefix(name, "/")),
	})
}

// suppressGrantWildcards records why the wildcards that grants put in a function's policy are
// acceptable: object keys under a prefix, a table's indexes, the KMS actions of the key grants.
func suppressGrantWildcards(role awsiam.Role, st *Storage) {
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Wildcards only in resources the function owns by design: the objects under one prefix " +
			"of the mail bucket (message IDs are not known in advance), the indexes of a table it queries, and " +
			"the KMS data-key actions the CDK grants on the stack's own key."),
		AppliesTo: &[]interface{}{
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<StorageMail[0-9A-F]+\.Arn>\/(incoming|quarantine|submissions|submissions\/feedback|submissions\/tenants\/[a-z][a-z0-9-]*\/feedback|models)\/\*$/`)},
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<Storage[A-Za-z]+[0-9A-F]{8}\.Arn>\/index\/\*$/`)},
			"Action::kms:GenerateDataKey*",
			"Action::kms:ReEncrypt*",
		},
	}}, jsii.Bool(true))
}
