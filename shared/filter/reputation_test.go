package filter

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/verdict"
)

// Answers as dnsbl.Client.Lookup returns them, for the zones of the default catalogue.
func listed(zone, code string, sev dnsbl.Severity, lvl dnsbl.Level, meaning string) dnsbl.Result {
	return dnsbl.Result{Zone: zone, Target: "192.0.2.25", Status: dnsbl.Listed, Codes: []netip.Addr{netip.MustParseAddr(code)},
		Meaning: meaning, Severity: sev, Level: lvl, ASNListing: lvl == dnsbl.LevelASN}
}

var (
	sbl       = listed("spamhaus-zen", "127.0.0.2", dnsbl.SeverityHigh, dnsbl.LevelSingle, "Spamhaus SBL: spam source or spam operation")
	spamcop   = listed("spamcop", "127.0.0.2", dnsbl.SeverityMedium, dnsbl.LevelSingle, "SpamCop: reported")
	pbl       = listed("spamhaus-zen", "127.0.0.10", dnsbl.SeverityLow, dnsbl.LevelSingle, "Spamhaus PBL")
	uce2      = listed("uceprotect-2", "127.0.0.2", dnsbl.SeverityLow, dnsbl.LevelAllocation, "UCEPROTECT level 2")
	uce3      = listed("uceprotect-3", "127.0.0.2", dnsbl.SeverityLow, dnsbl.LevelASN, "UCEPROTECT level 3")
	clean     = dnsbl.Result{Zone: "spamhaus-zen", Target: "192.0.2.25", Status: dnsbl.NotListed, Level: dnsbl.LevelSingle}
	errCode   = dnsbl.Result{Zone: "spamhaus-zen", Status: dnsbl.Error, Level: dnsbl.LevelSingle, Meaning: "127.255.255.254: public resolver", Err: fmt.Errorf("%w 127.255.255.254", dnsbl.ErrCode)}
	servfail  = dnsbl.Result{Zone: "uceprotect-2", Status: dnsbl.Error, Level: dnsbl.LevelAllocation, Meaning: "SERVFAIL", Err: dnsbl.ErrDNS}
	timeout   = dnsbl.Result{Zone: "spamcop", Status: dnsbl.Error, Level: dnsbl.LevelSingle, Meaning: "timeout", Err: fmt.Errorf("%w: %w after 2s", dnsbl.ErrDNS, dnsbl.ErrTimeout)}
	abandoned = dnsbl.Result{Zone: "spamcop", Status: dnsbl.Error, Level: dnsbl.LevelSingle, Meaning: "abandoned", Err: fmt.Errorf("lookup abandoned: %w", context.DeadlineExceeded)}
	asnErr    = dnsbl.Result{Zone: "uceprotect-3", Status: dnsbl.Error, Level: dnsbl.LevelASN, Meaning: "SERVFAIL", Err: dnsbl.ErrDNS}
)

// outcome is the expected result at one level: "deliver", "deliver:<code>", or
// "<action>/<block type>:<code>".
type outcome string

func (o outcome) check(t *testing.T, v verdict.Verdict) {
	t.Helper()
	action, code, _ := strings.Cut(string(o), ":")
	var bt verdict.BlockType
	if a, b, ok := strings.Cut(action, "/"); ok {
		action, bt = a, verdict.BlockType(b)
	}
	if string(v.Action) != action || v.BlockType != bt {
		t.Errorf("got %s/%s %v, want %s", v.Action, v.BlockType, v.Reasons, o)
	}
	if code == "" {
		for _, r := range v.Reasons {
			if strings.HasPrefix(string(r.Code), "dnsbl") || strings.HasPrefix(string(r.Code), "ip-") {
				t.Errorf("unexpected reason %v", r)
			}
		}
		return
	}
	if !v.Has(verdict.Code(code)) {
		t.Errorf("reasons %v lack %s", v.Reasons, code)
	}
	if v.Action.Intercepts() {
		// The deciding reason comes last in the trail.
		if last := v.Reasons[len(v.Reasons)-1]; last.Code != verdict.Code(code) {
			t.Errorf("decided by %v, want %s", last, code)
		}
	}
}

func reputationPolicy(t *testing.T, level int, extra string) string {
	t.Helper()
	return fmt.Sprintf("domains:\n  example.com:\n    aggressiveness: %d\n%s", level, extra)
}

func evalIP(t *testing.T, doc string, f Facts, mods ...func(*message.Message)) verdict.Verdict {
	t.Helper()
	p := compile(t, doc)
	m := msg(append([]func(*message.Message){func(m *message.Message) { m.ClientIP = netip.MustParseAddr("192.0.2.25") }}, mods...)...)
	vs := Evaluate(p, Input{Msg: m, Envelope: Envelope{MessageID: "m1", Sender: "x@sender.example", Recipients: []string{"alice@example.com"}}, Facts: f})
	return vs[0]
}

