package deliver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/shared/bounce"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
)

// Defaults of the configuration.
const (
	DefaultMaxAge         = 5 * 24 * time.Hour
	DefaultRetryBase      = 5 * time.Minute
	DefaultConnectTimeout = 30 * time.Second
	DefaultCommandTimeout = 60 * time.Second
	DefaultAttemptTimeout = 150 * time.Second
	DefaultConcurrency    = 10
	// MaxMaxAge stays below the delivery queue's 14-day retention.
	MaxMaxAge = 13 * 24 * time.Hour
	// maxVisibility is SQS's longest visibility timeout.
	maxVisibility = 12 * time.Hour
)

// Config is the function's configuration, from its environment. Credentials are never in
// it: routes name them (SSM or Secrets Manager).
type Config struct {
	Bucket, PolicyTable, TrackingTable, DeliveryQueue string
	BounceSender                                      string // DSNs come from this verified address
	HeloName                                          string // EHLO name; default: the bounce sender's domain
	Retry                                             Retry
	ConnectTimeout, CommandTimeout, AttemptTimeout    time.Duration
	Concurrency                                       int // jobs of a batch delivered at once
	TrackingTTL, PolicyCache, SecretCache             time.Duration
	LogLevel                                          slog.Level
}

// LoadConfig reads the configuration through getenv and reports every problem at once.
//
//	MAIL_BUCKET, POLICY_TABLE, TRACKING_TABLE, DELIVERY_QUEUE_URL, BOUNCE_SENDER   required
//	HELO_NAME                     EHLO name (default: the domain of BOUNCE_SENDER)
//	RETRY_MAX_AGE_HOURS           give up and send a DSN after this long (default 120, at most 312)
//	RETRY_BASE_SECONDS            first retry delay, doubled each attempt (default 300)
//	RETRY_CAP_SECONDS             longest retry delay (default max(4 h, max age / 30), at most 12 h)
//	SMTP_CONNECT_TIMEOUT_SECONDS  TCP connect and TLS handshake (default 30)
//	SMTP_COMMAND_TIMEOUT_SECONDS  each reply, and the reply after the data (default 60)
//	ATTEMPT_TIMEOUT_SECONDS       one whole delivery attempt (default 150)
//	CONCURRENCY                   jobs of a batch delivered in parallel (default 10)
//	TRACKING_TTL_DAYS, POLICY_CACHE_SECONDS, SECRET_CACHE_SECONDS, LOG_LEVEL
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket: getenv(schema.BucketEnvVar), PolicyTable: getenv(schema.Policies.EnvVar),
		TrackingTable: getenv(schema.Tracking.EnvVar), DeliveryQueue: getenv(schema.Delivery.EnvVar),
		BounceSender: getenv("BOUNCE_SENDER"), HeloName: getenv("HELO_NAME"),
		Retry: Retry{
			MaxAge: DefaultMaxAge, Base: DefaultRetryBase, MaxReceives: schema.Delivery.MaxReceives,
		},
		ConnectTimeout: DefaultConnectTimeout, CommandTimeout: DefaultCommandTimeout,
		AttemptTimeout: DefaultAttemptTimeout, Concurrency: DefaultConcurrency,
		TrackingTTL: tracking.DefaultTTL, PolicyCache: time.Minute, SecretCache: DefaultSecretTTL,
	}
	var errs []error
	for _, kv := range [][2]string{
		{schema.BucketEnvVar, c.Bucket}, {schema.Policies.EnvVar, c.PolicyTable},
		{schema.Tracking.EnvVar, c.TrackingTable}, {schema.Delivery.EnvVar, c.DeliveryQueue},
		{"BOUNCE_SENDER", c.BounceSender},
	} {
		if kv[1] == "" {
			errs = append(errs, fmt.Errorf("%s is not set", kv[0]))
		}
	}
	if c.BounceSender != "" {
		at := strings.LastIndexByte(c.BounceSender, '@')
		if at <= 0 || at == len(c.BounceSender)-1 {
			errs = append(errs, fmt.Errorf("BOUNCE_SENDER %q: want an address such as MAILER-DAEMON@mail.example.com", c.BounceSender))
		} else if c.HeloName == "" {
			c.HeloName = c.BounceSender[at+1:]
		}
	}
	if c.HeloName != "" && (strings.ContainsAny(c.HeloName, " \t\r\n<>") || len(c.HeloName) > 255) {
		errs = append(errs, fmt.Errorf("HELO_NAME %q: want a host name", c.HeloName))
	}
	num := func(name string, min, max int, set func(int)) {
		v := getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			errs = append(errs, fmt.Errorf("%s %q: want a whole number from %d to %d", name, v, min, max))
			return
		}
		set(n)
	}
	capSet := false
	num("RETRY_MAX_AGE_HOURS", 1, int(MaxMaxAge/time.Hour), func(n int) { c.Retry.MaxAge = time.Duration(n) * time.Hour })
	num("RETRY_BASE_SECONDS", 1, int(maxVisibility/time.Second), func(n int) { c.Retry.Base = time.Duration(n) * time.Second })
	num("RETRY_CAP_SECONDS", 1, int(maxVisibility/time.Second), func(n int) { c.Retry.Cap, capSet = time.Duration(n)*time.Second, true })
	num("SMTP_CONNECT_TIMEOUT_SECONDS", 1, 300, func(n int) { c.ConnectTimeout = time.Duration(n) * time.Second })
	num("SMTP_COMMAND_TIMEOUT_SECONDS", 1, 600, func(n int) { c.CommandTimeout = time.Duration(n) * time.Second })
	num("ATTEMPT_TIMEOUT_SECONDS", 1, 900, func(n int) { c.AttemptTimeout = time.Duration(n) * time.Second })
	num("CONCURRENCY", 1, 100, func(n int) { c.Concurrency = n })
	num("TRACKING_TTL_DAYS", 1, 3650, func(n int) { c.TrackingTTL = time.Duration(n) * 24 * time.Hour })
	num("POLICY_CACHE_SECONDS", 0, 3600, func(n int) { c.PolicyCache = time.Duration(n) * time.Second })
	num("SECRET_CACHE_SECONDS", 1, 86400, func(n int) { c.SecretCache = time.Duration(n) * time.Second })
	if !capSet {
		c.Retry.Cap = DefaultCap(c.Retry.MaxAge)
	}
	if c.Retry.Cap < c.Retry.Base {
		errs = append(errs, fmt.Errorf("RETRY_CAP_SECONDS %d is below RETRY_BASE_SECONDS %d", int(c.Retry.Cap/time.Second), int(c.Retry.Base/time.Second)))
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", v))
		}
	}
	return c, errors.Join(errs...)
}

