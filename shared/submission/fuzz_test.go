package submission

import (
	"errors"
	"testing"
)

func FuzzExtract(f *testing.F) {
	f.Add("a.eml", eml())
	f.Add("a.msg", msgFile(transportHeaders, "body", "<p>html</p>"))
	f.Add("a.zip", []byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		ms, err := Extract(name, data)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error %v is not a refusal", err)
		}
		for _, m := range ms {
			if len(m.Raw) == 0 || len(m.Raw) > MaxMessageBytes+1<<20 {
				t.Fatalf("message %q of %d bytes", m.Name, len(m.Raw))
			}
		}
	})
}
