package stack

import (
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/schema"
)

func TestQuarantine(t *testing.T) {
	// The action function's URL is public (the tokens guard it) and the digest runs hourly.
	_, u := only(t, "AWS::Lambda::Url", "QuarantineActions")
	if p := props(u); p["AuthType"] != "NONE" || !strings.Contains(js(p["TargetFunctionArn"]), "QuarantineActions") {
		t.Errorf("function URL %s", js(p))
	}
	_, perm := only(t, "AWS::Lambda::Permission", "QuarantineActionsFunctioninvokefunctionurl")
	if p := props(perm); p["Action"] != "lambda:InvokeFunctionUrl" || p["FunctionUrlAuthType"] != "NONE" {
		t.Errorf("URL permission %s", js(p))
	}
	found := false
	for _, r := range resources("AWS::Events::Rule") {
		p := props(r)
		if p["ScheduleExpression"] == DigestSchedule && strings.Contains(js(p["Targets"]), "QuarantineDigests") {
			found = true
		}
	}
	if !found {
		t.Errorf("no %s rule targets the digest function", DigestSchedule)
	}

	// The key is generated in Secrets Manager and named, never passed, in the environment.
	keyID, secret := only(t, "AWS::SecretsManager::Secret", "QuarantineLinkKey")
	if g := js(props(secret)["GenerateSecretString"]); !strings.Contains(g, `"PasswordLength":64`) {
		t.Errorf("generated key %s", g)
	}
	for _, fn := range []string{"QuarantineActions", "QuarantineDigests"} {
		_, f := only(t, "AWS::Lambda::Function", fn+"Function")
		env := props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		if !strings.Contains(js(env["LINK_KEY_NAME"]), keyID) {
			t.Errorf("%s: LINK_KEY_NAME = %s, want a reference to %s", fn, js(env["LINK_KEY_NAME"]), keyID)
		}
		for k := range env {
			if strings.Contains(strings.ToUpper(k), "SECRET") {
				t.Errorf("%s: env %s", fn, k)
			}
		}
		if fn == "QuarantineDigests" {
			if env["QUARANTINE_DAYS"] != "45" || !strings.Contains(js(env["ACTIONS_URL"]), "QuarantineActionsFunctionFunctionUrl") {
				t.Errorf("digest env %s", js(env))
			}
		}
		if !allows(policyOf(fn+"Role"), "secretsmanager:GetSecretValue", keyID) {
			t.Errorf("%s may not read the link key", fn)
		}
	}

	// Least privilege.
	actions, digest := policyOf("QuarantineActionsRole"), policyOf("QuarantineDigestsRole")
	for _, g := range []struct {
		stmts            []map[string]any
		action, resource string
		want             bool
	}{
		{actions, "dynamodb:UpdateItem", "StorageTracking", true},
		{actions, "dynamodb:PutItem", "StoragePolicies", true},
		{actions, "sqs:SendMessage", "StorageDelivery", true},
		{actions, "s3:GetObject", "", false},
		{actions, "s3:DeleteObject", "", false},
		// End users' decisions go to the training function as small objects under
		// submissions/feedback/: writing there is the function's only access to the bucket.
		{actions, "s3:PutObject", "/submissions/feedback/*", true},
		{actions, "s3:PutObject", "/submissions/spam/*", false},
		{actions, "s3:PutObject", "/quarantine/*", false},
		{actions, "ses:SendRawEmail", "", false},
		{digest, "dynamodb:Query", "StorageTracking", true},
		{digest, "dynamodb:UpdateItem", "StoragePolicies", true},
		{digest, "s3:DeleteObject", "/quarantine/*", true},
		{digest, "s3:DeleteObject", "/incoming/*", false},
		{digest, "s3:GetObject", "", false},
		{digest, "ses:SendRawEmail", ":identity/example.com", true},
		{digest, "sqs:SendMessage", "", false},
		{digest, "kms:Decrypt", "StorageKey", true},
	} {
		if got := allows(g.stmts, g.action, g.resource); got != g.want {
			t.Errorf("%s on %q: allowed %t, want %t", g.action, g.resource, got, g.want)
		}
	}
	if env := testStack.Storage.Env(nil, nil); env[schema.BucketEnvVar] == "" {
		t.Error("storage env without bucket")
	}
	if testStack.Quarantine == nil || testStack.Quarantine.URL == nil {
		t.Error("the stack has no Quarantine construct")
	}
}