// DefaultCap is the longest retry delay for a maximum age: four hours, or longer for long
// maximum ages so that the attempts stay well below the queue's receive limit (the
// dead-letter queue must never get a job before its DSN is due).
func DefaultCap(maxAge time.Duration) time.Duration {
	return min(max(4*time.Hour, maxAge/30), maxVisibility)
}

// Clients are the SDK clients the function uses, built once.
type Clients struct {
	S3             *s3.Client
	DynamoDB       *dynamodb.Client
	SQS            *sqs.Client
	SES            *ses.Client   // DSNs (SendRawEmail)
	SESv2          *sesv2.Client // ses-forward routes (SendEmail, up to 40 MB)
	SSM            *ssm.Client
	SecretsManager *secretsmanager.Client
}

// New wires a Handler from configuration and clients; the local stack and the tests use it
// too (and may replace any field afterwards, such as SMTP.Dial).
//
// A nil SSM, SecretsManager or SESv2 client is allowed: routes that need it then wait
// (deferred) with the reason in tracking.
func New(c Config, cl Clients, log *slog.Logger) *Handler {
	store := policystore.New(cl.DynamoDB, c.PolicyTable)
	secrets := &Secrets{TTL: c.SecretCache}
	if cl.SSM != nil {
		secrets.SSM = cl.SSM
	}
	if cl.SecretsManager != nil {
		secrets.SecretsManager = cl.SecretsManager
	}
	fw := &Forwarder{}
	if cl.SESv2 != nil {
		fw.SES = cl.SESv2
	}
	return &Handler{
		Mail:     quarantine.New(cl.S3, c.Bucket),
		Routes:   NewRoutes(store, c.PolicyCache),
		Secrets:  secrets,
		Tracking: tracking.New(cl.DynamoDB, c.TrackingTable, c.TrackingTTL),
		Queue:    cl.SQS,
		QueueURL: c.DeliveryQueue,
		SMTP: &SMTP{
			Dial:           (&net.Dialer{}).DialContext,
			HeloName:       c.HeloName,
			ConnectTimeout: c.ConnectTimeout,
			CommandTimeout: c.CommandTimeout,
			Pool:           &Pool{MaxIdle: c.Concurrency},
		},
		Forwarder:      fw,
		Bouncer:        bounce.NewRawSender(cl.SES, c.BounceSender),
		Retry:          c.Retry,
		AttemptTimeout: c.AttemptTimeout,
		Concurrency:    c.Concurrency,
		Log:            log,
		Metrics:        os.Stdout,
		Now:            time.Now,
	}
}
