package digest

import (
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/token"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

var testKey = []byte("digest-test-key-0123456789abcdef")

// at9 is a run at 09:00 UTC, the digest hour of the tests' policy.
var at9 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

type fixture struct {
	*admintest.Env
	h      *Handler
	domain string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	e := admintest.New(t)
	domain := strings.ReplaceAll(awstest.Name(t, "dg"), "-", "") + ".example"
	awstest.VerifySender(t, e.AWS, domain)
	doc := policy.Default()
	hours := []int{9, 15}
	doc.Domains[domain] = policy.Domain{Settings: policy.Settings{DigestHours: &hours}}
	if _, err := e.Policies.Put(t.Context(), doc, 0); err != nil {
		t.Fatal(err)
	}
	signer, err := token.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{
		Policies: e.Policies, Admin: e.Admin, State: NewState(e.DB, e.Res.Getenv(schema.Policies.EnvVar)),
		Mailer: ses.NewFromConfig(e.AWS), Signer: signer, ActionsURL: "https://actions.example/",
		Retention: 30 * 24 * time.Hour, LinkTTL: 7 * 24 * time.Hour,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return at9 },
	}
	return &fixture{Env: e, h: h, domain: domain}
}

func (f *fixture) put(t *testing.T, id, local string, code verdict.Code, at time.Time) {
	t.Helper()
	f.Quarantine(t, admintest.Item{ID: id, Recipients: []string{local + "@" + f.domain}, Sender: "bulk@spam.example",
		From: "offers@spam.example", Subject: "Offer " + id + " <b>now</b>", Reasons: []verdict.Code{code}, Time: at})
}

// digests returns the text part of each digest sent from the fixture's domain, by recipient.
func (f *fixture) digests(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range awstest.SentEmails(t) {
		if m.Source != "quarantine@"+f.domain {
			continue
		}
		rcpt := ""
		if len(m.Destinations) > 0 {
			rcpt = m.Destinations[0]
		}
		out[rcpt] = append(out[rcpt], TextPart(t, m.Raw))
	}
	return out
}

