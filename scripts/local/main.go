// Command local runs the Moat mail flow on this machine (make local): moto with the gateway's
// resources, the inbound and delivery handlers in-process, an SMTP listener behaving like SES
// receiving and a mail sink as the customers' mail server. Ctrl-C stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/moatmail/moat/scripts/local/localstack"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o localstack.Options
	fs.StringVar(&o.Dir, "dir", ".local", "state folder (stack.json for moatctl --local, moto.log)")
	fs.StringVar(&o.DeliveredDir, "delivered", "", "where the mail sink writes messages (default <dir>/delivered)")
	fs.StringVar(&o.SentDir, "sent", "", "where copies of the mail sent through SES (DSNs) go (default <dir>/sent)")
	fs.StringVar(&o.SMTPAddr, "smtp", localstack.DefaultSMTPAddr, "address of the SES-like SMTP listener")
	fs.StringVar(&o.SinkAddr, "sink", localstack.DefaultSinkAddr, "address of the mail sink (the customers' mail server)")
	fs.StringVar(&o.ActionsAddr, "actions", localstack.DefaultActionsAddr, "HTTPS address of the digests' action links (the action function's URL)")
	fs.DurationVar(&o.DigestEvery, "digest-every", 5*time.Minute, "how often the digest function runs (it sends at most one digest per domain and hour)")
	fs.StringVar(&o.Endpoint, "endpoint", "", "use this running AWS emulator instead of starting moto_server")
	fs.IntVar(&o.MotoPort, "moto-port", 0, "port for moto_server on 127.0.0.1 (default: a free one)")
	fs.StringVar(&o.BounceSender, "bounce-sender", localstack.DefaultBounceSender, "From address of the DSNs")
	policyFile := fs.String("policy", "", "policy loaded at start (YAML or JSON; default: the sample policy for example.com)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			fmt.Fprintf(stderr, "local: %v\n", err)
			return 2
		}
		o.Policy = b
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := localstack.Start(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return 1
	}
	banner(stdout, s)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping: waiting for messages in progress, then stopping moto")
	s.Close()
	return 0
}

func banner(w io.Writer, s *localstack.Stack) {
	fmt.Fprintf(w, `
Moat local stack is running (Ctrl-C stops it)

  SMTP (like SES receiving)   %s   mail for the policy's domains only (sample: example.com)
  mail sink (your server)     %s   writes %s/<recipient>/
  SES outbox (DSNs, digests)  %s/<recipient>/   copies of the mail sent through SES
  digest action links         %s   HTTPS, certificate made at start: accept it once
  AWS emulator (moto)         %s
  state for moatctl --local   %s

Send a test message:
  swaks --server %s --to alice@example.com
  swaks --server %s --to ghost@example.com      (not in the directory: 550 5.1.1 DSN)
  swaks --server %s --from x@spam.example --to alice@example.com   (blocked sender)

Look at what happened:
  go run ./scripts/moatctl --local tracking search
  go run ./scripts/moatctl --local policy get

`, s.SMTPAddr, s.SinkAddr, s.Delivered, s.Sent, s.ActionsURL, s.Endpoint, s.StateFile, s.SMTPAddr, s.SMTPAddr, s.SMTPAddr)
}
