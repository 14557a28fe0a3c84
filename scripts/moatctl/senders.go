package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
)

// Sender entries live in two places:
//   - global and domain scope (and recipient-scoped entries an administrator wrote into the
//     document): the senders list of the policy document, one new version per change;
//   - recipient scope added here (--recipient): the end user's own list in the store, the same
//     list the end-user quarantine pages edit, which has no size limit and needs no new version.

// senderRow is one entry as list prints it.
type senderRow struct {
	policy.SenderEntry
	Scope  string `json:"scope"`  // global, domain or recipient
	Source string `json:"source"` // policy (the document) or user (the end user's list)
}

func runSenders(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("senders needs a subcommand: add, remove or list")
	}
	switch args[0] {
	case "add", "remove":
		return sendersChange(args[0], args[1:], stdout, stderr)
	case "list":
		return sendersList(args[1:], stdout, stderr)
	}
	return usagef("senders %q: want add, remove or list", args[0])
}

// senderScope reads --domain/--recipient and checks them against the policy's domains.
func senderScope(doc *policy.Policy, domain, recipient string) (string, string, error) {
	switch {
	case domain != "" && recipient != "":
		return "", "", usagef("give --domain or --recipient, not both (a recipient's entries apply to that recipient only)")
	case domain != "":
		d := strings.ToLower(strings.TrimSpace(domain))
		if _, ok := doc.Domains[d]; !ok {
			return "", "", usagef("--domain %q is not served by the policy (served: %s): add it with policy apply first", domain, strings.Join(domainNames(doc), ", "))
		}
		return d, "", nil
	case recipient != "":
		r, err := policy.ParseAddress(recipient)
		if err != nil {
			return "", "", usagef("--recipient %q: %v", recipient, err)
		}
		r = strings.ToLower(r)
		if _, ok := doc.Domains[r[strings.LastIndexByte(r, '@')+1:]]; !ok {
			return "", "", usagef("--recipient %q is not at a served domain (served: %s)", recipient, strings.Join(domainNames(doc), ", "))
		}
		return "", r, nil
	}
	return "", "", nil
}