// TextPart returns the decoded text/plain part of a digest.
func TextPart(t *testing.T, raw string) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("digest is not a message: %v", err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no text part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(quotedprintable.NewReader(p))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

var linkRE = regexp.MustCompile(`https://actions\.example/[a-z-]+\?t=[A-Za-z0-9._%-]+`)

func TestDigestListsOnlyNewEndUserMail(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	f.put(t, "a1", "alice", verdict.Spam, at9.Add(-3*time.Hour))
	f.put(t, "a2", "alice", verdict.Virus, at9.Add(-2*time.Hour)) // administrators only
	f.put(t, "b1", "bob", verdict.DNSBLListed, at9.Add(-time.Hour))
	f.put(t, "c1", "carol", verdict.ContentRule, at9.Add(-time.Hour)) // carol has nothing to see

	if err := f.h.Run(ctx, at9); err != nil {
		t.Fatal(err)
	}
	got := f.digests(t)
	alice, bob := "alice@"+f.domain, "bob@"+f.domain
	if len(got) != 2 || len(got[alice]) != 1 || len(got[bob]) != 1 {
		t.Fatalf("digests to %v, want one each to alice and bob", keys(got))
	}
	a := got[alice][0]
	if !strings.Contains(a, "Offer a1 <b>now</b>") || strings.Contains(a, "a2") {
		t.Errorf("alice's digest lists the wrong items:\n%s", a)
	}
	if n := len(linkRE.FindAllString(a, -1)); n != 5 {
		t.Errorf("alice's digest has %d links, want 5 (one per action)", n)
	}
	if !strings.Contains(got[bob][0], "blocklist") {
		t.Errorf("bob's digest does not give the reason:\n%s", got[bob][0])
	}

	// The same hour again (an EventBridge retry): nothing more.
	if err := f.h.Run(ctx, at9.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Not a digest hour: nothing, even with new mail.
	f.put(t, "a3", "alice", verdict.Spam, at9.Add(30*time.Minute))
	if err := f.h.Run(ctx, at9.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := f.digests(t); len(got[alice]) != 1 || len(got[bob]) != 1 {
		t.Fatalf("after the retry and an off hour: %d and %d digests, want 1 and 1", len(got[alice]), len(got[bob]))
	}
	// The next digest hour: only alice, with only the new message.
	if err := f.h.Run(ctx, at9.Add(6*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got = f.digests(t)
	if len(got[alice]) != 2 || len(got[bob]) != 1 {
		t.Fatalf("second digest hour: %d and %d digests, want 2 and 1", len(got[alice]), len(got[bob]))
	}
	second := got[alice][0] + got[alice][1]
	if strings.Count(second, "Offer a1") != 1 || !strings.Contains(second, "Offer a3") {
		t.Errorf("second digest repeats or misses items:\n%s", second)
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDigestCapsAt100(t *testing.T) {
	f := setup(t)
	for i := range 105 {
		id := fmt.Sprintf("n%03d", i)
		f.put(t, id, "dave", verdict.Spam, at9.Add(-time.Duration(i+1)*time.Minute))
	}
	if err := f.h.Run(t.Context(), at9); err != nil {
		t.Fatal(err)
	}
	d := f.digests(t)["dave@"+f.domain]
	if len(d) != 1 {
		t.Fatalf("%d digests, want 1", len(d))
	}
	if n := strings.Count(d[0], "Subject: Offer"); n != MaxItems {
		t.Errorf("%d items listed, want %d", n, MaxItems)
	}
	if !strings.Contains(d[0], "and 5 more") || !strings.Contains(d[0], "Offer n000") || strings.Contains(d[0], "Offer n104") {
		t.Errorf("want the newest 100 and a count of the rest:\n%s", d[0][:400])
	}
}

func TestExpiry(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	now := at9.Add(3 * time.Hour) // not a digest hour: expiry runs anyway
	f.put(t, "old1", "erin", verdict.Spam, now.Add(-32*24*time.Hour))
	f.put(t, "old2", "erin", verdict.Virus, now.Add(-33*24*time.Hour))
	f.put(t, "young", "erin", verdict.Spam, now.Add(-29*24*time.Hour))
	if err := f.h.Run(ctx, now); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]tracking.Status{"old1": tracking.Deleted, "old2": tracking.Deleted, "young": tracking.Quarantined} {
		rec, err := f.Tracking.Get(ctx, id, "erin@"+f.domain)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != want {
			t.Errorf("%s: %s, want %s", id, rec.Status, want)
		}
		if want == tracking.Deleted && rec.Events[len(rec.Events)-1].Detail != "expired" {
			t.Errorf("%s: last event %+v, want detail expired", id, rec.Events[len(rec.Events)-1])
		}
	}
	if len(f.digests(t)) != 0 {
		t.Error("a digest was sent outside the digest hours")
	}
}

func TestLoadConfig(t *testing.T) {
	_, err := LoadConfig(func(k string) string {
		return map[string]string{EnvActionsURL: "ftp://x", EnvQuarantineDays: "0", EnvSender: "no address"}[k]
	})
	for _, want := range []string{schema.BucketEnvVar, EnvLinkKey, `ACTIONS_URL "ftp://x"`, `QUARANTINE_DAYS "0"`, `DIGEST_SENDER "no address"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	env := map[string]string{
		schema.BucketEnvVar: "b", schema.Policies.EnvVar: "p", schema.Tracking.EnvVar: "t",
		EnvLinkKey: "moat/link-key", EnvActionsURL: "https://x.lambda-url.eu-west-1.on.aws/", EnvQuarantineDays: "45",
	}
	c, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil || c.Retention != 45*24*time.Hour || c.LinkTTL != 7*24*time.Hour {
		t.Errorf("config %+v, %v", c, err)
	}
}
