// Package audit is the scheduled blocklist audit function: it reads the monitored targets,
// runs shared/audit, compares with the state in the Reputation table, publishes one alert to
// the Alerts topic when something changed, stores the new state and history, and writes the
// metrics. main.go wires it; the tests and the local stack call it in-process.
package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/schema"
)

// Environment variables the function reads (besides the schema's table and topic names).
const (
	EnvTargets      = "AUDIT_TARGETS"       // the targets as JSON (audit.Spec)
	EnvTargetsParam = "AUDIT_TARGETS_PARAM" // or the NAME of an SSM parameter holding that JSON
	EnvZones        = "AUDIT_ZONES"         // zone names, comma separated; default: the whole catalogue
	EnvExtraZones   = "AUDIT_EXTRA_ZONES"   // operators' zones: a JSON array of dnsbl zone definitions
	EnvMaxTargets   = "AUDIT_MAX_TARGETS"   // cap after CIDR expansion; default audit.DefaultMaxTargets
	EnvHistoryDays  = "AUDIT_HISTORY_DAYS"  // TTL of runs and changes; default 90
	EnvConcurrency  = "AUDIT_CONCURRENCY"   // lookups at once; default dnsbl.DefaultConcurrency
	EnvTimeoutMS    = "DNSBL_TIMEOUT_MS"    // per query; default dnsbl.DefaultTimeout
	EnvResolver     = "DNSBL_RESOLVER"      // host[:port] of the resolver; default the system's
	EnvDQSKeyParam  = "DQS_KEY_PARAM"       // NAME of the SSM parameter holding the Spamhaus DQS key
	EnvDQSKeySecret = "DQS_KEY_SECRET"      // or NAME of a Secrets Manager secret holding it
	EnvStage        = "STAGE"               // shown in the alert's subject
)

// Config is the function's configuration, from its environment.
type Config struct {
	Table, Topic  string
	Spec          audit.Spec // from AUDIT_TARGETS; the parameter's spec is added at each run
	TargetsParam  string
	Zones         []dnsbl.Zone
	MaxTargets    int
	HistoryTTL    time.Duration
	Concurrency   int
	Timeout       time.Duration
	Resolver      string // host:port; "" for the system resolver
	DQSKeyParam   string
	DQSKeySecret  string
	Stage         string
	LogLevel      slog.Level
	HasTargetsEnv bool
}

// LoadConfig reads the configuration through getenv and reports every problem at once, each
// naming the variable and its value.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Table: getenv(schema.Reputation.EnvVar), Topic: getenv(schema.Alerts.EnvVar),
		TargetsParam: getenv(EnvTargetsParam), DQSKeyParam: getenv(EnvDQSKeyParam),
		DQSKeySecret: getenv(EnvDQSKeySecret), Stage: getenv(EnvStage),
		MaxTargets: audit.DefaultMaxTargets, HistoryTTL: audit.DefaultHistoryTTL,
	}
	var errs []error
	if c.Table == "" {
		errs = append(errs, fmt.Errorf("%s is not set", schema.Reputation.EnvVar))
	}
	if c.Topic == "" {
		errs = append(errs, fmt.Errorf("%s is not set", schema.Alerts.EnvVar))
	}
	number := func(name string, min int, dst *int) {
		v := getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("%s %q: want a whole number ≥ %d", name, v, min))
			return
		}
		*dst = n
	}
	number(EnvMaxTargets, 1, &c.MaxTargets)
	number(EnvConcurrency, 1, &c.Concurrency)
	var days, ms int
	number(EnvHistoryDays, 1, &days)
	if days > 0 {
		c.HistoryTTL = time.Duration(days) * 24 * time.Hour
	}
	number(EnvTimeoutMS, 1, &ms)
	c.Timeout = time.Duration(ms) * time.Millisecond

	if v := getenv(EnvTargets); v != "" {
		c.HasTargetsEnv = true
		spec, err := audit.ParseSpec([]byte(v))
		if err == nil {
			_, err = spec.Targets(c.MaxTargets)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvTargets, err))
		}
		c.Spec = spec
	}
	if !c.HasTargetsEnv && c.TargetsParam == "" {
		errs = append(errs, fmt.Errorf("neither %s nor %s is set: nothing to audit", EnvTargets, EnvTargetsParam))
	}
	if c.DQSKeyParam != "" && c.DQSKeySecret != "" {
		errs = append(errs, fmt.Errorf("%s and %s are both set: name the DQS key once", EnvDQSKeyParam, EnvDQSKeySecret))
	}

	zones := dnsbl.Catalogue()
	if v := getenv(EnvExtraZones); v != "" {
		extra, err := dnsbl.ParseZones([]byte(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvExtraZones, err))
		}
		for _, z := range extra {
			for _, d := range zones {
				if d.Name == z.Name {
					errs = append(errs, fmt.Errorf("%s: zone %q is already in the catalogue", EnvExtraZones, z.Name))
				}
			}
		}
		zones = append(zones, extra...)
	}
	c.Zones = zones
	if v := getenv(EnvZones); v != "" {
		var names []string
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		sel, err := dnsbl.Select(zones, names...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", EnvZones, v, err))
		}
		c.Zones = sel
	}

	if v := getenv(EnvResolver); v != "" {
		addr, err := audit.ResolverAddr(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", EnvResolver, v, err))
		}
		c.Resolver = addr
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", v))
		}
	}
	return c, errors.Join(errs...)
}
