package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
)

func runPolicy(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("policy needs a subcommand: get, apply or diff")
	}
	switch args[0] {
	case "get":
		return policyGet(args[1:], stdout, stderr)
	case "apply":
		return policyApply(args[1:], stdout, stderr)
	case "diff":
		return policyDiff(args[1:], stdout, stderr)
	}
	return usagef("policy %q: want get, apply or diff", args[0])
}

// policyGet prints the stored policy document as canonical YAML (the input of policy apply),
// or the part that concerns one domain.
func policyGet(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy get", "policy get [--domain D] [--json]", stderr)
	domain := fs.String("domain", "", "only what applies to this domain: its settings, its and global sender entries, IP lists and rules")
	asJSON := fs.Bool("json", false, `print {"version": N, "policy": {...}}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	ctx := context.Background()
	store, err := policyStore(ctx)
	if err != nil {
		return err
	}
	doc, version, err := store.Get(ctx)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	if *domain != "" {
		d := strings.ToLower(*domain)
		if _, ok := doc.Domains[d]; !ok {
			return notFoundf("domain %q is not in the policy (served: %s)", *domain, strings.Join(domainNames(doc), ", "))
		}
		doc = domainPart(doc, d)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"version": version, "policy": doc})
	}
	out, err := policy.Marshal(doc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# policy version %d\n", version)
	_, err = stdout.Write(out)
	return err
}

func domainNames(p *policy.Policy) []string {
	names := make([]string, 0, len(p.Domains))
	for n := range p.Domains {
		names = append(names, n)
	}
	sortStrings(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// domainPart is the document restricted to one domain.
func domainPart(p *policy.Policy, d string) *policy.Policy {
	out := &policy.Policy{Defaults: p.Defaults, Domains: map[string]policy.Domain{d: p.Domains[d]}, IPs: p.IPs}
	for _, s := range p.Senders {
		switch {
		case s.Domain == "" && s.Recipient == "",
			strings.EqualFold(s.Domain, d),
			strings.HasSuffix(strings.ToLower(s.Recipient), "@"+d):
			out.Senders = append(out.Senders, s)
		}
	}
	for _, r := range p.Rules {
		applies := len(r.Domains) == 0
		for _, rd := range r.Domains {
			applies = applies || strings.EqualFold(rd, d)
		}
		if applies {
			out.Rules = append(out.Rules, r)
		}
	}
	return out
}

// readPolicyFile parses a policy file; problems are a usage error (exit 2) listing them all.
func readPolicyFile(file string) (*policy.Policy, error) {
	if file == "" {
		return nil, usagef("-f FILE is required: the policy document (YAML or JSON); start from moatctl policy get > policy.yaml")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	doc, err := policy.Parse(data)
	if err != nil {
		return nil, usagef("%s is not a valid policy, nothing was changed:\n%v", file, err)
	}
	return doc, nil
}

// policyDiff shows what policy apply -f FILE would change, as a unified diff of the canonical
// YAML forms. Exit 0: no change; 4: changes.
func policyDiff(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy diff", "policy diff -f FILE [--json]", stderr)
	file := fs.String("f", "", "policy document to compare with the stored one")
	asJSON := fs.Bool("json", false, `print {"version": N, "changed": bool, "diff": "..."}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	ctx := context.Background()
	_, _, version, d, err := compareStored(ctx, *file)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, map[string]any{"version": version, "changed": d != "", "diff": d}); err != nil {
			return err
		}
	} else if d != "" {
		fmt.Fprint(stdout, d)
	} else {
		fmt.Fprintf(stdout, "no changes: %s equals the stored policy (version %d)\n", *file, version)
	}
	if d != "" {
		return exitError{exitChanges, fmt.Errorf("%s differs from the stored policy version %d: apply it with moatctl policy apply -f %s", *file, version, *file)}
	}
	return nil
}

// compareStored reads the policy file and the stored policy and returns the store, the file's
// document, the stored version and the unified diff from the stored policy to the file.
func compareStored(ctx context.Context, file string) (*policystore.Store, *policy.Policy, int, string, error) {
	doc, err := readPolicyFile(file)
	if err != nil {
		return nil, nil, 0, "", err
	}
	store, err := policyStore(ctx)
	if err != nil {
		return nil, nil, 0, "", err
	}
	cur, version, err := store.Get(ctx)
	if err != nil {
		return nil, nil, 0, "", fmt.Errorf("read policy: %w", err)
	}
	d, err := policyTextDiff(cur, doc, fmt.Sprintf("stored (version %d)", version), file)
	return store, doc, version, d, err
}

func policyTextDiff(a, b *policy.Policy, nameA, nameB string) (string, error) {
	ya, err := policy.Marshal(a)
	if err != nil {
		return "", err
	}
	yb, err := policy.Marshal(b)
	if err != nil {
		return "", err
	}
	return unifiedDiff(nameA, nameB, string(ya), string(yb)), nil
}

// policyApply stores a policy document as the next version, after showing the change.
func policyApply(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy apply", "policy apply -f FILE [--dry-run] [--json]", stderr)
	file := fs.String("f", "", "policy document (YAML or JSON) to store")
	dry := fs.Bool("dry-run", false, "validate and show the change, store nothing")
	asJSON := fs.Bool("json", false, `print {"version": N, "previous": N, "changed": bool, "diff": "..."}`)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	ctx := context.Background()
	store, doc, version, d, err := compareStored(ctx, *file)
	if err != nil {
		return err
	}
	next := version
	if d != "" && !*dry {
		next, err = store.Put(ctx, doc, version)
		if errors.Is(err, policystore.ErrConflict) {
			return fmt.Errorf("the policy changed while applying (someone else stored version %d+): review with moatctl policy diff -f %s and apply again", version+1, *file)
		}
		if err != nil {
			return fmt.Errorf("store policy: %w", err)
		}
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"version": next, "previous": version, "changed": d != "", "dryRun": *dry, "diff": d})
	}
	switch {
	case d == "":
		fmt.Fprintf(stdout, "no changes: the stored policy (version %d) already equals %s\n", version, *file)
	case *dry:
		fmt.Fprint(stdout, d)
		fmt.Fprintf(stdout, "dry run: nothing stored (the policy stays at version %d)\n", version)
	default:
		fmt.Fprint(stdout, d)
		fmt.Fprintf(stdout, "applied: policy version %d (was %d); the functions use it within their cache period (a minute)\n", next, version)
	}
	return nil
}
