package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/moatmail/moat/shared/filter"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/sesevent"
	"github.com/moatmail/moat/shared/verdict"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// checkResult is one message's outcome, as --json prints it.
type checkResult struct {
	File       string            `json:"file"`
	Recipients []verdict.Verdict `json:"recipients"`
	Error      string            `json:"error,omitempty"`
	// Classification is step 6's score, with --model.
	Classification *classification `json:"classification,omitempty"`
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyFile := fs.String("policy", "", "policy file (YAML or JSON); default: built-in defaults, every recipient's domain served")
	eventFile := fs.String("event", "", "SES receipt event (JSON) giving the envelope and SES verdicts; default: verdicts GRAY")
	clientIP := fs.String("client-ip", "", "client IP to assume (overrides the message's topmost Received header)")
	from := fs.String("from", "", "envelope sender (default: the event's, else the header From)")
	var to stringList
	fs.Var(&to, "to", "envelope recipient (repeatable; default: the event's, else header To and Cc)")
	modelFile := fs.String("model", "", "spam model from moatctl train: adds the classification to each message")
	asJSON := fs.Bool("json", false, "print JSON: {\"messages\":[{\"file\":...,\"recipients\":[...]}]}")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: moatctl check [--policy FILE] [--event SES_EVENT.json] [--client-ip IP] [--from ADDR] [--to ADDR]... [--model MODEL] [--json] MESSAGE.eml...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("no message files given")
	}
	var ip netip.Addr
	if *clientIP != "" {
		var err error
		if ip, err = netip.ParseAddr(*clientIP); err != nil {
			return usagef("--client-ip %q is not an IP address", *clientIP)
		}
	}
	var doc *policy.Policy
	if *policyFile != "" {
		data, err := os.ReadFile(*policyFile)
		if err != nil {
			return err
		}
		if doc, err = policy.Parse(data); err != nil {
			return usagef("%s:\n%v", *policyFile, err)
		}
	}
	base := filter.Input{SES: filter.SES{Spam: filter.Gray, Virus: filter.Gray, SPF: filter.Gray, DKIM: filter.Gray, DMARC: filter.Gray}}
	if *eventFile != "" {
		data, err := os.ReadFile(*eventFile)
		if err != nil {
			return err
		}
		ev, err := sesevent.Decode(data)
		if err != nil {
			return usagef("%s: %v", *eventFile, err)
		}
		base.Envelope = sesevent.Envelope(ev.Records[0])
		base.SES = sesevent.Verdicts(ev.Records[0])
	}
	if *modelFile != "" {
		m, err := loadModel(*modelFile)
		if err != nil {
			return err
		}
		base.Facts.Model = m
	}
	if *from != "" {
		base.Envelope.Sender = *from
	}
	if len(to) > 0 {
		base.Envelope.Recipients, base.Envelope.Destination = to, to
	}

	var results []checkResult
	failed := false
	for _, file := range fs.Args() {
		res, err := checkFile(file, doc, base, ip)
		if err != nil {
			failed = true
			res = checkResult{File: file, Error: err.Error()}
		}
		results = append(results, res)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"messages": results}); err != nil {
			return err
		}
	} else {
		printCheck(stdout, results)
	}
	if failed {
		return errors.New("some messages could not be checked (see above)")
	}
	return nil
}

func checkFile(file string, doc *policy.Policy, in filter.Input, ip netip.Addr) (checkResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return checkResult{}, err
	}
	defer f.Close()
	// Recipients and the sender come from the headers when neither the event nor flags gave
	// them; the first read then only needs the header section.
	if len(in.Envelope.Recipients) == 0 || in.Envelope.Sender == "" {
		head, err := message.Parse(io.LimitReader(f, 1<<20), message.Options{})
		if err != nil {
			return checkResult{}, err
		}
		if len(in.Envelope.Recipients) == 0 {
			for _, a := range append(head.To, head.Cc...) {
				in.Envelope.Recipients = append(in.Envelope.Recipients, a.Addr)
			}
			in.Envelope.Destination = in.Envelope.Recipients
		}
		if in.Envelope.Sender == "" {
			in.Envelope.Sender = head.From.Addr
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return checkResult{}, err
		}
	}
	if len(in.Envelope.Recipients) == 0 {
		return checkResult{}, fmt.Errorf("no recipients: the message has no To or Cc; give --to")
	}
	pol, err := compileFor(doc, in.Envelope.Recipients)
	if err != nil {
		return checkResult{}, err
	}
	msg, err := message.Parse(f, filter.ParseOptions(pol, in.Envelope.Recipients))
	if err != nil {
		return checkResult{}, err
	}
	if ip.IsValid() {
		msg.ClientIP = ip
	}
	in.Msg = msg
	return checkResult{File: file, Recipients: filter.Evaluate(pol, in), Classification: classifyFor(pol, in)}, nil
}

// compileFor compiles doc; without a document, the defaults apply and every recipient's domain
// counts as served.
func compileFor(doc *policy.Policy, rcpts []string) (*policy.Compiled, error) {
	if doc == nil {
		doc = policy.Default()
		doc.Domains = map[string]policy.Domain{}
		for _, r := range rcpts {
			if i := strings.LastIndexByte(r, '@'); i >= 0 {
				doc.Domains[strings.ToLower(r[i+1:])] = policy.Domain{}
			}
		}
	}
	return policy.Compile(doc)
}

func printCheck(w io.Writer, results []checkResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tRECIPIENT\tACTION\tSTATUS\tBLOCK\tREASONS")
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t-\terror\t-\t-\t%s\n", r.File, r.Error)
			continue
		}
		for _, v := range r.Recipients {
			status := "-"
			if v.SMTPCode != 0 {
				status = fmt.Sprintf("%d %s", v.SMTPCode, v.EnhancedCode)
			}
			block := string(v.BlockType)
			if block == "" {
				block = "-"
			}
			var reasons []string
			for _, rs := range v.Reasons {
				s := string(rs.Code)
				if rs.Detail != "" {
					s += " (" + rs.Detail + ")"
				}
				reasons = append(reasons, s)
			}
			if len(reasons) == 0 {
				reasons = []string{"clean"}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.File, v.Recipient, v.Action, status, block, strings.Join(reasons, "; "))
		}
	}
	tw.Flush()
}
