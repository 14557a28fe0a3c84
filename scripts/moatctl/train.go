package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/filter"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/schema"
)

// trainResult is what train reports.
type trainResult struct {
	Out     string `json:"out"`
	Spam    uint32 `json:"spam"`   // spam messages in the model
	Ham     uint32 `json:"ham"`    // ham messages in the model
	Tokens  int    `json:"tokens"` // distinct tokens
	Bytes   int    `json:"bytes"`  // model file size
	Skipped int    `json:"skipped,omitempty"`
	Version string `json:"version,omitempty"` // the gateway model's new version, with --upload
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("train", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var spamDirs, hamDirs stringList
	fl.Var(&spamDirs, "spam", "folder of spam messages, one raw message (.eml) per file, searched recursively (repeatable)")
	fl.Var(&hamDirs, "ham", "folder of ham (wanted) messages (repeatable)")
	out := fl.String("out", "", "model file to write")
	base := fl.String("model", "", "existing model to add to (default: start empty)")
	upload := fl.Bool("upload", false, "also add the counts to the gateway's model in its bucket (needs the stack; see --local, --stage)")
	tenant := fl.String("tenant", "", "with --upload: add to this tenant's model (created from the default model's counts), not the default model")
	asJSON := fl.Bool("json", false, "print JSON")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: moatctl train --spam DIR --ham DIR [--model BASE] --out MODEL [--upload [--tenant ID]] [--json]")
		fmt.Fprintln(stderr, "\nTrains the spam classifier offline; check --model MODEL uses it, and the gateway's default")
		fmt.Fprintln(stderr, "model is such a file. Both classes are needed: a few hundred of each at least.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	switch {
	case *out == "":
		return usagef("--out is required: the model file to write")
	case len(spamDirs) == 0 && *base == "":
		return usagef("--spam is required: a folder of spam messages")
	case len(hamDirs) == 0 && *base == "":
		return usagef("--ham is required: a folder of ham messages")
	case fl.NArg() > 0:
		return usagef("unexpected argument %q: folders go after --spam and --ham", fl.Arg(0))
	case *tenant != "" && !*upload:
		return usagef("--tenant %q needs --upload: it names the gateway model the counts go to", *tenant)
	}
	if _, err := modelstore.TenantKey(*tenant); err != nil {
		return usagef("--tenant: %v", err)
	}
	model := classify.NewModel()
	if *base != "" {
		var err error
		if model, err = loadModel(*base); err != nil {
			return err
		}
	}
	var files []labelled
	for _, d := range spamDirs {
		fs, err := messageFiles(d, "--spam")
		if err != nil {
			return err
		}
		files = append(files, labels(fs, true)...)
	}
	for _, d := range hamDirs {
		fs, err := messageFiles(d, "--ham")
		if err != nil {
			return err
		}
		files = append(files, labels(fs, false)...)
	}
	res := trainResult{Out: *out}
	for i, f := range files {
		ok, err := learnFile(model, f.path, f.spam)
		if err != nil {
			return err
		}
		if !ok {
			res.Skipped++
			fmt.Fprintf(stderr, "skipped %s: not a message (no header section)\n", f.path)
		}
		if (i+1)%1000 == 0 {
			fmt.Fprintf(stderr, "learned %d of %d messages\n", i+1, len(files))
		}
	}
	if model.Spam == 0 || model.Ham == 0 {
		return usagef("the model needs both spam and ham: it has %d spam and %d ham messages", model.Spam, model.Ham)
	}
	data, err := model.MarshalBinary()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, data); err != nil {
		return err
	}
	res.Spam, res.Ham, res.Tokens, res.Bytes = model.Spam, model.Ham, model.Tokens(), len(data)
	if *upload {
		if res.Version, err = uploadModel(model, *tenant); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "wrote %s: %d spam, %d ham, %d tokens, %d bytes", res.Out, res.Spam, res.Ham, res.Tokens, res.Bytes)
	if res.Skipped > 0 {
		fmt.Fprintf(stdout, "; %d files skipped", res.Skipped)
	}
	if res.Version != "" {
		fmt.Fprintf(stdout, "; added to the gateway's model (version %s)", res.Version)
	}
	fmt.Fprintln(stdout)
	return nil
}

// uploadModel adds the model's counts to the gateway's model, or the tenant's (shared/modelstore: a
// conditional write, so trainings running at the same time keep their counts).
func uploadModel(m *classify.Model, tenant string) (string, error) {
	ctx := context.Background()
	t, err := connect(ctx)
	if err != nil {
		return "", err
	}
	if err := t.Need(schema.BucketEnvVar); err != nil {
		return "", err
	}
	s3c := s3.NewFromConfig(t.AWS, func(o *s3.Options) { o.UsePathStyle = global.Local })
	store, err := modelstore.ForTenant(s3c, t.Getenv(schema.BucketEnvVar), tenant)
	if err != nil {
		return "", err
	}
	return store.Add(ctx, m)
}

type labelled struct {
	path string
	spam bool
}

func labels(paths []string, spam bool) []labelled {
	out := make([]labelled, len(paths))
	for i, p := range paths {
		out[i] = labelled{p, spam}
	}
	return out
}

// messageFiles lists the regular files under dir, skipping hidden ones, in name order.
func messageFiles(dir, flagName string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, usagef("%s %s: %v", flagName, dir, err)
	}
	if !st.IsDir() {
		return nil, usagef("%s %s: not a folder", flagName, dir)
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, usagef("%s %s: no files in the folder", flagName, dir)
	}
	return files, nil
}

// learnFile learns one raw message; false when the file is not a message.
func learnFile(model *classify.Model, path string, spam bool) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	s, err := classify.Prepare(f, spam, heuristic.Context{})
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if s.Unscannable {
		return false, nil
	}
	model.Learn(s.Tokens, spam)
	return true, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".moat-model-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// classification is what check --model --json adds to each message.
type classification struct {
	Spam      bool              `json:"spam"`
	Phish     bool              `json:"phish"`
	Score     float64           `json:"score"`
	Threshold float64           `json:"threshold"`
	Reasons   []classify.Reason `json:"reasons"`
}

// classifyFor scores in.Msg as step 6 does, at the sensitivity of the first recipient's
// domain; nil without a model.
func classifyFor(p *policy.Compiled, in filter.Input) *classification {
	if in.Facts.Model == nil {
		return nil
	}
	th, err := classify.Threshold(p.Effective(domainOf(in.Envelope.Recipients[0])).Sensitivity)
	if err != nil {
		th, _ = classify.Threshold("")
	}
	r := filter.Classify(p, in)
	reasons := r.Reasons
	if reasons == nil {
		reasons = []classify.Reason{}
	}
	return &classification{Spam: r.Spam(th), Phish: r.Phish(th), Score: r.Score, Threshold: th, Reasons: reasons}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return strings.ToLower(addr)
}

// loadModel reads a model file written by train.
func loadModel(path string) (*classify.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := classify.UnmarshalModel(data)
	if err != nil {
		return nil, usagef("--model %s: %v", path, err)
	}
	return m, nil
}
