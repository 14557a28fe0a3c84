package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsses"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/schema"
)

// RuleName is the receipt rule's name. It lives inside the stack's rule set, whose name
// CloudFormation generates, so two stages never collide; a fixed name lets the bucket policy
// and the Lambda permission name the exact rule in aws:SourceArn.
const RuleName = "inbound"

// ActivatorResourceType is the custom resource that makes the rule set the active one.
const ActivatorResourceType = "Custom::ActiveReceiptRuleSet"

// Receiving is SES receiving: the domain identities (with DKIM), their DNS records or the
// outputs listing them, the receipt rule set and its one rule (store in S3, then invoke the
// inbound function asynchronously), and the custom resource that activates the rule set.
type Receiving struct {
	Construct  constructs.Construct // the scope of its resources
	RuleSet    awsses.ReceiptRuleSet
	Rule       awsses.CfnReceiptRule
	Identities map[string]awsses.EmailIdentity // by domain
}

// ReceivingProps are what receiving uses.
type ReceivingProps struct {
	Config    config.Config
	Storage   *Storage
	Inbound   awslambda.Function
	Functions *Functions // builds the activator function
}

// NewReceiving creates SES receiving.
func NewReceiving(scope constructs.Construct, id string, p ReceivingProps) (*Receiving, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))
	cfg, st := p.Config, p.Storage
	r := &Receiving{Construct: c, Identities: map[string]awsses.EmailIdentity{}}
	if err := r.domains(cfg); err != nil {
		return nil, err
	}

	r.RuleSet = awsses.NewReceiptRuleSet(c, jsii.String("RuleSet"), nil)
	ruleARN := awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ses"), Resource: jsii.String("receipt-rule-set"),
		ResourceName: jsii.String(*r.RuleSet.ReceiptRuleSetName() + ":receipt-rule/" + RuleName),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	fromRule := map[string]interface{}{
		"StringEquals": map[string]interface{}{
			"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID(),
			"aws:SourceArn":     ruleARN,
		},
	}

	// SES may write only under incoming/, and only for this rule of this account.
	st.Bucket.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowSESPuts"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("ses.amazonaws.com"), nil)},
		Actions:    jsii.Strings("s3:PutObject"),
		Resources:  &[]*string{st.Bucket.ArnForObjects(jsii.String(schema.IncomingPrefix + "*"))},
		Conditions: &fromRule,
	}))
	if st.Key != nil {
		// With SSE-KMS the key policy must let SES (through S3) make the data keys.
		st.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AllowSESToStoreMail"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("ses.amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			},
		}), nil)
	}
	permission := awslambda.NewCfnPermission(c, jsii.String("InvokeInbound"), &awslambda.CfnPermissionProps{
		Action:        jsii.String("lambda:InvokeFunction"),
		FunctionName:  p.Inbound.FunctionArn(),
		Principal:     jsii.String("ses.amazonaws.com"),
		SourceAccount: awscdk.Aws_ACCOUNT_ID(),
		SourceArn:     ruleARN,
	})

	domains := cfg.DomainNames()
	r.Rule = awsses.NewCfnReceiptRule(c, jsii.String("Rule"), &awsses.CfnReceiptRuleProps{
		RuleSetName: r.RuleSet.ReceiptRuleSetName(),
		Rule: &awsses.CfnReceiptRule_RuleProperty{
			Name:        jsii.String(RuleName),
			Enabled:     jsii.Bool(true),
			ScanEnabled: jsii.Bool(true),
			TlsPolicy:   jsii.String(cfg.TLSPolicy),
			Recipients:  jsii.Strings(domains...),
			Actions: &[]interface{}{
				&awsses.CfnReceiptRule_ActionProperty{S3Action: &awsses.CfnReceiptRule_S3ActionProperty{
					BucketName:      st.Bucket.BucketName(),
					ObjectKeyPrefix: jsii.String(schema.IncomingPrefix),
				}},
				&awsses.CfnReceiptRule_ActionProperty{LambdaAction: &awsses.CfnReceiptRule_LambdaActionProperty{
					FunctionArn:    p.Inbound.FunctionArn(),
					InvocationType: jsii.String("Event"),
				}},
			},
		},
	})
	// SES checks both permissions when it creates the rule (it writes a test object).
	r.Rule.Node().AddDependency(st.Bucket.Policy(), permission)
	if st.Key != nil {
		r.Rule.Node().AddDependency(st.Key)
	}

	if cfg.Activate() {
		r.activate(p.Functions)
	}
	awscdk.NewCfnOutput(c, jsii.String("RuleSetName"), &awscdk.CfnOutputProps{
		Value:       r.RuleSet.ReceiptRuleSetName(),
		Description: jsii.String("The SES receipt rule set (the stack activates it unless activateRuleSet is false)"),
	})
	return r, nil
}

