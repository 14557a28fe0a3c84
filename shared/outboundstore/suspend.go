package outboundstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/moatmail/moat/shared/outbound"
)

// NotificationKind is the "kind" message attribute of a suspension notification.
const NotificationKind = "outbound-suspended"

// ErrAlreadySuspended is returned by Suspend when the tenant already was suspended.
var ErrAlreadySuspended = errors.New("tenant already suspended")

// Publisher publishes notifications; *sns.Client satisfies it.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Suspend suspends a tenant: the state record with the evidence, sending off on its
// configuration set, and one notification on topic with the message attributes tenant and
// kind, so that its administrators' e-mail subscriptions can filter on their tenant. It returns
// ErrAlreadySuspended, having done nothing, when the tenant is suspended already, so that one
// suspension notifies once; on any other failure it takes back what it did, so that a retry
// suspends and notifies again. The outbound function and moatctl both use it.
func Suspend(ctx context.Context, store *Store, sending Sending, pub Publisher, topic string, t outbound.Tenant, sp outbound.Suspension) error {
	ok, err := store.Suspend(ctx, sp)
	if err != nil {
		return err
	}
	if !ok {
		return ErrAlreadySuspended
	}
	undo := func(cause error, reenable bool) error {
		errs := []error{cause}
		if reenable {
			if err := sending.SetSending(ctx, t.ConfigurationSet, true); err != nil {
				errs = append(errs, err)
			}
		}
		if err := store.Unsuspend(ctx, sp); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	if err := sending.SetSending(ctx, t.ConfigurationSet, false); err != nil {
		return undo(err, false)
	}
	subject, text := outbound.Notice(t, sp)
	_, err = pub.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(topic), Subject: aws.String(subject), Message: aws.String(text),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"tenant": {DataType: aws.String("String"), StringValue: aws.String(t.ID)},
			"kind":   {DataType: aws.String("String"), StringValue: aws.String(NotificationKind)},
		},
	})
	if err != nil {
		return undo(fmt.Errorf("notify the suspension of tenant %s: %w", t.ID, err), true)
	}
	return nil
}

// Resume switches a tenant's sending back on and records who did it and when.
func Resume(ctx context.Context, store *Store, sending Sending, t outbound.Tenant, by string, at time.Time) (State, error) {
	if by == "" {
		return State{}, errors.New("resume: who resumes it is required")
	}
	if err := sending.SetSending(ctx, t.ConfigurationSet, true); err != nil {
		return State{}, err
	}
	return store.Resume(ctx, t.ID, by, at)
}
