// Command moatctl is the operator CLI of the Moat email security gateway.
//
// Exit codes: 0 success, 1 an operation failed (network, AWS, a file that cannot be read),
// 2 the command line or an input file is invalid (the message names the field and value),
// 3 the message, domain or entry named was not found, 4 policy diff found differences.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"check":      {"evaluate messages against a policy offline (no AWS, no network)", runCheck},
	"policy":     {"get, apply or diff the policy document (policy as code)", runPolicy},
	"senders":    {"add, remove or list approved and blocked senders", runSenders},
	"directory":  {"import (CSV, LDIF) or list a domain's valid recipients", runDirectory},
	"tracking":   {"search mail tracking, show a message, list blocked client IPs", runTracking},
	"quarantine": {"list, show, release or delete quarantined messages", runQuarantine},
	"redrive":    {"move dead letters back to their queue", runRedrive},
	"submit":     {"submit missed spam (--spam) or false positives (--ham) for training: .eml, .msg, .zip", runSubmit},
	"train":      {"train the spam classifier from folders of spam and ham (offline)", runTrain},
	"outbound":   {"outbound relay: tenants' sending status, suspend, resume, SMTP credentials", runOutbound},
	"audit":      {"look IPs, CIDRs and domains up in the block lists now (no AWS), or report the scheduled audit", runAudit},
}

// usageError marks an invalid command line or input: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	args, err := parseGlobals(args)
	if err != nil {
		fmt.Fprintf(stderr, "moatctl: %v\n", err)
		return 2
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "moatctl: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err = cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(usageError)), errors.As(err, new(exitError)):
		fmt.Fprintf(stderr, "moatctl %s: %v\n", args[0], err)
		return exitCode(err)
	default:
		fmt.Fprintf(stderr, "moatctl %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: moatctl [--local] [--stage NAME] [--region R] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nWithout --local, commands that need the gateway find the stack Moat-<stage> (default")
	fmt.Fprintln(w, "stage prod) with the AWS credential chain; --local uses the stack of make local.\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'moatctl COMMAND -h' for a command's flags.")
}
