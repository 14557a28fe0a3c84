package events_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moatmail/moat/shared/filter"
	"github.com/moatmail/moat/shared/sesevent"
)

// TestSamplesDecode keeps every sample event valid and checks what each one is meant to show.
func TestSamplesDecode(t *testing.T) {
	tests := []struct {
		file       string
		recipients int
		check      func(filter.SES) bool
	}{
		{"clean.json", 1, func(v filter.SES) bool { return v.Spam == filter.Pass && v.Virus == filter.Pass }},
		{"multi-recipient.json", 3, func(v filter.SES) bool { return v.Spam == filter.Pass }},
		{"spam-fail.json", 1, func(v filter.SES) bool { return v.Spam == filter.Fail }},
		{"virus-fail.json", 1, func(v filter.SES) bool { return v.Virus == filter.Fail }},
		{"dmarc-reject.json", 1, func(v filter.SES) bool { return v.DMARC == filter.Fail && v.DMARCPolicy == "reject" }},
		{"truncated-headers.json", 1, func(filter.SES) bool { return true }},
	}
	files, _ := filepath.Glob("*.json")
	if len(files) != len(tests) {
		t.Errorf("%d sample events, %d tested: test every sample", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := sesevent.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			rec := ev.Records[0]
			if got := len(sesevent.Envelope(rec).Recipients); got != tt.recipients {
				t.Errorf("recipients = %d, want %d", got, tt.recipients)
			}
			if !tt.check(sesevent.Verdicts(rec)) {
				t.Errorf("verdicts %+v do not show what %s is for", sesevent.Verdicts(rec), tt.file)
			}
			if tt.file == "truncated-headers.json" && !rec.SES.Mail.HeadersTruncated {
				t.Error("headersTruncated is false")
			}
		})
	}
}
