// Package outbound is the handler of the outbound function: it consumes the SES sending events
// of the tenants' configuration sets (through EventBridge or SNS), writes outbound tracking,
// keeps the per-tenant, per-sender and per-IP counters, and suspends a tenant that crosses a
// threshold of its policy: sending off on its configuration set, the reason recorded with the
// evidence, one notification per suspension to the alert topic (the tenant's administrators
// are subscribed to their tenant's notifications). The local stack and the tests run the same
// code in-process.
package outbound

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/schema"
)

// Environment variables beyond the schema's.
const (
	TenantsEnvVar = "OUTBOUND_TENANTS" // JSON list of outbound.Tenant, configuration sets filled in
	SwitchEnvVar  = "SENDING_SWITCH"   // ses (default) or table (the local stack: no SES)
)

// Config is the function's configuration, from its environment.
type Config struct {
	ReputationTable, TrackingTable, AlertTopic string
	Tenants                                    outbound.Tenants
	TrackingTTL                                time.Duration
	Switch                                     string // ses or table
	LogLevel                                   slog.Level
}

// LoadConfig reads the configuration through getenv and reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		ReputationTable: getenv(schema.Reputation.EnvVar), TrackingTable: getenv(schema.Tracking.EnvVar),
		AlertTopic: getenv(schema.Alerts.EnvVar), TrackingTTL: 90 * 24 * time.Hour, Switch: getenv(SwitchEnvVar),
	}
	var errs []error
	for _, v := range []struct{ name, value string }{
		{schema.Reputation.EnvVar, c.ReputationTable}, {schema.Tracking.EnvVar, c.TrackingTable},
		{schema.Alerts.EnvVar, c.AlertTopic}, {TenantsEnvVar, getenv(TenantsEnvVar)},
	} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s is not set", v.name))
		}
	}
	if raw := getenv(TenantsEnvVar); raw != "" {
		ts, err := outbound.ParseTenants([]byte(raw))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", TenantsEnvVar, err))
		}
		for i, t := range ts {
			if t.ConfigurationSet == "" {
				errs = append(errs, fmt.Errorf("%s: tenants[%d].configurationSet is empty", TenantsEnvVar, i))
			}
		}
		c.Tenants = ts
	}
	switch c.Switch {
	case "":
		c.Switch = "ses"
	case "ses", "table":
	default:
		errs = append(errs, fmt.Errorf("%s %q: want ses or table", SwitchEnvVar, c.Switch))
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
	return c, errors.Join(errs...)
}
