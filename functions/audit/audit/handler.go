package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/shared/asn"
	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
)

// Publisher publishes the alert; *sns.Client implements it.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Parameters reads SSM parameters; *ssm.Client implements it.
type Parameters interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Secrets reads Secrets Manager secrets; *secretsmanager.Client implements it.
type Secrets interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Clients are the SDK clients the function uses, built once. SSM, Secrets and SES may be nil
// when the configuration does not need them.
type Clients struct {
	DynamoDB audit.DB
	SNS      Publisher
	SSM      Parameters
	Secrets  Secrets
	SES      audit.DedicatedIPs
}

// Handler runs one audit per invocation.
type Handler struct {
	Config  Config
	Clients Clients
	Store   *audit.Store
	Log     *slog.Logger
	Metrics io.Writer // EMF lines
	Now     func() time.Time
	// SaveMargin is kept free at the end of the invocation's deadline to store the results.
	SaveMargin time.Duration
}

// New wires a Handler from configuration and clients.
func New(c Config, cl Clients, log *slog.Logger, metrics io.Writer) *Handler {
	return &Handler{
		Config: c, Clients: cl, Log: log, Metrics: metrics, Now: time.Now, SaveMargin: 20 * time.Second,
		Store: &audit.Store{DB: cl.DynamoDB, Table: c.Table, TTL: c.HistoryTTL},
	}
}

// Result is what an invocation returns (and logs).
type Result struct {
	Targets         int      `json:"targets"`
	Zones           int      `json:"zones"`
	ListedTargets   int      `json:"listedTargets"`
	NetworkListings int      `json:"networkListings"`
	Errors          int      `json:"errors"`
	Changes         int      `json:"changes"`
	Alerted         bool     `json:"alerted"`
	Unusable        []string `json:"unusableZones,omitempty"`
	DurationMS      int64    `json:"durationMs"`
}

// Handle runs the audit. The event (an EventBridge scheduled event, events/schedule/audit.json)
// carries nothing the audit needs. It returns an
// error only when a retry can help: targets, key or state that could not be read, an alert
// that could not be published, state that could not be saved. A failed alert leaves the state
// unsaved, so the retry (or the next run) reports the same changes again.
func (h *Handler) Handle(ctx context.Context, _ events.CloudWatchEvent) (Result, error) {
	res, err := h.run(ctx)
	if err != nil {
		h.Log.Error("audit failed", "error", err, "alerted", res.Alerted)
	}
	return res, err
}

func (h *Handler) run(ctx context.Context) (Result, error) {
	start := h.Now()
	targets, err := h.targets(ctx)
	if err != nil {
		return Result{}, err
	}
	key, err := h.dqsKey(ctx)
	if err != nil {
		return Result{}, err
	}
	client, err := dnsbl.New(dnsbl.Config{
		ResolverAddr: h.Config.Resolver, Timeout: h.Config.Timeout,
		Concurrency: h.Config.Concurrency, DQSKey: dnsbl.Secret(key),
	})
	if err != nil {
		return Result{}, fmt.Errorf("dnsbl client: %w", err)
	}
	a := &audit.Auditor{DNSBL: client, ASN: &asn.Client{Resolver: client.Resolver()}, Zones: h.Config.Zones,
		Concurrency: h.Config.Concurrency}

	runCtx := ctx
	if d, ok := ctx.Deadline(); ok && h.SaveMargin > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, d.Add(-h.SaveMargin))
		defer cancel()
	}
	rep := a.Run(runCtx, targets, h.Now())

	prev, err := h.Store.Load(ctx)
	if err != nil {
		return Result{}, err
	}
	next, changes := audit.Diff(prev, rep, h.Config.Zones)
	run := audit.Summary(rep, changes)
	res := Result{Targets: run.Targets, Zones: run.Zones, ListedTargets: run.ListedTargets,
		NetworkListings: run.NetworkListings, Errors: run.Errors, Changes: run.Changes, Unusable: run.Unusable}
	if subject, body := audit.Alert(changes, rep, h.Config.Stage); subject != "" {
		_, err := h.Clients.SNS.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(h.Config.Topic), Subject: aws.String(subject), Message: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"source":  {DataType: aws.String("String"), StringValue: aws.String("moat-audit")},
				"changes": {DataType: aws.String("Number"), StringValue: aws.String(fmt.Sprint(len(changes)))},
			},
		})
		if err != nil {
			return res, fmt.Errorf("publish audit alert: %w", err)
		}
		res.Alerted = true
	}
	if err := h.Store.Save(ctx, prev, next, run, changes); err != nil {
		return res, err
	}
	audit.EmitMetrics(h.Metrics, rep)
	res.DurationMS = h.Now().Sub(start).Milliseconds()
	h.Log.Info("audit", "targets", res.Targets, "zones", res.Zones, "listed_targets", res.ListedTargets,
		"network_listings", res.NetworkListings, "errors", res.Errors, "changes", res.Changes,
		"alerted", res.Alerted, "unusable_zones", res.Unusable, "duration_ms", res.DurationMS)
	for _, c := range changes {
		// The operator's own IPs and domains, not personal data.
		h.Log.Info("audit change", "kind", c.Kind, "zone", c.Zone, "target", c.Target, "code", c.Code)
	}
	return res, nil
}

