package admin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/message/messagetest"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/tracking"
	"github.com/moatmail/moat/shared/verdict"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func ids(p admin.Page) []string {
	var out []string
	for _, r := range p.Items {
		out = append(out, r.MessageID+"/"+r.Recipient)
	}
	return out
}

func TestList(t *testing.T) {
	e := admintest.New(t)
	ctx := t.Context()
	e.Quarantine(t, admintest.Item{ID: "m1", Recipients: []string{"alice@example.com", "bob@example.com"}, Sender: "x@spam.example", From: "x@spam.example", Subject: "win", Reasons: []verdict.Code{verdict.Spam}, Time: t0})
	e.Quarantine(t, admintest.Item{ID: "m2", Recipients: []string{"alice@example.com"}, Sender: "v@bad.example", From: "v@bad.example", Subject: "invoice", Reasons: []verdict.Code{verdict.Virus}, Time: t0.Add(time.Hour)})
	e.Quarantine(t, admintest.Item{ID: "m3", Recipients: []string{"carol@example.net"}, Sender: "y@spam.example", From: "y@spam.example", Subject: "hi", Reasons: []verdict.Code{verdict.DNSBLListed}, Time: t0.Add(2 * time.Hour)})
	// Blocked but not quarantined (deleted by policy): never listed.
	if _, err := e.Tracking.Create(ctx, tracking.Record{MessageID: "m4", Recipient: "alice@example.com", Time: t0, Direction: tracking.Inbound, Traffic: tracking.Blocked, Status: tracking.Deleted}); err != nil {
		t.Fatal(err)
	}
	since, until := t0.Add(-time.Hour), t0.Add(24*time.Hour)
	for _, tc := range []struct {
		name string
		f    admin.Filter
		want []string
	}{
		{"domain", admin.Filter{Domain: "example.com"}, []string{"m2/alice@example.com", "m1/alice@example.com", "m1/bob@example.com"}},
		{"recipient", admin.Filter{Recipient: "Alice@Example.com"}, []string{"m2/alice@example.com", "m1/alice@example.com"}},
		{"reason", admin.Filter{Domain: "example.com", Reasons: []verdict.Code{verdict.Virus}}, []string{"m2/alice@example.com"}},
		{"time", admin.Filter{Since: t0.Add(90 * time.Minute)}, []string{"m3/carol@example.net"}},
		{"end user", admin.Filter{Recipient: "alice@example.com", EndUser: true}, []string{"m1/alice@example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if f.Since.IsZero() {
				f.Since = since
			}
			f.Until = until
			p, err := e.Admin.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(p)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}

	// Paging: one item a page, every item once.
	var all []string
	f := admin.Filter{Domain: "example.com", Since: since, Until: until, Limit: 1}
	for range 10 {
		p, err := e.Admin.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > 1 {
			t.Fatalf("page of %d items, limit 1", len(p.Items))
		}
		all = append(all, ids(p)...)
		if p.Cursor == "" {
			break
		}
		f.Cursor = p.Cursor
	}
	if len(all) != 3 || all[0] != "m2/alice@example.com" {
		t.Errorf("paged: %v, want 3 items newest first", all)
	}

	if _, err := e.Admin.List(ctx, admin.Filter{Reasons: []verdict.Code{"nonsense"}}); err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Errorf("unknown reason: err %v, want one naming it", err)
	}
}

