// Package config reads and checks the CDK app's configuration: the keys of the cdk.json context
// (or `-c key=value` on the command line). It is plain Go, with no CDK import, so that every rule
// is a fast table test and a mistake fails `cdk synth` with a message naming the key and value.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/outbound"
)

// Config is the whole deployment configuration. Zero fields have been replaced by defaults once
// Parse returns without error.
type Config struct {
	Stage            string            `json:"stage"`   // the stack is "Moat-<stage>"
	Region           string            `json:"region"`  // an SES email receiving region
	Account          string            `json:"account"` // optional: 12 digits
	Domains          map[string]Domain `json:"domains"` // served recipient domains, lower case
	BounceSender     string            `json:"bounceSender"`
	AlertEmails      []string          `json:"alertEmails"`
	MonitoredIPs     []string          `json:"monitoredIPs"` // addresses and CIDR prefixes
	MonitoredDomains []string          `json:"monitoredDomains"`
	DNSBL            DNSBL             `json:"dnsbl"`
	Audit            Audit             `json:"audit"`
	Retention        Retention         `json:"retention"`
	// TLSPolicy of the receipt rule: "Require" (refuse mail sent without TLS) or "Optional".
	TLSPolicy string `json:"tlsPolicy"`
	// ReservedConcurrency per function name (inbound, deliver, ...); absent: unreserved.
	ReservedConcurrency map[string]int `json:"reservedConcurrency"`
	// KMSKey: encrypt the bucket, tables, queues and topic with one customer managed key the
	// stack creates (and keeps on deletion); false: S3-, DynamoDB-, SQS-managed encryption.
	KMSKey bool `json:"kmsKey"`
	// Versioning of the mail bucket.
	Versioning bool `json:"versioning"`
	// ActivateRuleSet: make the stack's receipt rule set the account's active one (default
	// true). SES has one active rule set per account and region: a second stage in the same
	// account and region sets this to false, or it takes the mail over.
	ActivateRuleSet *bool  `json:"activateRuleSet"`
	LogLevel        string `json:"logLevel"` // debug, info (default), warn, error
	// Tenants relay their outbound mail through the gateway (shared/outbound; tenants.go).
	Tenants []outbound.Tenant `json:"tenants"`
}

// Domain is one served domain.
type Domain struct {
	Route Route `json:"route"` // where clean mail goes
	// HostedZoneID of a Route 53 public hosted zone: the stack creates the MX and DKIM records
	// there. Empty: stack outputs list the records to set by hand.
	HostedZoneID string `json:"hostedZoneId"`
	// HostedZoneName is the zone's name when the domain is below it (default: the domain).
	HostedZoneName string `json:"hostedZoneName"`
}

// Route says how mail for a domain reaches its mail server. The fields are those of
// shared/policy's Route (the same JSON), repeated here so that the CDK app does not depend on
// the filter core.
type Route struct {
	Type        string            `json:"type"`                  // smtp (default) or ses-forward
	Host        string            `json:"host,omitempty"`        // smtp: host name or IP address
	Port        int               `json:"port,omitempty"`        // smtp: default 587 (never 25)
	TLS         string            `json:"tls,omitempty"`         // smtp: required (default), opportunistic, verify
	CAParam     string            `json:"caParam,omitempty"`     // SSM parameter NAME of a CA PEM (verify)
	AuthSecret  string            `json:"authSecret,omitempty"`  // NAME of a secret {"username","password"}
	Forward     map[string]string `json:"forward,omitempty"`     // ses-forward: recipient → address
	FromAddress string            `json:"fromAddress,omitempty"` // ses-forward: rewritten From
}

// DNSBL configures the blocklist lookups.
type DNSBL struct {
	Resolver    string `json:"resolver"`    // host:port of the DNS resolver; empty: the VPC resolver
	DQSKeyParam string `json:"dqsKeyParam"` // SSM parameter NAME holding the Spamhaus DQS key
}

