package digest

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
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/token"
	"github.com/moatmail/moat/shared/tracking"
)

// Environment variables besides the schema's.
const (
	EnvLinkKey        = "LINK_KEY_NAME"   // Secrets Manager secret name or ARN, or ssm:<parameter>
	EnvActionsURL     = "ACTIONS_URL"     // the action function's URL
	EnvSender         = "DIGEST_SENDER"   // optional From address
	EnvQuarantineDays = "QUARANTINE_DAYS" // retention of quarantined copies (default 30)
	EnvLinkHours      = "LINK_TTL_HOURS"  // how long links work (default 168, a week)
	EnvTrackingDays   = "TRACKING_TTL_DAYS"
)

// Config is the function's configuration, from its environment.
type Config struct {
	Bucket, PolicyTable, TrackingTable string
	LinkKey, ActionsURL, Sender        string
	Retention, LinkTTL, TrackingTTL    time.Duration
	LogLevel                           slog.Level
}

// LoadConfig reads the configuration through getenv and reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket: getenv(schema.BucketEnvVar), PolicyTable: getenv(schema.Policies.EnvVar), TrackingTable: getenv(schema.Tracking.EnvVar),
		LinkKey: getenv(EnvLinkKey), ActionsURL: getenv(EnvActionsURL), Sender: getenv(EnvSender),
		Retention: 30 * 24 * time.Hour, LinkTTL: 7 * 24 * time.Hour, TrackingTTL: tracking.DefaultTTL,
	}
	var errs []error
	for _, n := range []struct{ name, v string }{
		{schema.BucketEnvVar, c.Bucket}, {schema.Policies.EnvVar, c.PolicyTable}, {schema.Tracking.EnvVar, c.TrackingTable},
		{EnvLinkKey, c.LinkKey}, {EnvActionsURL, c.ActionsURL},
	} {
		if n.v == "" {
			errs = append(errs, fmt.Errorf("%s is not set", n.name))
		}
	}
	if c.ActionsURL != "" && !strings.HasPrefix(c.ActionsURL, "https://") && !strings.HasPrefix(c.ActionsURL, "http://127.0.0.1") && !strings.HasPrefix(c.ActionsURL, "http://localhost") {
		errs = append(errs, fmt.Errorf("%s %q: want an https:// URL", EnvActionsURL, c.ActionsURL))
	}
	if c.Sender != "" && !plainAddress(c.Sender) {
		errs = append(errs, fmt.Errorf("%s %q: want an address local@domain", EnvSender, c.Sender))
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		unit time.Duration
	}{
		{EnvQuarantineDays, &c.Retention, 24 * time.Hour},
		{EnvLinkHours, &c.LinkTTL, time.Hour},
		{EnvTrackingDays, &c.TrackingTTL, 24 * time.Hour},
	} {
		if v := getenv(d.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s %q: want a whole number ≥ 1", d.name, v))
				continue
			}
			*d.dst = time.Duration(n) * d.unit
		}
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", v))
		}
	}
	return c, errors.Join(errs...)
}

// Clients are the SDK clients the function uses, built once.
type Clients struct {
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	SES      *ses.Client
	Secrets  *secretsmanager.Client
	SSM      *ssm.Client
}

// New wires a Handler: it reads the link key, so it needs the network.
func New(ctx context.Context, c Config, cl Clients, log *slog.Logger) (*Handler, error) {
	signer, err := token.Load(ctx, cl.Secrets, cl.SSM, c.LinkKey)
	if err != nil {
		return nil, err
	}
	pols := policystore.New(cl.DynamoDB, c.PolicyTable)
	return &Handler{
		Policies: pols,
		Admin: &admin.Admin{
			Tracking: tracking.New(cl.DynamoDB, c.TrackingTable, c.TrackingTTL),
			Mail:     quarantine.New(cl.S3, c.Bucket),
			Senders:  pols,
		},
		State:      NewState(cl.DynamoDB, c.PolicyTable),
		Mailer:     cl.SES,
		Signer:     signer,
		ActionsURL: c.ActionsURL,
		Sender:     c.Sender,
		Retention:  c.Retention,
		LinkTTL:    c.LinkTTL,
		Log:        log,
		Now:        time.Now,
	}, nil
}
