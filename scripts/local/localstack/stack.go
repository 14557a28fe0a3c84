// Package localstack runs the whole Moat mail flow on one machine without an AWS account: the
// AWS emulator (moto) with the resources of shared/schema, the real handlers in-process, an SMTP
// listener that behaves like SES receiving, and a mail sink standing in for the customers' mail
// server. `make local` runs it (scripts/local); the end-to-end tests start it in-process.
package localstack

import (
	"context"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/functions/digest/digest"
	"github.com/moatmail/moat/functions/inbound/inbound"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/reputation"
	"github.com/moatmail/moat/shared/schema"
)

// SamplePolicy is the policy loaded at start when Options.Policy is empty: example.com with
// the recipients alice and bob, routed to the mail sink.
//
//go:embed sample-policy.yaml
var SamplePolicy []byte

// StateFile is the file in Options.Dir that describes the running stack to moatctl --local.
const StateFile = "stack.json"

// Default addresses and names.
const (
	DefaultSMTPAddr     = "127.0.0.1:2525"
	DefaultSinkAddr     = "127.0.0.1:2526"
	DefaultActionsAddr  = "127.0.0.1:2527"
	DefaultRegion       = "us-east-1"
	DefaultSuffix       = "local"
	DefaultBounceSender = "mailer-daemon@moat.test"
	defaultSinkHost     = "127.0.0.1"
	defaultSinkPort     = 2526
)

// Options configure a local stack; the zero value gives make local's defaults.
type Options struct {
	Dir          string        // state folder: stack.json, moto.log, delivered/ (default .local)
	DeliveredDir string        // where the sink writes (default <Dir>/delivered)
	SentDir      string        // copies of the mail sent through SES, DSNs included (default <Dir>/sent)
	Endpoint     string        // an emulator already running; empty: start moto_server
	MotoPort     int           // moto_server's port when started here; 0: a free one
	SMTPAddr     string        // the SES-like listener (default 127.0.0.1:2525; port 0: a free one)
	SinkAddr     string        // the mail sink (default 127.0.0.1:2526; port 0: a free one)
	ActionsAddr  string        // HTTPS for the digests' action links (default 127.0.0.1:2527; port 0: a free one)
	DigestEvery  time.Duration // how often the digest function runs (default 5 minutes)
	Region       string
	// Suffix goes into every resource name (mail-<suffix>, Policies-<suffix>, ...); tests
	// sharing one emulator pass a unique one.
	Suffix string
	// Policy is the policy document loaded at start (YAML or JSON); nil: SamplePolicy. A route
	// to 127.0.0.1:2526, the sink's default address, is pointed at the sink's actual address.
	Policy       []byte
	BounceSender string        // From of the DSNs (its domain is verified in the emulator)
	MaxMessage   int64         // largest message the listener accepts (default 40 MB, as SES)
	PolicyCache  time.Duration // how long a read policy is used (default 1 s)
	// RetryDelay is the pause before the first retry of a failed inbound invocation, doubled
	// for the second (Lambda: about one and two minutes; default here 1 s).
	RetryDelay time.Duration
	Log        *slog.Logger // default: text to stderr
}

// Stack is a running local stack.
type Stack struct {
	Endpoint string // the emulator
	Region   string
	SMTPAddr string // the SES-like listener
	SinkAddr string // the mail sink
	// ActionsURL serves the digests' action links (the action function's URL) with a
	// certificate ActionsCA holds.
	ActionsURL string
	ActionsCA  *x509.CertPool
	Delivered  string // the sink's folder
	Sent       string // copies of the mail sent through SES
	StateFile  string // stack.json
	Resources  provision.Resources
	AWS        aws.Config

	log         *slog.Logger
	moto        *moto
	inbound     *inbound.Handler
	digest      *digest.Handler
	servers     []*smtp.Server
	httpServers []*http.Server
	failures    string // the inbound function's on-failure queue
	retryDelay  time.Duration
	listeners   []net.Listener // closed by Close when not served yet
	cancel      context.CancelFunc
	inflight    sync.WaitGroup // inbound invocations
	bg          sync.WaitGroup // pollers
}

