package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/schema"
)

// Exit codes beyond main.go's 0, 1 and 2.
const (
	exitNotFound = 3 // the message, domain or entry named does not exist
	exitChanges  = 4 // policy diff: the file differs from the stored policy
)

// exitError carries an exit code other than 1 or 2.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func notFoundf(format string, args ...any) error {
	return exitError{exitNotFound, fmt.Errorf(format, args...)}
}

// exitCode maps a command's error to its exit code.
func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, new(usageError)):
		return 2
	default:
		return 1
	}
}

// newFlags returns a flag set whose usage line is usage.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: moatctl "+usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; -h is not an error. It returns done when the command should stop.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, usageError{err}
	}
	return false, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// dash shows an empty cell as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// policyStore connects and opens the Policies table.
func policyStore(ctx context.Context) (*policystore.Store, error) {
	t, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.Need(schema.Policies.EnvVar); err != nil {
		return nil, err
	}
	return policystore.New(dynamodb.NewFromConfig(t.AWS), t.Getenv(schema.Policies.EnvVar)), nil
}

// parseTime reads an RFC 3339 time, a date (YYYY-MM-DD, UTC midnight) or an age before now
// ("90m", "36h", "7d").
func parseTime(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days >= 0 && fmt.Sprint(days) == n {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("--%s %q: want a time (2026-11-22T09:00:00Z), a date (2026-11-22) or an age (90m, 36h, 7d)", flagName, s)
}
