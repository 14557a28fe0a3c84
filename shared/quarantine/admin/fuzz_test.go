package admin_test

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/quarantine/admin"
)

// FuzzClean checks Clean's promises on any input: valid UTF-8, no control or format characters
// (newlines only when multiline), at most max characters, no more than one blank line in a row.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"a\x1b[2Jb", "p1\n\n\n\np2", "a\u202eb\u200b", "bad\xff", "\r\n\t x"} {
		f.Add(s, 10, true)
	}
	f.Fuzz(func(t *testing.T, in string, max int, multiline bool) {
		if max < 0 || max > 1000 {
			return
		}
		out, _ := admin.Clean(in, max, multiline)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q", in)
		}
		if n := utf8.RuneCountInString(out); n > max {
			t.Fatalf("%d characters, max %d", n, max)
		}
		for _, r := range out {
			if r == '\n' && multiline {
				continue
			}
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("%U in %q (from %q)", r, out, in)
			}
		}
	})
}