// Start brings the stack up; Close takes it down. On error nothing is left running.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	o = withDefaults(o)
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DeliveredDir, 0o755); err != nil {
		return nil, err
	}
	s = &Stack{Region: o.Region, Delivered: o.DeliveredDir, Sent: o.SentDir, StateFile: filepath.Join(o.Dir, StateFile), log: o.Log, retryDelay: o.RetryDelay}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	// Take the ports first: a port in use fails the start before moto is started.
	sinkLn, err := net.Listen("tcp", o.SinkAddr)
	if err != nil {
		return s, fmt.Errorf("mail sink: %w (pass --sink with a free address)", err)
	}
	s.SinkAddr = sinkLn.Addr().String()
	s.listeners = []net.Listener{sinkLn}
	smtpLn, err := net.Listen("tcp", o.SMTPAddr)
	if err != nil {
		return s, fmt.Errorf("SMTP listener: %w (pass --smtp with a free address)", err)
	}
	s.SMTPAddr = smtpLn.Addr().String()
	s.listeners = []net.Listener{sinkLn, smtpLn}
	actionsLn, err := net.Listen("tcp", o.ActionsAddr)
	if err != nil {
		return s, fmt.Errorf("action links: %w (pass --actions with a free address)", err)
	}
	s.listeners = append(s.listeners, actionsLn)
	invokeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, fmt.Errorf("invoke endpoint: %w", err)
	}
	s.listeners = append(s.listeners, invokeLn)

	s.Endpoint = o.Endpoint
	if s.Endpoint == "" {
		if s.moto, s.Endpoint, err = startMoto(ctx, o.MotoPort, filepath.Join(o.Dir, "moto.log")); err != nil {
			return s, err
		}
	}
	s.AWS, err = provision.EmulatorConfig(ctx, s.Endpoint, o.Region)
	if err != nil {
		return s, fmt.Errorf("AWS configuration: %w", err)
	}
	if s.Resources, err = provision.Stack(ctx, s.AWS, o.Suffix); err != nil {
		return s, fmt.Errorf("create resources in %s: %w (an emulator already holding them? restart it or pass another suffix)", s.Endpoint, err)
	}
	if err := s.createFailureQueue(ctx, o.Suffix); err != nil {
		return s, err
	}
	if err := s.shortenVisibility(ctx); err != nil {
		return s, err
	}
	env := s.Resources.Env()
	env[provision.InboundFailuresKey] = s.failures
	env[provision.LambdaEndpointKey] = "http://" + invokeLn.Addr().String()
	env["BOUNCE_SENDER"] = o.BounceSender
	env["BOUNCE_MODE"] = "dsn" // the emulator has no SendBounce: DSNs go out with SendRawEmail
	sesc := ses.NewFromConfig(s.AWS)
	bounceDomain := o.BounceSender[strings.LastIndexByte(o.BounceSender, '@')+1:]
	if _, err := sesc.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String(bounceDomain)}); err != nil {
		return s, fmt.Errorf("verify %s in SES: %w", bounceDomain, err)
	}

	db := dynamodb.NewFromConfig(s.AWS)
	store := policystore.New(db, s.Resources.Tables[schema.Policies.ID])
	if err := loadPolicy(ctx, store, o.Policy, s.SinkAddr); err != nil {
		return s, err
	}
	pols := &policies{Store: store, Cache: policystore.NewCache(store, o.PolicyCache), now: time.Now}

	cfg, err := inbound.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return s, fmt.Errorf("inbound configuration: %w", err)
	}
	s.inbound = inbound.New(cfg, inbound.Clients{
		S3: provision.S3(s.AWS), DynamoDB: db, SQS: sqs.NewFromConfig(s.AWS), SES: sesc,
	}, o.Log.With("function", "inbound"))
	s.inbound.Policies = pols // the same store, read with the local stack's short cache period
	s.inbound.Metrics = nil   // EMF lines are for CloudWatch

	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.startDelivery(bg, env, pols, o.PolicyCache); err != nil {
		return s, err
	}

	s.serve(sinkLn, &sink{dir: o.DeliveredDir, log: o.Log.With("component", "sink")}, 0)

	rcv := &receiver{
		policies: pols, blocks: reputation.New(db, s.Resources.Tables[schema.Reputation.ID], 1), s3: provision.S3(s.AWS), bucket: s.Resources.Bucket, region: o.Region,
		invoke: s.invoke, log: o.Log.With("component", "smtp"), now: time.Now,
	}
	s.serve(smtpLn, rcv, o.MaxMessage)
	s.serveInvoke(invokeLn)
	s.outbox(bg, o.SentDir, time.Second)
	if err := s.startQuarantineDigests(ctx, bg, env, actionsLn, o.DigestEvery, o.Suffix, "quarantine@"+bounceDomain); err != nil {
		return s, err
	}

	if err := writeState(s.StateFile, s.Endpoint, o.Region, env); err != nil {
		return s, err
	}
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Dir == "" {
		o.Dir = ".local"
	}
	if o.DeliveredDir == "" {
		o.DeliveredDir = filepath.Join(o.Dir, "delivered")
	}
	if o.SentDir == "" {
		o.SentDir = filepath.Join(o.Dir, "sent")
	}
	if o.SMTPAddr == "" {
		o.SMTPAddr = DefaultSMTPAddr
	}
	if o.SinkAddr == "" {
		o.SinkAddr = DefaultSinkAddr
	}
	if o.ActionsAddr == "" {
		o.ActionsAddr = DefaultActionsAddr
	}
	if o.DigestEvery <= 0 {
		o.DigestEvery = 5 * time.Minute
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Suffix == "" {
		o.Suffix = DefaultSuffix
	}
	if o.BounceSender == "" {
		o.BounceSender = DefaultBounceSender
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = SESMaxMessageBytes
	}
	if o.PolicyCache <= 0 {
		o.PolicyCache = time.Second
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.Policy == nil {
		o.Policy = SamplePolicy
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return o
}

// loadPolicy stores the start policy, pointing routes at the sink's default address to its
// actual one.
func loadPolicy(ctx context.Context, store *policystore.Store, data []byte, sinkAddr string) error {
	doc, err := policy.Parse(data)
	if err != nil {
		return fmt.Errorf("start policy: %w", err)
	}
	host, portText, err := net.SplitHostPort(sinkAddr)
	if err != nil {
		return fmt.Errorf("sink address %q: %w", sinkAddr, err)
	}
	port, _ := strconv.Atoi(portText)
	for name, d := range doc.Domains {
		if r := d.Route; r != nil && r.Host == defaultSinkHost && (r.Port == defaultSinkPort) && port != 0 {
			r.Host, r.Port = host, port
			doc.Domains[name] = d
		}
	}
	_, version, err := store.Get(ctx)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	if _, err := store.Put(ctx, doc, version); err != nil {
		return fmt.Errorf("store start policy: %w", err)
	}
	return nil
}

func (s *Stack) serve(ln net.Listener, b smtp.Backend, maxBytes int64) {
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.MaxMessageBytes = maxBytes
	srv.MaxRecipients = 1000
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slogAdapter{s.log}
	s.servers = append(s.servers, srv)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.log.Error("SMTP server stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.l.Warn(fmt.Sprint(v...)) }

// Inbound invocation as Lambda does an Event invocation: asynchronously, with two retries,
// then the event goes to the on-failure queue.
const inboundAttempts = 3

func (s *Stack) invoke(ev events.SimpleEmailEvent) {
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		id := ev.Records[0].SES.Mail.MessageID
		var err error
		for attempt := 1; attempt <= inboundAttempts; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			err = s.inbound.Handle(ctx, ev)
			cancel()
			if err == nil {
				return
			}
			s.log.Warn("inbound failed", "message_id", id, "attempt", attempt, "error", err)
			if attempt < inboundAttempts {
				time.Sleep(s.retryDelay << (attempt - 1))
			}
		}
		if qerr := s.giveUp(ev, inboundAttempts, err); qerr != nil {
			s.log.Error("inbound failed and the failure queue refused the event", "message_id", id, "error", err, "queue_error", qerr)
			return
		}
		s.log.Error("inbound failed; the event is in the failure queue (replay: moatctl --local redrive --queue inbound)", "message_id", id, "error", err)
	}()
}

// Wait returns when the inbound invocations started so far have finished.
func (s *Stack) Wait() { s.inflight.Wait() }

// Close stops the listeners, waits for work in progress, stops moto when it started it and
// removes the state file.
func (s *Stack) Close() error {
	for _, srv := range s.servers {
		srv.Close()
	}
	for _, h := range s.httpServers {
		h.Close()
	}
	for _, l := range s.listeners {
		l.Close()
	}
	s.inflight.Wait()
	if s.cancel != nil {
		s.cancel()
	}
	s.bg.Wait()
	if s.moto != nil {
		s.moto.stop()
	}
	if s.StateFile != "" {
		os.Remove(s.StateFile)
	}
	return nil
}

// state is stack.json: what moatctl --local reads (scripts/moatctl/connect.go).
type state struct {
	Endpoint string            `json:"endpoint"`
	Region   string            `json:"region"`
	Env      map[string]string `json:"env"`
}

func writeState(path, endpoint, region string, env map[string]string) error {
	b, err := json.MarshalIndent(state{Endpoint: endpoint, Region: region, Env: env}, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// localVisibility is the queues' visibility timeout in the local stack. The emulator now and
// then cuts a ReceiveMessage response short: the messages it handed out stay invisible for the
// timeout, which in AWS (5 minutes) would stall a local test; here they come back in seconds.
// Deliberate delays (the delivery function's backoff) set their own visibility per message.
const localVisibility = 20 * time.Second

func (s *Stack) shortenVisibility(ctx context.Context) error {
	q := sqs.NewFromConfig(s.AWS)
	for _, url := range s.Resources.Queues {
		if _, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
			QueueUrl:   aws.String(url),
			Attributes: map[string]string{"VisibilityTimeout": fmt.Sprint(int(localVisibility.Seconds()))},
		}); err != nil {
			return fmt.Errorf("queue %s: %w", url, err)
		}
	}
	return nil
}
