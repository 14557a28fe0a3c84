package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/modelstore"
	"github.com/moatmail/moat/shared/schema"
)

// trainingDirs writes n spam and n ham messages into two folders.
func trainingDirs(t *testing.T, n int) (spam, ham string) {
	t.Helper()
	spam, ham = t.TempDir(), t.TempDir()
	for i := range n {
		s := messagetest.New().From(fmt.Sprintf("promo%d@offers.example", i)).To("a@example.com").
			Subject("Claim your free prize now").Text("Winner! Claim your free prize, cheap offer, act now, click here.").Bytes()
		h := messagetest.New().From(fmt.Sprintf("colleague%d@partner.example", i)).To("a@example.com").
			Subject("Meeting notes").Text("Hi, the notes from the meeting are attached; the review moves to Thursday.").Bytes()
		if err := os.WriteFile(filepath.Join(spam, fmt.Sprintf("%03d.eml", i)), s, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ham, fmt.Sprintf("%03d.eml", i)), h, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return spam, ham
}

func TestTrainAndCheckModel(t *testing.T) {
	spam, ham := trainingDirs(t, 12)
	os.WriteFile(filepath.Join(ham, ".DS_Store"), []byte{0, 1, 2}, 0o644) // hidden: ignored
	out := filepath.Join(t.TempDir(), "model.bin")
	code, stdout, stderr := runCLI(t, "train", "--spam", spam, "--ham", ham, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	var res trainResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("train --json: %v: %s", err, stdout)
	}
	if res.Spam != 12 || res.Ham != 12 || res.Tokens == 0 || res.Bytes == 0 {
		t.Errorf("train result %+v, want 12 spam, 12 ham", res)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := classify.UnmarshalModel(data); err != nil {
		t.Fatalf("model file: %v", err)
	}

	msg := writeFile(t, "prize.eml", messagetest.New().From("promo@offers.example").To("a@example.com").
		Subject("Your free prize").Text("Claim your free prize now, winner, click here.").String())
	code, stdout, stderr = runCLI(t, "check", "--model", out, "--json", msg)
	if code != 0 {
		t.Fatalf("check: exit %d: %s", code, stderr)
	}
	var got struct {
		Messages []struct {
			Recipients []struct {
				Action  string                  `json:"action"`
				Reasons []struct{ Code string } `json:"reasons"`
			} `json:"recipients"`
			Classification *struct {
				Spam, Phish      bool
				Score, Threshold float64
				Reasons          []struct {
					Code   string
					Points float64
				}
			} `json:"classification"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	c := got.Messages[0].Classification
	if c == nil || !c.Spam || c.Phish || c.Threshold != 95.2 || c.Score < c.Threshold || c.Reasons[0].Code != "bayes" {
		t.Fatalf("classification %+v, want spam at the medium threshold with a bayes reason", c)
	}
	if r := got.Messages[0].Recipients[0]; r.Action != "quarantine" || r.Reasons[0].Code != "spam" {
		t.Errorf("recipient verdict %+v, want quarantine for spam", r)
	}

	// Without --model there is no classification.
	_, stdout, _ = runCLI(t, "check", "--json", msg)
	if strings.Contains(stdout, "classification") {
		t.Errorf("check without --model printed a classification: %s", stdout)
	}

	// Adding to the model counts on.
	out2 := filepath.Join(t.TempDir(), "model2.bin")
	if code, _, stderr := runCLI(t, "train", "--model", out, "--spam", spam, "--out", out2); code != 0 {
		t.Fatalf("train --model: exit %d: %s", code, stderr)
	}
	data, _ = os.ReadFile(out2)
	m, _ := classify.UnmarshalModel(data)
	if m.Spam != 24 || m.Ham != 12 {
		t.Errorf("after adding: %d spam, %d ham; want 24, 12", m.Spam, m.Ham)
	}
}

func TestTrainUsage(t *testing.T) {
	spam, ham := trainingDirs(t, 1)
	notModel := writeFile(t, "model.bin", "not a model")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--spam", spam, "--ham", ham}, "--out is required"},
		{[]string{"--ham", ham, "--out", "m"}, "--spam is required"},
		{[]string{"--spam", spam, "--out", "m"}, "--ham is required"},
		{[]string{"--spam", "/nonexistent", "--ham", ham, "--out", "m"}, "--spam /nonexistent"},
		{[]string{"--spam", spam, "--ham", notModel, "--out", "m"}, "not a folder"},
		{[]string{"--spam", spam, "--ham", t.TempDir(), "--out", "m"}, "no files in the folder"},
		{[]string{"--model", notModel, "--spam", spam, "--out", "m"}, "not a Moat spam model"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append([]string{"train"}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("train %v: exit %d, %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	code, _, stderr := runCLI(t, "check", "--model", notModel, fixtures+"clean.eml")
	if code != 2 || !strings.Contains(stderr, "not a Moat spam model") {
		t.Errorf("check --model junk: exit %d, %q", code, stderr)
	}
}

func TestTrainUpload(t *testing.T) {
	cfg, r := localTarget(t)
	spam, ham := trainingDirs(t, 3)
	out := filepath.Join(t.TempDir(), "model.bin")
	for range 2 {
		expect(t, 0, []string{"added to the gateway's model"}, "train", "--spam", spam, "--ham", ham, "--out", out, "--upload")
	}
	m, _, err := (&modelstore.Store{S3: awstest.S3(cfg), Bucket: r.Env()[schema.BucketEnvVar]}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Spam != 6 || m.Ham != 6 {
		t.Errorf("gateway model has %d spam, %d ham after two uploads of 3+3; want 6, 6", m.Spam, m.Ham)
	}
}

// TestTrainUploadTenant: the tenant's model starts from the default model's counts; the
// default model is left alone.
func TestTrainUploadTenant(t *testing.T) {
	cfg, r := localTarget(t)
	spam, ham := trainingDirs(t, 3)
	out := filepath.Join(t.TempDir(), "model.bin")
	expect(t, 0, nil, "train", "--spam", spam, "--ham", ham, "--out", out, "--upload")
	expect(t, 0, []string{"added to the gateway's model"}, "train", "--spam", spam, "--ham", ham, "--out", out, "--upload", "--tenant", "acme")
	ctx := context.Background()
	bucket := r.Env()[schema.BucketEnvVar]
	def, _, err := (&modelstore.Store{S3: awstest.S3(cfg), Bucket: bucket}).Load(ctx)
	if err != nil || def.Spam != 3 {
		t.Fatalf("default model: %+v, %v; want 3 spam", def, err)
	}
	acme, _ := modelstore.ForTenant(awstest.S3(cfg), bucket, "acme")
	m, _, err := acme.Load(ctx)
	if err != nil || m.Spam != 6 || m.Ham != 6 {
		t.Errorf("acme's model: %+v, %v; want 6 spam, 6 ham (the default's and its own)", m, err)
	}
	code, _, stderr := runCLI(t, "train", "--spam", spam, "--ham", ham, "--out", out, "--tenant", "acme")
	if code != 2 || !strings.Contains(stderr, "needs --upload") {
		t.Errorf("--tenant without --upload: exit %d, %q", code, stderr)
	}
}
