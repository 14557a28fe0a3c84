package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/moatmail/moat/shared/delivery"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/quarantine"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

func runQuarantine(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("quarantine needs a subcommand: list, show, release or delete")
	}
	switch args[0] {
	case "list":
		return quarantineList(args[1:], stdout, stderr)
	case "show":
		return quarantineShow(args[1:], stdout, stderr)
	case "release":
		return quarantineRelease(args[1:], stdout, stderr)
	case "delete":
		return quarantineDelete(args[1:], stdout, stderr)
	}
	return usagef("quarantine %q: want list, show, release or delete", args[0])
}

// quarantineAdmin connects to the gateway's bucket, tables and delivery queue.
func quarantineAdmin(ctx context.Context) (*admin.Admin, error) {
	t, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.Need(schema.BucketEnvVar, schema.Tracking.EnvVar, schema.Policies.EnvVar, schema.Delivery.EnvVar); err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(t.AWS)
	// The emulator behind the local stack serves S3 path-style only.
	s3c := s3.NewFromConfig(t.AWS, func(o *s3.Options) {
		o.UsePathStyle = global.Local
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	var tenants map[string]string // recipient domain → tenant whose model a decision trains
	if v := t.Getenv(TenantsEnvVar); v != "" {
		ts, err := outbound.ParseTenants([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("the stack's %s: %w", TenantsEnvVar, err)
		}
		if tenants, err = modelstore.ParseTenantDomains(modelstore.TenantDomainsJSON(ts)); err != nil {
			return nil, err
		}
	}
	return &admin.Admin{
		Tracking: tracking.New(db, t.Getenv(schema.Tracking.EnvVar), 0),
		Mail:     quarantine.New(s3c, t.Getenv(schema.BucketEnvVar)),
		Queue:    delivery.NewQueue(sqs.NewFromConfig(t.AWS), t.Getenv(schema.Delivery.EnvVar)),
		Senders:  policystore.New(db, t.Getenv(schema.Policies.EnvVar)),
		Now:      now,
		Learn:    &modelstore.Samples{S3: s3c, Bucket: t.Getenv(schema.BucketEnvVar), Tenants: tenants}, // releases teach the spam model (the recipient's tenant's)
	}, nil
}

// adminError maps the package's errors to moatctl's exit codes.
func adminError(err error) error {
	switch {
	case errors.Is(err, admin.ErrNotFound):
		return notFoundf("%v (find it with moatctl quarantine list)", err)
	case errors.Is(err, quarantine.ErrInvalidID):
		return usageError{err}
	}
	return err
}

// operator names who runs moatctl, for the tracking history.
func operator(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if u := os.Getenv("USER"); u != "" {
		return u + " (moatctl)"
	}
	return "moatctl"
}

func quarantineList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quarantine list", "quarantine list [--domain D] [--recipient A] [--since T] [--until T] [--reason CODE]... [--end-user] [--all] [--limit N] [--cursor C] [--json]", stderr)
	var f admin.Filter
	fs.StringVar(&f.Domain, "domain", "", "recipient domain")
	fs.StringVar(&f.Recipient, "recipient", "", "recipient address")
	since := fs.String("since", "7d", "oldest time: RFC 3339, a date (2026-11-22) or an age (90m, 36h, 7d)")
	until := fs.String("until", "", "newest time, exclusive (default now); same forms as --since")
	var reasons stringList
	fs.Var(&reasons, "reason", "reason code in the verdict trail (repeatable: any of them), e.g. spam, virus")
	fs.BoolVar(&f.EndUser, "end-user", false, "only what end users see in their digests (spam and graymail)")
	fs.BoolVar(&f.All, "all", false, "also copies released or deleted since")
	limit := fs.Int("limit", 100, "at most N items (0: all)")
	cursor := fs.String("cursor", "", "go on from the cursor a previous list printed (same filters)")
	asJSON := fs.Bool("json", false, `print {"items": [...], "cursor": "..."}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	t := now()
	var err error
	if f.Since, err = parseTime("since", *since, t); err != nil {
		return err
	}
	if f.Until, err = parseTime("until", *until, t); err != nil {
		return err
	}
	if !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return usagef("--since %s is not before --until %s", *since, *until)
	}
	for _, r := range reasons {
		f.Reasons = append(f.Reasons, verdict.Code(r))
	}
	if *limit < 0 {
		return usagef("--limit %d: want 0 (all) or more", *limit)
	}
	f.Cursor = *cursor
	ctx := context.Background()
	a, err := quarantineAdmin(ctx)
	if err != nil {
		return err
	}
	var items []tracking.Record
	next := ""
	for pages := 1; ; pages++ {
		f.Limit = tracking.MaxLimit
		if *limit > 0 {
			f.Limit = min(tracking.MaxLimit, *limit-len(items))
		}
		p, err := a.List(ctx, f)
		if errors.Is(err, tracking.ErrInvalidCursor) {
			return usagef("--cursor: not a cursor of this list (give the same filters as the list that printed it)")
		}
		if err != nil {
			if errors.Is(err, admin.ErrInvalidFilter) {
				return usageError{err}
			}
			return fmt.Errorf("list quarantine: %w", err)
		}
		items = append(items, p.Items...)
		next = p.Cursor
		if pages > 1 || next != "" {
			fmt.Fprintf(stderr, "\rpage %d: %d items", pages, len(items))
		}
		if next == "" || (*limit > 0 && len(items) >= *limit) {
			if pages > 1 || next != "" {
				fmt.Fprintln(stderr)
			}
			break
		}
		f.Cursor = next
	}
	if *asJSON {
		if items == nil {
			items = []tracking.Record{}
		}
		return printJSON(stdout, map[string]any{"items": items, "cursor": next})
	}
	if len(items) == 0 {
		fmt.Fprintf(stdout, "nothing quarantined from %s to %s matches (widen --since, or check the filters)\n", f.Since.Format(time.RFC3339), untilText(f.Until))
		return nil
	}
	tw := table(stdout)
	fmt.Fprintln(tw, "TIME\tMESSAGE ID\tRECIPIENT\tFROM\tSUBJECT\tSTATUS\tREASONS")
	for _, r := range items {
		from, _ := admin.Clean(admin.SenderAddress(r), 60, false)
		subj, _ := admin.Clean(r.Subject, 50, false)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format("2006-01-02 15:04:05"), r.MessageID,
			r.Recipient, dash(from), dash(subj), r.Status, reasonsText(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(stderr, "more items: run the same list with --cursor %s\n", next)
	}
	return nil
}

func quarantineShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quarantine show", "quarantine show [--recipient A] [--json] MESSAGE_ID", stderr)
	rcpt := fs.String("recipient", "", "only this recipient's record")
	asJSON := fs.Bool("json", false, `print {"messageId", "records", "available", "headers", "parts", "preview", ...}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("give one MESSAGE_ID (quarantine list prints them)")
	}
	ctx := context.Background()
	a, err := quarantineAdmin(ctx)
	if err != nil {
		return err
	}
	d, err := a.Show(ctx, fs.Arg(0), *rcpt)
	if err != nil {
		return adminError(err)
	}
	if *asJSON {
		return printJSON(stdout, d)
	}
	fmt.Fprintf(stdout, "Message %s\n\n", d.MessageID)
	for _, r := range d.Records {
		subj, _ := admin.Clean(r.Subject, 200, false)
		fmt.Fprintf(stdout, "Recipient %s: %s (received %s)\n", r.Recipient, r.Status, r.Time.UTC().Format(time.RFC3339))
		fmt.Fprintf(stdout, "  envelope sender %s, From %s, size %d, client IP %s\n  subject: %s\n", dash(r.Sender), dash(r.From), r.Size, dash(r.ClientIP), dash(subj))
		fmt.Fprintln(stdout, "  verdict trail:")
		for _, rs := range r.Reasons {
			detail, _ := admin.Clean(rs.Detail, 200, false)
			fmt.Fprintf(stdout, "    %s %s\n", rs.Code, detail)
		}
		if len(r.Verdicts) > 0 {
			fmt.Fprintf(stdout, "  SES verdicts: spam %s, virus %s, spf %s, dkim %s, dmarc %s\n", dash(r.Verdicts["spam"]), dash(r.Verdicts["virus"]), dash(r.Verdicts["spf"]), dash(r.Verdicts["dkim"]), dash(r.Verdicts["dmarc"]))
		}
		fmt.Fprintln(stdout, "  history:")
		for _, e := range r.Events {
			detail, _ := admin.Clean(e.Detail, 200, false)
			fmt.Fprintf(stdout, "    %s %s %s\n", e.Time.UTC().Format(time.RFC3339), e.Status, detail)
		}
	}
	if !d.Available {
		fmt.Fprintln(stdout, "\nThe quarantined copy is gone (deleted, or expired by the retention period): no preview.")
		return nil
	}
	fmt.Fprintln(stdout, "\nHeaders:")
	for _, h := range d.Headers {
		fmt.Fprintf(stdout, "  %s: %s\n", h.Name, h.Value)
	}
	if len(d.Parts) > 0 {
		fmt.Fprintln(stdout, "\nParts:")
		for _, p := range d.Parts {
			fmt.Fprintf(stdout, "  %s %s (true type %s, %d bytes)\n", p.ContentType, dash(p.Filename), p.Type, p.Size)
		}
	}
	cut := ""
	if d.Truncated {
		cut = fmt.Sprintf(", first %d characters", admin.PreviewChars)
	}
	fmt.Fprintf(stdout, "\nText preview (plain text%s):\n", cut)
	for _, line := range strings.Split(d.Preview, "\n") {
		fmt.Fprintf(stdout, "  | %s\n", line)
	}
	return nil
}

func printResults(stdout io.Writer, asJSON bool, results []admin.Result) error {
	if asJSON {
		if results == nil {
			results = []admin.Result{}
		}
		return printJSON(stdout, map[string]any{"results": results})
	}
	tw := table(stdout)
	fmt.Fprintln(tw, "MESSAGE ID\tRECIPIENT\tSTATUS\tAPPROVED\tNOTE")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.MessageID, r.Recipient, r.Status, dash(r.Approved), dash(r.Note))
	}
	return tw.Flush()
}

