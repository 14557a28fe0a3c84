package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
)

func runTracking(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("tracking needs a subcommand: search, show or blocked-ips")
	}
	switch args[0] {
	case "search":
		return trackingSearch(args[1:], stdout, stderr)
	case "show":
		return trackingShow(args[1:], stdout, stderr)
	case "blocked-ips":
		return trackingBlockedIPs(args[1:], stdout, stderr)
	}
	return usagef("tracking %q: want search, show or blocked-ips", args[0])
}

func trackingStore(ctx context.Context) (*tracking.Store, error) {
	t, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.Need(schema.Tracking.EnvVar); err != nil {
		return nil, err
	}
	return tracking.New(dynamodb.NewFromConfig(t.AWS), t.Getenv(schema.Tracking.EnvVar), 0), nil
}

// now is the clock of the commands; tests set it.
var now = time.Now

func trackingSearch(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tracking search", "tracking search [--since T] [--until T] [--sender A] [--recipient A] [--domain D] [--type accepted|blocked] [--client-ip IP] [--direction inbound|outbound] [--limit N] [--json]", stderr)
	since := fs.String("since", "24h", "oldest time: RFC 3339, a date (2026-11-22) or an age (90m, 36h, 7d)")
	until := fs.String("until", "", "newest time, exclusive (default now); same forms as --since")
	var q tracking.Query
	fs.StringVar(&q.Sender, "sender", "", "envelope sender")
	fs.StringVar(&q.Recipient, "recipient", "", "recipient")
	fs.StringVar(&q.Domain, "domain", "", "served domain (the recipient's for inbound mail)")
	typ := fs.String("type", "", "accepted or blocked")
	fs.StringVar(&q.ClientIP, "client-ip", "", "connecting client IP")
	dir := fs.String("direction", "", "inbound or outbound")
	limit := fs.Int("limit", 200, "at most N records (0: all; searches over long ranges read many pages)")
	pageSize := fs.Int("page-size", tracking.DefaultLimit, fmt.Sprintf("records per read, 1 to %d", tracking.MaxLimit))
	cursor := fs.String("cursor", "", "go on from the cursor a previous search printed (same filters)")
	asJSON := fs.Bool("json", false, `print {"records": [...], "cursor": "..."}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	t := now()
	var err error
	if q.Since, err = parseTime("since", *since, t); err != nil {
		return err
	}
	if q.Until, err = parseTime("until", *until, t); err != nil {
		return err
	}
	if !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return usagef("--since %s is not before --until %s", *since, *until)
	}
	switch tracking.Traffic(*typ) {
	case "", tracking.Accepted, tracking.Blocked:
		q.Traffic = tracking.Traffic(*typ)
	default:
		return usagef("--type %q: want accepted or blocked", *typ)
	}
	switch tracking.Direction(*dir) {
	case "", tracking.Inbound, tracking.Outbound:
		q.Direction = tracking.Direction(*dir)
	default:
		return usagef("--direction %q: want inbound or outbound", *dir)
	}
	if q.ClientIP != "" {
		ip, err := netip.ParseAddr(q.ClientIP)
		if err != nil {
			return usagef("--client-ip %q is not an IP address", q.ClientIP)
		}
		q.ClientIP = ip.Unmap().String()
	}
	if *limit < 0 {
		return usagef("--limit %d: want 0 (all) or more", *limit)
	}
	if *pageSize < 1 || *pageSize > tracking.MaxLimit {
		return usagef("--page-size %d: want 1 to %d", *pageSize, tracking.MaxLimit)
	}
	q.Limit, q.Cursor = *pageSize, *cursor

	ctx := context.Background()
	store, err := trackingStore(ctx)
	if err != nil {
		return err
	}
	var recs []tracking.Record
	next := ""
	for pages := 1; ; pages++ {
		if *limit > 0 {
			q.Limit = min(*pageSize, *limit-len(recs))
		}
		page, err := store.Search(ctx, q)
		if errors.Is(err, tracking.ErrInvalidCursor) {
			return usagef("--cursor: not a cursor of this search (give the same filters as the search that printed it)")
		}
		if err != nil {
			return fmt.Errorf("search tracking: %w", err)
		}
		recs = append(recs, page.Records...)
		next = page.Cursor
		if pages > 1 || next != "" {
			fmt.Fprintf(stderr, "\rpage %d: %d records", pages, len(recs))
		}
		if next == "" || (*limit > 0 && len(recs) >= *limit) {
			if pages > 1 || next != "" {
				fmt.Fprintln(stderr)
			}
			break
		}
		q.Cursor = next
	}
	if *asJSON {
		if recs == nil {
			recs = []tracking.Record{}
		}
		return printJSON(stdout, map[string]any{"records": recs, "cursor": next})
	}
	if len(recs) == 0 {
		fmt.Fprintf(stdout, "no records from %s to %s match (widen --since, or check the filters)\n", q.Since.Format(time.RFC3339), untilText(q.Until))
		return nil
	}
	tw := table(stdout)
	fmt.Fprintln(tw, "TIME\tMESSAGE ID\tSENDER\tRECIPIENT\tTRAFFIC\tSTATUS\tACTION\tCLIENT IP\tREASONS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format("2006-01-02 15:04:05"), r.MessageID,
			dash(r.Sender), r.Recipient, r.Traffic, r.Status, dash(string(r.Action)), dash(r.ClientIP), reasonsText(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(stderr, "more records: run the same search with --cursor %s\n", next)
	}
	return nil
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "now"
	}
	return t.Format(time.RFC3339)
}

func reasonsText(r tracking.Record) string {
	var codes []string
	for _, rs := range r.Reasons {
		codes = append(codes, string(rs.Code))
	}
	if len(codes) == 0 {
		return "-"
	}
	return strings.Join(codes, ",")
}

func trackingShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tracking show", "tracking show [--json] MESSAGE_ID", stderr)
	asJSON := fs.Bool("json", false, `print {"messageId": ..., "records": [...]}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("give one MESSAGE_ID (the SES message ID tracking search prints)")
	}
	id := fs.Arg(0)
	ctx := context.Background()
	store, err := trackingStore(ctx)
	if err != nil {
		return err
	}
	recs, err := store.ByMessage(ctx, id)
	if err != nil {
		return fmt.Errorf("read tracking: %w", err)
	}
	if len(recs) == 0 {
		return notFoundf("no tracking records for message %s (a wrong ID, or records older than the tracking TTL): find it with moatctl tracking search", id)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"messageId": id, "records": recs})
	}
	first := recs[0]
	fmt.Fprintf(stdout, "message   %s\nreceived  %s\ndirection %s\nsender    %s\nfrom      %s\nsubject   %s\nclient IP %s\nsize      %d bytes\nstored at %s\n",
		id, first.Time.UTC().Format(time.RFC3339), first.Direction, dash(first.Sender), dash(first.From), dash(first.Subject), dash(first.ClientIP), first.Size, dash(first.Key))
	if len(first.Verdicts) > 0 {
		fmt.Fprintf(stdout, "SES       spam %s, virus %s, SPF %s, DKIM %s, DMARC %s\n",
			first.Verdicts["spam"], first.Verdicts["virus"], first.Verdicts["spf"], first.Verdicts["dkim"], first.Verdicts["dmarc"])
	}
	for _, r := range recs {
		fmt.Fprintf(stdout, "\nrecipient %s: %s, %s", r.Recipient, r.Traffic, r.Status)
		if r.Action != "" {
			fmt.Fprintf(stdout, " (action %s", r.Action)
			if r.BlockType != "" {
				fmt.Fprintf(stdout, ", %s block", r.BlockType)
			}
			fmt.Fprint(stdout, ")")
		}
		fmt.Fprintln(stdout)
		for _, rs := range r.Reasons {
			fmt.Fprintf(stdout, "  reason  %s", rs.Code)
			if rs.Detail != "" {
				fmt.Fprintf(stdout, ": %s", rs.Detail)
			}
			fmt.Fprintln(stdout)
		}
		if r.QuarantineKey != "" {
			fmt.Fprintf(stdout, "  quarantined at %s\n", r.QuarantineKey)
		}
		for _, e := range r.Events {
			fmt.Fprintf(stdout, "  %s  %s", e.Time.UTC().Format("2006-01-02 15:04:05"), e.Status)
			if e.Detail != "" {
				fmt.Fprintf(stdout, "  %s", e.Detail)
			}
			fmt.Fprintln(stdout)
		}
	}
	return nil
}