func TestShowPreviewIsSafe(t *testing.T) {
	e := admintest.New(t)
	raw := messagetest.New().From("Mallory <m@spam.example>").To("alice@example.com").
		Subject("Pay \x1b[31mnow\u202e").
		Text("Dear customer,\x1b]0;owned\x07 click\n\n\n\n\nhere "+strings.Repeat("x", 3000)).
		HTML(`<p>Hello <script>alert(1)</script><a href="http://evil.example/">link</a></p>`).
		Attach("invoice.pdf.exe", "application/octet-stream", []byte("MZ\x90\x00")).Bytes()
	e.Quarantine(t, admintest.Item{ID: "s1", Recipients: []string{"alice@example.com"}, Sender: "m@spam.example", From: "m@spam.example", Subject: "Pay now", Reasons: []verdict.Code{verdict.Spam}, Time: t0, Raw: string(raw)})

	d, err := e.Admin.Show(t.Context(), "s1", "")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Available || len(d.Records) != 1 || d.Records[0].Reasons[0].Code != verdict.Spam {
		t.Fatalf("detail %+v", d)
	}
	if !d.Truncated || len([]rune(d.Preview)) > admin.PreviewChars {
		t.Errorf("preview of %d characters, truncated %t: want at most %d and cut", len([]rune(d.Preview)), d.Truncated, admin.PreviewChars)
	}
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "<script", "<a "} {
		if strings.Contains(d.Preview, bad) {
			t.Errorf("preview holds %q: %q", bad, d.Preview[:min(200, len(d.Preview))])
		}
		for _, h := range d.Headers {
			if strings.Contains(h.Value, bad) {
				t.Errorf("header %s holds %q", h.Name, bad)
			}
		}
	}
	if !strings.Contains(d.Preview, "Dear customer") || strings.Contains(d.Preview, "\n\n\n") {
		t.Errorf("preview %q: want the text with blank lines collapsed", d.Preview[:min(100, len(d.Preview))])
	}
	if !slices.ContainsFunc(d.Parts, func(p admin.PartSummary) bool { return p.Filename == "invoice.pdf.exe" && p.Type == "pe" }) {
		t.Errorf("parts %+v: want the executable attachment named with its true type", d.Parts)
	}
	if _, err := e.Admin.Show(t.Context(), "nope", ""); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("unknown message: %v, want ErrNotFound", err)
	}
	if _, err := e.Admin.Show(t.Context(), "../etc", ""); err == nil {
		t.Error("invalid message ID accepted")
	}
}

func TestReleaseQueuesMarksAndApproves(t *testing.T) {
	e := admintest.New(t)
	ctx := t.Context()
	e.Quarantine(t, admintest.Item{ID: "r1", Recipients: []string{"alice@example.com", "bob@example.com", "carol@example.net"}, Sender: "bounce-123@mailer.example", From: "News@Shop.Example", Subject: "sale", Reasons: []verdict.Code{verdict.Spam}, Time: t0})

	res, err := e.Admin.Release(ctx, admin.Release{MessageID: "r1", Recipients: []string{"alice@example.com", "carol@example.net"}, By: "ops", Approve: admin.ApproveSender})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Status != tracking.Released || res[0].Approved != "news@shop.example" {
		t.Fatalf("results %+v", res)
	}
	jobs := e.Jobs(t)
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want one per recipient domain", len(jobs))
	}
	for _, j := range jobs {
		if !j.Released || j.Key != "quarantine/r1" || j.Sender != "bounce-123@mailer.example" || len(j.Recipients) != 1 || j.Headers["X-Moat-Verdict"] != "released" {
			t.Errorf("job %+v", j)
		}
	}
	rec, err := e.Tracking.Get(ctx, "r1", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != tracking.Released || !slices.ContainsFunc(rec.Reasons, func(r verdict.Reason) bool { return r.Code == verdict.Released }) ||
		rec.Events[len(rec.Events)-1].Detail != "released by ops" {
		t.Errorf("record after release: %+v", rec)
	}
	if st := e.Status(t, "r1", "bob@example.com"); st != tracking.Quarantined {
		t.Errorf("bob, not released, is %s", st)
	}
	senders, err := e.Policies.UserSenders(ctx, "alice@example.com")
	if err != nil || len(senders) != 1 || senders[0].Pattern != "news@shop.example" || senders[0].List != policy.Approved {
		t.Errorf("alice's senders %+v, %v", senders, err)
	}

	// Releasing again queues nothing.
	res, err = e.Admin.Release(ctx, admin.Release{MessageID: "r1", Recipients: []string{"alice@example.com"}})
	if err != nil || len(res) != 1 || res[0].Note != "already released" {
		t.Errorf("second release: %+v, %v", res, err)
	}
	if j := e.Jobs(t); len(j) != 0 {
		t.Errorf("second release queued %d jobs", len(j))
	}
	// The copy stays for the delivery function.
	if !e.Exists(t, "r1") {
		t.Error("release removed the quarantined copy")
	}
}