// activate adds the custom resource that calls SetActiveReceiptRuleSet on create and update and,
// on delete, deactivates the rule set only if it is still the active one.
func (r *Receiving) activate(fns *Functions) {
	fn := fns.New(r.Construct, "Activator", FunctionProps{
		Name:        "activator",
		Description: "Moat: makes the stack's SES receipt rule set the active one",
		MemoryMB:    128,
		Timeout:     awscdk.Duration_Minutes(jsii.Number(1)),
	})
	fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("ses:SetActiveReceiptRuleSet", "ses:DescribeActiveReceiptRuleSet"),
		Resources: jsii.Strings("*"),
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("ses:SetActiveReceiptRuleSet and ses:DescribeActiveReceiptRuleSet act on the account's " +
			"receiving setup and support no resource-level permissions, so their resource must be *."),
		AppliesTo: &[]interface{}{"Resource::*"},
	}}, jsii.Bool(true))
	cr := awscdk.NewCustomResource(r.Construct, jsii.String("Activation"), &awscdk.CustomResourceProps{
		ServiceToken: fn.Function.FunctionArn(),
		ResourceType: jsii.String(ActivatorResourceType),
		Properties:   &map[string]interface{}{"RuleSetName": r.RuleSet.ReceiptRuleSetName()},
	})
	// Activate once the rule exists; on deletion deactivate before the rule set goes. The
	// function's policy must be in place before the function is called.
	cr.Node().AddDependency(r.Rule, fn.Construct)
}

// domains creates each domain's identity (Easy DKIM) and either its MX and DKIM records in the
// configured hosted zone or outputs that list them.
func (r *Receiving) domains(cfg config.Config) error {
	mx := fmt.Sprintf("inbound-smtp.%s.amazonaws.com", cfg.Region)
	ids := map[string]string{}
	for _, name := range cfg.DomainNames() {
		id := pascal(name)
		if other, ok := ids[id]; ok {
			return fmt.Errorf("domains %s and %s map to the same construct ID %s; rename one", other, name, id)
		}
		ids[id] = name
		d := constructs.NewConstruct(r.Construct, jsii.String(id))
		identity := awsses.NewEmailIdentity(d, jsii.String("Identity"), &awsses.EmailIdentityProps{
			Identity: awsses.Identity_Domain(jsii.String(name)),
		})
		r.Identities[name] = identity
		dkim := [][2]*string{
			{identity.DkimDnsTokenName1(), identity.DkimDnsTokenValue1()},
			{identity.DkimDnsTokenName2(), identity.DkimDnsTokenValue2()},
			{identity.DkimDnsTokenName3(), identity.DkimDnsTokenValue3()},
		}
		dom := cfg.Domains[name]
		if dom.HostedZoneID != "" {
			zone := awsroute53.PublicHostedZone_FromPublicHostedZoneAttributes(d, jsii.String("Zone"), &awsroute53.PublicHostedZoneAttributes{
				HostedZoneId: jsii.String(dom.HostedZoneID), ZoneName: jsii.String(dom.HostedZoneName),
			})
			awsroute53.NewMxRecord(d, jsii.String("MX"), &awsroute53.MxRecordProps{
				Zone:       zone,
				RecordName: jsii.String(name + "."),
				Values:     &[]*awsroute53.MxRecordValue{{HostName: jsii.String(mx), Priority: jsii.Number(10)}},
				Ttl:        awscdk.Duration_Minutes(jsii.Number(5)),
			})
			for i, rec := range dkim {
				awsroute53.NewCnameRecord(d, jsii.String(fmt.Sprintf("DKIM%d", i+1)), &awsroute53.CnameRecordProps{
					Zone: zone, RecordName: rec[0], DomainName: rec[1], Ttl: awscdk.Duration_Hours(jsii.Number(1)),
				})
			}
			continue
		}
		awscdk.NewCfnOutput(d, jsii.String("MX"), &awscdk.CfnOutputProps{
			Key:         jsii.String(id + "MX"),
			Value:       jsii.String(fmt.Sprintf("%s. MX 10 %s.", name, mx)),
			Description: jsii.String("Set this MX record for " + name + " (replaces its current MX: do it when you are ready to cut over)"),
		})
		for i, rec := range dkim {
			awscdk.NewCfnOutput(d, jsii.String(fmt.Sprintf("DKIM%d", i+1)), &awscdk.CfnOutputProps{
				Key:         jsii.String(fmt.Sprintf("%sDKIM%d", id, i+1)),
				Value:       awscdk.Fn_Join(jsii.String(""), &[]*string{rec[0], jsii.String(". CNAME "), rec[1], jsii.String(".")}),
				Description: jsii.String(fmt.Sprintf("Set this DKIM CNAME record for %s (SES verifies the domain when all three resolve)", name)),
			})
		}
	}
	return nil
}

// pascal turns a domain name into a construct ID: "mail-example.co.uk" → "MailExampleCoUk".
func pascal(name string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
