package localstack

import (
	"fmt"
	"net/smtp"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkMailFlow measures the local stack end to end: SMTP in, S3, the inbound handler
// (filter, tracking), the delivery queue, the delivery handler and the sink, for 2 KB messages
// sent by four concurrent clients. The emulator dominates; it says how fast one can try things
// locally, not how fast the deployed gateway is.
func BenchmarkMailFlow(b *testing.B) {
	s := startTest(b, Options{})
	body := strings.Repeat("Quarterly figures attached below, nothing unusual here.\r\n", 36)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				msg := fmt.Sprintf("From: carol@sender.example\r\nTo: alice@example.com\r\nSubject: n%d\r\n\r\n%s", i, body)
				if err := smtp.SendMail(s.SMTPAddr, nil, "carol@sender.example", []string{"alice@example.com"}, []byte(msg)); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	accepted := time.Since(start)
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(s.Delivered, "alice@example.com", "*.eml"))
		if len(files) >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered after 5 minutes", len(files), b.N)
		}
	}
	total := time.Since(start)
	b.ReportMetric(float64(b.N)/total.Seconds(), "msgs/s")
	b.ReportMetric(float64(accepted.Milliseconds())/float64(b.N), "ms-accept/msg")
}
