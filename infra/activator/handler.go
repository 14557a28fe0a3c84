package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
)

// API is the part of the SES v1 client the activator uses; *ses.Client satisfies it.
type API interface {
	SetActiveReceiptRuleSet(ctx context.Context, in *ses.SetActiveReceiptRuleSetInput, opts ...func(*ses.Options)) (*ses.SetActiveReceiptRuleSetOutput, error)
	DescribeActiveReceiptRuleSet(ctx context.Context, in *ses.DescribeActiveReceiptRuleSetInput, opts ...func(*ses.Options)) (*ses.DescribeActiveReceiptRuleSetOutput, error)
}

// Activator handles the custom resource's events.
type Activator struct {
	SES API
	Log *slog.Logger
}

// Handle activates the rule set named by the RuleSetName property (create, update) or deactivates
// the one named by the physical resource ID if it is still active (delete). The physical
// resource ID is the rule set's name: when an update names another rule set, CloudFormation
// deletes the old ID afterwards, which finds the new set active and leaves it so.
func (a *Activator) Handle(ctx context.Context, e cfn.Event) (string, map[string]interface{}, error) {
	switch e.RequestType {
	case cfn.RequestCreate, cfn.RequestUpdate:
		name, _ := e.ResourceProperties["RuleSetName"].(string)
		if name == "" {
			return "", nil, errors.New("the RuleSetName property is missing")
		}
		if _, err := a.SES.SetActiveReceiptRuleSet(ctx, &ses.SetActiveReceiptRuleSetInput{RuleSetName: aws.String(name)}); err != nil {
			return "", nil, fmt.Errorf("activate receipt rule set %s: %w", name, err)
		}
		a.Log.Info("activated", "rule_set", name, "request", string(e.RequestType))
		return name, map[string]interface{}{"RuleSetName": name}, nil
	case cfn.RequestDelete:
		name := e.PhysicalResourceID
		out, err := a.SES.DescribeActiveReceiptRuleSet(ctx, &ses.DescribeActiveReceiptRuleSetInput{})
		if err != nil {
			return name, nil, fmt.Errorf("describe the active receipt rule set: %w", err)
		}
		active := ""
		if out.Metadata != nil && out.Metadata.Name != nil {
			active = *out.Metadata.Name
		}
		if active != name {
			a.Log.Info("left alone", "rule_set", name, "active", active)
			return name, nil, nil
		}
		// No name: deactivate receiving altogether.
		if _, err := a.SES.SetActiveReceiptRuleSet(ctx, &ses.SetActiveReceiptRuleSetInput{}); err != nil {
			return name, nil, fmt.Errorf("deactivate receipt rule set %s: %w", name, err)
		}
		a.Log.Info("deactivated", "rule_set", name)
		return name, nil, nil
	default:
		return e.PhysicalResourceID, nil, fmt.Errorf("unknown request type %q", e.RequestType)
	}
}
