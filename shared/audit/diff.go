package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/dnsbl"
)

// State is what the previous audit found, the baseline of the next one.
type State struct {
	Targets map[string]TargetState `json:"targets"` // by target name
	Zones   map[string]ZoneState   `json:"zones"`   // by zone name
}

// TargetState is one target's last known outcome in each zone.
type TargetState struct {
	Target  string           `json:"target" dynamodbav:"target"`
	Kind    dnsbl.Kind       `json:"kind" dynamodbav:"kind"`
	Source  string           `json:"source,omitempty" dynamodbav:"source,omitempty"`
	ASN     uint32           `json:"asn,omitempty" dynamodbav:"asn,omitempty"`
	ASName  string           `json:"asName,omitempty" dynamodbav:"asName,omitempty"`
	Zones   map[string]Entry `json:"zones" dynamodbav:"zones"`
	Updated time.Time        `json:"updated" dynamodbav:"updated"`
}

// Entry is a target's state in one zone. An error result (a timeout, an unusable zone) does
// not change what is known: Known keeps the last listed or not-listed outcome, so a flaky
// zone never reads as a delisting and then a new listing.
type Entry struct {
	Status     dnsbl.Status `json:"status" dynamodbav:"status"`                   // the last run's outcome
	Known      dnsbl.Status `json:"known,omitempty" dynamodbav:"known,omitempty"` // the last listed or not-listed outcome
	Code       string       `json:"code,omitempty" dynamodbav:"code,omitempty"`   // of the known listing
	Meaning    string       `json:"meaning,omitempty" dynamodbav:"meaning,omitempty"`
	Level      dnsbl.Level  `json:"level,omitempty" dynamodbav:"level,omitempty"`
	ASNListing bool         `json:"asnListing,omitempty" dynamodbav:"asnListing,omitempty"`
	Error      string       `json:"error,omitempty" dynamodbav:"error,omitempty"` // the last run's error
	Since      time.Time    `json:"since" dynamodbav:"since"`                     // when Known last changed
}

