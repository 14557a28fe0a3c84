// Package audit is the scheduled blocklist audit of the gateway's own sending IPs and domains
// (DESIGN.md §5): every monitored target is looked up in every zone of its kind (shared/dnsbl),
// every IP's autonomous system is found through Team Cymru (shared/asn), and the outcome is
// compared with the previous run's to say what changed: newly listed, delisted, a new ASN
// listing, a zone that became unusable.
//
// UCEPROTECT level 3 lists whole ASNs: a hit there is reported as an ASN listing (the ASN, its
// name, and that it is collateral, with the advice not to pay for delisting and to ask
// recipients not to use level 3), once per ASN rather than once per IP. Level 2 lists the
// provider's allocation and is reported as an allocation listing.
//
// Run does the lookups (no AWS); Diff compares with the stored State; Alert writes the one
// message a run sends when something changed; Store keeps state and history in DynamoDB.
package audit

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moatmail/moat/shared/asn"
	"github.com/moatmail/moat/shared/dnsbl"
)

// ASNLookup finds the autonomous system of an address; *asn.Client implements it.
type ASNLookup interface {
	Lookup(ctx context.Context, ip netip.Addr) (asn.Info, error)
}

// Auditor runs audits. Set the fields before use; it is safe for concurrent use.
type Auditor struct {
	DNSBL *dnsbl.Client
	// ASN, when not nil, finds each IP's AS (share DNSBL's resolver so that the cache and the
	// bound on queries in flight are shared). Without it ASN listings carry no ASN.
	ASN   ASNLookup
	Zones []dnsbl.Zone
	// Concurrency bounds the ASN lookups at once; dnsbl.DefaultConcurrency if zero. The
	// block-list lookups have the client's own bound.
	Concurrency int
	// Progress, if not nil, is called after each lookup (block list or ASN) with the number
	// done and the total, from one goroutine at a time.
	Progress func(done, total int)
}

// Report is the outcome of one audit.
type Report struct {
	Time    time.Time      `json:"time"`
	Targets []TargetReport `json:"targets"`
	Zones   []ZoneReport   `json:"zones"`
}

// TargetReport is one target's outcome.
type TargetReport struct {
	Target   string       `json:"target"`
	Kind     dnsbl.Kind   `json:"kind"`
	Source   string       `json:"source,omitempty"`
	ASN      uint32       `json:"asn,omitempty"`  // origin AS of the most specific prefix; 0: unknown or a domain
	ASNs     []uint32     `json:"asns,omitempty"` // every origin AS Team Cymru lists (multi-origin prefixes)
	ASName   string       `json:"asName,omitempty"`
	Prefix   string       `json:"prefix,omitempty"`   // the announced prefix holding the IP
	ASNError string       `json:"asnError,omitempty"` // why the ASN (or its name) is unknown
	Zones    []ZoneResult `json:"zones"`
}

// ZoneResult is one target's outcome in one zone.
type ZoneResult struct {
	Zone       string         `json:"zone"`
	Status     dnsbl.Status   `json:"status"`
	Code       string         `json:"code,omitempty"`    // the A answers, comma separated
	Meaning    string         `json:"meaning,omitempty"` // what the code means; for an error, why
	Level      dnsbl.Level    `json:"level"`
	Severity   dnsbl.Severity `json:"severity,omitempty"`
	ASNListing bool           `json:"asnListing"` // a listing of the IP's whole ASN: collateral
	Unusable   bool           `json:"unusable,omitempty"`
}

// ZoneReport says how a zone answered during the audit.
type ZoneReport struct {
	Zone     string `json:"zone"`
	Host     string `json:"host"`
	Checked  int    `json:"checked"` // targets looked up in it
	Listed   int    `json:"listed"`
	Errors   int    `json:"errors"`
	Unusable string `json:"unusable,omitempty"` // why, when its test points failed
}

// Run audits the targets in every zone of their kind and finds the AS of every IP. The
// context's deadline bounds the whole audit: lookups still pending when it ends are errors.
func (a *Auditor) Run(ctx context.Context, targets []Target, now time.Time) Report {
	names := make([]string, len(targets))
	dnsTotal, asnTotal := 0, 0
	for i, t := range targets {
		names[i] = t.Name
		for _, z := range a.Zones {
			if z.Kind == t.Kind {
				dnsTotal++
			}
		}
		if t.Kind == dnsbl.KindIP && a.ASN != nil {
			asnTotal++
		}
	}
	var (
		mu                sync.Mutex
		dnsDone, asnDone  int
		progress          func(done, total int)
		asnProgressReport = func() {}
	)
	if a.Progress != nil {
		progress = func(done, _ int) {
			mu.Lock()
			defer mu.Unlock()
			dnsDone = done
			a.Progress(dnsDone+asnDone, dnsTotal+asnTotal)
		}
		asnProgressReport = func() {
			mu.Lock()
			defer mu.Unlock()
			asnDone++
			a.Progress(dnsDone+asnDone, dnsTotal+asnTotal)
		}
	}

	infos := make([]TargetReport, len(targets))
	var wg sync.WaitGroup
	if a.ASN != nil {
		wg.Go(func() { a.lookupASNs(ctx, targets, infos, asnProgressReport) })
	}
	results := a.DNSBL.LookupAll(ctx, names, a.Zones, progress)
	wg.Wait()

	rep := Report{Time: now.UTC()}
	zoneIdx := map[string]int{}
	for _, z := range a.Zones {
		zoneIdx[z.Name] = len(rep.Zones)
		rep.Zones = append(rep.Zones, ZoneReport{Zone: z.Name, Host: z.Host})
	}
	for i, t := range targets {
		tr := infos[i]
		tr.Target, tr.Kind, tr.Source = t.Name, t.Kind, t.Source
		for _, r := range results[t.Name] {
			zr := zoneResult(r)
			tr.Zones = append(tr.Zones, zr)
			if j, ok := zoneIdx[r.Zone]; ok {
				zs := &rep.Zones[j]
				zs.Checked++
				switch {
				case zr.Status == dnsbl.Listed:
					zs.Listed++
				case zr.Status == dnsbl.Error:
					zs.Errors++
					if zr.Unusable && zs.Unusable == "" {
						zs.Unusable = zr.Meaning
					}
				}
			}
		}
		rep.Targets = append(rep.Targets, tr)
	}
	return rep
}

