package digest

import (
	"strconv"
	"testing"
	"time"

	"github.com/moatmail/moat/shared/euq"
	"github.com/moatmail/moat/shared/token"
)

// BenchmarkRender measures one full digest: 100 entries, five signed links each, rendered as
// text and HTML and encoded.
func BenchmarkRender(b *testing.B) {
	s, _ := token.New([]byte("bench-key-0123456789abcdef0123456789"))
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		d := Digest{From: "quarantine@example.com", To: "alice@example.com", Date: now, Expiry: 30}
		for i := range MaxItems {
			id := "m" + strconv.Itoa(i)
			links, err := actionLinks("https://x.lambda-url.eu-west-1.on.aws/", func(a euq.Action) (string, error) {
				return s.Make(token.Claims{Purpose: string(a), MessageID: id, Recipient: d.To, Expires: now.Add(time.Hour).Unix()})
			})
			if err != nil {
				b.Fatal(err)
			}
			d.Entries = append(d.Entries, Entry{Time: now, From: "offers@spam.example", Subject: "Offer " + id, Reason: "spam", Links: links})
		}
		raw, err := Render(d)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(raw)), "bytes/digest")
	}
}
