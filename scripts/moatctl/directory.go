package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
)

func runDirectory(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("directory needs a subcommand: import or list")
	}
	switch args[0] {
	case "import":
		return directoryImport(args[1:], stdout, stderr)
	case "list":
		return directoryList(args[1:], stdout, stderr)
	}
	return usagef("directory %q: want import or list", args[0])
}

// importBatch is how many addresses one write call carries; progress shows after each.
const importBatch = 500

// dirEntry is an address read from a file, with the line it came from.
type dirEntry struct {
	addr  string
	line  int
	alias bool // an LDIF proxyAddresses value: skipped when at another domain
}

// badRows collects every problem of an input file before anything is written.
type badRows struct {
	file string
	rows []string
}

func (b *badRows) add(line int, format string, args ...any) {
	b.rows = append(b.rows, fmt.Sprintf("%s:%d: %s", b.file, line, fmt.Sprintf(format, args...)))
}

func (b *badRows) err() error {
	if len(b.rows) == 0 {
		return nil
	}
	const show = 50
	rows := b.rows
	more := ""
	if len(rows) > show {
		more = fmt.Sprintf("\n... and %d more", len(rows)-show)
		rows = rows[:show]
	}
	return usagef("%d bad rows, nothing was imported; fix them and import again:\n%s%s", len(b.rows), strings.Join(rows, "\n"), more)
}

func directoryImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("directory import", "directory import --domain D [--replace] [--dry-run] [--skip-other-domains] FILE.csv|FILE.ldif", stderr)
	domain := fs.String("domain", "", "the served domain whose directory this is (required)")
	replace := fs.Bool("replace", false, "make the directory exactly the file's addresses (removes the others); default: add only")
	dry := fs.Bool("dry-run", false, "check the file and show the change, write nothing")
	skipOther := fs.Bool("skip-other-domains", false, "skip addresses at other domains (a whole-organisation export) instead of refusing them")
	allowEmpty := fs.Bool("allow-empty", false, "with --replace, allow a file with no addresses (empties the directory)")
	asJSON := fs.Bool("json", false, `print {"domain","added","removed","unchanged","skipped","total"}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *domain == "" || fs.NArg() != 1 {
		return usagef("give --domain D and one FILE.csv or FILE.ldif")
	}
	file := fs.Arg(0)
	d := strings.ToLower(strings.TrimSpace(*domain))

	ctx := context.Background()
	store, err := policyStore(ctx)
	if err != nil {
		return err
	}
	doc, _, err := store.Get(ctx)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	dom, ok := doc.Domains[d]
	if !ok {
		return usagef("--domain %q is not served by the policy (served: %s): add it with policy apply first", *domain, strings.Join(domainNames(doc), ", "))
	}
	entries, skipped, err := readDirectoryFile(file, d, *skipOther)
	if err != nil {
		return err
	}
	if len(entries) == 0 && *replace && !*allowEmpty {
		return usagef("%s has no addresses at %s: --replace would empty the directory (pass --allow-empty to do that)", file, d)
	}
	current, err := listAll(ctx, store, d, stderr)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	var add []string
	for _, e := range entries {
		want[e.addr] = true
		if !current[e.addr] {
			add = append(add, e.addr)
		}
	}
	var remove []string
	if *replace {
		for a := range current {
			if !want[a] {
				remove = append(remove, a)
			}
		}
		sortStrings(remove)
	}
	res := map[string]any{
		"domain": d, "added": len(add), "removed": len(remove), "unchanged": len(entries) - len(add),
		"skipped": skipped, "total": len(current) + len(add) - len(remove), "dryRun": *dry,
	}
	if !*dry {
		if err := writeBatches(ctx, stderr, "adding", add, func(b []string) error { return store.DirectoryAdd(ctx, d, b) }); err != nil {
			return err
		}
		if err := writeBatches(ctx, stderr, "removing", remove, func(b []string) error { return store.DirectoryRemove(ctx, d, b) }); err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(stdout, res)
	}
	verb := "imported"
	if *dry {
		verb = "dry run, nothing written; would import"
	}
	fmt.Fprintf(stdout, "%s %s for %s: %d added, %d removed, %d unchanged, %d skipped (other domains); the directory holds %d addresses\n",
		verb, filepath.Base(file), d, len(add), len(remove), len(entries)-len(add), skipped, res["total"])
	if !dom.Directory {
		fmt.Fprintf(stdout, "note: the policy does not enforce the directory of %s: set directory: true for it (policy apply) to bounce unknown recipients\n", d)
	}
	return nil
}

// writeBatches writes addrs in batches, with progress on stderr. A failure says how far it got:
// the writes are idempotent, so importing again completes the change.
func writeBatches(ctx context.Context, stderr io.Writer, what string, addrs []string, write func([]string) error) error {
	for i := 0; i < len(addrs); i += importBatch {
		b := addrs[i:min(i+importBatch, len(addrs))]
		if err := write(b); err != nil {
			return fmt.Errorf("%s addresses %d–%d of %d: %w (the first %d are done; run the same import again to finish)", what, i+1, i+len(b), len(addrs), err, i)
		}
		if len(addrs) > importBatch {
			fmt.Fprintf(stderr, "%s: %d/%d\n", what, i+len(b), len(addrs))
		}
	}
	return nil
}

// listAll reads a domain's whole stored directory.
func listAll(ctx context.Context, store *policystore.Store, domain string, stderr io.Writer) (map[string]bool, error) {
	out := map[string]bool{}
	cursor := ""
	for pages := 1; ; pages++ {
		addrs, next, err := store.DirectoryList(ctx, domain, cursor, policystore.MaxListLimit)
		if err != nil {
			return nil, fmt.Errorf("read the directory of %s: %w", domain, err)
		}
		for _, a := range addrs {
			out[a] = true
		}
		if pages > 1 {
			fmt.Fprintf(stderr, "reading current directory: %d addresses\n", len(out))
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// readDirectoryFile reads a CSV or LDIF file into addresses at domain, reporting every bad row.
func readDirectoryFile(file, domain string, skipOther bool) ([]dirEntry, int, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	bad := &badRows{file: filepath.Base(file)}
	var raw []dirEntry
	switch strings.ToLower(filepath.Ext(file)) {
	case ".csv", ".txt":
		raw = readCSV(f, bad)
	case ".ldif", ".ldf":
		raw = readLDIF(f, bad)
	default:
		return nil, 0, usagef("%s: want a .csv or .ldif file", file)
	}
	seen := map[string]bool{}
	var out []dirEntry
	skipped := 0
	for _, e := range raw {
		a, err := policy.ParseAddress(e.addr)
		if err != nil {
			bad.add(e.line, "%q: %v", e.addr, err)
			continue
		}
		a = strings.ToLower(a)
		if at := a[strings.LastIndexByte(a, '@')+1:]; at != domain {
			if skipOther || e.alias {
				skipped++
				continue
			}
			bad.add(e.line, "%s is not at %s (import it with --domain %s, or pass --skip-other-domains)", a, domain, at)
			continue
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, dirEntry{addr: a, line: e.line})
		}
	}
	if err := bad.err(); err != nil {
		return nil, 0, err
	}
	return out, skipped, nil
}

// csvColumns are header names of the address column, lower case without spaces and dashes.
var csvColumns = []string{"email", "emailaddress", "mail", "address", "primarysmtpaddress", "smtp", "recipient"}

// readCSV reads one address per row: the column named by a header row (email, mail, address,
// ...) or, without a header, the first column.
func readCSV(r io.Reader, bad *badRows) []dirEntry {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	col, first := 0, true
	var out []dirEntry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad.add(pe.Line, "%v", pe.Err)
				if pe.Err == csv.ErrBareQuote || pe.Err == csv.ErrQuote {
					continue
				}
			} else {
				bad.add(0, "%v", err)
			}
			return out
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if !strings.Contains(strings.Join(rec, ""), "@") {
				col = -1
				for i, h := range rec {
					name := strings.NewReplacer(" ", "", "-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(h)))
					for _, c := range csvColumns {
						if name == c && col < 0 {
							col = i
						}
					}
				}
				if col < 0 {
					bad.add(line, "header %q has no address column (name one of: email, mail, address, primarysmtpaddress)", strings.Join(rec, ","))
					return out
				}
				continue
			}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if col >= len(rec) {
			bad.add(line, "%d columns, the address column is number %d", len(rec), col+1)
			continue
		}
		out = append(out, dirEntry{addr: strings.TrimSpace(rec[col]), line: line})
	}
}

// readLDIF reads the mail attributes and the SMTP proxyAddresses of an LDIF export (RFC 2849:
// folded lines, base64 values). proxyAddresses at other domains are aliases and are skipped.
func readLDIF(r io.Reader, bad *badRows) []dirEntry {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []dirEntry
	var cur string
	curLine, n := 0, 0
	flush := func() {
		if cur == "" {
			return
		}
		line := cur
		cur = ""
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			bad.add(curLine, "%q is not an attribute line (name: value)", trunc(line))
			return
		}
		if strings.HasPrefix(value, ":") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value[1:]))
			if err != nil {
				bad.add(curLine, "attribute %s: bad base64 value", name)
				return
			}
			value = string(b)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "mail":
			out = append(out, dirEntry{addr: value, line: curLine})
		case "proxyaddresses":
			if len(value) > 5 && strings.EqualFold(value[:5], "smtp:") {
				out = append(out, dirEntry{addr: value[5:], line: curLine, alias: true})
			}
		}
	}
	for sc.Scan() {
		n++
		l := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(l, " "):
			if cur == "" {
				bad.add(n, "continuation line without an attribute")
				continue
			}
			cur += l[1:]
		case l == "" || strings.HasPrefix(l, "#"):
			flush()
		default:
			flush()
			cur, curLine = l, n
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		bad.add(n+1, "%v", err)
	}
	return out
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func directoryList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("directory list", "directory list --domain D [--limit N] [--cursor C] [--json]", stderr)
	domain := fs.String("domain", "", "served domain (required)")
	limit := fs.Int("limit", 0, "print at most N addresses (default all), with a cursor to go on")
	cursor := fs.String("cursor", "", "go on from the cursor a previous list printed")
	asJSON := fs.Bool("json", false, `print {"domain","count","addresses":[...],"cursor"}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *domain == "" {
		return usagef("--domain is required")
	}
	if *limit < 0 {
		return usagef("--limit %d: want a positive number", *limit)
	}
	d := strings.ToLower(*domain)
	ctx := context.Background()
	store, err := policyStore(ctx)
	if err != nil {
		return err
	}
	var addrs []string
	next := *cursor
	for pages := 1; ; pages++ {
		page := policystore.MaxListLimit
		if *limit > 0 {
			page = min(page, *limit-len(addrs))
		}
		got, c, err := store.DirectoryList(ctx, d, next, page)
		if err != nil {
			return fmt.Errorf("read the directory of %s: %w", d, err)
		}
		addrs = append(addrs, got...)
		next = c
		if pages > 1 {
			fmt.Fprintf(stderr, "page %d: %d addresses\n", pages, len(addrs))
		}
		if next == "" || (*limit > 0 && len(addrs) >= *limit) {
			break
		}
	}
	if *asJSON {
		if addrs == nil {
			addrs = []string{}
		}
		return printJSON(stdout, map[string]any{"domain": d, "count": len(addrs), "addresses": addrs, "cursor": next})
	}
	for _, a := range addrs {
		fmt.Fprintln(stdout, a)
	}
	fmt.Fprintf(stderr, "%d addresses in the directory of %s\n", len(addrs), d)
	if next != "" {
		fmt.Fprintf(stderr, "more: moatctl directory list --domain %s --cursor %s\n", d, next)
	}
	return nil
}
