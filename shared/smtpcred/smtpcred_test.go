package smtpcred

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/outbound"
)

// TestPassword checks the derivation against AWS's documented algorithm: the expected values
// were computed with the Python script of the SES developer guide (smtp_credentials_generate.py)
// for AWS's example secret key.
func TestPassword(t *testing.T) {
	for _, tt := range []struct{ region, want string }{
		{"us-east-1", "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"},
		{"eu-west-1", "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk"},
	} {
		got, err := Password("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", tt.region)
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.region, got, err, tt.want)
		}
	}
	if _, err := Password("", "eu-west-1"); err == nil {
		t.Error("empty secret accepted")
	}
	if _, err := Password("x", "Europe"); err == nil || !strings.Contains(err.Error(), `"Europe"`) {
		t.Errorf("bad region: %v", err)
	}
}

func TestPolicyAsData(t *testing.T) {
	ten := outbound.Tenant{ID: "acme", Domains: []string{"acme.example", "acme-mail.example"}, ConfigurationSet: "moat-acme"}
	doc, err := Policy(ten, "aws", "eu-west-1", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	// Round trip through JSON as IAM reads it.
	var back struct {
		Version   string
		Statement []struct {
			Effect    string
			Action    []string
			Resource  []string
			Condition map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(doc.JSON()), &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != "2012-10-17" || len(back.Statement) != 1 {
		t.Fatalf("document %s", doc.JSON())
	}
	st := back.Statement[0]
	if st.Effect != "Allow" {
		t.Errorf("effect %s", st.Effect)
	}
	slices.Sort(st.Action)
	if !slices.Equal(st.Action, []string{"ses:SendEmail", "ses:SendRawEmail"}) {
		t.Errorf("actions %v: want only sending", st.Action)
	}
	for _, r := range st.Resource {
		if strings.Contains(r, "*") {
			t.Errorf("wildcard resource %s", r)
		}
	}
	wantRes := []string{
		"arn:aws:ses:eu-west-1:123456789012:identity/acme.example",
		"arn:aws:ses:eu-west-1:123456789012:identity/acme-mail.example",
		"arn:aws:ses:eu-west-1:123456789012:configuration-set/moat-acme",
	}
	if !slices.Equal(st.Resource, wantRes) {
		t.Errorf("resources %v, want %v", st.Resource, wantRes)
	}
	from := st.Condition["StringLike"]["ses:FromAddress"]
	if !slices.Equal(from, []string{"*@acme.example", "*@acme-mail.example"}) || len(st.Condition) != 1 {
		t.Errorf("condition %v", st.Condition)
	}

	for _, bad := range []struct {
		ten                        outbound.Tenant
		partition, region, account string
		want                       string
	}{
		{ten, "aws", "eu-west-1", "1234", `account "1234"`},
		{ten, "azure", "eu-west-1", "123456789012", `partition "azure"`},
		{outbound.Tenant{ID: "x", Domains: []string{"x.example"}}, "aws", "eu-west-1", "123456789012", "configurationSet is empty"},
		{outbound.Tenant{ID: "x", ConfigurationSet: "c", Domains: []string{"*"}}, "aws", "eu-west-1", "123456789012", `domain "*"`},
	} {
		if _, err := Policy(bad.ten, bad.partition, bad.region, bad.account); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("error %v, want %s", err, bad.want)
		}
	}
}
