package outbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON as Go duration text ("5m", "24h").
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads duration text such as "10m" or "24h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"10m\" or \"24h\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"10m\" or \"24h\", not %q", s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Rate is a message limit over a sliding window.
type Rate struct {
	Limit  int      `json:"limit,omitempty"`  // messages allowed in any window; one more crosses it
	Window Duration `json:"window,omitempty"` // whole minutes, 1m to 1h
}

// Spike is the volume-spike rule: the tenant's sends in the last hour against its own hourly
// average over the previous days.
type Spike struct {
	// Factor: the last hour's sends above Factor × the baseline's hourly average cross it.
	Factor float64 `json:"factor,omitempty"`
	// MinVolume: the rule applies only once the last hour holds at least this many sends.
	MinVolume int `json:"minVolume,omitempty"`
	// BaselineDays: the baseline is the sends of up to this many previous whole days (UTC);
	// a tenant with no history yet has no baseline and only the other rules apply.
	BaselineDays int `json:"baselineDays,omitempty"`
}

// Policy is a tenant's outbound policy. Zero fields take the defaults (WithDefaults).
type Policy struct {
	PerIP     Rate `json:"perIP,omitzero"`     // messages per sending IP (default 1000 per 5 minutes)
	PerSender Rate `json:"perSender,omitzero"` // messages per envelope sender (default 500 per 10 minutes)
	// BounceRate: permanent bounces / sends over RateWindow above it cross the rule.
	BounceRate float64 `json:"bounceRate,omitempty"`
	// ComplaintRate: complaints / sends over RateWindow above it cross the rule.
	ComplaintRate float64 `json:"complaintRate,omitempty"`
	// RateWindow over which bounce and complaint rates are measured: whole hours, 1h to 72h.
	RateWindow Duration `json:"rateWindow,omitempty"`
	// MinVolume: the rates apply only once RateWindow holds at least this many sends, so that
	// one bounce among three messages does not suspend a tenant.
	MinVolume int   `json:"minVolume,omitempty"`
	Spike     Spike `json:"spike,omitzero"`
}

// Defaults: the per-IP and per-sender limits of the hosted service Moat replaces; the bounce
// and complaint rates half of those at which SES itself puts an account under review or pauses
// it (10 % bounces, 0.5 % complaints), so a tenant is stopped before it harms the account.
var DefaultPolicy = Policy{
	PerIP:         Rate{Limit: 1000, Window: Duration(5 * time.Minute)},
	PerSender:     Rate{Limit: 500, Window: Duration(10 * time.Minute)},
	BounceRate:    0.05,
	ComplaintRate: 0.003,
	RateWindow:    Duration(24 * time.Hour),
	MinVolume:     200,
	Spike:         Spike{Factor: 10, MinVolume: 500, BaselineDays: 7},
}

// WithDefaults returns p with every zero field set to DefaultPolicy's.
func (p Policy) WithDefaults() Policy {
	d := DefaultPolicy
	if p.PerIP.Limit == 0 {
		p.PerIP.Limit = d.PerIP.Limit
	}
	if p.PerIP.Window == 0 {
		p.PerIP.Window = d.PerIP.Window
	}
	if p.PerSender.Limit == 0 {
		p.PerSender.Limit = d.PerSender.Limit
	}
	if p.PerSender.Window == 0 {
		p.PerSender.Window = d.PerSender.Window
	}
	if p.BounceRate == 0 {
		p.BounceRate = d.BounceRate
	}
	if p.ComplaintRate == 0 {
		p.ComplaintRate = d.ComplaintRate
	}
	if p.RateWindow == 0 {
		p.RateWindow = d.RateWindow
	}
	if p.MinVolume == 0 {
		p.MinVolume = d.MinVolume
	}
	if p.Spike.Factor == 0 {
		p.Spike.Factor = d.Spike.Factor
	}
	if p.Spike.MinVolume == 0 {
		p.Spike.MinVolume = d.Spike.MinVolume
	}
	if p.Spike.BaselineDays == 0 {
		p.Spike.BaselineDays = d.Spike.BaselineDays
	}
	return p
}

