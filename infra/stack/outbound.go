package stack

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsses"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/schema"
)

// OutboundTenantsEnvVar carries the tenants (with their configuration sets) to the outbound
// function, and names the stack output moatctl reads them from.
const OutboundTenantsEnvVar = "OUTBOUND_TENANTS"

// Outbound is the outbound relay's monitoring: per tenant a configuration set (the default one
// of the tenant's domain identities) that publishes its sending events to the default event
// bus, a rule that hands them to the outbound function, and e-mail subscriptions of the
// tenant's administrators to their tenant's suspension notifications on the alert topic.
type Outbound struct {
	Construct         constructs.Construct
	Function          *Function
	ConfigurationSets map[string]awsses.ConfigurationSet // by tenant ID
	Rule              awsevents.Rule
	DeadLetters       awssqs.Queue
	Tenants           *string // the function's OUTBOUND_TENANTS: compact JSON with the sets' names
}

// OutboundProps are what the outbound monitoring uses.
type OutboundProps struct {
	Config     config.Config
	Functions  *Functions
	Storage    *Storage
	Monitoring *Monitoring
	Receiving  *Receiving // its identities of served domains get the tenant's configuration set
}

// sendingEvents are the events each configuration set publishes (not opens and clicks: the
// relay adds no tracking pixels or links).
var sendingEvents = []awsses.EmailSendingEvent{
	awsses.EmailSendingEvent_SEND, awsses.EmailSendingEvent_DELIVERY, awsses.EmailSendingEvent_BOUNCE,
	awsses.EmailSendingEvent_COMPLAINT, awsses.EmailSendingEvent_REJECT, awsses.EmailSendingEvent_DELIVERY_DELAY,
	awsses.EmailSendingEvent_RENDERING_FAILURE,
}

// detailTypes are the EventBridge detail types of those events.
var detailTypes = []string{"Email Sent", "Email Delivered", "Email Bounced", "Email Complaint Received",
	"Email Rejected", "Email Delivery Delayed", "Email Rendering Failed"}

