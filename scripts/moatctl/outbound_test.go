package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/schema"
)

const testTenants = `[{"id":"acme","organisation":"Acme Ltd","domains":["acme.example"],"configurationSet":"moat-acme","adminEmails":["it@acme.example"],"sendingIPs":["198.51.100.25"]},
{"id":"beta","organisation":"Beta","domains":["beta.example","beta-mail.example"],"configurationSet":"moat-beta"}]`

// outboundTarget points moatctl --local at a fresh emulated stack with two tenants and returns
// a queue subscribed to the alert topic.
func outboundLocal(t *testing.T) (aws.Config, string) {
	t.Helper()
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	env := r.Env()
	env[TenantsEnvVar] = testTenants
	dir := t.TempDir()
	b, _ := json.Marshal(localStack{Endpoint: os.Getenv("AWS_ENDPOINT_URL"), Region: awstest.Region, Env: env})
	if err := os.WriteFile(filepath.Join(dir, LocalFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	old := global
	global.Local, global.Dir = true, dir
	t.Cleanup(func() { global = old })

	queue := awstest.Subscribe(t, cfg, r.Topics[schema.Alerts.ID])
	return cfg, queue
}

func queued(t *testing.T, cfg aws.Config, url string) int {
	t.Helper()
	out, err := sqs.NewFromConfig(cfg).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Messages)
}

func TestOutboundSuspendResumeStatus(t *testing.T) {
	cfg, queue := outboundLocal(t)
	expect(t, 0, []string{"tenant acme (Acme Ltd): sending", "tenant beta (Beta): sending", "sending on"}, "outbound", "status")
	expect(t, 2, []string{"usage: moatctl outbound", "a subcommand is required"}, "outbound")
	expect(t, 2, []string{"unknown subcommand \"pause\""}, "outbound", "pause")
	expect(t, 2, []string{"--reason is required"}, "outbound", "suspend", "--tenant", "acme")
	expect(t, 3, []string{`--tenant "nobody": no such tenant (the stack has acme, beta)`}, "outbound", "suspend", "--tenant", "nobody", "--reason", "x")
	expect(t, 0, []string{"suspended tenant acme", "notified"}, "outbound", "suspend", "--tenant", "acme", "--reason", "ticket 4711: spam run", "--by", "ops-anna")
	expect(t, 0, []string{"already suspended"}, "outbound", "suspend", "--tenant", "acme", "--reason", "again", "--by", "ops-anna")
	if n := queued(t, cfg, queue); n != 1 {
		t.Errorf("%d notifications for one suspension", n)
	}
	out, _ := expect(t, 0, nil, "outbound", "status", "--tenant", "acme", "--json")
	var st struct {
		Tenants []struct {
			Tenant         string `json:"tenant"`
			SendingEnabled bool   `json:"sendingEnabled"`
			State          struct {
				Suspended  bool `json:"suspended"`
				Suspension struct {
					Rule, By   string
					Violations []struct{ Detail string }
				} `json:"suspension"`
			} `json:"state"`
		} `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Tenants) != 1 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	a := st.Tenants[0]
	if !a.State.Suspended || a.SendingEnabled || a.State.Suspension.Rule != "operator" || a.State.Suspension.By != "ops-anna" ||
		!strings.Contains(a.State.Suspension.Violations[0].Detail, "ticket 4711") {
		t.Errorf("status %+v", a)
	}
	expect(t, 0, []string{"SUSPENDED", "sending off", "ticket 4711"}, "outbound", "status", "--tenant", "acme")

	// Resume without --by records the caller's identity (the emulator's).
	out, _ = expect(t, 0, nil, "outbound", "resume", "--tenant", "acme", "--json")
	var res struct {
		WasSuspended bool `json:"wasSuspended"`
		State        struct {
			Suspended bool   `json:"suspended"`
			ResumedBy string `json:"resumedBy"`
			ResumedAt string `json:"resumedAt"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.WasSuspended || res.State.Suspended || !strings.HasPrefix(res.State.ResumedBy, "arn:aws:") || res.State.ResumedAt == "" {
		t.Errorf("resume %+v", res)
	}
	expect(t, 0, []string{"tenant acme (Acme Ltd): sending", "sending on", "last suspended", "resumed", "resume", "suspend"}, "outbound", "status", "--tenant", "acme")
	expect(t, 0, []string{"was not suspended"}, "outbound", "resume", "--tenant", "beta", "--by", "ops-anna")
}

func TestOutboundCredentials(t *testing.T) {
	cfg, _ := outboundLocal(t)
	global.Stage = awstest.Name(t, "st") // IAM users are account-wide in the shared emulator
	out, stderr := expect(t, 0, nil, "outbound", "credentials", "create", "--tenant", "beta", "--json")
	var c smtpCredentials
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if c.Username == "" || len(c.Password) != 44 || !strings.HasPrefix(c.Password, "B") || c.Host != "email-smtp.us-east-1.amazonaws.com" {
		t.Errorf("credentials %+v", c)
	}
	if !strings.Contains(stderr, "created") {
		t.Errorf("stderr %q", stderr)
	}
	ctx := context.Background()
	pol, err := iam.NewFromConfig(cfg).GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(c.User), PolicyName: aws.String(SMTPPolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.QueryUnescape(aws.ToString(pol.PolicyDocument)) // IAM returns it URL-encoded
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ses:SendRawEmail","ses:SendEmail"]`, `"ses:FromAddress":["*@beta.example","*@beta-mail.example"]`, "configuration-set/moat-beta", "identity/beta-mail.example"} {
		if !strings.Contains(doc, want) {
			t.Errorf("stored policy lacks %s: %s", want, doc)
		}
	}
	// Nothing in clear: the secret key is not printed, only the derived password.
	keys, err := iam.NewFromConfig(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(c.User)})
	if err != nil || len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != c.Username {
		t.Fatalf("keys %+v %v", keys, err)
	}
	// A second run adds a key to the same user; a third hits IAM's limit of two.
	expect(t, 0, []string{"exists", "password"}, "outbound", "credentials", "create", "--tenant", "beta")
	expect(t, 1, []string{"already has two access keys"}, "outbound", "credentials", "create", "--tenant", "beta")
	expect(t, 2, []string{"--tenant is required"}, "outbound", "credentials", "create")
}
