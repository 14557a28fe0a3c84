package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/schema"
)

func sampleEML(subject string) string {
	return messagetest.New().From("promo@offers.example").To("a@example.com").Subject(subject).
		Text("Winner! Claim your free prize now.").String()
}

func TestSubmitRefuses(t *testing.T) {
	good := writeFile(t, "good.eml", sampleEML("Prize"))
	fwd := writeFile(t, "fwd.eml", messagetest.New().From("me@example.com").To("admin@example.com").Subject("Fwd: Prize").
		Text("see below\n---------- Forwarded message ---------\nFrom: promo@offers.example\n").String())
	txt := writeFile(t, "notes.txt", "hello")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{good}, "give --spam (missed spam) or --ham"},
		{[]string{"--spam", "--ham", good}, "not both"},
		{[]string{"--spam"}, "no files given"},
		{[]string{"--spam", good, fwd, txt}, "nothing stored; refused:\n  fwd.eml: forwarded mail"},
		{[]string{"--ham", txt}, "notes.txt: .txt files are not accepted: submit .eml, Outlook .msg or .zip"},
		{[]string{"--spam", "--tenant", "Bad/ID", good}, `--tenant: tenant "Bad/ID"`},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append([]string{"submit"}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("submit %v: exit %d, %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestSubmitStores(t *testing.T) {
	cfg, r := localTarget(t)
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, n := range []string{"one.eml", "two.eml"} {
		w, _ := zw.Create(n)
		io.WriteString(w, sampleEML("Prize "+n))
	}
	zw.Close()
	dir := t.TempDir()
	zipFile := filepath.Join(dir, "batch.zip")
	os.WriteFile(zipFile, zb.Bytes(), 0o644)
	single := writeFile(t, "single.eml", sampleEML("Prize single"))

	stdout, _ := expect(t, 0, nil, "submit", "--spam", "--json", single, zipFile)
	var got struct {
		Label  string `json:"label"`
		Stored []struct{ File, Key string }
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if got.Label != "spam" || len(got.Stored) != 3 {
		t.Fatalf("stored %+v, want 3 spam samples", got)
	}
	if !strings.HasSuffix(got.Stored[1].File, "batch.zip!one.eml") {
		t.Errorf("file %q, want batch.zip!one.eml", got.Stored[1].File)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := r.Env()[schema.BucketEnvVar]
	for _, s := range got.Stored {
		if !strings.HasPrefix(s.Key, "submissions/spam/") {
			t.Errorf("key %q, want under submissions/spam/", s.Key)
		}
		obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(s.Key)})
		if err != nil {
			t.Fatalf("get %s: %v", s.Key, err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !strings.Contains(string(b), "Subject: Prize") || aws.ToString(obj.ContentType) != "message/rfc822" {
			t.Errorf("%s: content type %q, body %q", s.Key, aws.ToString(obj.ContentType), b)
		}
	}
	expect(t, 0, []string{"stored 1 ham sample(s)"}, "submit", "--ham", single)
}

func TestSubmitTenant(t *testing.T) {
	cfg, r := localTarget(t)
	single := writeFile(t, "single.eml", sampleEML("Prize for acme"))
	stdout, _ := expect(t, 0, nil, "submit", "--spam", "--tenant", "acme", "--json", single)
	var got struct{ Stored []struct{ File, Key string } }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got.Stored) != 1 {
		t.Fatalf("%v: %s", err, stdout)
	}
	key := got.Stored[0].Key
	if !strings.HasPrefix(key, "submissions/tenants/acme/spam/") {
		t.Fatalf("key %q, want under submissions/tenants/acme/spam/", key)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(r.Env()[schema.BucketEnvVar]), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	obj.Body.Close()
}