func zoneResult(r dnsbl.Result) ZoneResult {
	codes := make([]string, len(r.Codes))
	for i, c := range r.Codes {
		codes[i] = c.String()
	}
	return ZoneResult{
		Zone: r.Zone, Status: r.Status, Code: strings.Join(codes, ","), Meaning: r.Meaning,
		Level: r.Level, Severity: r.Severity, ASNListing: r.ASNListing,
		Unusable: r.Status == dnsbl.Error && errors.Is(r.Err, dnsbl.ErrUnusable),
	}
}

// lookupASNs fills the AS fields of infos for the IP targets, Concurrency at a time.
func (a *Auditor) lookupASNs(ctx context.Context, targets []Target, infos []TargetReport, done func()) {
	n := a.Concurrency
	if n <= 0 {
		n = dnsbl.DefaultConcurrency
	}
	ch := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for i := range ch {
				info, err := a.ASN.Lookup(ctx, targets[i].IP)
				tr := &infos[i]
				tr.ASN, tr.ASNs, tr.ASName = info.ASN, info.ASNs, info.Name
				if info.Prefix.IsValid() {
					tr.Prefix = info.Prefix.String()
				}
				switch {
				case errors.Is(err, asn.ErrNotFound) && info.ASN == 0:
					tr.ASNError = "not announced (Team Cymru has no origin for it)"
				case err != nil:
					tr.ASNError = err.Error()
				}
				done()
			}
		})
	}
	for i, t := range targets {
		if t.Kind == dnsbl.KindIP {
			ch <- i
		}
	}
	close(ch)
	wg.Wait()
}

// Listings counts a report's listings: targets listed in at least one zone of single-IP or
// domain level (about the target itself), and listings of wider levels (collateral).
func (r Report) Listings() (targets, collateral int) {
	for _, t := range r.Targets {
		own := false
		for _, z := range t.Zones {
			if z.Status != dnsbl.Listed {
				continue
			}
			if z.Level == dnsbl.LevelSingle || z.Level == "" {
				own = true
			} else {
				collateral++
			}
		}
		if own {
			targets++
		}
	}
	return targets, collateral
}

// NetworkListing is a listing of the network around monitored IPs rather than of the IPs:
// UCEPROTECT level 3 (the whole ASN) or level 2 (the provider's allocation).
type NetworkListing struct {
	Zone    string      `json:"zone"`
	Level   dnsbl.Level `json:"level"`
	ASN     uint32      `json:"asn,omitempty"` // 0: unknown
	ASName  string      `json:"asName,omitempty"`
	Code    string      `json:"code,omitempty"`
	Meaning string      `json:"meaning,omitempty"`
	Targets []string    `json:"targets"` // the monitored IPs it covers
	Advice  string      `json:"advice"`
}

// Networks groups the report's ASN and allocation listings by zone and ASN, ASN listings
// first.
func (r Report) Networks() []NetworkListing {
	var out []NetworkListing
	idx := map[[2]string]int{}
	for _, t := range r.Targets {
		for _, z := range t.Zones {
			if z.Status != dnsbl.Listed || (z.Level != dnsbl.LevelASN && z.Level != dnsbl.LevelAllocation) {
				continue
			}
			key := [2]string{z.Zone, asnKey(t.ASN)}
			i, ok := idx[key]
			if !ok {
				i = len(out)
				idx[key] = i
				out = append(out, NetworkListing{Zone: z.Zone, Level: z.Level, ASN: t.ASN, ASName: t.ASName,
					Code: z.Code, Meaning: z.Meaning, Advice: NetworkAdvice(z.Level, t.ASN, t.ASName)})
			}
			out[i].Targets = append(out[i].Targets, t.Target)
		}
	}
	slices.SortStableFunc(out, func(a, b NetworkListing) int {
		if (a.Level == dnsbl.LevelASN) != (b.Level == dnsbl.LevelASN) {
			if a.Level == dnsbl.LevelASN {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}
