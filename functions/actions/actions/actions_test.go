package actions

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/moatmail/moat/functions/digest/digest"
	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/euq"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/token"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

var (
	testKey = []byte("actions-test-key-0123456789abcdef")
	at7     = time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC) // the default digest hour
	quiet   = slog.New(slog.NewTextHandler(io.Discard, nil))
)

type fixture struct {
	*admintest.Env
	h      *Handler
	signer *token.Signer
	domain string
	alice  string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	e := admintest.New(t)
	domain := strings.ReplaceAll(awstest.Name(t, "ac"), "-", "") + ".example"
	awstest.VerifySender(t, e.AWS, domain)
	doc := policy.Default()
	doc.Domains[domain] = policy.Domain{}
	if _, err := e.Policies.Put(t.Context(), doc, 0); err != nil {
		t.Fatal(err)
	}
	signer, err := token.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	now := at7.Add(time.Hour)
	return &fixture{
		Env: e, signer: signer, domain: domain, alice: "alice@" + domain,
		h: &Handler{Admin: e.Admin, Signer: signer, Log: quiet, Now: func() time.Time { return now }},
	}
}

// sendDigest runs the digest function and returns alice's links by message ID and action.
func (f *fixture) sendDigest(t *testing.T) map[string]map[euq.Action]string {
	t.Helper()
	d := &digest.Handler{
		Policies: f.Policies, Admin: f.Admin, State: digest.NewState(f.DB, f.Res.Getenv(schema.Policies.EnvVar)),
		Mailer: ses.NewFromConfig(f.AWS), Signer: f.signer, ActionsURL: "https://actions.example/",
		Retention: 30 * 24 * time.Hour, LinkTTL: 7 * 24 * time.Hour, Log: quiet,
	}
	if err := d.Run(t.Context(), at7); err != nil {
		t.Fatal(err)
	}
	var text string
	for _, m := range awstest.SentEmails(t) {
		if m.Source == "quarantine@"+f.domain && slices.Contains(m.Destinations, f.alice) {
			text = textPart(t, m.Raw)
		}
	}
	if text == "" {
		t.Fatal("no digest sent to alice")
	}
	links := map[string]map[euq.Action]string{}
	// Each item: "Subject: Offer <id>" then its links.
	for _, block := range strings.Split(text, "-----")[1:] {
		m := regexp.MustCompile(`Subject: Offer (\S+)`).FindStringSubmatch(block)
		if m == nil {
			continue
		}
		links[m[1]] = map[euq.Action]string{}
		for _, u := range regexp.MustCompile(`https://actions\.example/\S+`).FindAllString(block, -1) {
			a, _ := euq.FromPath(strings.SplitN(strings.TrimPrefix(u, "https://actions.example"), "?", 2)[0])
			links[m[1]][a] = u
		}
	}
	return links
}

func textPart(t *testing.T, raw string) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no text part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, _ := io.ReadAll(quotedprintable.NewReader(p))
			return string(b)
		}
	}
}

// request builds the function URL event a browser's request makes.
func request(method, link string, form url.Values) events.LambdaFunctionURLRequest {
	u, _ := url.Parse(link)
	q := map[string]string{}
	for k, v := range u.Query() {
		q[k] = v[0]
	}
	req := events.LambdaFunctionURLRequest{RawPath: u.Path, RawQueryString: u.RawQuery, QueryStringParameters: q}
	req.RequestContext.HTTP.Method = method
	req.RequestContext.HTTP.Path = u.Path
	if form != nil {
		req.Body = base64.StdEncoding.EncodeToString([]byte(form.Encode()))
		req.IsBase64Encoded = true
		req.Headers = map[string]string{"content-type": "application/x-www-form-urlencoded"}
	}
	return req
}

// follow opens a link (GET, the confirmation page), then submits the page's form (POST).
func (f *fixture) follow(t *testing.T, link string) (confirm, done events.LambdaFunctionURLResponse) {
	t.Helper()
	ctx := context.Background()
	confirm, err := f.h.Handle(ctx, request(http.MethodGet, link, nil))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<form method="post" action="(/[a-z-]+)">[\s\S]*name="t" value="([^"]+)"`).FindStringSubmatch(confirm.Body)
	if confirm.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no confirmation form:\n%s", link, confirm.StatusCode, confirm.Body)
	}
	tok := strings.ReplaceAll(m[2], "&#43;", "+")
	done, err = f.h.Handle(ctx, request(http.MethodPost, "https://actions.example"+m[1], url.Values{"t": {tok}}))
	if err != nil {
		t.Fatal(err)
	}
	return confirm, done
}

