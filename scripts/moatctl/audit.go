package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/asn"
	"github.com/moatmail/moat/shared/audit"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/schema"
)

// DQSKeyEnv is where moatctl audit finds a Spamhaus DQS key: an environment variable rather
// than a flag, so that the key stays out of shell history and process lists.
const DQSKeyEnv = "MOAT_DQS_KEY"

const auditUsage = "audit [--resolver HOST:PORT] [--zones NAME,...] [--json] TARGET...\n" +
	"       moatctl audit report [--json] [--runs N] [--history N]\n\n" +
	"Looks each TARGET (an IP address, a CIDR prefix or a domain) up in every block list of its\n" +
	"kind and finds each IP's ASN, without AWS. 'audit report' shows the scheduled audit's stored\n" +
	"state and history. A Spamhaus DQS key is read from $" + DQSKeyEnv + "."

// auditJSON is the --json form: {"targets":[{"target", "asn", "asName", "zones":[...]}]}.
type auditJSON struct {
	Targets []auditTargetJSON `json:"targets"`
}

type auditTargetJSON struct {
	Target string          `json:"target"`
	ASN    *uint32         `json:"asn"` // null: unknown, or a domain
	ASName string          `json:"asName"`
	Zones  []auditZoneJSON `json:"zones"`
}

type auditZoneJSON struct {
	Zone       string `json:"zone"`
	Status     string `json:"status"` // listed, not-listed, error
	Code       string `json:"code"`
	Meaning    string `json:"meaning"`
	ASNListing bool   `json:"asnListing"`
}

func runAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return runAuditReport(args[1:], stdout, stderr)
	}
	fs := newFlags("audit", auditUsage, stderr)
	resolver := fs.String("resolver", "", "DNS resolver HOST:PORT (default: the first nameserver of /etc/resolv.conf)")
	zonesFlag := fs.String("zones", "", "zones to use, comma separated (default: all; see the catalogue in the README)")
	zonesFile := fs.String("zones-file", "", "JSON array of extra zone definitions to add to the catalogue")
	asJSON := fs.Bool("json", false, `print JSON: {"targets":[{"target","asn","asName","zones":[{"zone","status","code","meaning","asnListing"}]}]}`)
	timeout := fs.Duration("timeout", dnsbl.DefaultTimeout, "per DNS query")
	deadline := fs.Duration("deadline", 10*time.Minute, "for the whole audit; lookups still pending then are errors")
	concurrency := fs.Int("concurrency", dnsbl.DefaultConcurrency, "DNS queries in flight at once")
	maxTargets := fs.Int("max-targets", audit.DefaultMaxTargets, "cap on targets after CIDR prefixes are expanded")
	noASN := fs.Bool("no-asn", false, "skip the Team Cymru ASN lookups")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("no targets given")
	}
	if *concurrency < 1 {
		return usagef("--concurrency %d: want 1 or more", *concurrency)
	}
	if *timeout <= 0 || *deadline <= 0 {
		return usagef("--timeout and --deadline must be positive")
	}
	targets, err := audit.ParseTargets(fs.Args(), *maxTargets)
	if err != nil {
		return usageError{err}
	}
	zones := dnsbl.Catalogue()
	if *zonesFile != "" {
		data, err := os.ReadFile(*zonesFile)
		if err != nil {
			return err
		}
		extra, err := dnsbl.ParseZones(data)
		if err != nil {
			return usagef("--zones-file %s: %v", *zonesFile, err)
		}
		zones = append(zones, extra...)
	}
	if *zonesFlag != "" {
		var names []string
		for n := range strings.SplitSeq(*zonesFlag, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		if zones, err = dnsbl.Select(zones, names...); err != nil {
			return usagef("--zones %q: %v", *zonesFlag, err)
		}
	}
	addr := *resolver
	if addr != "" {
		if addr, err = audit.ResolverAddr(addr); err != nil {
			return usagef("--resolver %q: %v", *resolver, err)
		}
	}
	client, err := dnsbl.New(dnsbl.Config{ResolverAddr: addr, Timeout: *timeout, Concurrency: *concurrency,
		DQSKey: dnsbl.Secret(strings.TrimSpace(os.Getenv(DQSKeyEnv)))})
	if err != nil {
		return usageError{err}
	}
	a := &audit.Auditor{DNSBL: client, Zones: zones, Concurrency: *concurrency, Progress: progressPrinter(stderr)}
	if !*noASN {
		a.ASN = &asn.Client{Resolver: client.Resolver()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()
	rep := a.Run(ctx, targets, time.Now())
	if *asJSON {
		return printJSON(stdout, auditToJSON(rep))
	}
	printAudit(stdout, rep)
	return nil
}

// progressPrinter reports long audits on stderr, every tenth of the way.
func progressPrinter(stderr io.Writer) func(done, total int) {
	var (
		mu   sync.Mutex
		last int
	)
	return func(done, total int) {
		if total < 100 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if step := done * 10 / total; step > last || done == total {
			last = step
			fmt.Fprintf(stderr, "audit: %d/%d lookups (%d%%)\n", done, total, done*100/total)
		}
	}
}

func auditToJSON(rep audit.Report) auditJSON {
	out := auditJSON{Targets: []auditTargetJSON{}}
	for _, t := range rep.Targets {
		tj := auditTargetJSON{Target: t.Target, ASName: t.ASName, Zones: []auditZoneJSON{}}
		if t.ASN != 0 {
			n := t.ASN
			tj.ASN = &n
		}
		for _, z := range t.Zones {
			tj.Zones = append(tj.Zones, auditZoneJSON{Zone: z.Zone, Status: string(z.Status), Code: z.Code,
				Meaning: z.Meaning, ASNListing: z.ASNListing})
		}
		out.Targets = append(out.Targets, tj)
	}
	return out
}

func asLabel(n uint32, name string) string {
	if n == 0 {
		return "ASN unknown"
	}
	s := fmt.Sprintf("AS%d", n)
	if name != "" {
		s += " " + name
	}
	return s
}

func printAudit(w io.Writer, rep audit.Report) {
	for i, t := range rep.Targets {
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := t.Target
		if t.Kind == dnsbl.KindIP {
			head += "  " + asLabel(t.ASN, t.ASName)
			if t.Prefix != "" {
				head += " (" + t.Prefix + ")"
			}
			if len(t.ASNs) > 1 {
				head += fmt.Sprintf(" [announced by %d ASes: %v]", len(t.ASNs), t.ASNs)
			}
			if t.ASNError != "" {
				head += " [ASN: " + t.ASNError + "]"
			}
		}
		if t.Source != "" {
			head += " from " + t.Source
		}
		fmt.Fprintln(w, head)
		tw := table(w)
		fmt.Fprintln(tw, "  ZONE\tSTATUS\tCODE\tMEANING")
		var listed, network, errs, clean int
		for _, z := range t.Zones {
			meaning := z.Meaning
			switch {
			case z.ASNListing:
				meaning += " [ASN listing: collateral]"
			case z.Status == dnsbl.Listed && z.Level == dnsbl.LevelAllocation:
				meaning += " [allocation listing: collateral]"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", z.Zone, z.Status, dash(z.Code), meaning)
			switch {
			case z.Status == dnsbl.Listed && z.Level != dnsbl.LevelSingle:
				network++
			case z.Status == dnsbl.Listed:
				listed++
			case z.Status == dnsbl.Error:
				errs++
			default:
				clean++
			}
		}
		tw.Flush()
		fmt.Fprintf(w, "  %d listed, %d network listing(s) (collateral), %d error(s), %d not listed\n", listed, network, errs, clean)
	}
	own, collateral := rep.Listings()
	errs := 0
	for _, z := range rep.Zones {
		errs += z.Errors
	}
	fmt.Fprintf(w, "\nSummary: %d target(s), %d zone(s): %d listed in their own right, %d network listing(s) (collateral), %d lookup error(s).\n",
		len(rep.Targets), len(rep.Zones), own, collateral, errs)
	if nets := rep.Networks(); len(nets) > 0 {
		fmt.Fprintln(w, "\nNetwork listings:")
		for _, n := range nets {
			fmt.Fprintf(w, "  %s in %s (%s): %s\n    %s\n", asLabel(n.ASN, n.ASName), n.Zone, strings.Join(n.Targets, ", "), n.Meaning, n.Advice)
		}
	}
	var unusable []string
	for _, z := range rep.Zones {
		if z.Unusable != "" {
			unusable = append(unusable, fmt.Sprintf("  %s: %s", z.Zone, z.Unusable))
		}
	}
	if len(unusable) > 0 {
		fmt.Fprintf(w, "\nUnusable zones (their results are errors, not listings):\n%s\n", strings.Join(unusable, "\n"))
	}
}

// auditReportJSON is the --json form of audit report.
type auditReportJSON struct {
	Targets []audit.TargetState  `json:"targets"`
	Zones   []audit.ZoneState    `json:"zones"`
	Runs    []audit.Run          `json:"runs"`
	History []audit.HistoryEntry `json:"history"`
}

func runAuditReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit report", "audit report [--json] [--runs N] [--history N]", stderr)
	asJSON := fs.Bool("json", false, `print JSON: {"targets":[...],"zones":[...],"runs":[...],"history":[...]}`)
	nRuns := fs.Int("runs", 10, "latest runs to show (0: all kept)")
	nHistory := fs.Int("history", 50, "latest changes to show (0: all kept)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("audit report takes no arguments, got %q", fs.Args())
	}
	if *nRuns < 0 || *nHistory < 0 {
		return usagef("--runs and --history want 0 or more")
	}
	ctx := context.Background()
	t, err := connect(ctx)
	if err != nil {
		return err
	}
	if err := t.Need(schema.Reputation.EnvVar); err != nil {
		return err
	}
	store := &audit.Store{DB: dynamodb.NewFromConfig(t.AWS), Table: t.Getenv(schema.Reputation.EnvVar)}
	st, err := store.Load(ctx)
	if err != nil {
		return err
	}
	runs, err := store.Runs(ctx, *nRuns)
	if err != nil {
		return err
	}
	hist, err := store.History(ctx, *nHistory)
	if err != nil {
		return err
	}
	out := auditReportJSON{Targets: []audit.TargetState{}, Zones: []audit.ZoneState{}, Runs: runs, History: hist}
	for _, ts := range st.Targets {
		out.Targets = append(out.Targets, ts)
	}
	slices.SortFunc(out.Targets, func(a, b audit.TargetState) int { return strings.Compare(a.Target, b.Target) })
	for _, zs := range st.Zones {
		out.Zones = append(out.Zones, zs)
	}
	slices.SortFunc(out.Zones, func(a, b audit.ZoneState) int { return strings.Compare(a.Zone, b.Zone) })
	if out.Runs == nil {
		out.Runs = []audit.Run{}
	}
	if out.History == nil {
		out.History = []audit.HistoryEntry{}
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	printAuditReport(stdout, out)
	return nil
}

func printAuditReport(w io.Writer, r auditReportJSON) {
	if len(r.Runs) == 0 {
		fmt.Fprintln(w, "No audit has run yet (the schedule runs the audit function; see the README).")
	} else {
		l := r.Runs[0]
		fmt.Fprintf(w, "Last audit %s: %d target(s), %d zone(s), %d listed in their own right, %d network listing(s), %d error(s), %d change(s).\n",
			l.Time.Format(time.RFC3339), l.Targets, l.Zones, l.ListedTargets, l.NetworkListings, l.Errors, l.Changes)
	}

	fmt.Fprintln(w, "\nCurrent listings:")
	tw := table(w)
	fmt.Fprintln(tw, "  TARGET\tASN\tZONE\tCODE\tMEANING\tSINCE")
	n := 0
	for _, t := range r.Targets {
		zones := make([]string, 0, len(t.Zones))
		for z := range t.Zones {
			zones = append(zones, z)
		}
		slices.Sort(zones)
		for _, zn := range zones {
			e := t.Zones[zn]
			if e.Known != dnsbl.Listed {
				continue
			}
			n++
			meaning := e.Meaning
			if e.ASNListing {
				meaning += " [ASN listing: collateral]"
			}
			if e.Status == dnsbl.Error {
				meaning += " [last run: error]"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", t.Target, asLabel(t.ASN, t.ASName), zn, e.Code, meaning, e.Since.Format("2006-01-02 15:04"))
		}
	}
	tw.Flush()
	if n == 0 {
		fmt.Fprintln(w, "  none")
	}
	fmt.Fprintf(w, "  (%d target(s) monitored)\n", len(r.Targets))

	var bad []string
	for _, z := range r.Zones {
		if z.Unusable {
			bad = append(bad, fmt.Sprintf("  %s since %s: %s", z.Zone, z.Since.Format("2006-01-02 15:04"), z.Reason))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "\nUnusable zones:\n%s\n", strings.Join(bad, "\n"))
	}

	if len(r.Runs) > 0 {
		fmt.Fprintln(w, "\nRuns:")
		tw = table(w)
		fmt.Fprintln(tw, "  TIME\tTARGETS\tLISTED\tNETWORK\tERRORS\tCHANGES")
		for _, run := range r.Runs {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\n", run.Time.Format(time.RFC3339), run.Targets, run.ListedTargets, run.NetworkListings, run.Errors, run.Changes)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nHistory (newest first):")
	if len(r.History) == 0 {
		fmt.Fprintln(w, "  no changes recorded")
		return
	}
	tw = table(w)
	fmt.Fprintln(tw, "  TIME\tCHANGE\tTARGET\tZONE\tCODE\tMEANING")
	for _, h := range r.History {
		target := h.Target
		if len(h.Targets) > 0 {
			target += fmt.Sprintf(" (%d IPs)", len(h.Targets))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", h.Time.Format(time.RFC3339), h.Kind, dash(target), h.Zone, dash(h.Code), h.Meaning)
	}
	tw.Flush()
}
