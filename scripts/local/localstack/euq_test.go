package localstack

import (
	"context"
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/sesevent"
)

// TestQuarantineDigestRelease: a message SES called spam is quarantined; the digest function
// sends alice a digest (copied to the stack's sent folder); its deliver link, opened and
// confirmed over HTTPS, releases the message to the sink.
func TestQuarantineDigestRelease(t *testing.T) {
	s := startTest(t, Options{})
	data, err := os.ReadFile("../../../events/spam-fail.json")
	if err != nil {
		t.Fatal(err)
	}
	id := "spam" + strings.ReplaceAll(filepath.Base(s.Resources.Bucket), "-", "")
	ev, err := sesevent.Decode([]byte(strings.ReplaceAll(string(data), "2b8q0ucmo9tr1vkb4sl6p3n5a7d9f1h3j5l7n9p1", id)))
	if err != nil {
		t.Fatal(err)
	}
	raw := "Received: from mx.bulk.example (mx.bulk.example [203.0.113.50])\r\n by inbound-smtp.us-east-1.amazonaws.com with SMTP id " + id +
		";\r\n Sun, 22 Nov 2026 09:14:02 +0000 (UTC)\r\nFrom: promo@bulk.example\r\nTo: alice@example.com\r\nSubject: Cheap watches\r\n\r\nBuy now.\r\n"
	if _, err := provision.S3(s.AWS).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(s.Resources.Bucket), Key: aws.String("incoming/" + id), Body: strings.NewReader(raw),
	}); err != nil {
		t.Fatal(err)
	}
	ev.Records[0].SES.Mail.Timestamp = time.Now().UTC() // received now, not when the sample was made
	ev.Records[0].SES.Receipt.Timestamp = time.Now().UTC()
	s.invoke(ev)
	s.Wait()
	if err := s.RunDigests(context.Background(), time.Now()); err != nil {
		t.Fatalf("digest run: %v", err)
	}

	// The tests share one emulator, whose sent mail every stack's outbox copies: find the digest
	// that holds this stack's link.
	linkRE := regexp.MustCompile(regexp.QuoteMeta(s.ActionsURL) + `/deliver\?t=[^\s"<>]+`)
	var link string
	for deadline := time.Now().Add(time.Minute); link == ""; {
		files, _ := filepath.Glob(filepath.Join(s.Sent, "alice@example.com", "*.eml"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if tx := decodedText(t, string(b)); strings.Contains(tx, "Cheap watches") && linkRE.MatchString(tx) {
				link = linkRE.FindString(tx)
			}
		}
		if link == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no digest with a deliver link for alice among %d sent files after a minute", len(files))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ActionsCA}}}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `<form method="post"`) {
		t.Fatalf("GET %s: %s\n%s", link, resp.Status, page)
	}
	u, _ := url.Parse(link)
	resp, err = client.PostForm(s.ActionsURL+u.Path, url.Values{"t": {u.Query().Get("t")}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %s\n%s", resp.Status, page)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(s.Delivered, "alice@example.com", "*.eml"))
		if len(files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the released message did not reach the sink (%d files)", len(files))
		}
	}
}

// decodedText returns the decoded text of every part of a MIME message.
func decodedText(t *testing.T, raw string) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		b, _ := io.ReadAll(m.Body)
		return string(b)
	}
	var out strings.Builder
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			return out.String()
		}
		var r io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(p)
		}
		b, _ := io.ReadAll(r)
		out.Write(b)
		out.WriteString("\n")
	}
}
