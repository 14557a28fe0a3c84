package stack

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/moatmail/moat/infra/config"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/submission"
)

// DigestSchedule runs the digest function at the top of every hour; each domain's policy
// (digestHours) says at which hours its end users get a digest.
const DigestSchedule = "cron(0 * * * ? *)"

// Quarantine is end-user quarantine: the digest function on an hourly schedule, the action
// function behind a public function URL (auth NONE: the signed, expiring, single-purpose tokens
// in the links are the guard), and the HMAC key that signs those tokens, generated in Secrets
// Manager and read by name (never passed in the environment).
type Quarantine struct {
	Construct constructs.Construct // the scope of its resources
	LinkKey   awssecretsmanager.Secret
	Digest    *Function
	Actions   *Function
	URL       awslambda.FunctionUrl
	Schedule  awsevents.Rule
}

// QuarantineProps are what end-user quarantine uses.
type QuarantineProps struct {
	Config    config.Config
	Functions *Functions
	Storage   *Storage
}

// NewQuarantine creates the digest and action functions with their grants.
func NewQuarantine(scope constructs.Construct, id string, p QuarantineProps) *Quarantine {
	c := constructs.NewConstruct(scope, jsii.String(id))
	cfg, st := p.Config, p.Storage
	q := &Quarantine{Construct: c}

	keyProps := &awssecretsmanager.SecretProps{
		Description: jsii.String("Moat " + cfg.Stage + ": HMAC key signing the quarantine digest links"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
		},
	}
	if st.Key != nil {
		keyProps.EncryptionKey = st.Key
	}
	q.LinkKey = awssecretsmanager.NewSecret(c, jsii.String("LinkKey"), keyProps)
	cdknag.NagSuppressions_AddResourceSuppressions(q.LinkKey, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The key signs digest links that live at most a week; rotating it invalidates every " +
			"outstanding link, so it is rotated by hand (see the README) rather than on a schedule."),
	}}, nil)
	trackingDays := strconv.Itoa(cfg.Retention.TrackingDays)

	// Actions: reads and updates tracking, queues deliveries, writes end users' sender lists.
	// It never reads the message itself; it may only write decisions under submissions/feedback/.
	env := st.Env([]string{schema.Policies.ID, schema.Tracking.ID}, []string{schema.Delivery.ID})
	env["LINK_KEY_NAME"] = *q.LinkKey.SecretArn()
	env["TRACKING_TTL_DAYS"] = trackingDays
	feedback := []string{submission.FeedbackPrefix}
	if v := modelstore.TenantDomainsJSON(cfg.Tenants); v != "" {
		env[modelstore.TenantsEnvVar] = v // a tenant's recipients' decisions train its model
		for _, t := range cfg.Tenants {
			feedback = append(feedback, submission.TenantsPrefix+t.ID+"/feedback/")
		}
	}
	q.Actions = p.Functions.New(c, "Actions", FunctionProps{
		Name:        "actions",
		Description: "Moat: serves the quarantine digest links (confirm on GET, act on POST)",
		MemoryMB:    256,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(30)),
		Env:         env,
	})
	q.URL = q.Actions.Function.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_NONE})
	st.Tables[schema.Tracking.ID].GrantReadWriteData(q.Actions.Role)
	st.Tables[schema.Policies.ID].GrantReadWriteData(q.Actions.Role)
	st.Queues[schema.Delivery.ID].Queue.GrantSendMessages(q.Actions.Role)
	q.LinkKey.GrantRead(q.Actions.Role, nil)
	// End users' decisions as training feedback: a small object naming the quarantined copy
	// and its label, which the train function reads and learns. Write only, only there.
	st.GrantObjects(q.Actions.Role, []string{"s3:PutObject"}, feedback...)
	suppressGrantWildcards(q.Actions.Role, st)

	// Digest: reads tracking and marks expired copies, keeps its watermarks in the Policies
	// table, deletes expired quarantined copies, sends digests from the served domains.
	env = st.Env([]string{schema.Policies.ID, schema.Tracking.ID}, nil)
	env["LINK_KEY_NAME"] = *q.LinkKey.SecretArn()
	env["ACTIONS_URL"] = *q.URL.Url()
	env["QUARANTINE_DAYS"] = strconv.Itoa(cfg.Retention.QuarantineDays)
	env["TRACKING_TTL_DAYS"] = trackingDays
	q.Digest = p.Functions.New(c, "Digests", FunctionProps{
		Name:        "digest",
		Description: "Moat: hourly end-user quarantine digests and expiry of quarantined copies in tracking",
		MemoryMB:    256,
		Timeout:     awscdk.Duration_Minutes(jsii.Number(10)),
		Env:         env,
	})
	st.Tables[schema.Tracking.ID].GrantReadWriteData(q.Digest.Role)
	st.Tables[schema.Policies.ID].GrantReadWriteData(q.Digest.Role)
	st.GrantObjects(q.Digest.Role, []string{"s3:DeleteObject"}, schema.QuarantinePrefix)
	q.LinkKey.GrantRead(q.Digest.Role, nil)
	q.Digest.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("ses:SendRawEmail"),
		Resources: identityARNs(c, cfg.DomainNames()),
	}))
	suppressGrantWildcards(q.Digest.Role, st)
	q.Schedule = p.Functions.Schedule(c, "DigestsSchedule", q.Digest, DigestSchedule, "Moat end-user quarantine digests")

	awscdk.NewCfnOutput(awscdk.Stack_Of(scope), jsii.String("QuarantineActionsUrl"), &awscdk.CfnOutputProps{
		Value: q.URL.Url(), Description: jsii.String("ACTIONS_URL"),
	})
	return q
}
