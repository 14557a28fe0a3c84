package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/submission"
)

// submitted is one stored sample, as --json prints it.
type submitted struct {
	File string `json:"file"`
	Key  string `json:"key"`
}

func runSubmit(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("submit", flag.ContinueOnError)
	fl.SetOutput(stderr)
	spam := fl.Bool("spam", false, "the files are spam that was delivered (missed spam)")
	ham := fl.Bool("ham", false, "the files are wanted mail that was caught (false positives)")
	tenant := fl.String("tenant", "", "train this tenant's model (default: the default model every tenant without its own starts from)")
	asJSON := fl.Bool("json", false, "print JSON: {\"label\":...,\"stored\":[{\"file\":...,\"key\":...}]}")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: moatctl submit --spam|--ham [--tenant ID] [--json] FILE...")
		fmt.Fprintln(stderr, "\nStores samples under submissions/ in the gateway's bucket for training. FILE is a message")
		fmt.Fprintln(stderr, "as received: .eml, Outlook .msg, or a .zip of those. Forwarded mail is refused: submit the")
		fmt.Fprintln(stderr, "original (save it as a file), since a forward carries your headers, not the sender's.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	var label submission.Label
	switch {
	case *spam && *ham:
		return usagef("give --spam or --ham, not both")
	case *spam:
		label = submission.Spam
	case *ham:
		label = submission.Ham
	default:
		return usagef("give --spam (missed spam) or --ham (wanted mail that was caught)")
	}
	if fl.NArg() == 0 {
		return usagef("no files given: submit .eml, .msg or .zip files")
	}
	if _, err := submission.ForTenant(*tenant, schema.SubmissionsPrefix); err != nil {
		return usagef("--tenant: %v", err)
	}

	// Every file is checked before anything is stored: a refused file stores nothing.
	var msgs []submission.Message
	var refused []string
	for _, file := range fl.Args() {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		ms, err := submission.Extract(filepath.Base(file), data)
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		for i := range ms {
			ms[i].Name = filepath.Join(filepath.Dir(file), ms[i].Name)
		}
		msgs = append(msgs, ms...)
	}
	if len(refused) > 0 {
		return usagef("nothing stored; refused:\n  %s", strings.Join(refused, "\n  "))
	}

	ctx := context.Background()
	t, err := connect(ctx)
	if err != nil {
		return err
	}
	if err := t.Need(schema.BucketEnvVar); err != nil {
		return err
	}
	s3c := s3.NewFromConfig(t.AWS, func(o *s3.Options) { o.UsePathStyle = global.Local })
	bucket := t.Getenv(schema.BucketEnvVar)
	var stored []submitted
	when := now()
	for i, m := range msgs {
		key, err := submission.ForTenant(*tenant, submission.Key(label, m.Raw, when))
		if err != nil {
			return err
		}
		_, err = s3c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String(bucket),
			Key:         aws.String(key),
			Body:        bytes.NewReader(m.Raw),
			ContentType: aws.String("message/rfc822"),
		})
		if err != nil {
			return fmt.Errorf("store %s: %w (%d of %d stored before)", m.Name, err, i, len(msgs))
		}
		stored = append(stored, submitted{File: m.Name, Key: key})
		if (i+1)%50 == 0 {
			fmt.Fprintf(stderr, "stored %d of %d\n", i+1, len(msgs))
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"label": label, "stored": stored})
	}
	for _, s := range stored {
		fmt.Fprintf(stdout, "%s\t%s\n", s.File, s.Key)
	}
	fmt.Fprintf(stdout, "stored %d %s sample(s) for training\n", len(stored), label)
	return nil
}
