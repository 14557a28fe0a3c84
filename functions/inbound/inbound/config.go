package inbound

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/bounce"
	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
)

// Config is the function's configuration, from its environment.
type Config struct {
	Bucket, PolicyTable, TrackingTable, DeliveryQueue string
	BounceSender, BounceMode                          string // mode: ses (SendBounce) or dsn (SendRawEmail)
	TrackingTTL                                       time.Duration
	PolicyCache                                       time.Duration
	LogLevel                                          slog.Level
	Reputation                                        ReputationConfig // reputation.go
	// Tenants maps recipient domains to the tenants whose spam models score them
	// (modelstore.TenantsEnvVar); others use the default model.
	Tenants map[string]string
}

// LoadConfig reads the configuration through getenv and reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket: getenv(schema.BucketEnvVar), PolicyTable: getenv(schema.Policies.EnvVar),
		TrackingTable: getenv(schema.Tracking.EnvVar), DeliveryQueue: getenv(schema.Delivery.EnvVar),
		BounceSender: getenv("BOUNCE_SENDER"), BounceMode: getenv("BOUNCE_MODE"),
		TrackingTTL: 90 * 24 * time.Hour, PolicyCache: time.Minute,
	}
	var errs []error
	for name, v := range map[string]string{
		schema.BucketEnvVar: c.Bucket, schema.Policies.EnvVar: c.PolicyTable,
		schema.Tracking.EnvVar: c.TrackingTable, schema.Delivery.EnvVar: c.DeliveryQueue,
		"BOUNCE_SENDER": c.BounceSender,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is not set", name))
		}
	}
	switch c.BounceMode {
	case "":
		c.BounceMode = "ses"
	case "ses", "dsn":
	default:
		errs = append(errs, fmt.Errorf("BOUNCE_MODE %q: want ses or dsn", c.BounceMode))
	}
	if v := getenv("TRACKING_TTL_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("TRACKING_TTL_DAYS %q: want a whole number of days ≥ 1", v))
		}
		c.TrackingTTL = time.Duration(n) * 24 * time.Hour
	}
	if v := getenv("POLICY_CACHE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("POLICY_CACHE_SECONDS %q: want a whole number ≥ 0", v))
		}
		c.PolicyCache = time.Duration(n) * time.Second
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
	errs = append(errs, c.loadReputation(getenv)...)
	return c, errors.Join(errs...)
}

// Clients are the SDK clients the function uses, built once.
type Clients struct {
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	SES      *ses.Client
	SSM      SSM // reads the DQS key; nil: none configured
}

// New wires a Handler from configuration and clients; the local stack and the tests use it too.
func New(c Config, cl Clients, log *slog.Logger) *Handler {
	store := policystore.New(cl.DynamoDB, c.PolicyTable)
	raw := bounce.NewRawSender(cl.SES, c.BounceSender)
	var b bounce.Sender = bounce.NewSESSender(cl.SES, c.BounceSender)
	if c.BounceMode == "dsn" {
		b = raw
	}
	return &Handler{
		Mail:     quarantine.New(cl.S3, c.Bucket),
		Policies: newPolicySource(store, c.PolicyCache),
		Tracking: tracking.New(cl.DynamoDB, c.TrackingTable, c.TrackingTTL),
		Queue:    delivery.NewQueue(cl.SQS, c.DeliveryQueue),
		Bouncer:  b,
		Fallback: raw,
		Log:      log,
		Metrics:  os.Stdout,
		Now:      time.Now,
		IP:       newIPReputation(c.Reputation, cl, log),
		Models:   modelstore.NewModels(cl.S3, c.Bucket, 0),
		Tenants:  c.Tenants,
	}
}
