package stack

import (
	"strconv"
	"testing"

	"github.com/moatmail/moat/shared/reputation"
	"github.com/moatmail/moat/shared/schema"
)

func TestInboundReputation(t *testing.T) {
	_, fn := only(t, "AWS::Lambda::Function", "FilteringInbound")
	env := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[schema.Reputation.EnvVar] == nil {
		t.Errorf("env %s is not set", schema.Reputation.EnvVar)
	}
	if env["DNSBL_ZONES"] != "default" || env["RECEIPT_FILTER_BUDGET"] != strconv.Itoa(reputation.DefaultBudget) || env["RECEIPT_FILTER_PREFIX"] != "moat-test-dyn-" {
		t.Errorf("DNSBL_ZONES %v, RECEIPT_FILTER_BUDGET %v, RECEIPT_FILTER_PREFIX %v", env["DNSBL_ZONES"], env["RECEIPT_FILTER_BUDGET"], env["RECEIPT_FILTER_PREFIX"])
	}

	st := policyOf("FilteringInboundRole")
	for _, a := range []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} {
		if !allows(st, a, "StorageReputation") {
			t.Errorf("inbound may not %s on the Reputation table", a)
		}
	}
	for _, a := range []string{"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"} {
		if allows(st, a, "StorageReputation") {
			t.Errorf("inbound may %s on the Reputation table, which it does not need", a)
		}
	}
	for _, a := range []string{"ses:ListReceiptFilters", "ses:CreateReceiptFilter", "ses:DeleteReceiptFilter"} {
		if !allows(st, a, `"*"`) {
			t.Errorf("inbound may not %s (Resource *: receipt filters have no ARNs)", a)
		}
	}
}