// Audit configures the scheduled blocklist audit of monitoredIPs and monitoredDomains. The
// audit function is deployed when it has something to audit: monitored IPs or domains, a
// targets parameter, or the SES dedicated IPs.
type Audit struct {
	Schedule        string   `json:"schedule"`        // EventBridge rate(...) or cron(...); default rate(1 hour)
	SESDedicatedIPs bool     `json:"sesDedicatedIPs"` // also audit the account's SES dedicated IPs
	TargetsParam    string   `json:"targetsParam"`    // NAME of an SSM parameter with more targets (JSON)
	Zones           []string `json:"zones"`           // zone names (shared/dnsbl catalogue); default all
}

// AuditEnabled reports whether the audit has targets.
func (c Config) AuditEnabled() bool {
	return len(c.MonitoredIPs) > 0 || len(c.MonitoredDomains) > 0 || c.Audit.TargetsParam != "" || c.Audit.SESDedicatedIPs
}

// Retention periods in days.
type Retention struct {
	IncomingDays    int `json:"incomingDays"`    // incoming/ objects (replay, release)
	QuarantineDays  int `json:"quarantineDays"`  // quarantine/ objects
	SubmissionsDays int `json:"submissionsDays"` // submissions/ samples
	TrackingDays    int `json:"trackingDays"`    // tracking items (DynamoDB TTL)
	LogDays         int `json:"logDays"`         // function log groups (a CloudWatch value)
	// DeliveryDays: how long the deliver function retries mail your server does not take
	// before it sends the sender a DSN (at most 13: the delivery queue keeps messages 14 days).
	DeliveryDays int `json:"deliveryDays"`
}

// Defaults.
const (
	DefaultIncomingDays    = 30
	DefaultQuarantineDays  = 30
	DefaultSubmissionsDays = 365
	DefaultTrackingDays    = 90
	DefaultLogDays         = 90
	DefaultDeliveryDays    = 5
	DefaultTLSPolicy       = "Optional"
	DefaultLogLevel        = "info"
	DefaultRoutePort       = 587
	DefaultAuditSchedule   = "rate(1 hour)"
	// MaxMonitoredIPs caps the addresses of monitoredIPs once CIDR prefixes are expanded
	// (shared/audit's DefaultMaxTargets).
	MaxMonitoredIPs = 4096
	// MaxTargetsEnv bounds the monitored IPs and domains as JSON in the audit function's
	// environment, which Lambda limits to 4 KB with every other variable.
	MaxTargetsEnv = 3000
)

// ReceivingRegions are the regions where SES receives email (the receipt rule and its
// inbound-smtp.<region>.amazonaws.com MX host exist only there).
var ReceivingRegions = []string{
	"us-east-1", "us-east-2", "us-west-2", "ca-central-1",
	"eu-west-1", "eu-west-2", "eu-central-1",
	"ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-south-1",
}

// Functions are the function names reservedConcurrency may name.
var Functions = []string{"inbound", "deliver", "audit", "digest", "actions", "outbound"}

// LogRetentionDays are the values CloudWatch Logs accepts.
var LogRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
	1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Keys are the context keys Parse reads.
var Keys = []string{"stage", "region", "account", "domains", "bounceSender", "alertEmails",
	"monitoredIPs", "monitoredDomains", "dnsbl", "audit", "retention", "tlsPolicy", "reservedConcurrency",
	"kmsKey", "versioning", "activateRuleSet", "logLevel", "tenants"}

// StackName is the CloudFormation stack name of a stage.
func (c Config) StackName() string { return "Moat-" + c.Stage }

// DomainNames are the served domains, sorted.
func (c Config) DomainNames() []string {
	names := make([]string, 0, len(c.Domains))
	for d := range c.Domains {
		names = append(names, d)
	}
	sort.Strings(names)
	return names
}

// Activate reports whether the stack activates its receipt rule set.
func (c Config) Activate() bool { return c.ActivateRuleSet == nil || *c.ActivateRuleSet }

