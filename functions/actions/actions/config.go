package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/token"
	"github.com/moatmail/moat/shared/tracking"
)

// EnvLinkKey names the link signing key: a Secrets Manager secret name or ARN, or
// ssm:<parameter>. The key itself is never in the environment.
const EnvLinkKey = "LINK_KEY_NAME"

// Config is the function's configuration, from its environment.
type Config struct {
	Bucket, PolicyTable, TrackingTable, DeliveryQueue, LinkKey string
	TrackingTTL                                                time.Duration
	LogLevel                                                   slog.Level
	// Tenants maps recipient domains to the tenants whose spam models their decisions train
	// (modelstore.TenantsEnvVar); others train the default model.
	Tenants map[string]string
}

// LoadConfig reads the configuration through getenv and reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket: getenv(schema.BucketEnvVar), PolicyTable: getenv(schema.Policies.EnvVar),
		TrackingTable: getenv(schema.Tracking.EnvVar), DeliveryQueue: getenv(schema.Delivery.EnvVar),
		LinkKey: getenv(EnvLinkKey), TrackingTTL: tracking.DefaultTTL,
	}
	var errs []error
	for _, n := range []struct{ name, v string }{
		{schema.BucketEnvVar, c.Bucket}, {schema.Policies.EnvVar, c.PolicyTable}, {schema.Tracking.EnvVar, c.TrackingTable},
		{schema.Delivery.EnvVar, c.DeliveryQueue}, {EnvLinkKey, c.LinkKey},
	} {
		if n.v == "" {
			errs = append(errs, fmt.Errorf("%s is not set", n.name))
		}
	}
	if v := getenv("TRACKING_TTL_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("TRACKING_TTL_DAYS %q: want a whole number of days ≥ 1", v))
		}
		c.TrackingTTL = time.Duration(n) * 24 * time.Hour
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", v))
		}
	}
	tenants, err := modelstore.ParseTenantDomains(getenv(modelstore.TenantsEnvVar))
	if err != nil {
		errs = append(errs, err)
	}
	c.Tenants = tenants
	return c, errors.Join(errs...)
}

// Clients are the SDK clients the function uses, built once.
type Clients struct {
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	Secrets  *secretsmanager.Client
	SSM      *ssm.Client
}

// New wires a Handler; it reads the link key, so it needs the network.
func New(ctx context.Context, c Config, cl Clients, log *slog.Logger) (*Handler, error) {
	signer, err := token.Load(ctx, cl.Secrets, cl.SSM, c.LinkKey)
	if err != nil {
		return nil, err
	}
	return &Handler{
		Admin: &admin.Admin{
			Tracking: tracking.New(cl.DynamoDB, c.TrackingTable, c.TrackingTTL),
			Mail:     quarantine.New(cl.S3, c.Bucket),
			Queue:    delivery.NewQueue(cl.SQS, c.DeliveryQueue),
			Senders:  policystore.New(cl.DynamoDB, c.PolicyTable),
			Learn:    Feedback{Decisions: &modelstore.Decisions{S3: cl.S3, Bucket: c.Bucket, Tenants: c.Tenants}, Log: log},
		},
		Signer: signer,
		Log:    log,
		Now:    time.Now,
	}, nil
}

// Feedback records end users' decisions as training feedback (a release of mail held as spam
// or phishing is ham, blocking its sender is spam) through modelstore.Decisions: a small
// decision object under submissions/feedback/ (submissions/tenants/<tenant>/feedback/ for a
// recipient of a tenant's domain), the only places in the bucket this function may write,
// which the training function reads and learns. The user's action is done when this
// runs: a failure is logged, never shown to the user as a failed action.
type Feedback struct {
	Decisions admin.Learner
	Log       *slog.Logger
}

// Learn implements admin.Learner.
func (f Feedback) Learn(ctx context.Context, quarantineKey string, spam bool) error {
	if err := f.Decisions.Learn(ctx, quarantineKey, spam); err != nil {
		f.Log.Error("decision not recorded for training", "key", quarantineKey, "spam", spam, "error", err)
	}
	return nil
}

// LearnFor implements admin.RecipientLearner: the decision trains the model of the
// recipient's tenant when Decisions can tell it.
func (f Feedback) LearnFor(ctx context.Context, quarantineKey, recipient string, spam bool) error {
	rl, ok := f.Decisions.(admin.RecipientLearner)
	if !ok {
		return f.Learn(ctx, quarantineKey, spam)
	}
	if err := rl.LearnFor(ctx, quarantineKey, recipient, spam); err != nil {
		f.Log.Error("decision not recorded for training", "key", quarantineKey, "spam", spam, "error", err)
	}
	return nil
}
