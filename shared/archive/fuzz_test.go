package archive_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/archive/archivetest"
	"github.com/moatmail/moat/shared/filetype"
)

// fuzzFormats are the formats FuzzInspect forces on its input, besides the detected one, so
// that every reader meets arbitrary bytes.
var fuzzFormats = []filetype.Type{"", filetype.ZIP, filetype.GZIP, filetype.TAR, filetype.BZIP2}

func FuzzInspect(f *testing.F) {
	exe := []byte("MZ\x90\x00\x03\x00\x00\x00")
	seeds := [][]byte{
		archivetest.Zip(map[string][]byte{"a.txt": []byte("hello"), "run.exe": exe}),
		archivetest.Nested(3, "run.exe", exe),
		archivetest.Encrypted("secret.exe"),
		archivetest.OOXML(3, true),
		archivetest.TarGz(map[string][]byte{"docs/inner.zip": archivetest.Zip(map[string][]byte{"run.exe": exe})}),
		archivetest.Tar(map[string][]byte{"a.txt": []byte("hello")}),
		archivetest.Bomb(2 << 20),
		gzipFile("run.exe", exe),
	}
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			seeds = append(seeds, b)
		}
	}
	for _, s := range seeds {
		for i := range fuzzFormats {
			f.Add(s, uint8(i))
		}
	}
	lim := archive.Limits{MaxDepth: 6, MaxBytes: 4 << 20, MaxFiles: 60, MaxRatio: 100}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		format := fuzzFormats[int(which)%len(fuzzFormats)]
		r := archive.Inspect(data, format, lim)
		if len(r.Exceeded) > 1 {
			t.Errorf("exceeded %v: inspection goes on after a limit", r.Exceeded)
		}
		if r.Bytes > lim.MaxBytes+1 || r.Files > lim.MaxFiles+1 || r.Depth > lim.MaxDepth {
			t.Errorf("bytes %d, files %d, depth %d past the limits", r.Bytes, r.Files, r.Depth)
		}
		if len(r.Entries) > r.Files || len(r.Entries) > archive.MaxEntries {
			t.Errorf("%d entries for %d files", len(r.Entries), r.Files)
		}
		if slices.Contains(r.Exceeded, archive.LimitRatio) != (r.MaxRatio > lim.MaxRatio) {
			t.Errorf("max ratio %g, exceeded %v", r.MaxRatio, r.Exceeded)
		}
		for _, e := range r.Entries {
			if e.Depth < 1 || e.Depth > r.Depth || e.Size < 0 || !utf8.ValidString(e.Path) {
				t.Errorf("entry %+v in a report of depth %d", e, r.Depth)
			}
		}
	})
}