func sendersChange(verb string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("senders "+verb, "senders "+verb+" --list approved|blocked [--domain D | --recipient R] [--comment TEXT] PATTERN...", stderr)
	list := fs.String("list", "", "approved or blocked (required)")
	domain := fs.String("domain", "", "scope: this served domain (default: global)")
	recipient := fs.String("recipient", "", "scope: this recipient's own list")
	comment := fs.String("comment", "", "why (kept with the entry)")
	asJSON := fs.Bool("json", false, `print {"changed": [...], "unchanged": [...]}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	l := policy.List(*list)
	if l != policy.Approved && l != policy.Blocked {
		return usagef("--list %q: want approved or blocked", *list)
	}
	if fs.NArg() == 0 {
		return usagef("no PATTERN given: name@host.example.com, *@example.com, *@server.example.com or *@*.example.com")
	}
	var patterns []string
	for _, a := range fs.Args() {
		p, err := policy.ParsePattern(a)
		if err != nil {
			return usagef("pattern %q: %v", a, err)
		}
		patterns = append(patterns, p.String())
	}
	ctx := context.Background()
	store, err := policyStore(ctx)
	if err != nil {
		return err
	}
	var changed, unchanged []string
	for attempt := 0; ; attempt++ {
		doc, version, err := store.Get(ctx)
		if err != nil {
			return fmt.Errorf("read policy: %w", err)
		}
		d, r, err := senderScope(doc, *domain, *recipient)
		if err != nil {
			return err
		}
		if r != "" {
			changed, unchanged, err = userSendersChange(ctx, store, verb, policy.SenderEntry{List: l, Recipient: r, Comment: *comment}, patterns)
			if err != nil {
				return err
			}
			if changed == nil && len(unchanged) > 0 && verb == "remove" {
				return notFoundf("%s not on %s's %s list", strings.Join(unchanged, ", "), r, l)
			}
			break
		}
		changed, unchanged = nil, nil
		for _, p := range patterns {
			e := policy.SenderEntry{Pattern: p, List: l, Domain: d, Comment: *comment}
			if docSenderChange(doc, verb, e) {
				changed = append(changed, p)
			} else {
				unchanged = append(unchanged, p)
			}
		}
		if len(changed) == 0 {
			if verb == "remove" {
				return notFoundf("%s not on the %s %s list: see moatctl senders list", strings.Join(unchanged, ", "), scopeName(d, ""), l)
			}
			break
		}
		_, err = store.Put(ctx, doc, version)
		if errors.Is(err, policystore.ErrConflict) && attempt < 3 {
			continue // someone stored a version meanwhile: apply the change to theirs
		}
		if err != nil {
			return fmt.Errorf("store policy: %w", err)
		}
		break
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"changed": nonNil(changed), "unchanged": nonNil(unchanged)})
	}
	past := map[string]string{"add": "added to", "remove": "removed from"}[verb]
	scope := scopeName(*domain, *recipient)
	for _, p := range changed {
		fmt.Fprintf(stdout, "%s %s the %s %s list\n", p, past, scope, l)
	}
	for _, p := range unchanged {
		fmt.Fprintf(stdout, "%s was already on the %s %s list (comment updated if given)\n", p, scope, l)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func scopeName(domain, recipient string) string {
	switch {
	case recipient != "":
		return strings.ToLower(recipient) + "'s"
	case domain != "":
		return strings.ToLower(domain)
	}
	return "global"
}

// docSenderChange adds or removes e in the document; it reports whether the document changed
// (an add of an existing entry only updates its comment, and counts as unchanged).
func docSenderChange(doc *policy.Policy, verb string, e policy.SenderEntry) bool {
	for i, s := range doc.Senders {
		if s.Pattern == e.Pattern && s.List == e.List && strings.EqualFold(s.Domain, e.Domain) && strings.EqualFold(s.Recipient, e.Recipient) {
			if verb == "remove" {
				doc.Senders = append(doc.Senders[:i], doc.Senders[i+1:]...)
				return true
			}
			if e.Comment != "" && s.Comment != e.Comment {
				doc.Senders[i].Comment = e.Comment
				return true
			}
			return false
		}
	}
	if verb == "remove" {
		return false
	}
	doc.Senders = append(doc.Senders, e)
	return true
}

// userSendersChange changes an end user's own list in the store. Recipient-scoped entries an
// administrator wrote into the document are changed with policy apply.
func userSendersChange(ctx context.Context, store *policystore.Store, verb string, base policy.SenderEntry, patterns []string) (changed, unchanged []string, err error) {
	have, err := store.UserSenders(ctx, base.Recipient)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s's senders: %w", base.Recipient, err)
	}
	on := map[string]bool{}
	for _, h := range have {
		if h.List == base.List {
			on[h.Pattern] = true
		}
	}
	for _, p := range patterns {
		e := base
		e.Pattern = p
		switch verb {
		case "add":
			if err := store.UserSenderAdd(ctx, e); err != nil {
				return changed, unchanged, fmt.Errorf("add %s: %w", p, err)
			}
			if on[p] {
				unchanged = append(unchanged, p)
			} else {
				changed = append(changed, p)
			}
		case "remove":
			err := store.UserSenderRemove(ctx, e)
			switch {
			case errors.Is(err, policystore.ErrNotFound):
				unchanged = append(unchanged, p)
			case err != nil:
				return changed, unchanged, fmt.Errorf("remove %s: %w", p, err)
			default:
				changed = append(changed, p)
			}
		}
	}
	return changed, unchanged, nil
}

func sendersList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("senders list", "senders list [--domain D | --recipient R] [--list approved|blocked] [--json]", stderr)
	list := fs.String("list", "", "only approved or blocked entries")
	domain := fs.String("domain", "", "only entries of this domain's scope")
	recipient := fs.String("recipient", "", "only this recipient's entries (the document's and the end user's own)")
	asJSON := fs.Bool("json", false, `print {"senders": [{"pattern","list","domain","recipient","comment","scope","source"}]}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *list != "" && *list != string(policy.Approved) && *list != string(policy.Blocked) {
		return usagef("--list %q: want approved or blocked", *list)
	}
	ctx := context.Background()
	store, err := policyStore(ctx)
	if err != nil {
		return err
	}
	doc, _, err := store.Get(ctx)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	d, r, err := senderScope(doc, *domain, *recipient)
	if err != nil {
		return err
	}
	var rows []senderRow
	add := func(e policy.SenderEntry, source string) {
		if *list != "" && string(e.List) != *list {
			return
		}
		scope := "global"
		switch {
		case e.Recipient != "":
			scope = "recipient"
		case e.Domain != "":
			scope = "domain"
		}
		switch {
		case d != "" && !strings.EqualFold(e.Domain, d):
			return
		case r != "" && !strings.EqualFold(e.Recipient, r):
			return
		}
		rows = append(rows, senderRow{SenderEntry: e, Scope: scope, Source: source})
	}
	for _, e := range doc.Senders {
		add(e, "policy")
	}
	if r != "" {
		user, err := store.UserSenders(ctx, r)
		if err != nil {
			return fmt.Errorf("read %s's senders: %w", r, err)
		}
		for _, e := range user {
			add(e, "user")
		}
	}
	if *asJSON {
		if rows == nil {
			rows = []senderRow{}
		}
		return printJSON(stdout, map[string]any{"senders": rows})
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no sender entries")
		if r == "" {
			fmt.Fprintln(stdout, "(end users' own lists are shown with --recipient ADDRESS)")
		}
		return nil
	}
	tw := table(stdout)
	fmt.Fprintln(tw, "LIST\tPATTERN\tSCOPE\tDOMAIN/RECIPIENT\tSOURCE\tCOMMENT")
	for _, e := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.List, e.Pattern, e.Scope, dash(e.Domain+e.Recipient), e.Source, dash(e.Comment))
	}
	return tw.Flush()
}