func trackingBlockedIPs(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tracking blocked-ips", "tracking blocked-ips [--day YYYY-MM-DD] [--json]", stderr)
	day := fs.String("day", "", "the UTC day (default today)")
	asJSON := fs.Bool("json", false, `print {"day": ..., "ips": [{"ip","count"}]}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	d := now().UTC()
	if *day != "" {
		var err error
		if d, err = time.Parse("2006-01-02", *day); err != nil {
			return usagef("--day %q: want YYYY-MM-DD", *day)
		}
	}
	ctx := context.Background()
	store, err := trackingStore(ctx)
	if err != nil {
		return err
	}
	ips, err := store.BlockedIPs(ctx, d)
	if err != nil {
		return fmt.Errorf("read blocked IPs: %w", err)
	}
	dayText := d.Format("2006-01-02")
	if *asJSON {
		if ips == nil {
			ips = []tracking.IPCount{}
		}
		return printJSON(stdout, map[string]any{"day": dayText, "ips": ips})
	}
	if len(ips) == 0 {
		fmt.Fprintf(stdout, "no blocked client IPs on %s\n", dayText)
		return nil
	}
	tw := table(stdout)
	fmt.Fprintf(tw, "CLIENT IP\tBLOCKED (%s)\n", dayText)
	for _, c := range ips {
		fmt.Fprintf(tw, "%s\t%d\n", c.IP, c.Count)
	}
	return tw.Flush()
}
