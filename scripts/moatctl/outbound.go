package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/outboundstore"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/smtpcred"
)

// TenantsEnvVar is the stack output (by description) that lists the outbound tenants as JSON,
// the same value the outbound function gets.
const TenantsEnvVar = "OUTBOUND_TENANTS"

// SMTPPolicyName is the inline policy of a tenant's SMTP user.
const SMTPPolicyName = "moat-smtp-send"

// newOutboundSending returns the configuration sets' sending switch: SES, or the Reputation
// table for the local stack (the emulator has no PutConfigurationSetSendingOptions). Tests
// replace it.
var newOutboundSending = func(t *target, st *outboundstore.Store) outboundstore.Sending {
	if global.Local {
		return outboundstore.TableSending{Store: st}
	}
	return outboundstore.SES{Client: sesv2.NewFromConfig(t.AWS)}
}

func runOutbound(args []string, stdout, stderr io.Writer) error {
	sub := map[string]func([]string, io.Writer, io.Writer) error{
		"status": outboundStatus, "suspend": outboundSuspend, "resume": outboundResume, "credentials": outboundCredentials,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: moatctl outbound status|suspend|resume|credentials create [flags]")
		fmt.Fprintln(stderr, "  status      [--tenant T] [--json]            tenants' sending state, the evidence of a suspension, history")
		fmt.Fprintln(stderr, "  suspend     --tenant T --reason TEXT [--by WHO] [--json]")
		fmt.Fprintln(stderr, "  resume      --tenant T [--by WHO] [--json]   (who: the caller's AWS identity unless --by)")
		fmt.Fprintln(stderr, "  credentials create --tenant T [--json]       an SMTP user for the tenant; prints the password once")
		switch {
		case len(args) == 0:
			return usagef("a subcommand is required")
		case args[0] == "-h" || args[0] == "--help":
			return nil
		}
		return usagef("unknown subcommand %q", args[0])
	}
	return sub[args[0]](args[1:], stdout, stderr)
}

// outboundTarget is a connected gateway with its tenants.
type outboundTarget struct {
	t       *target
	tenants outbound.Tenants
	store   *outboundstore.Store
	sending outboundstore.Sending
}

func connectOutbound(ctx context.Context) (*outboundTarget, error) {
	t, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.Need(schema.Reputation.EnvVar, TenantsEnvVar); err != nil {
		return nil, fmt.Errorf("%w (no outbound tenants? add tenants to cdk.json)", err)
	}
	ts, err := outbound.ParseTenants([]byte(t.Getenv(TenantsEnvVar)))
	if err != nil {
		return nil, fmt.Errorf("the stack's %s: %w", TenantsEnvVar, err)
	}
	st := outboundstore.New(dynamodb.NewFromConfig(t.AWS), t.Getenv(schema.Reputation.EnvVar))
	return &outboundTarget{t: t, tenants: ts, store: st, sending: newOutboundSending(t, st)}, nil
}

// connectTenant connects to the gateway and finds the tenant the command names.
func connectTenant(ctx context.Context, id string) (*outboundTarget, outbound.Tenant, error) {
	o, err := connectOutbound(ctx)
	if err != nil {
		return nil, outbound.Tenant{}, err
	}
	t, err := o.tenant(id)
	return o, t, err
}

func (o *outboundTarget) tenant(id string) (outbound.Tenant, error) {
	if id == "" {
		return outbound.Tenant{}, usagef("--tenant is required (one of %s)", strings.Join(o.tenants.IDs(), ", "))
	}
	t, ok := o.tenants.ByID(id)
	if !ok {
		return outbound.Tenant{}, notFoundf("--tenant %q: no such tenant (the stack has %s)", id, strings.Join(o.tenants.IDs(), ", "))
	}
	return t, nil
}

// tenantStatus is one tenant in status's output.
type tenantStatus struct {
	Tenant           string                `json:"tenant"`
	Organisation     string                `json:"organisation"`
	ConfigurationSet string                `json:"configurationSet"`
	SendingEnabled   bool                  `json:"sendingEnabled"`
	State            outboundstore.State   `json:"state"`
	History          []outboundstore.Entry `json:"history"`
}

func outboundStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("outbound status", "outbound status [--tenant T] [--history N] [--json]", stderr)
	id := fs.String("tenant", "", "one tenant (default: all)")
	hist := fs.Int("history", 10, "suspensions and resumes to show per tenant")
	asJSON := fs.Bool("json", false, `print {"tenants": [{"tenant","organisation","configurationSet","sendingEnabled","state","history"}]}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	ctx := context.Background()
	o, err := connectOutbound(ctx)
	if err != nil {
		return err
	}
	tenants := o.tenants
	if *id != "" {
		t, err := o.tenant(*id)
		if err != nil {
			return err
		}
		tenants = outbound.Tenants{t}
	}
	var all []tenantStatus
	for _, t := range tenants {
		st, err := o.store.State(ctx, t.ID)
		if err != nil {
			return err
		}
		on, err := o.sending.SendingEnabled(ctx, t.ConfigurationSet)
		if err != nil {
			return err
		}
		h, err := o.store.History(ctx, t.ID, *hist)
		if err != nil {
			return err
		}
		all = append(all, tenantStatus{t.ID, t.Organisation, t.ConfigurationSet, on, st, h})
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"tenants": all})
	}
	for i, s := range all {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		state := "sending"
		if s.State.Suspended {
			state = "SUSPENDED"
		}
		fmt.Fprintf(stdout, "tenant %s (%s): %s; configuration set %s sending %s\n", s.Tenant, s.Organisation, state, s.ConfigurationSet, onOff(s.SendingEnabled))
		if s.State.Suspended != !s.SendingEnabled {
			fmt.Fprintln(stdout, "  warning: the recorded state and SES disagree; run suspend or resume again to set both")
		}
		if sp := s.State.Suspension; sp != nil {
			label := "suspended"
			if !s.State.Suspended {
				label = "last suspended"
			}
			fmt.Fprintf(stdout, "  %s %s by %s (%s)\n", label, sp.Since.UTC().Format(time.RFC3339), dash(sp.By), sp.Rule)
			for _, v := range sp.Violations {
				fmt.Fprintf(stdout, "    %s\n", v.Detail)
			}
			if sp.MessageID != "" {
				fmt.Fprintf(stdout, "    message that crossed it: %s\n", sp.MessageID)
			}
		}
		if s.State.ResumedBy != "" {
			fmt.Fprintf(stdout, "  resumed %s by %s\n", s.State.ResumedAt.UTC().Format(time.RFC3339), s.State.ResumedBy)
		}
		if len(s.History) > 0 {
			fmt.Fprintln(stdout, "  history:")
			for _, e := range s.History {
				fmt.Fprintf(stdout, "    %s  %-8s by %s\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.By)
			}
		}
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func outboundSuspend(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("outbound suspend", "outbound suspend --tenant T --reason TEXT [--by WHO] [--json]", stderr)
	id := fs.String("tenant", "", "the tenant")
	reason := fs.String("reason", "", "why, for the record and the notification (required)")
	by := fs.String("by", "", "who suspends it (default: the caller's AWS identity)")
	asJSON := fs.Bool("json", false, `print {"tenant","suspended","already","suspension"}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return usagef("--reason is required: it goes into the record and the administrators' notification")
	}
	ctx := context.Background()
	o, t, err := connectTenant(ctx, *id)
	if err != nil {
		return err
	}
	if err := o.t.Need(schema.Alerts.EnvVar); err != nil {
		return err
	}
	who, err := caller(ctx, o.t, *by)
	if err != nil {
		return err
	}
	sp := outbound.Suspension{
		Tenant: t.ID, Since: time.Now().UTC(), Rule: outbound.RuleOperator, By: who,
		Violations: []outbound.Violation{{Rule: outbound.RuleOperator, Detail: "suspended by an operator: " + *reason}},
	}
	err = outboundstore.Suspend(ctx, o.store, o.sending, sns.NewFromConfig(o.t.AWS), o.t.Getenv(schema.Alerts.EnvVar), t, sp)
	already := errors.Is(err, outboundstore.ErrAlreadySuspended)
	if err != nil && !already {
		return err
	}
	st, err := o.store.State(ctx, t.ID)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"tenant": t.ID, "suspended": st.Suspended, "already": already, "suspension": st.Suspension})
	}
	if already {
		fmt.Fprintf(stdout, "tenant %s was already suspended since %s (%s); nothing changed\n", t.ID, st.Suspension.Since.UTC().Format(time.RFC3339), st.Suspension.Rule)
		return nil
	}
	fmt.Fprintf(stdout, "suspended tenant %s: configuration set %s sends nothing; its administrators were notified\n", t.ID, t.ConfigurationSet)
	return nil
}