// targets reads the monitored targets: the environment's spec, the SSM parameter's, and the
// SES dedicated IPs when either asks for them.
func (h *Handler) targets(ctx context.Context) ([]audit.Target, error) {
	b := audit.NewBuilder(h.Config.MaxTargets)
	b.AddSpecFrom(EnvTargets, h.Config.Spec)
	ses := h.Config.Spec.SESDedicatedIPs
	if name := h.Config.TargetsParam; name != "" {
		v, err := h.parameter(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("read targets: %w", err)
		}
		ps, err := audit.ParseSpec([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("SSM parameter %s: %w", name, err)
		}
		b.AddSpecFrom("SSM parameter "+name, ps)
		ses = ses || ps.SESDedicatedIPs
	}
	if ses {
		if h.Clients.SES == nil {
			return nil, fmt.Errorf("read targets: sesDedicatedIPs is set but the function has no SES client")
		}
		ips, err := audit.SESDedicatedIPs(ctx, h.Clients.SES)
		if err != nil {
			return nil, fmt.Errorf("read targets: %w", err)
		}
		for _, ip := range ips {
			b.Add(ip, audit.SESSource)
		}
	}
	ts, err := b.Targets()
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return ts, nil
}

func (h *Handler) parameter(ctx context.Context, name string) (string, error) {
	if h.Clients.SSM == nil {
		return "", fmt.Errorf("SSM parameter %s: no SSM client", name)
	}
	out, err := h.Clients.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("SSM parameter %s: %w", name, err)
	}
	if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
		return "", fmt.Errorf("SSM parameter %s is empty", name)
	}
	return aws.ToString(out.Parameter.Value), nil
}

// dqsKey reads the Spamhaus DQS key by name, never from the environment; "" without one.
func (h *Handler) dqsKey(ctx context.Context) (string, error) {
	switch {
	case h.Config.DQSKeyParam != "":
		v, err := h.parameter(ctx, h.Config.DQSKeyParam)
		if err != nil {
			return "", fmt.Errorf("DQS key: %w", err)
		}
		return strings.TrimSpace(v), nil
	case h.Config.DQSKeySecret != "":
		if h.Clients.Secrets == nil {
			return "", fmt.Errorf("DQS key: secret %s: no Secrets Manager client", h.Config.DQSKeySecret)
		}
		out, err := h.Clients.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(h.Config.DQSKeySecret)})
		if err != nil {
			return "", fmt.Errorf("DQS key: secret %s: %w", h.Config.DQSKeySecret, err)
		}
		return strings.TrimSpace(aws.ToString(out.SecretString)), nil
	}
	return "", nil
}