// ZoneState says whether a zone could be trusted at the last audit.
type ZoneState struct {
	Zone     string    `json:"zone" dynamodbav:"zone"`
	Unusable bool      `json:"unusable" dynamodbav:"unusable"`
	Reason   string    `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
	Since    time.Time `json:"since" dynamodbav:"since"`
}

// ChangeKind is what changed between two audits.
type ChangeKind string

const (
	ChangeListed         ChangeKind = "listed"          // a target newly listed (single IP, domain or allocation level)
	ChangeListingChanged ChangeKind = "listing-changed" // still listed, with another code
	ChangeDelisted       ChangeKind = "delisted"        // a target no longer listed
	ChangeASNListed      ChangeKind = "asn-listed"      // a new ASN listing (UCEPROTECT level 3): collateral
	ChangeASNDelisted    ChangeKind = "asn-delisted"    // an ASN listing ended
	ChangeZoneUnusable   ChangeKind = "zone-unusable"   // the zone's test points failed: its results are errors
	ChangeZoneUsable     ChangeKind = "zone-usable"     // an unusable zone answers correctly again
)

// Change is one difference between two audits.
type Change struct {
	Kind      ChangeKind  `json:"kind" dynamodbav:"kind"`
	Zone      string      `json:"zone" dynamodbav:"zone"`
	Target    string      `json:"target,omitempty" dynamodbav:"target,omitempty"`       // the target; for ASN changes "AS<n>"
	Targets   []string    `json:"targets,omitempty" dynamodbav:"targets,omitempty"`     // for ASN changes: the monitored IPs in the ASN
	Level     dnsbl.Level `json:"level,omitempty" dynamodbav:"level,omitempty"`         //
	Code      string      `json:"code,omitempty" dynamodbav:"code,omitempty"`           // the listing's code (the old one for delistings)
	Meaning   string      `json:"meaning,omitempty" dynamodbav:"meaning,omitempty"`     // what the code means; for zones, why
	ASN       uint32      `json:"asn,omitempty" dynamodbav:"asn,omitempty"`             //
	ASName    string      `json:"asName,omitempty" dynamodbav:"asName,omitempty"`       //
	DelistURL string      `json:"delistURL,omitempty" dynamodbav:"delistURL,omitempty"` //
	Advice    string      `json:"advice,omitempty" dynamodbav:"advice,omitempty"`       //
}

// Diff compares an audit's report with the previous state. It returns the next state and the
// changes, ASN listings grouped by zone and ASN. zones gives the delisting links and advice.
// Targets no longer monitored drop out of the state without a change; a zone seen for the
// first time counts as usable before, so a zone unusable from the start is reported once.
func Diff(prev State, rep Report, zones []dnsbl.Zone) (State, []Change) {
	byName := map[string]dnsbl.Zone{}
	for _, z := range zones {
		byName[z.Name] = z
	}
	now := rep.Time
	next := State{Targets: map[string]TargetState{}, Zones: map[string]ZoneState{}}
	var changes []Change

	// Zones.
	for _, zr := range rep.Zones {
		old, seen := prev.Zones[zr.Zone]
		zs := ZoneState{Zone: zr.Zone, Unusable: zr.Unusable != "", Reason: zr.Unusable, Since: old.Since}
		switch {
		case zr.Checked == 0 && seen:
			zs = old // not used this run: keep what was known
		case zs.Unusable && (!seen || !old.Unusable):
			zs.Since = now
			z := byName[zr.Zone]
			changes = append(changes, Change{Kind: ChangeZoneUnusable, Zone: zr.Zone, Meaning: zr.Unusable,
				Advice: UnusableAdvice(z)})
		case !zs.Unusable && seen && old.Unusable:
			zs.Since = now
			changes = append(changes, Change{Kind: ChangeZoneUsable, Zone: zr.Zone})
		case !seen:
			zs.Since = now
		}
		next.Zones[zr.Zone] = zs
	}

	// Targets, and the ASN listings before and after.
	type asnZone struct {
		zone string
		asn  uint32
	}
	prevASN := map[asnZone]bool{}
	for _, ts := range prev.Targets {
		for zn, e := range ts.Zones {
			if e.Known == dnsbl.Listed && e.ASNListing {
				prevASN[asnZone{zn, ts.ASN}] = true
			}
		}
	}
	curASN := map[asnZone]*Change{}
	var asnOrder []asnZone
	for _, t := range rep.Targets {
		old := prev.Targets[t.Target]
		ts := TargetState{Target: t.Target, Kind: t.Kind, Source: t.Source, ASN: t.ASN, ASName: t.ASName,
			Zones: map[string]Entry{}, Updated: now}
		if ts.ASN == 0 && old.ASN != 0 && t.Kind == dnsbl.KindIP {
			ts.ASN, ts.ASName = old.ASN, old.ASName // the ASN lookup failed this time
		}
		for _, zr := range t.Zones {
			z := byName[zr.Zone]
			oe, had := old.Zones[zr.Zone]
			e := Entry{Status: zr.Status, Known: oe.Known, Code: oe.Code, Meaning: oe.Meaning,
				Level: zr.Level, ASNListing: oe.ASNListing, Since: oe.Since}
			if !had {
				e.Since = now
			}
			if zr.Status == dnsbl.Error {
				e.Error = zr.Meaning
				ts.Zones[zr.Zone] = e
				continue
			}
			e.Known = zr.Status
			e.Code, e.Meaning, e.ASNListing = "", "", false
			if zr.Status == dnsbl.Listed {
				e.Code, e.Meaning, e.ASNListing = zr.Code, zr.Meaning, zr.ASNListing
			}
			if e.Known != oe.Known {
				e.Since = now
			}
			ts.Zones[zr.Zone] = e
			if e.ASNListing {
				k := asnZone{zr.Zone, ts.ASN}
				if c, ok := curASN[k]; ok {
					c.Targets = append(c.Targets, t.Target)
				} else {
					curASN[k] = &Change{Kind: ChangeASNListed, Zone: zr.Zone, Target: asnLabel(ts.ASN), Targets: []string{t.Target},
						Level: zr.Level, Code: zr.Code, Meaning: zr.Meaning, ASN: ts.ASN, ASName: ts.ASName,
						DelistURL: z.DelistURL, Advice: NetworkAdvice(dnsbl.LevelASN, ts.ASN, ts.ASName)}
					asnOrder = append(asnOrder, k)
				}
				continue
			}
			if oe.ASNListing && oe.Known == dnsbl.Listed {
				continue // the end of an ASN listing is reported per ASN below
			}
			c := Change{Zone: zr.Zone, Target: t.Target, Level: zr.Level, ASN: ts.ASN, ASName: ts.ASName,
				DelistURL: z.DelistURL}
			switch {
			case e.Known == dnsbl.Listed && oe.Known != dnsbl.Listed:
				c.Kind, c.Code, c.Meaning = ChangeListed, e.Code, e.Meaning
				c.Advice = z.Advice
				if zr.Level == dnsbl.LevelAllocation {
					c.Advice = NetworkAdvice(dnsbl.LevelAllocation, ts.ASN, ts.ASName)
				}
			case e.Known == dnsbl.Listed && e.Code != oe.Code:
				c.Kind, c.Code, c.Meaning, c.Advice = ChangeListingChanged, e.Code, e.Meaning, z.Advice
			case e.Known == dnsbl.NotListed && oe.Known == dnsbl.Listed:
				c.Kind, c.Code, c.Meaning, c.DelistURL = ChangeDelisted, oe.Code, oe.Meaning, ""
			default:
				continue
			}
			changes = append(changes, c)
		}
		next.Targets[t.Target] = ts
	}
	for _, k := range asnOrder {
		if !prevASN[k] {
			changes = append(changes, *curASN[k])
		}
	}
	// ASN listings that ended: none of the monitored IPs of that ASN is listed in the zone
	// any more (and the zone answered for them: an unusable zone ends nothing).
	var ended []asnZone
	for k := range prevASN {
		if curASN[k] == nil {
			ended = append(ended, k)
		}
	}
	slices.SortFunc(ended, func(a, b asnZone) int {
		if c := strings.Compare(a.zone, b.zone); c != 0 {
			return c
		}
		return int(a.asn) - int(b.asn)
	})
	for _, k := range ended {
		c := Change{Kind: ChangeASNDelisted, Zone: k.zone, Target: asnLabel(k.asn), Level: dnsbl.LevelASN, ASN: k.asn}
		still := false
		for _, ts := range next.Targets {
			if ts.ASN != k.asn {
				continue
			}
			e, ok := ts.Zones[k.zone]
			if !ok {
				continue
			}
			if e.Known == dnsbl.Listed && e.ASNListing {
				still = true // known listed, this run an error
			}
			if old, ok := prev.Targets[ts.Target]; ok && old.Zones[k.zone].ASNListing {
				c.Targets = append(c.Targets, ts.Target)
				c.ASName, c.Code, c.Meaning = ts.ASName, old.Zones[k.zone].Code, old.Zones[k.zone].Meaning
			}
		}
		if still || len(c.Targets) == 0 {
			continue // unknown this run, or its IPs are no longer monitored
		}
		changes = append(changes, c)
	}
	return next, changes
}

func asnKey(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// asnLabel names an ASN for people: "AS64500", or "unknown ASN".
func asnLabel(n uint32) string {
	if n == 0 {
		return "unknown ASN"
	}
	return "AS" + asnKey(n)
}

// NetworkAdvice is what to tell an operator whose IP is covered by a listing of its network:
// level dnsbl.LevelASN (UCEPROTECT level 3) or dnsbl.LevelAllocation (level 2).
func NetworkAdvice(level dnsbl.Level, asn uint32, asName string) string {
	as := asnLabel(asn)
	if asName != "" {
		as += " (" + asName + ")"
	}
	if level == dnsbl.LevelASN {
		return fmt.Sprintf("This is an ASN listing: the whole network %s is listed because of other customers "+
			"of the provider. It is collateral and says nothing about your IPs; there is nothing to fix on your side. "+
			"Do not pay for delisting or \"whitelisting\": the listing ends by itself when the network's abuse drops. "+
			"Ask recipients who reject on UCEPROTECT level 3 to stop using it (UCEPROTECT itself warns of its "+
			"collateral damage) and tell the provider.", as)
	}
	return fmt.Sprintf("This is an allocation listing: the provider's address block around your IP (in %s) is "+
		"listed because of its neighbours, not because of your IP. Ask the provider to deal with the abuse in that "+
		"block, ask recipients not to reject on UCEPROTECT level 2, and do not pay for delisting.", as)
}

// UnusableAdvice is what to do about a zone whose test points failed.
func UnusableAdvice(z dnsbl.Zone) string {
	s := "Until it is fixed this zone's results are errors, never listings or delistings. Check the resolver: " +
		"it must be a recursive resolver of your own that does not rewrite NXDOMAIN."
	if z.DQSHost != "" {
		s += " Spamhaus refuses queries through public resolvers and AWS's: configure a Spamhaus DQS key."
	}
	return s
}
