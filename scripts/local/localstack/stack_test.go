package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/policystore"
	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/reputation"
	"github.com/moatmail/moat/shared/sesevent"
	"github.com/moatmail/moat/shared/tracking"
)

// startTest starts a stack on free ports against the test emulator.
func startTest(t testing.TB, o Options) *Stack {
	t.Helper()
	awstest.Config(t) // skips without the emulator
	o.Endpoint = os.Getenv("AWS_ENDPOINT_URL")
	o.Dir = t.TempDir()
	o.SMTPAddr, o.SinkAddr, o.ActionsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.Suffix = strings.TrimPrefix(awstest.Name(t, "ls"), "ls-")
	o.PolicyCache = time.Millisecond
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func send(addr, from string, to []string, msg string) error {
	return smtp.SendMail(addr, nil, from, to, []byte(strings.ReplaceAll(msg, "\n", "\r\n")))
}

// reply is the server's reply to a failed send as "550 5.7.1 text"; "250" for success.
func reply(err error) string {
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Sprintf("%d %s", te.Code, te.Msg)
	}
	if err == nil {
		return "250"
	}
	return err.Error()
}

const plain = `From: carol@sender.example
To: alice@example.com
Subject: hello
Message-ID: <m1@sender.example>
Date: Sun, 22 Nov 2026 09:14:00 +0000

Hello Alice.
`

func TestReceiveStoresLikeSES(t *testing.T) {
	s := startTest(t, Options{})
	if err := send(s.SMTPAddr, "carol@sender.example", []string{"alice@example.com"}, plain); err != nil {
		t.Fatalf("send: %v", err)
	}
	s.Wait()
	db := dynamodb.NewFromConfig(s.AWS)
	tr := tracking.New(db, s.Resources.Tables["Tracking"], 0)
	page, err := tr.Search(context.Background(), tracking.Query{Recipient: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 {
		t.Fatalf("%d tracking records, want 1", len(page.Records))
	}
	rec := page.Records[0]
	if rec.ClientIP != "127.0.0.1" || rec.Sender != "carol@sender.example" || rec.Subject != "hello" {
		t.Errorf("record %+v", rec)
	}
	for k, v := range rec.Verdicts {
		if v != "GRAY" {
			t.Errorf("verdict %s = %s, want GRAY", k, v)
		}
	}
	obj, err := provision.S3(s.AWS).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.Resources.Bucket), Key: aws.String(rec.Key)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !strings.HasPrefix(string(raw), "Received: from localhost (localhost [127.0.0.1])\r\n by inbound-smtp.us-east-1.amazonaws.com with SMTP id "+rec.MessageID+"\r\n for alice@example.com;") {
		t.Errorf("stored message does not start with SES's Received header:\n%.300s", raw)
	}
	m, err := message.Parse(strings.NewReader(string(raw)), message.Options{})
	if err != nil || m.ClientIP != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("client IP from the stored message: %v %v", m.ClientIP, err)
	}
}