func TestReputationLevels(t *testing.T) {
	const (
		failClosed        = "    failOpen: false\n"
		failClosedTimeout = "    failOpen: false\n    failClosedOnTimeout: true\n"
	)
	for _, tc := range []struct {
		name   string
		policy string // extra domain settings
		facts  Facts
		want   [5]outcome // by level 0..4
	}{
		{"not listed", "", Facts{DNSBL: []dnsbl.Result{clean}},
			[5]outcome{"deliver", "deliver", "deliver", "deliver", "deliver"}},
		{"high severity (SBL)", "", Facts{DNSBL: []dnsbl.Result{clean, sbl}},
			[5]outcome{"deliver:dnsbl-noted", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed"}},
		{"medium severity (SpamCop)", "", Facts{DNSBL: []dnsbl.Result{spamcop}},
			[5]outcome{"deliver:dnsbl-noted", "deliver:dnsbl-noted", "quarantine/temporary:dnsbl-listed", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed"}},
		{"low severity (PBL)", "", Facts{DNSBL: []dnsbl.Result{pbl}},
			[5]outcome{"deliver:dnsbl-noted", "deliver:dnsbl-noted", "deliver:dnsbl-noted", "quarantine/temporary:dnsbl-listed", "delete/permanent:dnsbl-listed"}},
		{"allocation listing (UCEPROTECT 2)", "", Facts{DNSBL: []dnsbl.Result{uce2}},
			[5]outcome{"deliver:dnsbl-noted", "deliver:dnsbl-noted", "deliver:dnsbl-noted", "deliver:dnsbl-noted", "quarantine/temporary:dnsbl-listed"}},
		{"ASN listing (UCEPROTECT 3) never blocks", failClosed, Facts{DNSBL: []dnsbl.Result{uce3}},
			[5]outcome{"deliver:dnsbl-noted", "deliver:dnsbl-noted", "deliver:dnsbl-noted", "deliver:dnsbl-noted", "deliver:dnsbl-noted"}},
		{"permanent beats temporary", "", Facts{DNSBL: []dnsbl.Result{pbl, sbl}},
			[5]outcome{"deliver:dnsbl-noted", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed"}},
		{"listing beats fail-closed error", failClosed, Facts{DNSBL: []dnsbl.Result{errCode, spamcop}},
			[5]outcome{"deliver:dnsbl-noted", "quarantine/temporary:dnsbl-error", "quarantine/temporary:dnsbl-listed", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed"}},

		{"error, fail-open", "", Facts{DNSBL: []dnsbl.Result{errCode}},
			[5]outcome{"deliver", "deliver:dnsbl-error", "deliver:dnsbl-error", "deliver:dnsbl-error", "deliver:dnsbl-error"}},
		{"error, fail-closed", failClosed, Facts{DNSBL: []dnsbl.Result{errCode}},
			[5]outcome{"deliver", "quarantine/temporary:dnsbl-error", "quarantine/temporary:dnsbl-error", "quarantine/temporary:dnsbl-error", "quarantine/temporary:dnsbl-error"}},
		{"error of an allocation zone, fail-closed", failClosed, Facts{DNSBL: []dnsbl.Result{servfail}},
			[5]outcome{"deliver", "deliver", "deliver", "deliver", "quarantine/temporary:dnsbl-error"}},
		{"error of an ASN zone, fail-closed", failClosed, Facts{DNSBL: []dnsbl.Result{asnErr}},
			[5]outcome{"deliver", "deliver", "deliver", "deliver", "deliver"}},

		{"timeout, fail-open", "", Facts{DNSBL: []dnsbl.Result{timeout}},
			[5]outcome{"deliver", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout"}},
		{"timeout, fail-closed: a timeout alone does not block", failClosed, Facts{DNSBL: []dnsbl.Result{timeout}},
			[5]outcome{"deliver", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout"}},
		{"timeout, fail-closed on timeout", failClosedTimeout, Facts{DNSBL: []dnsbl.Result{timeout}},
			[5]outcome{"deliver", "quarantine/temporary:dnsbl-timeout", "quarantine/temporary:dnsbl-timeout", "quarantine/temporary:dnsbl-timeout", "quarantine/temporary:dnsbl-timeout"}},
		{"deadline passed, fail-closed on timeout", failClosedTimeout, Facts{DNSBL: []dnsbl.Result{abandoned}},
			[5]outcome{"deliver", "quarantine/temporary:dnsbl-timeout", "quarantine/temporary:dnsbl-timeout", "quarantine/temporary:dnsbl-timeout", "quarantine/temporary:dnsbl-timeout"}},
		{"deadline passed, fail-closed", failClosed, Facts{DNSBL: []dnsbl.Result{abandoned}},
			[5]outcome{"deliver", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout", "deliver:dnsbl-timeout"}},

		{"dynamic block, 12 spam", "", Facts{DynamicBlock: &DynamicBlock{Spam: 12, Window: time.Hour, Expires: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}},
			[5]outcome{"deliver", "deliver", "deliver", "quarantine/temporary:ip-dynamic-block", "quarantine/temporary:ip-dynamic-block"}},
		{"dynamic block, 60 spam", "", Facts{DynamicBlock: &DynamicBlock{Spam: 60, Window: time.Hour}},
			[5]outcome{"deliver", "quarantine/temporary:ip-dynamic-block", "quarantine/temporary:ip-dynamic-block", "quarantine/temporary:ip-dynamic-block", "quarantine/temporary:ip-dynamic-block"}},
		{"dynamic block, 5 spam, listed on SBL", "", Facts{DNSBL: []dnsbl.Result{sbl}, DynamicBlock: &DynamicBlock{Spam: 5, Window: time.Hour}},
			[5]outcome{"deliver:dnsbl-noted", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed", "delete/permanent:dnsbl-listed", "quarantine/temporary:ip-dynamic-block"}},

		{"reputationAction tag", "    reputationAction: tag\n    failOpen: false\n", Facts{DNSBL: []dnsbl.Result{spamcop}},
			[5]outcome{"deliver:dnsbl-noted", "deliver:dnsbl-noted", "tag:dnsbl-listed", "tag:dnsbl-listed", "tag:dnsbl-listed"}},
		{"reputationAction bounce: temporary blocks quarantine", "    reputationAction: bounce\n", Facts{DNSBL: []dnsbl.Result{spamcop}},
			[5]outcome{"deliver:dnsbl-noted", "deliver:dnsbl-noted", "quarantine/temporary:dnsbl-listed", "bounce/permanent:dnsbl-listed", "bounce/permanent:dnsbl-listed"}},
	} {
		for level, want := range tc.want {
			t.Run(fmt.Sprintf("%s/level %d", tc.name, level), func(t *testing.T) {
				want.check(t, evalIP(t, reputationPolicy(t, level, tc.policy), tc.facts))
			})
		}
	}
}

func TestReputationBounceStatus(t *testing.T) {
	v := evalIP(t, reputationPolicy(t, 2, "    reputationAction: bounce\n"), Facts{DNSBL: []dnsbl.Result{sbl}})
	if v.Action != verdict.Bounce || v.SMTPCode != 550 || v.EnhancedCode != "5.7.1" {
		t.Errorf("got %s %d %s", v.Action, v.SMTPCode, v.EnhancedCode)
	}
	if d := v.Reasons[len(v.Reasons)-1].Detail; !strings.Contains(d, "spamhaus-zen 127.0.0.2: Spamhaus SBL") {
		t.Errorf("detail %q does not name zone, code and meaning", d)
	}
}

func TestReputationAdminListsFirst(t *testing.T) {
	facts := Facts{DNSBL: []dnsbl.Result{sbl}, DynamicBlock: &DynamicBlock{Spam: 100, Window: time.Hour}}
	allow := "domains:\n  example.com:\n    aggressiveness: 4\n    ips: {allow: [192.0.2.0/24]}\n"
	outcome("deliver:ip-allowed").check(t, evalIP(t, allow, facts))
	block := "domains:\n  example.com:\n    aggressiveness: 0\n    ips: {block: [192.0.2.25]}\n"
	outcome("delete/permanent:ip-blocked").check(t, evalIP(t, block, Facts{}))
	// An approved sender skips IP reputation altogether.
	approved := "domains:\n  example.com:\n    aggressiveness: 4\nsenders:\n  - {pattern: \"*@sender.example\", list: approved}\n"
	v := evalIP(t, approved, facts)
	if v.Action != verdict.Deliver || v.Has(verdict.DNSBLListed) || v.Has(verdict.IPDynamicBlock) {
		t.Errorf("approved sender: %s %v", v.Action, v.Reasons)
	}
}

func TestReputationNoClientIP(t *testing.T) {
	v := evalIP(t, reputationPolicy(t, 4, "    failOpen: false\n"), Facts{DNSBL: []dnsbl.Result{sbl, errCode}},
		func(m *message.Message) { m.ClientIP = netip.Addr{} })
	if v.Action != verdict.Deliver {
		t.Errorf("without a client IP step 4 is skipped, got %s %v", v.Action, v.Reasons)
	}
}

func TestMinSpam(t *testing.T) {
	if got := MinSpam(); got != Levels[4].Spam {
		t.Errorf("MinSpam() = %d, want level 4's %d", got, Levels[4].Spam)
	}
	if LevelOf(9).Spam != Levels[4].Spam || LevelOf(-1).Spam != 0 {
		t.Error("LevelOf does not clamp")
	}
}

// BenchmarkReputationStep evaluates a message whose client IP has eight DNSBL answers (one
// listing) and a dynamic block, to one recipient at level 2.
func BenchmarkReputationStep(b *testing.B) {
	p := compile(b, "domains:\n  example.com:\n    aggressiveness: 2\n")
	m := msg(func(m *message.Message) { m.ClientIP = netip.MustParseAddr("192.0.2.25") })
	facts := Facts{DNSBL: []dnsbl.Result{clean, clean, clean, clean, clean, clean, uce3, timeout}, DynamicBlock: &DynamicBlock{Spam: 6, Window: time.Hour}}
	in := Input{Msg: m, Envelope: Envelope{MessageID: "m1", Sender: "x@sender.example", Recipients: []string{"alice@example.com"}}, Facts: facts}
	for b.Loop() {
		Evaluate(p, in)
	}
}