// Sparse returns p with every field that equals DefaultPolicy's zeroed, so that its JSON holds
// only what differs from the defaults (WithDefaults restores them).
func (p Policy) Sparse() Policy {
	d := DefaultPolicy
	if p.PerIP.Limit == d.PerIP.Limit {
		p.PerIP.Limit = 0
	}
	if p.PerIP.Window == d.PerIP.Window {
		p.PerIP.Window = 0
	}
	if p.PerSender.Limit == d.PerSender.Limit {
		p.PerSender.Limit = 0
	}
	if p.PerSender.Window == d.PerSender.Window {
		p.PerSender.Window = 0
	}
	if p.BounceRate == d.BounceRate {
		p.BounceRate = 0
	}
	if p.ComplaintRate == d.ComplaintRate {
		p.ComplaintRate = 0
	}
	if p.RateWindow == d.RateWindow {
		p.RateWindow = 0
	}
	if p.MinVolume == d.MinVolume {
		p.MinVolume = 0
	}
	if p.Spike.Factor == d.Spike.Factor {
		p.Spike.Factor = 0
	}
	if p.Spike.MinVolume == d.Spike.MinVolume {
		p.Spike.MinVolume = 0
	}
	if p.Spike.BaselineDays == d.Spike.BaselineDays {
		p.Spike.BaselineDays = 0
	}
	return p
}

// Validate checks a policy with its defaults applied; every message names the field (under
// prefix) and the value.
func (p Policy) Validate(prefix string) error {
	if prefix == "" {
		prefix = "policy"
	}
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s %s: %s", prefix, field, quote(value), fmt.Sprintf(format, args...)))
	}
	for _, r := range []struct {
		name string
		rate Rate
	}{{"perIP", p.PerIP}, {"perSender", p.PerSender}} {
		if r.rate.Limit < 1 || r.rate.Limit > 1_000_000 {
			bad(r.name+".limit", r.rate.Limit, "want 1 to 1000000 messages")
		}
		if w := r.rate.Window.D(); w < time.Minute || w > time.Hour || w%time.Minute != 0 {
			bad(r.name+".window", r.rate.Window.String(), "want whole minutes from 1m to 1h")
		}
	}
	if p.BounceRate <= 0 || p.BounceRate >= 1 {
		bad("bounceRate", p.BounceRate, "want a fraction between 0 and 1 (0.05 is 5 %%)")
	}
	if p.ComplaintRate <= 0 || p.ComplaintRate >= 1 {
		bad("complaintRate", p.ComplaintRate, "want a fraction between 0 and 1 (0.003 is 0.3 %%)")
	}
	if w := p.RateWindow.D(); w < time.Hour || w > 72*time.Hour || w%time.Hour != 0 {
		bad("rateWindow", p.RateWindow.String(), "want whole hours from 1h to 72h")
	}
	if p.MinVolume < 1 {
		bad("minVolume", p.MinVolume, "want at least 1 message")
	}
	if p.Spike.Factor < 1.5 || p.Spike.Factor > 1000 {
		bad("spike.factor", p.Spike.Factor, "want 1.5 to 1000 times the baseline")
	}
	if p.Spike.MinVolume < 1 {
		bad("spike.minVolume", p.Spike.MinVolume, "want at least 1 message")
	}
	if p.Spike.BaselineDays < 1 || p.Spike.BaselineDays > 28 {
		bad("spike.baselineDays", p.Spike.BaselineDays, "want 1 to 28 days")
	}
	return errors.Join(errs...)
}

// Rule names the threshold that suspended a tenant; stable machine strings.
type Rule string

const (
	RuleIPRate        Rule = "ip-rate"        // too many messages from one sending IP
	RuleSenderRate    Rule = "sender-rate"    // too many messages from one envelope sender
	RuleBounceRate    Rule = "bounce-rate"    // too many permanent bounces
	RuleComplaintRate Rule = "complaint-rate" // too many complaints
	RuleVolumeSpike   Rule = "volume-spike"   // far more mail than the tenant's usual
	RuleOperator      Rule = "operator"       // an operator suspended it (moatctl)
)