func outboundResume(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("outbound resume", "outbound resume --tenant T [--by WHO] [--json]", stderr)
	id := fs.String("tenant", "", "the tenant")
	by := fs.String("by", "", "who resumes it, for the record (default: the caller's AWS identity)")
	asJSON := fs.Bool("json", false, `print {"tenant","wasSuspended","state"}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	ctx := context.Background()
	o, t, err := connectTenant(ctx, *id)
	if err != nil {
		return err
	}
	who, err := caller(ctx, o.t, *by)
	if err != nil {
		return err
	}
	before, err := o.store.State(ctx, t.ID)
	if err != nil {
		return err
	}
	st, err := outboundstore.Resume(ctx, o.store, o.sending, t, who, time.Now().UTC())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"tenant": t.ID, "wasSuspended": before.Suspended, "state": st})
	}
	if !before.Suspended {
		fmt.Fprintf(stdout, "tenant %s was not suspended; sending on configuration set %s is on (recorded as resumed by %s)\n", t.ID, t.ConfigurationSet, who)
		return nil
	}
	fmt.Fprintf(stdout, "resumed tenant %s at %s by %s: configuration set %s sends again; its counters start afresh\n",
		t.ID, st.ResumedAt.UTC().Format(time.RFC3339), who, t.ConfigurationSet)
	return nil
}

// caller returns by, or the ARN of the AWS identity running moatctl.
func caller(ctx context.Context, t *target, by string) (string, error) {
	if by = strings.TrimSpace(by); by != "" {
		return by, nil
	}
	out, err := sts.NewFromConfig(t.AWS).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who is calling (sts:GetCallerIdentity): %w; pass --by NAME", err)
	}
	return aws.ToString(out.Arn), nil
}

// smtpCredentials is what credentials create prints, once.
type smtpCredentials struct {
	Tenant   string `json:"tenant"`
	User     string `json:"iamUser"`
	Host     string `json:"smtpHost"`
	Port     int    `json:"smtpPort"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func outboundCredentials(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("usage: moatctl outbound credentials create --tenant T [--json]")
	}
	fs := newFlags("outbound credentials create", "outbound credentials create --tenant T [--json]", stderr)
	id := fs.String("tenant", "", "the tenant")
	asJSON := fs.Bool("json", false, `print {"tenant","iamUser","smtpHost","smtpPort","username","password"}`)
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	ctx := context.Background()
	o, t, err := connectTenant(ctx, *id)
	if err != nil {
		return err
	}
	who, err := sts.NewFromConfig(o.t.AWS).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("find the account (sts:GetCallerIdentity): %w", err)
	}
	partition := "aws"
	if parts := strings.SplitN(aws.ToString(who.Arn), ":", 3); len(parts) == 3 {
		partition = parts[1]
	}
	region := o.t.AWS.Region
	doc, err := smtpcred.Policy(t, partition, region, aws.ToString(who.Account))
	if err != nil {
		return err
	}
	user := "moat-" + global.Stage + "-smtp-" + t.ID
	c := iam.NewFromConfig(o.t.AWS)
	fmt.Fprintf(stderr, "IAM user %s: ", user)
	_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	var missing *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &missing):
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Path: aws.String("/moat/"),
			Tags: []iamtypes.Tag{{Key: aws.String("moat:tenant"), Value: aws.String(t.ID)}, {Key: aws.String("moat:stage"), Value: aws.String(global.Stage)}}}); err != nil {
			return fmt.Errorf("create IAM user %s: %w", user, err)
		}
		fmt.Fprintln(stderr, "created")
	case err != nil:
		return fmt.Errorf("get IAM user %s: %w", user, err)
	default:
		fmt.Fprintln(stderr, "exists (its policy is replaced; a new access key is added)")
	}
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(SMTPPolicyName), PolicyDocument: aws.String(doc.JSON())}); err != nil {
		return fmt.Errorf("put the sending policy of %s: %w", user, err)
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	var limit *iamtypes.LimitExceededException
	if errors.As(err, &limit) {
		return fmt.Errorf("%s already has two access keys (IAM's limit): delete the one no longer in use (aws iam delete-access-key --user-name %s --access-key-id ...) and run this again", user, user)
	}
	if err != nil {
		return fmt.Errorf("create an access key for %s: %w", user, err)
	}
	password, err := smtpcred.Password(aws.ToString(key.AccessKey.SecretAccessKey), region)
	if err != nil {
		return err
	}
	cred := smtpCredentials{Tenant: t.ID, User: user, Host: "email-smtp." + region + ".amazonaws.com", Port: 587,
		Username: aws.ToString(key.AccessKey.AccessKeyId), Password: password}
	if *asJSON {
		return printJSON(stdout, cred)
	}
	fmt.Fprintf(stdout, "SMTP credentials for tenant %s (shown once; Moat stores no copy):\n", t.ID)
	fmt.Fprintf(stdout, "  server    %s port %d (STARTTLS) or 465 (TLS)\n  username  %s\n  password  %s\n", cred.Host, cred.Port, cred.Username, cred.Password)
	fmt.Fprintf(stdout, "They send only from %s, through configuration set %s.\n", strings.Join(t.Domains, ", "), t.ConfigurationSet)
	return nil
}
