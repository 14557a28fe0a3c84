package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

var enqueued = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)

const id = "o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1"

func validJob() Job {
	return Job{
		MessageID: id, Key: "incoming/" + id, Sender: "alice@example.org",
		Domain: "example.com", Recipients: []string{"bob@example.com"}, Enqueued: enqueued,
	}
}

// The fixture is the wire format the delivery function reads; it must decode, validate and
// encode back to the same JSON.
func TestJobJSONFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/job.json")
	if err != nil {
		t.Fatal(err)
	}
	j, err := Decode(data)
	if err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	want := Job{
		MessageID: id, Key: "quarantine/" + id, Sender: "alice@example.org", Domain: "example.com",
		Recipients: []string{"bob@example.com", "carol@example.com"}, SubjectTag: "[SPAM] ",
		Headers: map[string]string{"X-Moat-Verdict": "tag; reason=spam"}, Released: true,
		Enqueued: enqueued, Attempt: 2,
	}
	if fmt.Sprint(j) != fmt.Sprint(want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", j, want)
	}
	out, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(out, '\n'), data) {
		t.Errorf("re-encoded job differs from the fixture:\n%s", out)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Job)
		ok   bool
	}{
		{"valid", func(*Job) {}, true},
		{"null sender (a bounce)", func(j *Job) { j.Sender = "" }, true},
		{"released from quarantine", func(j *Job) { j.Released, j.Key = true, "quarantine/"+id }, true},
		{"quoted local part", func(j *Job) { j.Recipients = []string{`"bob smith"@example.com`} }, true},
		{"recipient domain in upper case", func(j *Job) { j.Recipients = []string{"bob@EXAMPLE.com"} }, true},
		{"verdict header", func(j *Job) { j.Headers = map[string]string{"X-Moat-Verdict": "tag;\treason=spam"} }, true},
		{"100 recipients", func(j *Job) { j.Recipients = addrs(100, "example.com") }, true},

		{"bad message id", func(j *Job) { j.MessageID, j.Key = "../x", "incoming/../x" }, false},
		{"key of another message", func(j *Job) { j.Key = "incoming/other" }, false},
		{"released but incoming key", func(j *Job) { j.Released = true }, false},
		{"quarantine key but not released", func(j *Job) { j.Key = "quarantine/" + id }, false},
		{"sender without domain", func(j *Job) { j.Sender = "alice" }, false},
		{"sender with CRLF", func(j *Job) { j.Sender = "a@example.org\r\nRCPT TO:<x@y>" }, false},
		{"sender with brackets", func(j *Job) { j.Sender = "<a@example.org>" }, false},
		{"no domain", func(j *Job) { j.Domain = "" }, false},
		{"upper-case domain", func(j *Job) { j.Domain = "Example.com" }, false},
		{"no recipients", func(j *Job) { j.Recipients = nil }, false},
		{"101 recipients", func(j *Job) { j.Recipients = addrs(101, "example.com") }, false},
		{"recipient of another domain", func(j *Job) { j.Recipients = []string{"bob@example.net"} }, false},
		{"duplicate recipient", func(j *Job) { j.Recipients = []string{"bob@example.com", "bob@example.com"} }, false},
		{"space in recipient", func(j *Job) { j.Recipients = []string{"bob smith@example.com"} }, false},
		{"subject tag with newline", func(j *Job) { j.SubjectTag = "[SPAM]\r\nBcc: x@y" }, false},
		{"header outside X-Moat-", func(j *Job) { j.Headers = map[string]string{"Bcc": "x@example.net"} }, false},
		{"header name with colon", func(j *Job) { j.Headers = map[string]string{"X-Moat-A:": "v"} }, false},
		{"header value with newline", func(j *Job) { j.Headers = map[string]string{"X-Moat-A": "v\r\nBcc: x@y"} }, false},
		{"headers too large", func(j *Job) { j.Headers = map[string]string{"X-Moat-A": strings.Repeat("v", 9000)} }, false},
		{"no enqueued time", func(j *Job) { j.Enqueued = time.Time{} }, false},
		{"negative attempt", func(j *Job) { j.Attempt = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.edit(&j)
			err := j.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%t", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func addrs(n int, domain string) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("user%05d@%s", i, domain))
	}
	return out
}

func TestDecodeRefusesGarbage(t *testing.T) {
	for _, body := range []string{"", "{", "[]", `{"messageId":"x"}`, `{"recipients":"a@b"}`} {
		if _, err := Decode([]byte(body)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", body, err)
		}
	}
}

// FuzzDecode feeds queue bodies to Decode: it must not panic, and what it accepts must encode
// and decode to the same job.
func FuzzDecode(f *testing.F) {
	data, err := os.ReadFile("testdata/job.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"messageId":"a","key":"incoming/a","domain":"x.y","recipients":["a@x.y"],"enqueued":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := Decode(body)
		if err != nil {
			return
		}
		again, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		j2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded job does not decode: %v\n%s", err, again)
		}
		if !slices.Equal(j.Recipients, j2.Recipients) || j.Key != j2.Key || !j.Enqueued.Equal(j2.Enqueued) {
			t.Fatalf("round trip changed the job: %+v → %+v", j, j2)
		}
	})
}
