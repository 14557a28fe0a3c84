package filter

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/verdict"
)

// DynamicBlock is the client IP's active dynamic block, as the caller found it in the
// reputation store (shared/reputation): the IP sent Spam spam messages within Window, and the
// block lasts until Expires. The caller passes only blocks that have not expired.
type DynamicBlock struct {
	Spam    int
	Window  time.Duration
	Expires time.Time
}

// Level is what one aggressiveness level (policy aggressiveness 0–4) does in step 4.
//
// A DNSBL listing blocks permanently when its severity is at least Permanent[zone level], and
// temporarily when at least Temporary[zone level]; a missing entry never blocks. Other listings
// are recorded (dnsbl-noted) and delivered. A dynamic block applies when the IP's spam count
// reached Spam; 0: dynamic blocks never apply.
//
// With the default catalogue (shared/dnsbl) that reads:
//
//	level  permanent block                               temporary block                             dynamic block at
//	0      nothing (every zone looked up, listings noted) nothing                                     never
//	1      high: Spamhaus SBL, XBL, DROP, BCL;           —                                           50 spam / hour
//	       Mailspike Z, L4, L5; mailspike-z
//	2      high (as level 1)                             medium: Spamhaus CSS, SpamCop, Barracuda,   20 spam / hour
//	                                                     PSBL, UCEPROTECT 1, Mailspike L3
//	3      high and medium                               low: Spamhaus PBL, Mailspike L1, L2         10 spam / hour
//	4      high, medium and low                          UCEPROTECT 2 (allocation listings)           5 spam / hour
//
// UCEPROTECT 3 (whole-ASN listings: collateral) never blocks at any level. Zones an operator
// adds follow the same rules by the severity and level of their codes.
type Level struct {
	Permanent map[dnsbl.Level]dnsbl.Severity
	Temporary map[dnsbl.Level]dnsbl.Severity
	Spam      int
}

// Levels are the aggressiveness levels, indexed by number.
var Levels = [...]Level{
	0: {},
	1: {Permanent: sev(dnsbl.SeverityHigh), Spam: 50},
	2: {Permanent: sev(dnsbl.SeverityHigh), Temporary: sev(dnsbl.SeverityMedium), Spam: 20},
	3: {Permanent: sev(dnsbl.SeverityMedium), Temporary: sev(dnsbl.SeverityLow), Spam: 10},
	4: {
		Permanent: sev(dnsbl.SeverityLow),
		Temporary: map[dnsbl.Level]dnsbl.Severity{dnsbl.LevelAllocation: dnsbl.SeverityLow},
		Spam:      5,
	},
}

func sev(s dnsbl.Severity) map[dnsbl.Level]dnsbl.Severity {
	return map[dnsbl.Level]dnsbl.Severity{dnsbl.LevelSingle: s}
}

// LevelOf returns the level of an aggressiveness value, clamped to 0–4.
func LevelOf(aggressiveness int) Level {
	return Levels[min(max(aggressiveness, 0), len(Levels)-1)]
}

// MinSpam is the smallest spam count at which a dynamic block applies at some level: the
// count at which the reputation store starts recording a block.
func MinSpam() int {
	n := 0
	for _, l := range Levels {
		if l.Spam > 0 && (n == 0 || l.Spam < n) {
			n = l.Spam
		}
	}
	return n
}

// Block says how a listing blocks at this level.
func (l Level) Block(r dnsbl.Result) verdict.BlockType {
	if r.Status != dnsbl.Listed || r.ASNListing {
		return verdict.NotBlocked
	}
	if floor := l.Permanent[r.Level]; floor > dnsbl.SeverityNone && r.Severity >= floor {
		return verdict.Permanent
	}
	if floor := l.Temporary[r.Level]; floor > dnsbl.SeverityNone && r.Severity >= floor {
		return verdict.Temporary
	}
	return verdict.NotBlocked
}