// Parse reads the configuration from the context (all of it: cdk.json's context merged with
// `-c` values) and checks it. It reports every problem at once, each naming its key. A context
// value given on the command line arrives as a string; where the key wants a number, a boolean,
// a list or an object, the string is read as JSON.
func Parse(context map[string]any) (Config, error) {
	var (
		c    Config
		errs []error
	)
	fields := map[string]any{
		"stage": &c.Stage, "region": &c.Region, "account": &c.Account, "domains": &c.Domains,
		"bounceSender": &c.BounceSender, "alertEmails": &c.AlertEmails,
		"monitoredIPs": &c.MonitoredIPs, "monitoredDomains": &c.MonitoredDomains,
		"dnsbl": &c.DNSBL, "audit": &c.Audit, "retention": &c.Retention, "tlsPolicy": &c.TLSPolicy,
		"reservedConcurrency": &c.ReservedConcurrency, "kmsKey": &c.KMSKey,
		"versioning": &c.Versioning, "activateRuleSet": &c.ActivateRuleSet, "logLevel": &c.LogLevel,
		"tenants": &c.Tenants,
	}
	var unknown []string
	for k := range context {
		if _, ok := fields[k]; !ok && ownKey.MatchString(k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("context key %q is unknown (known keys: %s)", k, strings.Join(Keys, ", ")))
	}
	for _, k := range Keys {
		v, ok := context[k]
		if !ok || v == nil {
			continue
		}
		if k == "domains" {
			errs = append(errs, decodeDomains(v, &c.Domains)...)
			continue
		}
		if err := decode(v, fields[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	failed := map[string]bool{}
	for _, k := range Keys {
		for _, e := range errs {
			if strings.HasPrefix(e.Error(), k+":") || strings.HasPrefix(e.Error(), k+".") {
				failed[k] = true
			}
		}
	}
	c.defaults()
	// Check the rest too, leaving out what follows from a value that could not be read.
	for _, e := range c.problems() {
		key := strings.FieldsFunc(e.Error(), func(r rune) bool { return r == ' ' || r == '.' || r == '[' || r == ':' })[0]
		if !failed[key] {
			errs = append(errs, e)
		}
	}
	return c, errors.Join(errs...)
}

// ownKey matches the shape of Moat's keys (camelCase words), so that a misspelt one is reported
// while CDK's own keys ("@aws-cdk/...", "aws:cdk:...", "acknowledged-issue-numbers") pass.
var ownKey = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// decode stores v, a context value, in the field dst points at, refusing unknown fields.
func decode(v any, dst any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if s, ok := v.(string); ok {
		if _, wantString := dst.(*string); !wantString {
			raw = []byte(s) // a -c value: read the text as JSON
		}
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
			return jsonError(err)
		}
		return fmt.Errorf("%s: %w", shorten(string(raw)), jsonError(err))
	}
	return nil
}

// decodeDomains decodes the domains object one domain at a time, so that an error names it.
func decodeDomains(v any, dst *map[string]Domain) []error {
	var all map[string]any
	if err := decode(v, &all); err != nil {
		return []error{fmt.Errorf("domains: %w", err)}
	}
	*dst = make(map[string]Domain, len(all))
	var errs []error
	for name, dv := range all {
		var d Domain
		if err := decode(dv, &d); err != nil {
			errs = append(errs, fmt.Errorf("domains.%s: %w", name, err))
			continue
		}
		(*dst)[name] = d
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// jsonError rewords encoding/json's errors for a person writing cdk.json.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "a " + te.Type.Kind().String()
		switch te.Type.Kind().String() {
		case "int", "int64", "float64":
			want = "a number"
		case "bool":
			want = "true or false"
		case "slice":
			want = "a list"
		case "map", "struct":
			want = "an object"
		}
		if te.Field != "" {
			return fmt.Errorf("field %q wants %s, not a JSON %s", te.Field, want, te.Value)
		}
		return fmt.Errorf("want %s, not a JSON %s", want, te.Value)
	}
	return err
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func (c *Config) defaults() {
	c.tenantDefaults()
	r := &c.Retention
	for _, d := range []struct {
		p *int
		v int
	}{
		{&r.IncomingDays, DefaultIncomingDays}, {&r.QuarantineDays, DefaultQuarantineDays},
		{&r.SubmissionsDays, DefaultSubmissionsDays}, {&r.TrackingDays, DefaultTrackingDays},
		{&r.LogDays, DefaultLogDays}, {&r.DeliveryDays, DefaultDeliveryDays},
	} {
		if *d.p == 0 {
			*d.p = d.v
		}
	}
	if c.TLSPolicy == "" {
		c.TLSPolicy = DefaultTLSPolicy
	}
	switch strings.ToLower(c.TLSPolicy) {
	case "require":
		c.TLSPolicy = "Require"
	case "optional":
		c.TLSPolicy = "Optional"
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.Audit.Schedule == "" {
		c.Audit.Schedule = DefaultAuditSchedule
	}
	for name, d := range c.Domains {
		if d.Route.Type == "" {
			d.Route.Type = "smtp"
		}
		if d.Route.Type == "smtp" {
			if d.Route.Port == 0 {
				d.Route.Port = DefaultRoutePort
			}
			if d.Route.TLS == "" {
				d.Route.TLS = "required"
			}
		}
		if d.HostedZoneID != "" && d.HostedZoneName == "" {
			d.HostedZoneName = name
		}
		c.Domains[name] = d
	}
}

var (
	stageRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,31}$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	zoneIDRE  = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	paramRE   = regexp.MustCompile(`^[A-Za-z0-9_.\-/]+$`)
	// EventBridge schedule expressions: rate(1 hour), rate(5 minutes), cron(6 fields).
	scheduleRE = regexp.MustCompile(`^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\(\S+( \S+){5}\))$`)
)

// Validate checks a configuration with its defaults applied and reports every problem.
func (c Config) Validate() error { return errors.Join(c.problems()...) }

func (c Config) problems() []error {
	var errs []error
	bad := func(key string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %s: %s", key, quote(value), fmt.Sprintf(format, args...)))
	}

	switch {
	case c.Stage == "":
		errs = append(errs, errors.New(`stage is required: a short name such as "prod" (the stack is Moat-<stage>)`))
	case !stageRE.MatchString(c.Stage):
		bad("stage", c.Stage, "want a letter, then up to 31 letters, digits or hyphens")
	}
	switch {
	case c.Region == "":
		errs = append(errs, fmt.Errorf("region is required: one of the SES email receiving regions (%s)", strings.Join(ReceivingRegions, ", ")))
	case !slices.Contains(ReceivingRegions, c.Region):
		bad("region", c.Region, "SES does not receive email there; choose one of %s", strings.Join(ReceivingRegions, ", "))
	}
	if c.Account != "" && !accountRE.MatchString(c.Account) {
		bad("account", c.Account, "want the 12-digit AWS account ID")
	}

	if len(c.Domains) == 0 {
		errs = append(errs, errors.New(`domains is required: at least one served domain, e.g. {"example.com": {"route": {"host": "mail.example.com"}}}`))
	}
	for _, name := range c.DomainNames() {
		errs = append(errs, c.validateDomain(name, c.Domains[name])...)
	}

	switch addr, err := address(c.BounceSender); {
	case c.BounceSender == "":
		errs = append(errs, errors.New("bounceSender is required: an address at a served domain, e.g. mailer-daemon@example.com"))
	case err != nil:
		bad("bounceSender", c.BounceSender, "%v", err)
	case len(c.Domains) > 0 && !c.served(domainOf(addr)):
		bad("bounceSender", c.BounceSender, "its domain must be one of domains (%s): SES sends bounces only from a verified identity", strings.Join(c.DomainNames(), ", "))
	}
	for i, a := range c.AlertEmails {
		if _, err := address(a); err != nil {
			bad(fmt.Sprintf("alertEmails[%d]", i), a, "%v", err)
		}
	}
	addrs := 0
	for i, ip := range c.MonitoredIPs {
		if _, err := netip.ParseAddr(ip); err == nil {
			addrs++
			continue
		}
		p, err := netip.ParsePrefix(ip)
		if err != nil {
			bad(fmt.Sprintf("monitoredIPs[%d]", i), ip, "want an IPv4 or IPv6 address or a CIDR prefix (192.0.2.0/29)")
			continue
		}
		if host := p.Addr().BitLen() - p.Bits(); host > 20 || addrs+1<<host > MaxMonitoredIPs {
			bad(fmt.Sprintf("monitoredIPs[%d]", i), ip, "the audit checks at most %d addresses in all: list smaller prefixes", MaxMonitoredIPs)
			continue
		}
		addrs += 1 << (p.Addr().BitLen() - p.Bits())
	}
	for i, d := range c.MonitoredDomains {
		if err := outbound.DomainName(d); err != nil {
			bad(fmt.Sprintf("monitoredDomains[%d]", i), d, "%v", err)
		}
	}

	if r := c.DNSBL.Resolver; r != "" {
		if _, err := netip.ParseAddrPort(r); err != nil {
			if _, err := netip.ParseAddr(r); err != nil {
				bad("dnsbl.resolver", r, "want an IP address, optionally with a port (192.0.2.53:53, [2001:db8::53]:53)")
			}
		}
	}
	if p := c.DNSBL.DQSKeyParam; p != "" {
		lower := strings.ToLower(strings.TrimPrefix(p, "/"))
		switch {
		case !paramRE.MatchString(p):
			bad("dnsbl.dqsKeyParam", p, "want an SSM parameter name (letters, digits, _ . - /), not the key itself")
		case strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm"):
			bad("dnsbl.dqsKeyParam", p, `SSM parameter names may not begin with "aws" or "ssm"`)
		}
	}

	if n := len(strings.Join(c.MonitoredIPs, `","`)) + len(strings.Join(c.MonitoredDomains, `","`)); n > MaxTargetsEnv {
		bad("monitoredIPs", fmt.Sprintf("%d entries", len(c.MonitoredIPs)+len(c.MonitoredDomains)),
			"too long for the audit function's environment (Lambda allows 4 KB in all): list CIDR prefixes, or put the targets in the SSM parameter audit.targetsParam")
	}
	if !scheduleRE.MatchString(c.Audit.Schedule) {
		bad("audit.schedule", c.Audit.Schedule, "want an EventBridge expression such as rate(1 hour), rate(30 minutes) or cron(0 */6 * * ? *)")
	}
	if p := c.Audit.TargetsParam; p != "" && !paramRE.MatchString(p) {
		bad("audit.targetsParam", p, "want an SSM parameter name (letters, digits, _ . - /)")
	}
	for i, z := range c.Audit.Zones {
		if _, err := dnsbl.Select(dnsbl.Catalogue(), z); err != nil {
			bad(fmt.Sprintf("audit.zones[%d]", i), z, "not a zone of the catalogue (spamhaus-zen, spamcop, uceprotect-3, ...)")
		}
	}

	r := c.Retention
	for _, d := range []struct {
		key string
		v   int
	}{
		{"retention.incomingDays", r.IncomingDays}, {"retention.quarantineDays", r.QuarantineDays},
		{"retention.submissionsDays", r.SubmissionsDays}, {"retention.trackingDays", r.TrackingDays},
	} {
		if d.v < 1 || d.v > 3650 {
			bad(d.key, d.v, "want a number of days from 1 to 3650")
		}
	}
	switch {
	case r.DeliveryDays < 1 || r.DeliveryDays > 13:
		bad("retention.deliveryDays", r.DeliveryDays, "want a number of days from 1 to 13 (the delivery queue keeps messages 14 days)")
	case r.IncomingDays < r.DeliveryDays:
		bad("retention.deliveryDays", r.DeliveryDays, "incoming/ objects expire after %d days (retention.incomingDays), before delivery gives up", r.IncomingDays)
	}
	if !slices.Contains(LogRetentionDays, r.LogDays) {
		bad("retention.logDays", r.LogDays, "CloudWatch Logs accepts %s", joinInts(LogRetentionDays))
	}
	if c.TLSPolicy != "Require" && c.TLSPolicy != "Optional" {
		bad("tlsPolicy", c.TLSPolicy, `want "Require" or "Optional"`)
	}
	names := make([]string, 0, len(c.ReservedConcurrency))
	for name := range c.ReservedConcurrency {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := c.ReservedConcurrency[name]
		if !slices.Contains(Functions, name) {
			bad("reservedConcurrency", name, "no such function; want one of %s", strings.Join(Functions, ", "))
		} else if n < 1 || n > 900 {
			bad("reservedConcurrency."+name, n, "want 1 to 900 (Lambda keeps 100 of an account's 1000 unreserved)")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("logLevel", c.LogLevel, "want debug, info, warn or error")
	}
	errs = append(errs, c.tenantProblems()...)
	return errs
}

func (c Config) validateDomain(name string, d Domain) []error {
	var errs []error
	key := "domains." + name
	bad := func(sub string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s %s: %s", key, sub, quote(value), fmt.Sprintf(format, args...)))
	}
	if err := outbound.DomainName(name); err != nil {
		errs = append(errs, fmt.Errorf("domains: key %q: %v", name, err))
	}
	rt := d.Route
	switch rt.Type {
	case "smtp":
		switch {
		case rt.Host == "":
			errs = append(errs, fmt.Errorf("%s.route.host is required: the customer mail server's host name or IP address", key))
		case outbound.DomainName(strings.ToLower(rt.Host)) != nil && !isIP(rt.Host):
			bad(".route.host", rt.Host, "want a host name or an IP address")
		}
		switch {
		case rt.Port == 25:
			bad(".route.port", rt.Port, "Lambda cannot connect to port 25; have the mail server listen on 587, 465 or another port")
		case rt.Port < 1 || rt.Port > 65535:
			bad(".route.port", rt.Port, "want a TCP port from 1 to 65535")
		}
		switch rt.TLS {
		case "required", "opportunistic":
		case "verify":
			if rt.CAParam == "" {
				errs = append(errs, fmt.Errorf("%s.route.caParam is required with tls verify: the NAME of the SSM parameter holding the CA certificate (PEM) the server's certificate must chain to", key))
			}
		default:
			bad(".route.tls", rt.TLS, "want required, opportunistic or verify")
		}
		if len(rt.Forward) > 0 || rt.FromAddress != "" {
			errs = append(errs, fmt.Errorf("%s.route: forward and fromAddress belong to type ses-forward, not smtp", key))
		}
	case "ses-forward":
		if len(rt.Forward) == 0 {
			errs = append(errs, fmt.Errorf("%s.route.forward is required for type ses-forward: recipient → forwarding address", key))
		}
		for from, to := range rt.Forward {
			if a, err := address(from); err != nil || domainOf(a) != name {
				bad(".route.forward", from, "want a recipient address at %s", name)
			}
			if _, err := address(to); err != nil {
				bad(".route.forward."+from, to, "%v", err)
			}
		}
		if a, err := address(rt.FromAddress); err != nil || !c.served(domainOf(a)) {
			bad(".route.fromAddress", rt.FromAddress, "want an address at a served domain (SES sends only from verified identities)")
		}
		if rt.Host != "" {
			errs = append(errs, fmt.Errorf("%s.route: host belongs to type smtp, not ses-forward", key))
		}
	default:
		bad(".route.type", rt.Type, "want smtp or ses-forward")
	}
	for sub, p := range map[string]string{".route.caParam": rt.CAParam, ".route.authSecret": rt.AuthSecret} {
		if p != "" && !paramRE.MatchString(p) {
			bad(sub, p, "want the NAME of an SSM parameter or a Secrets Manager secret, not its value")
		}
	}
	if d.HostedZoneID != "" {
		if !zoneIDRE.MatchString(d.HostedZoneID) {
			bad(".hostedZoneId", d.HostedZoneID, "want a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ")
		}
		if z := d.HostedZoneName; z != name && !strings.HasSuffix(name, "."+z) {
			bad(".hostedZoneName", z, "the domain %s is not in that zone", name)
		}
	} else if d.HostedZoneName != "" {
		errs = append(errs, fmt.Errorf("%s.hostedZoneName is set without hostedZoneId", key))
	}
	return errs
}

func (c Config) served(domain string) bool {
	_, ok := c.Domains[domain]
	return ok
}

// address checks a bare e-mail address (no display name) and returns it.
func address(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errors.New("want a bare e-mail address such as ops@example.com")
	}
	if err := outbound.DomainName(strings.ToLower(domainOf(s))); err != nil {
		return "", errors.New("want an address at a fully qualified domain")
	}
	return s, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