func quarantineRelease(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quarantine release", "quarantine release [--recipient A]... [--approve-sender | --approve-domain] [--by NAME] [--json] MESSAGE_ID...", stderr)
	var rcpts stringList
	fs.Var(&rcpts, "recipient", "release only this recipient's copy (repeatable; default every quarantined recipient)")
	approveSender := fs.Bool("approve-sender", false, "also add the sender's address to each recipient's approved senders")
	approveDomain := fs.Bool("approve-domain", false, "also add *@the sender's domain to each recipient's approved senders")
	by := fs.String("by", "", "who releases, for the tracking history (default $USER)")
	asJSON := fs.Bool("json", false, `print {"results": [{"messageId", "recipient", "status", "approved", "note"}]}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("give one or more MESSAGE_IDs (quarantine list prints them)")
	}
	if *approveSender && *approveDomain {
		return usagef("give --approve-sender or --approve-domain, not both")
	}
	approve := admin.ApproveNone
	switch {
	case *approveSender:
		approve = admin.ApproveSender
	case *approveDomain:
		approve = admin.ApproveDomain
	}
	ctx := context.Background()
	a, err := quarantineAdmin(ctx)
	if err != nil {
		return err
	}
	var all []admin.Result
	var errs []error
	for i, id := range fs.Args() {
		if fs.NArg() > 1 {
			fmt.Fprintf(stderr, "\rreleasing %d/%d", i+1, fs.NArg())
		}
		res, err := a.Release(ctx, admin.Release{MessageID: id, Recipients: rcpts, By: operator(*by), Approve: approve})
		all = append(all, res...)
		if err != nil {
			errs = append(errs, adminError(err))
		}
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr)
	}
	if err := printResults(stdout, *asJSON, all); err != nil {
		return err
	}
	return joinExit(errs)
}

func quarantineDelete(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quarantine delete", "quarantine delete [--recipient A]... [--by NAME] [--json] MESSAGE_ID...", stderr)
	var rcpts stringList
	fs.Var(&rcpts, "recipient", "delete only this recipient's copy (repeatable; default every quarantined recipient)")
	by := fs.String("by", "", "who deletes, for the tracking history (default $USER)")
	asJSON := fs.Bool("json", false, `print {"results": [{"messageId", "recipient", "status", "note"}]}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("give one or more MESSAGE_IDs (quarantine list prints them)")
	}
	ctx := context.Background()
	a, err := quarantineAdmin(ctx)
	if err != nil {
		return err
	}
	var all []admin.Result
	var errs []error
	for i, id := range fs.Args() {
		if fs.NArg() > 1 {
			fmt.Fprintf(stderr, "\rdeleting %d/%d", i+1, fs.NArg())
		}
		res, err := a.Delete(ctx, id, rcpts, operator(*by), "")
		all = append(all, res...)
		if err != nil {
			errs = append(errs, adminError(err))
		}
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr)
	}
	if err := printResults(stdout, *asJSON, all); err != nil {
		return err
	}
	return joinExit(errs)
}

// joinExit joins per-message errors, keeping a common exit code (all not found: 3).
func joinExit(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	for _, e := range errs {
		if exitCode(e) != exitCode(errs[0]) {
			return err
		}
	}
	if c := exitCode(errs[0]); c != 1 {
		return exitError{c, err}
	}
	return err
}
