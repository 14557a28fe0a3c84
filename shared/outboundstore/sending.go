package outboundstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// Sending switches the sending of a configuration set: while it is off, SES refuses every
// message sent through it (SMTP clients get an error), so a suspended tenant's mail stops at
// once. SES is the real one; TableSending keeps the switch in the Reputation table where there
// is no SES (the local stack and tests: the emulator lacks PutConfigurationSetSendingOptions).
type Sending interface {
	SetSending(ctx context.Context, configurationSet string, enabled bool) error
	SendingEnabled(ctx context.Context, configurationSet string) (bool, error)
}

// SESV2 is the part of the SES v2 client SES uses.
type SESV2 interface {
	PutConfigurationSetSendingOptions(ctx context.Context, in *sesv2.PutConfigurationSetSendingOptionsInput, opts ...func(*sesv2.Options)) (*sesv2.PutConfigurationSetSendingOptionsOutput, error)
	GetConfigurationSet(ctx context.Context, in *sesv2.GetConfigurationSetInput, opts ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error)
}

// SES switches configuration sets in SES.
type SES struct{ Client SESV2 }

// SetSending turns the configuration set's sending on or off.
func (s SES) SetSending(ctx context.Context, name string, enabled bool) error {
	_, err := s.Client.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{
		ConfigurationSetName: aws.String(name), SendingEnabled: enabled,
	})
	if err != nil {
		return fmt.Errorf("set sending of configuration set %s to %t: %w", name, enabled, err)
	}
	return nil
}

// SendingEnabled reports whether the configuration set sends.
func (s SES) SendingEnabled(ctx context.Context, name string) (bool, error) {
	out, err := s.Client.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(name)})
	if err != nil {
		return false, fmt.Errorf("get configuration set %s: %w", name, err)
	}
	if out.SendingOptions == nil {
		return true, nil // SES's default
	}
	return out.SendingOptions.SendingEnabled, nil
}

// TableSending keeps each configuration set's switch in the table (pk "OUT#SENDING", sk the
// configuration set's name); a set never switched sends.
type TableSending struct{ Store *Store }

// SetSending records the switch.
func (t TableSending) SetSending(ctx context.Context, name string, enabled bool) error {
	_, err := t.Store.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(t.Store.table),
		Item: map[string]types.AttributeValue{
			"pk": str("OUT#SENDING"), "sk": str(name), "enabled": &types.AttributeValueMemberBOOL{Value: enabled},
		},
	})
	if err != nil {
		return fmt.Errorf("set sending of configuration set %s to %t: %w", name, enabled, err)
	}
	return nil
}

// SendingEnabled reads the switch.
func (t TableSending) SendingEnabled(ctx context.Context, name string) (bool, error) {
	out, err := t.Store.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(t.Store.table),
		Key:            map[string]types.AttributeValue{"pk": str("OUT#SENDING"), "sk": str(name)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("get sending of configuration set %s: %w", name, err)
	}
	if v, ok := out.Item["enabled"].(*types.AttributeValueMemberBOOL); ok {
		return v.Value, nil
	}
	return true, nil
}