// canBlock reports whether any listing of a zone of this level could block: only then does a
// failed lookup of that zone matter.
func (l Level) canBlock(zl dnsbl.Level) bool {
	return l.Permanent[zl] > dnsbl.SeverityNone || l.Temporary[zl] > dnsbl.SeverityNone
}

// IsTimeout reports whether a failed lookup failed because no answer came in time (the
// per-query timeout or the caller's deadline), as opposed to an answer saying it failed.
func IsTimeout(r dnsbl.Result) bool {
	return r.Status == dnsbl.Error && (errors.Is(r.Err, dnsbl.ErrTimeout) || errors.Is(r.Err, context.DeadlineExceeded))
}

// temporaryAction is the action of a temporary block: the domain's reputation action, but at
// most quarantine, so that mail blocked for a condition that lifts by itself can be released.
func temporaryAction(a verdict.Action) verdict.Action {
	switch a {
	case verdict.Deliver, verdict.Tag, verdict.Quarantine:
		return a
	}
	return verdict.Quarantine
}

// reputation is step 4 after the administrator's lists: the dynamic block, then the DNSBL
// listings of the client IP at the domain's level, then failed lookups by fail-open/closed.
func (ev *evaluation) reputation(s *state, ip netip.Addr) {
	lvl := LevelOf(s.eff.Aggressiveness)
	tempAction := temporaryAction(s.eff.ReputationAction)
	if b := ev.in.Facts.DynamicBlock; b != nil && lvl.Spam > 0 && b.Spam >= lvl.Spam {
		s.apply(tempAction, verdict.Temporary, verdict.IPDynamicBlock,
			fmt.Sprintf("%s sent %d spam messages within %v; blocked until %s", ip, b.Spam, b.Window, b.Expires.UTC().Format(time.RFC3339)))
		if s.done {
			return
		}
	}
	var perm, temp, failed, slow []string
	for _, r := range ev.in.Facts.DNSBL {
		switch r.Status {
		case dnsbl.Listed:
			d := listingDetail(r)
			switch lvl.Block(r) {
			case verdict.Permanent:
				perm = append(perm, d)
			case verdict.Temporary:
				temp = append(temp, d)
			default:
				s.v.Add(verdict.DNSBLNoted, d)
			}
		case dnsbl.Error:
			if !lvl.canBlock(r.Level) {
				continue // this zone cannot block here: its failure changes nothing
			}
			if IsTimeout(r) {
				slow = append(slow, r.Zone)
			} else {
				failed = append(failed, r.Zone+": "+r.Meaning)
			}
		}
	}
	switch {
	case len(perm) > 0:
		s.apply(s.eff.ReputationAction, verdict.Permanent, verdict.DNSBLListed, strings.Join(perm, "; "))
		return
	case len(temp) > 0:
		s.apply(tempAction, verdict.Temporary, verdict.DNSBLListed, strings.Join(temp, "; "))
		return
	}
	if len(failed) > 0 {
		d := strings.Join(failed, "; ")
		if s.eff.FailOpen {
			s.v.Add(verdict.DNSBLError, d+" (fail-open)")
		} else {
			s.apply(tempAction, verdict.Temporary, verdict.DNSBLError, d+" (fail-closed)")
			if s.done {
				return
			}
		}
	}
	if len(slow) > 0 {
		d := strings.Join(slow, ", ") + ": no answer in time"
		if !s.eff.FailOpen && s.eff.FailClosedOnTimeout {
			s.apply(tempAction, verdict.Temporary, verdict.DNSBLTimeout, d+" (fail-closed on timeout)")
		} else {
			s.v.Add(verdict.DNSBLTimeout, d+" (not blocking)")
		}
	}
}

func listingDetail(r dnsbl.Result) string {
	codes := make([]string, len(r.Codes))
	for i, c := range r.Codes {
		codes[i] = c.String()
	}
	return fmt.Sprintf("%s %s: %s", r.Zone, strings.Join(codes, ","), r.Meaning)
}