func TestReleaseRefusals(t *testing.T) {
	e := admintest.New(t)
	ctx := t.Context()
	e.Quarantine(t, admintest.Item{ID: "v1", Recipients: []string{"alice@example.com"}, Sender: "v@bad.example", From: "v@bad.example", Reasons: []verdict.Code{verdict.Virus}, Time: t0})
	if _, err := e.Admin.Release(ctx, admin.Release{MessageID: "v1", EndUser: true}); !errors.Is(err, admin.ErrNotQuarantined) {
		t.Errorf("end user releasing a virus: %v, want refused", err)
	}
	if _, err := e.Admin.Release(ctx, admin.Release{MessageID: "v1", Recipients: []string{"zed@example.com"}}); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("unknown recipient: %v, want ErrNotFound", err)
	}
	if _, err := e.Admin.Release(ctx, admin.Release{MessageID: "v1", Approve: "everyone"}); err == nil || !strings.Contains(err.Error(), `"everyone"`) {
		t.Errorf("bad approval: %v", err)
	}
	if st := e.Status(t, "v1", "alice@example.com"); st != tracking.Quarantined {
		t.Errorf("after refusals: %s", st)
	}
	if j := e.Jobs(t); len(j) != 0 {
		t.Errorf("refusals queued %d jobs", len(j))
	}
}

func TestDeleteKeepsSharedCopy(t *testing.T) {
	e := admintest.New(t)
	ctx := t.Context()
	e.Quarantine(t, admintest.Item{ID: "d1", Recipients: []string{"alice@example.com", "bob@example.com"}, Sender: "x@spam.example", From: "x@spam.example", Reasons: []verdict.Code{verdict.Spam}, Time: t0})

	if _, err := e.Admin.Delete(ctx, "d1", []string{"alice@example.com"}, "ops", ""); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(t, "d1", "alice@example.com"); st != tracking.Deleted {
		t.Errorf("alice: %s", st)
	}
	if !e.Exists(t, "d1") {
		t.Fatal("copy removed while bob's is still quarantined")
	}
	res, err := e.Admin.Delete(ctx, "d1", nil, "ops", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Note != "not in quarantine" || res[1].Status != tracking.Deleted {
		t.Errorf("results %+v", res)
	}
	if e.Exists(t, "d1") {
		t.Error("copy kept after every recipient's was deleted")
	}
	if _, err := e.Admin.Release(ctx, admin.Release{MessageID: "d1"}); !errors.Is(err, admin.ErrNotQuarantined) {
		t.Errorf("release after delete: %v", err)
	}
}

func TestListSender(t *testing.T) {
	e := admintest.New(t)
	ctx := t.Context()
	e.Quarantine(t, admintest.Item{ID: "b1", Recipients: []string{"alice@example.com"}, Sender: "x@mail.spam.example", From: "", Reasons: []verdict.Code{verdict.Spam}, Time: t0})
	pat, err := e.Admin.ListSender(ctx, "b1", "alice@example.com", admin.ApproveDomain, policy.Blocked, "end user")
	if err != nil || pat != "*@mail.spam.example" {
		t.Fatalf("block domain: %q, %v", pat, err)
	}
	s, _ := e.Policies.UserSenders(ctx, "alice@example.com")
	if len(s) != 1 || s[0].List != policy.Blocked {
		t.Errorf("senders %+v", s)
	}
}

func TestEndUserVisible(t *testing.T) {
	r := func(cs ...verdict.Code) []verdict.Reason {
		var out []verdict.Reason
		for _, c := range cs {
			out = append(out, verdict.Reason{Code: c})
		}
		return out
	}
	for _, tc := range []struct {
		rs   []verdict.Reason
		want bool
	}{
		{r(verdict.Spam), true},
		{r(verdict.SPFFail, verdict.DNSBLListed), true},
		{r(verdict.Virus), false},
		{r(verdict.Spam, verdict.Executable), false},
		{r(verdict.Phish), false},
		{r(verdict.DMARCQuarantine), false},
		{r(verdict.ContentRule), false},
		{r(verdict.Spam, "some-future-code"), false},
		{nil, false},
	} {
		if got := admin.EndUserVisible(tc.rs); got != tc.want {
			t.Errorf("%v: %t, want %t", tc.rs, got, tc.want)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in, want  string
		max       int
		multiline bool
		cut       bool
	}{
		{"a\x1b[2Jb", "a[2Jb", 100, false, false},
		{"line1\r\nline2", "line1 line2", 100, false, false},
		{"p1\n\n\n\n\np2", "p1\n\np2", 100, true, false},
		{"a\u200bb\u202ec", "abc", 100, true, false},
		{"héllo wörld", "héllo", 5, false, true},
		{"bad\xffutf8", "badutf8", 100, false, false},
	} {
		got, cut := admin.Clean(tc.in, tc.max, tc.multiline)
		if got != tc.want || cut != tc.cut {
			t.Errorf("Clean(%q) = %q, %t; want %q, %t", tc.in, got, cut, tc.want, tc.cut)
		}
	}
}
