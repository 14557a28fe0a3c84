package outbound

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeEvents: any payload decodes or fails, never panics; what decodes has a key and
// reasons for its recipients.
func FuzzDecodeEvents(f *testing.F) {
	files, _ := filepath.Glob("../../events/outbound/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, _, err := DecodeEvents(data)
		if err != nil {
			return
		}
		for _, ev := range evs {
			_ = ev.Key()
			for _, r := range ev.Recipients() {
				_ = ev.Reason(r)
			}
		}
	})
}