// NewOutbound creates the tenants' configuration sets, identities and the outbound function.
func NewOutbound(scope constructs.Construct, id string, p OutboundProps) (*Outbound, error) {
	cfg, st, mon := p.Config, p.Storage, p.Monitoring
	c := constructs.NewConstruct(scope, jsii.String(id))
	o := &Outbound{Construct: c, ConfigurationSets: map[string]awsses.ConfigurationSet{}}
	bus := awsevents.EventBus_FromEventBusName(c, jsii.String("DefaultBus"), jsii.String("default"))

	tenants := make([]outbound.Tenant, len(cfg.Tenants))
	var setNames, setARNs []*string
	ids := map[string]string{}
	for i, t := range cfg.Tenants {
		tid := "Tenant" + pascal(t.ID)
		if other, ok := ids[tid]; ok {
			return nil, fmt.Errorf("tenants %s and %s map to the same construct ID %s; rename one", other, t.ID, tid)
		}
		ids[tid] = t.ID
		tc := constructs.NewConstruct(c, jsii.String(tid))
		cs := awsses.NewConfigurationSet(tc, jsii.String("ConfigurationSet"), &awsses.ConfigurationSetProps{
			SendingEnabled:    jsii.Bool(true),
			ReputationMetrics: jsii.Bool(true),
		})
		awsses.NewConfigurationSetEventDestination(tc, jsii.String("Events"), &awsses.ConfigurationSetEventDestinationProps{
			ConfigurationSet: cs,
			Destination:      awsses.EventDestination_EventBus(bus),
			Events:           &sendingEvents,
		})
		o.ConfigurationSets[t.ID] = cs
		setNames = append(setNames, cs.ConfigurationSetName())
		setARNs = append(setARNs, awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ses"), Resource: jsii.String("configuration-set"), ResourceName: cs.ConfigurationSetName(),
		}))
		compact := t.Compact()
		compact.ConfigurationSet = *cs.ConfigurationSetName()
		tenants[i] = compact

		// Every message from the tenant's domains goes through its configuration set, whether
		// or not the sender names it (X-SES-CONFIGURATION-SET).
		for _, d := range t.Domains {
			if ident, ok := p.Receiving.Identities[d]; ok {
				cfn := ident.Node().DefaultChild().(awsses.CfnEmailIdentity)
				cfn.AddPropertyOverride(jsii.String("ConfigurationSetAttributes.ConfigurationSetName"), cs.ConfigurationSetName())
				continue
			}
			dc := constructs.NewConstruct(tc, jsii.String(pascal(d)))
			ident := awsses.NewEmailIdentity(dc, jsii.String("Identity"), &awsses.EmailIdentityProps{
				Identity: awsses.Identity_Domain(jsii.String(d)), ConfigurationSet: cs,
			})
			for j, rec := range [][2]*string{
				{ident.DkimDnsTokenName1(), ident.DkimDnsTokenValue1()},
				{ident.DkimDnsTokenName2(), ident.DkimDnsTokenValue2()},
				{ident.DkimDnsTokenName3(), ident.DkimDnsTokenValue3()},
			} {
				awscdk.NewCfnOutput(dc, jsii.String(fmt.Sprintf("DKIM%d", j+1)), &awscdk.CfnOutputProps{
					Key:         jsii.String(fmt.Sprintf("%s%sDKIM%d", tid, pascal(d), j+1)),
					Value:       awscdk.Fn_Join(jsii.String(""), &[]*string{rec[0], jsii.String(". CNAME "), rec[1], jsii.String(".")}),
					Description: jsii.String(fmt.Sprintf("Set this DKIM CNAME record for %s, tenant %s (SES sends from it once all three resolve)", d, t.ID)),
				})
			}
		}
	}
	o.Tenants = awscdk.Stack_Of(c).ToJsonString(tenants, nil)

	fn := p.Functions.New(c, "Outbound", FunctionProps{
		Name:        "outbound",
		Description: "Moat: outbound sending events → tracking, counters, suspension of a tenant that crosses its policy",
		MemoryMB:    256,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(60)),
		Env: map[string]string{
			schema.Reputation.EnvVar: *st.Tables[schema.Reputation.ID].TableName(),
			schema.Tracking.EnvVar:   *st.Tables[schema.Tracking.ID].TableName(),
			schema.Alerts.EnvVar:     *mon.Alerts.TopicArn(),
			OutboundTenantsEnvVar:    *o.Tenants,
			"TRACKING_TTL_DAYS":      strconv.Itoa(cfg.Retention.TrackingDays),
		},
	})
	o.Function = fn

	// Grants: its items in the Reputation table (counters, state, claims), outbound records in
	// the Tracking table, the alert topic, and the sending switch of the tenants' sets only.
	st.Tables[schema.Reputation.ID].Grant(fn.Role, jsii.String("dynamodb:GetItem"), jsii.String("dynamodb:PutItem"),
		jsii.String("dynamodb:UpdateItem"), jsii.String("dynamodb:DeleteItem"), jsii.String("dynamodb:Query"))
	st.Tables[schema.Tracking.ID].Grant(fn.Role, jsii.String("dynamodb:GetItem"), jsii.String("dynamodb:PutItem"),
		jsii.String("dynamodb:UpdateItem"), jsii.String("dynamodb:Query"))
	mon.Alerts.GrantPublish(fn.Role)
	if st.Key != nil {
		st.Key.GrantEncryptDecrypt(fn.Role)
	}
	if len(setARNs) > 0 {
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("ses:PutConfigurationSetSendingOptions", "ses:GetConfigurationSet"),
			Resources: &setARNs,
		}))
	}
	suppressGrantWildcards(fn.Role, st)

	// The rule: SES's sending events of the tenants' configuration sets, with retries and an
	// alarmed dead-letter queue, which also takes the events the function failed.
	o.DeadLetters = awssqs.NewQueue(c, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(o.DeadLetters, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is the dead-letter queue of the outbound events rule's target; it alarms on its first message."),
	}}, nil)
	o.Rule = awsevents.NewRule(c, jsii.String("Events"), &awsevents.RuleProps{
		EventBus:    bus,
		Description: jsii.String("Moat: the tenants' SES sending events to the outbound function"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ses"),
			DetailType: jsii.Strings(detailTypes...),
			Detail: &map[string]any{
				"mail": map[string]any{"tags": map[string]any{"ses:configuration-set": setNames}},
			},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn.Function, &awseventstargets.LambdaFunctionProps{
			RetryAttempts:   jsii.Number(8),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(6)),
			DeadLetterQueue: o.DeadLetters,
		})},
	})
	// EventBridge invokes asynchronously: its retry policy covers failed deliveries to Lambda;
	// Lambda retries the function's errors itself, and what still fails lands in the same queue
	// (the handler returns an error only when a retry can help).
	fn.Function.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
		OnFailure:     awslambdadestinations.NewSqsDestination(o.DeadLetters),
	})
	mon.WatchDeadLetters("OutboundDeadLetters", o.DeadLetters)

	// Administrators get their own tenant's suspension notifications (filtered on the tenant
	// attribute); the operators' alert addresses get every alert already.
	admins := map[string][]string{}
	for _, t := range cfg.Tenants {
		for _, a := range t.AdminEmails {
			admins[a] = append(admins[a], t.ID)
		}
	}
	addrs := make([]string, 0, len(admins))
	for a := range admins {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		if contains(cfg.AlertEmails, a) {
			continue
		}
		mon.Alerts.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(a), &awssnssubscriptions.EmailSubscriptionProps{
			FilterPolicy: &map[string]awssns.SubscriptionFilter{
				"tenant": awssns.SubscriptionFilter_StringFilter(&awssns.StringConditions{Allowlist: jsii.Strings(admins[a]...)}),
			},
		}))
	}

	awscdk.NewCfnOutput(c, jsii.String("Tenants"), &awscdk.CfnOutputProps{
		Key: jsii.String("OutboundTenants"), Value: o.Tenants, Description: jsii.String(OutboundTenantsEnvVar),
	})
	return o, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