func TestReceiveRefusals(t *testing.T) {
	s := startTest(t, Options{MaxMessage: 2000})
	tests := []struct {
		name string
		to   []string
		msg  string
		want string
	}{
		{"unserved domain", []string{"bob@elsewhere.example"}, plain, "550 5.7.1"},
		{"over SES's size", []string{"alice@example.com"}, plain + strings.Repeat("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 50), "552 5.3.4"},
		{"served", []string{"ALICE@Example.com"}, plain, "250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := send(s.SMTPAddr, "carol@sender.example", tt.to, tt.msg)
			if !strings.HasPrefix(reply(err), tt.want) {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}

	// An administrator blocks the client's IP: the listener refuses it at the greeting.
	store := policystore.New(dynamodb.NewFromConfig(s.AWS), s.Resources.Tables["Policies"])
	doc, v, err := store.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	doc.IPs = policy.IPLists{Block: []string{"127.0.0.0/8"}}
	if _, err := store.Put(context.Background(), doc, v); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the stack's policy cache period in this test
	err = send(s.SMTPAddr, "carol@sender.example", []string{"alice@example.com"}, plain)
	if !strings.HasPrefix(reply(err), "554 5.7.1") {
		t.Errorf("blocked IP: got %v, want 554 5.7.1", err)
	}
}

func TestReceiveRefusesDynamicBlocks(t *testing.T) {
	s := startTest(t, Options{})
	if err := send(s.SMTPAddr, "carol@sender.example", []string{"alice@example.com"}, plain); err != nil {
		t.Fatalf("before the block: %v", err)
	}
	rep := reputation.New(dynamodb.NewFromConfig(s.AWS), s.Resources.Tables["Reputation"], 1)
	if _, b, err := rep.CountSpam(context.Background(), netip.MustParseAddr("127.0.0.1"), time.Now()); err != nil || b == nil {
		t.Fatalf("block 127.0.0.1: %v %v", b, err)
	}
	if err := send(s.SMTPAddr, "carol@sender.example", []string{"alice@example.com"}, plain); !strings.HasPrefix(reply(err), "554 5.7.1") {
		t.Errorf("dynamically blocked IP: got %v, want 554 5.7.1", err)
	}
	s.Wait()
}

func TestReceiptEvent(t *testing.T) {
	raw := []byte("Received: from h (localhost [127.0.0.1])\r\n by x with SMTP id abc;\r\n Sun, 22 Nov 2026 09:14:02 +0000 (UTC)\r\n" +
		"From: \"Carol Q\" <carol@sender.example>\r\nTo: alice@example.com, bob@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nDate: Sun, 22 Nov 2026 09:14:00 +0000\r\n" +
		"X-Long: " + strings.Repeat("y", 11000) + "\r\n\r\nbody\r\n")
	ev := receiptEvent(newMessageID(), time.Now(), "carol@sender.example", []string{"alice@example.com"}, raw, "eu-west-1")
	rec := ev.Records[0]
	if err := sesevent.Validate(rec); err != nil {
		t.Fatal(err)
	}
	m := rec.SES.Mail
	if !m.HeadersTruncated || len(m.Headers) != 5 {
		t.Errorf("headers: truncated %v, %d fields", m.HeadersTruncated, len(m.Headers))
	}
	if m.CommonHeaders.Subject != "café" || m.CommonHeaders.From[0] != `"Carol Q" <carol@sender.example>` || len(m.CommonHeaders.To) != 2 {
		t.Errorf("common headers %+v", m.CommonHeaders)
	}
	v := sesevent.Verdicts(rec)
	if v.Spam != "GRAY" || v.Virus != "GRAY" || v.SPF != "GRAY" || v.DKIM != "GRAY" || v.DMARC != "GRAY" {
		t.Errorf("verdicts %+v", v)
	}
}

func TestSinkWritesPerRecipient(t *testing.T) {
	s := startTest(t, Options{})
	if err := send(s.SinkAddr, "a@b.example", []string{"alice@example.com", "bob@example.com"}, plain); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"alice@example.com", "bob@example.com"} {
		files, _ := filepath.Glob(filepath.Join(s.Delivered, r, "*.eml"))
		if len(files) != 1 {
			t.Errorf("%s: %d files", r, len(files))
		}
	}
}

func TestStartsAndStopsMoto(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Skip("moto_server is not installed: the local stack cannot start its own emulator here")
	}
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{Dir: dir, SMTPAddr: "127.0.0.1:0", SinkAddr: "127.0.0.1:0", ActionsAddr: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
		t.Errorf("state file: %v", err)
	}
	pid := s.moto.cmd.Process.Pid
	s.Close()
	if err := s.moto.cmd.Process.Signal(syscall.Signal(0)); err == nil {
		t.Errorf("moto_server (pid %d) still running after Close", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left after Close: %v", err)
	}
}
