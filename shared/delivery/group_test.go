package delivery

import (
	"fmt"
	"slices"
	"testing"
)

func TestGroup(t *testing.T) {
	base := Job{MessageID: id, Key: "incoming/" + id, Sender: "alice@example.org", Enqueued: enqueued}
	spam := map[string]string{"X-Moat-Verdict": "tag", "X-Moat-Reason": "spam"}
	spamAgain := map[string]string{"X-Moat-Reason": "spam", "X-Moat-Verdict": "tag"} // same set, built separately
	jobs, err := Group(base, []Recipient{
		{Addr: "a@example.com"},
		{Addr: "b@example.net"},
		{Addr: "c@example.com", SubjectTag: "[SPAM] ", Headers: spam},
		{Addr: "d@EXAMPLE.com"},
		{Addr: "e@example.com", SubjectTag: "[SPAM] ", Headers: spamAgain},
		{Addr: "f@example.com", SubjectTag: "[SPAM] "}, // same tag, no headers: another version
		{Addr: "a@Example.COM", SubjectTag: "[SPAM] "}, // a again: delivered once, as first listed
	})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		domain, tag string
		headers     int
		rcpts       []string
	}
	want := []got{
		{"example.com", "", 0, []string{"a@example.com", "d@EXAMPLE.com"}},
		{"example.net", "", 0, []string{"b@example.net"}},
		{"example.com", "[SPAM] ", 2, []string{"c@example.com", "e@example.com"}},
		{"example.com", "[SPAM] ", 0, []string{"f@example.com"}},
	}
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs, want %d: %+v", len(jobs), len(want), jobs)
	}
	for i, j := range jobs {
		g := got{j.Domain, j.SubjectTag, len(j.Headers), j.Recipients}
		if fmt.Sprint(g) != fmt.Sprint(want[i]) {
			t.Errorf("job %d: %+v, want %+v", i, g, want[i])
		}
		if j.MessageID != id || j.Sender != "alice@example.org" || !j.Enqueued.Equal(enqueued) {
			t.Errorf("job %d lost the base fields: %+v", i, j)
		}
		if err := j.Validate(); err != nil {
			t.Errorf("job %d: %v", i, err)
		}
	}
	// Jobs own their headers: changing one job's map leaves the caller's and the others' alone.
	jobs[2].Headers["X-Moat-Reason"] = "changed"
	if spam["X-Moat-Reason"] != "spam" {
		t.Error("Group shares the caller's header map")
	}
}

func TestGroupSplitsLargeGroups(t *testing.T) {
	var rcpts []Recipient
	for _, a := range addrs(250, "example.com") {
		rcpts = append(rcpts, Recipient{Addr: a})
	}
	jobs, err := Group(Job{MessageID: id, Key: "incoming/" + id, Enqueued: enqueued}, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var all []string
	for _, j := range jobs {
		sizes = append(sizes, len(j.Recipients))
		all = append(all, j.Recipients...)
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Errorf("job sizes %v, want [100 100 50]", sizes)
	}
	if !slices.Equal(all, addrs(250, "example.com")) {
		t.Error("recipients lost, duplicated or reordered")
	}
	// Chunks must not share a backing array: appending to one must not change the next.
	jobs[0].Recipients = append(jobs[0].Recipients, "x@example.com")
	if jobs[1].Recipients[0] != "user00100@example.com" {
		t.Error("chunks share memory")
	}
}

func TestGroupRefusesBadAddress(t *testing.T) {
	for _, addr := range []string{"", "nobody", "a@", "@example.com", "a@b\r\nc"} {
		if _, err := Group(Job{MessageID: id}, []Recipient{{Addr: "ok@example.com"}, {Addr: addr}}); err == nil {
			t.Errorf("Group accepted %q", addr)
		}
	}
}

func ExampleGroup() {
	base := Job{MessageID: "o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1", Key: "incoming/o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1", Sender: "alice@example.org"}
	tagged := map[string]string{"X-Moat-Verdict": "tag; reason=spam"}
	jobs, _ := Group(base, []Recipient{
		{Addr: "bob@example.com"},
		{Addr: "carol@example.com", SubjectTag: "[SPAM] ", Headers: tagged},
		{Addr: "dave@example.net"},
		{Addr: "erin@example.com"},
	})
	for _, j := range jobs {
		fmt.Printf("%s %q %v\n", j.Domain, j.SubjectTag, j.Recipients)
	}
	// Output:
	// example.com "" [bob@example.com erin@example.com]
	// example.com "[SPAM] " [carol@example.com]
	// example.net "" [dave@example.net]
}