// Counts are what the counters say at one event. Fields an event does not concern are zero,
// and a zero count crosses nothing.
type Counts struct {
	IP          string `json:"ip,omitempty"`
	IPCount     int    `json:"ipCount,omitempty"` // sends from IP within PerIP.Window
	Sender      string `json:"sender,omitempty"`
	SenderCount int    `json:"senderCount,omitempty"` // sends from Sender within PerSender.Window
	// Within RateWindow: sends, permanent bounces, complaints.
	Sends      int `json:"sends,omitempty"`
	Bounces    int `json:"bounces,omitempty"`
	Complaints int `json:"complaints,omitempty"`
	// LastHour: the tenant's sends in the last hour; BaselineHourly its average per hour over
	// BaselineDays previous whole days that had mail (0: no history).
	LastHour       int     `json:"lastHour,omitempty"`
	BaselineHourly float64 `json:"baselineHourly,omitempty"`
	BaselineDays   int     `json:"baselineDays,omitempty"`
}

// Violation is one threshold crossed, with its evidence.
type Violation struct {
	Rule     Rule    `json:"rule"`
	Subject  string  `json:"subject,omitempty"` // the sending IP or sender address, for the rate limits
	Observed float64 `json:"observed"`          // messages, or a rate as a fraction
	Limit    float64 `json:"limit"`
	Window   string  `json:"window"`
	Detail   string  `json:"detail"` // one sentence for the administrator
}

// Evaluate returns the thresholds the counts cross, in the order of the rules above; none when
// the tenant stays within its policy. A limit is crossed by the first message beyond it: with
// the default 1000 messages per 5 minutes, the 1001st message within 5 minutes crosses it.
func (p Policy) Evaluate(c Counts) []Violation {
	var v []Violation
	if c.IPCount > p.PerIP.Limit {
		v = append(v, Violation{
			Rule: RuleIPRate, Subject: c.IP, Observed: float64(c.IPCount), Limit: float64(p.PerIP.Limit), Window: p.PerIP.Window.String(),
			Detail: fmt.Sprintf("%d messages from sending IP %s within %s (limit %d)", c.IPCount, c.IP, p.PerIP.Window, p.PerIP.Limit),
		})
	}
	if c.SenderCount > p.PerSender.Limit {
		v = append(v, Violation{
			Rule: RuleSenderRate, Subject: c.Sender, Observed: float64(c.SenderCount), Limit: float64(p.PerSender.Limit), Window: p.PerSender.Window.String(),
			Detail: fmt.Sprintf("%d messages from one sender address within %s (limit %d)", c.SenderCount, p.PerSender.Window, p.PerSender.Limit),
		})
	}
	if c.Sends >= p.MinVolume && c.Sends > 0 {
		if r := float64(c.Bounces) / float64(c.Sends); r > p.BounceRate {
			v = append(v, Violation{
				Rule: RuleBounceRate, Observed: r, Limit: p.BounceRate, Window: p.RateWindow.String(),
				Detail: fmt.Sprintf("%d permanent bounces among %d messages within %s: %s (limit %s)", c.Bounces, c.Sends, p.RateWindow, percent(r), percent(p.BounceRate)),
			})
		}
		if r := float64(c.Complaints) / float64(c.Sends); r > p.ComplaintRate {
			v = append(v, Violation{
				Rule: RuleComplaintRate, Observed: r, Limit: p.ComplaintRate, Window: p.RateWindow.String(),
				Detail: fmt.Sprintf("%d complaints among %d messages within %s: %s (limit %s)", c.Complaints, c.Sends, p.RateWindow, percent(r), percent(p.ComplaintRate)),
			})
		}
	}
	if c.BaselineDays > 0 && c.LastHour >= p.Spike.MinVolume {
		if limit := p.Spike.Factor * c.BaselineHourly; float64(c.LastHour) > limit {
			v = append(v, Violation{
				Rule: RuleVolumeSpike, Observed: float64(c.LastHour), Limit: limit, Window: "1h0m0s",
				Detail: fmt.Sprintf("%d messages in the last hour, more than %g times the usual %.1f per hour (average of the previous %d days)",
					c.LastHour, p.Spike.Factor, c.BaselineHourly, c.BaselineDays),
			})
		}
	}
	return v
}

func percent(f float64) string {
	s := fmt.Sprintf("%.2f", f*100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + " %"
}
