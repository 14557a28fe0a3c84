package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
)

// fakeSES keeps the account's active rule set ("" = none).
type fakeSES struct {
	active string
	calls  int
	err    error
}

func (f *fakeSES) SetActiveReceiptRuleSet(_ context.Context, in *ses.SetActiveReceiptRuleSetInput, _ ...func(*ses.Options)) (*ses.SetActiveReceiptRuleSetOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	f.active = aws.ToString(in.RuleSetName)
	return &ses.SetActiveReceiptRuleSetOutput{}, nil
}

func (f *fakeSES) DescribeActiveReceiptRuleSet(context.Context, *ses.DescribeActiveReceiptRuleSetInput, ...func(*ses.Options)) (*ses.DescribeActiveReceiptRuleSetOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := &ses.DescribeActiveReceiptRuleSetOutput{}
	if f.active != "" {
		out.Metadata = &types.ReceiptRuleSetMetadata{Name: aws.String(f.active)}
	}
	return out, nil
}

func event(t cfn.RequestType, physical, ruleSet string) cfn.Event {
	return cfn.Event{RequestType: t, PhysicalResourceID: physical, ResourceProperties: map[string]interface{}{"RuleSetName": ruleSet}}
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name       string
		active     string
		event      cfn.Event
		wantActive string
		wantID     string
		wantErr    bool
	}{
		{"create activates", "customer-old", event(cfn.RequestCreate, "", "moat-rs"), "moat-rs", "moat-rs", false},
		{"update re-activates", "", event(cfn.RequestUpdate, "moat-rs", "moat-rs"), "moat-rs", "moat-rs", false},
		{"update to a new rule set", "moat-rs", event(cfn.RequestUpdate, "moat-rs", "moat-rs2"), "moat-rs2", "moat-rs2", false},
		{"delete deactivates our active set", "moat-rs", event(cfn.RequestDelete, "moat-rs", "moat-rs"), "", "moat-rs", false},
		{"delete leaves another active set", "someone-else", event(cfn.RequestDelete, "moat-rs", "moat-rs"), "someone-else", "moat-rs", false},
		{"delete after a failed create", "customer", event(cfn.RequestDelete, "request-id-123", ""), "customer", "request-id-123", false},
		{"create without a name fails", "x", event(cfn.RequestCreate, "", ""), "x", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSES{active: tt.active}
			a := &Activator{SES: f, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			id, _, err := a.Handle(context.Background(), tt.event)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if f.active != tt.wantActive {
				t.Errorf("active rule set = %q, want %q", f.active, tt.wantActive)
			}
			if id != tt.wantID {
				t.Errorf("physical ID = %q, want %q", id, tt.wantID)
			}
		})
	}
}

// An SES error fails the resource (CloudFormation rolls back) rather than passing silently.
func TestHandleSESError(t *testing.T) {
	f := &fakeSES{err: errors.New("throttled")}
	a := &Activator{SES: f, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, rt := range []cfn.RequestType{cfn.RequestCreate, cfn.RequestDelete} {
		if _, _, err := a.Handle(context.Background(), event(rt, "moat-rs", "moat-rs")); err == nil {
			t.Errorf("%s: SES error not reported", rt)
		}
	}
}