func (f *fixture) senders(t *testing.T) []string {
	t.Helper()
	es, err := f.Policies.UserSenders(t.Context(), f.alice)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, string(e.List)+":"+e.Pattern)
	}
	return out
}

func TestDigestLinksEndToEnd(t *testing.T) {
	f := setup(t)
	for _, id := range []string{"m1", "m2"} {
		f.Quarantine(t, admintest.Item{ID: id, Recipients: []string{f.alice}, Sender: "bounce@list.spam.example",
			From: "offers@spam.example", Subject: "Offer " + id, Reasons: []verdict.Code{verdict.Spam}, Time: at7.Add(-time.Hour)})
	}
	links := f.sendDigest(t)
	if len(links["m1"]) != 5 || len(links["m2"]) != 5 {
		t.Fatalf("links %v, want five for each message", links)
	}

	// A GET changes nothing (link scanners prefetch).
	for _, a := range euq.Actions {
		resp, err := f.h.Handle(t.Context(), request(http.MethodGet, links["m1"][a], nil))
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "offers@spam.example") {
			t.Fatalf("GET %s: %d %v", a, resp.StatusCode, err)
		}
		if resp.Headers["Referrer-Policy"] != "no-referrer" || !strings.Contains(resp.Headers["Content-Security-Policy"], "default-src 'none'") {
			t.Errorf("GET %s: headers %v", a, resp.Headers)
		}
	}
	if st := f.Status(t, "m1", f.alice); st != tracking.Quarantined || len(f.senders(t)) != 0 || len(f.Jobs(t)) != 0 {
		t.Fatalf("GETs changed something: status %s, senders %v", st, f.senders(t))
	}

	// deliver
	_, done := f.follow(t, links["m1"][euq.Deliver])
	if done.StatusCode != http.StatusOK || !strings.Contains(done.Body, "on its way") {
		t.Fatalf("deliver: %d\n%s", done.StatusCode, done.Body)
	}
	if st := f.Status(t, "m1", f.alice); st != tracking.Released {
		t.Errorf("after deliver: %s", st)
	}
	if jobs := f.Jobs(t); len(jobs) != 1 || jobs[0].MessageID != "m1" || !jobs[0].Released || jobs[0].Recipients[0] != f.alice {
		t.Errorf("after deliver: jobs %+v", jobs)
	}
	// deliver again: no second job, and the confirmation page says so.
	resp, _ := f.h.Handle(t.Context(), request(http.MethodGet, links["m1"][euq.Deliver], nil))
	if !strings.Contains(resp.Body, "no longer in quarantine") || strings.Contains(resp.Body, "<form") {
		t.Errorf("second deliver GET:\n%s", resp.Body)
	}

	// deliver and approve sender
	_, done = f.follow(t, links["m2"][euq.DeliverApprove])
	if done.StatusCode != http.StatusOK || f.Status(t, "m2", f.alice) != tracking.Released || len(f.Jobs(t)) != 1 {
		t.Errorf("deliver-approve: %d, status %s", done.StatusCode, f.Status(t, "m2", f.alice))
	}
	want := []string{"approved:offers@spam.example"}
	if got := f.senders(t); !slices.Equal(got, want) {
		t.Errorf("after deliver-approve: senders %v, want %v", got, want)
	}

	// block sender, approve and block the sender's domain
	for _, tc := range []struct {
		a    euq.Action
		want string
	}{
		{euq.BlockSender, "blocked:offers@spam.example"},
		{euq.ApproveDomain, "approved:*@spam.example"},
		{euq.BlockDomain, "blocked:*@spam.example"},
	} {
		_, done := f.follow(t, links["m1"][tc.a])
		if done.StatusCode != http.StatusOK || !slices.Contains(f.senders(t), tc.want) {
			t.Errorf("%s: %d, senders %v, want %s", tc.a, done.StatusCode, f.senders(t), tc.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	f.Quarantine(t, admintest.Item{ID: "s1", Recipients: []string{f.alice}, Sender: "x@spam.example", From: "x@spam.example", Subject: "Offer s1", Reasons: []verdict.Code{verdict.Spam}, Time: at7.Add(-time.Hour)})
	f.Quarantine(t, admintest.Item{ID: "n1", Recipients: []string{f.alice}, Subject: "Offer n1", Reasons: []verdict.Code{verdict.Spam}, Time: at7.Add(-time.Hour)})
	f.Quarantine(t, admintest.Item{ID: "v1", Recipients: []string{f.alice}, Sender: "x@bad.example", From: "x@bad.example", Subject: "Invoice", Reasons: []verdict.Code{verdict.Virus}, Time: at7.Add(-time.Hour)})
	links := f.sendDigest(t)
	deliver := links["s1"][euq.Deliver]
	if deliver == "" || links["v1"] != nil {
		t.Fatalf("links %v: want s1's and none for the virus", links)
	}
	tok := strings.SplitN(deliver, "?t=", 2)[1]
	tok, _ = url.QueryUnescape(tok)
	payload, mac, _ := strings.Cut(tok, ".")
	// A token for the virus, signed with the real key: never in a digest, still refused.
	virusTok, _ := f.signer.Make(token.Claims{Purpose: string(euq.Deliver), MessageID: "v1", Recipient: f.alice, Expires: at7.Add(24 * time.Hour).Unix()})
	// Another recipient's claims with alice's signature.
	other, _ := f.signer.Make(token.Claims{Purpose: string(euq.Deliver), MessageID: "s1", Recipient: "bob@" + f.domain, Expires: at7.Add(24 * time.Hour).Unix()})
	otherPayload, _, _ := strings.Cut(other, ".")
	noSender := strings.SplitN(links["n1"][euq.BlockSender], "?t=", 2)[1]
	noSender, _ = url.QueryUnescape(noSender)
	flipped := []byte(mac)
	flipped[0] ^= 0x02

	late := &Handler{Admin: f.Admin, Signer: f.signer, Log: quiet, Now: func() time.Time { return at7.Add(8 * 24 * time.Hour) }}
	for _, tc := range []struct {
		name   string
		h      *Handler
		method string
		path   string
		tok    string
		status int
		says   string
	}{
		{"tampered signature", f.h, http.MethodPost, "/deliver", payload + "." + string(flipped), 403, "not valid"},
		{"claims swapped", f.h, http.MethodPost, "/deliver", otherPayload + "." + mac, 403, "not valid"},
		{"truncated", f.h, http.MethodGet, "/deliver", tok[:len(tok)-5], 403, "not valid"},
		{"no token", f.h, http.MethodGet, "/deliver", "", 403, "not valid"},
		{"expired", late, http.MethodPost, "/deliver", tok, 403, "expired"},
		{"expired GET", late, http.MethodGet, "/deliver", tok, 403, "expired"},
		{"other action", f.h, http.MethodPost, "/block-domain", tok, 403, "another action"},
		{"administrators only", f.h, http.MethodPost, "/deliver", virusTok, 403, "administrator"},
		{"no sender to block", f.h, http.MethodGet, "/block-sender", noSender, 409, "no sender address"},
		{"unknown path", f.h, http.MethodGet, "/admin", tok, 404, "not a quarantine action"},
		{"other method", f.h, http.MethodPut, "/deliver", tok, 405, "web browser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := "https://actions.example" + tc.path
			var form url.Values
			if tc.method == http.MethodPost {
				form = url.Values{"t": {tc.tok}}
			} else {
				link += "?t=" + url.QueryEscape(tc.tok)
			}
			resp, err := tc.h.Handle(ctx, request(tc.method, link, form))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(resp.Body, tc.says) || strings.Contains(resp.Body, "<form") {
				t.Errorf("%d, want %d saying %q:\n%s", resp.StatusCode, tc.status, tc.says, resp.Body)
			}
			if tc.status < 500 && !strings.Contains(resp.Body, "Nothing was changed") {
				t.Errorf("refusal does not say nothing changed:\n%s", resp.Body)
			}
		})
	}
	for _, id := range []string{"s1", "v1", "n1"} {
		if st := f.Status(t, id, f.alice); st != tracking.Quarantined {
			t.Errorf("%s after refusals: %s", id, st)
		}
	}
	if n := len(f.Jobs(t)); n != 0 || len(f.senders(t)) != 0 {
		t.Errorf("refusals queued %d jobs, listed %v", n, f.senders(t))
	}
}

func TestEscaping(t *testing.T) {
	f := setup(t)
	f.Quarantine(t, admintest.Item{ID: "x1", Recipients: []string{f.alice}, Sender: "x@spam.example", From: "x@spam.example",
		Subject: `Offer x1 <script>alert("x")</script>`, Reasons: []verdict.Code{verdict.Spam}, Time: at7.Add(-time.Hour)})
	links := f.sendDigest(t)
	resp, _ := f.h.Handle(t.Context(), request(http.MethodGet, links["x1"][euq.Deliver], nil))
	if strings.Contains(resp.Body, "<script>") || !strings.Contains(resp.Body, "&lt;script&gt;") {
		t.Errorf("subject not escaped:\n%s", resp.Body)
	}
}

func TestLoadConfig(t *testing.T) {
	_, err := LoadConfig(func(string) string { return "" })
	for _, want := range []string{schema.BucketEnvVar, schema.Delivery.EnvVar, EnvLinkKey} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
