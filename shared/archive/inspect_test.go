package archive_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/archive/archivetest"
	"github.com/moatmail/moat/shared/filetype"
)

var (
	exe  = append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), make([]byte, 100)...)
	text = []byte("Dear customer, please find the invoice attached.\r\n")
)

// inspect runs Inspect on data, detecting its format as the message parser does.
func inspect(data []byte, lim archive.Limits) archive.Report {
	return archive.Inspect(data, filetype.Detect(data), lim)
}

func exceeded(r archive.Report) string {
	s := make([]string, len(r.Exceeded))
	for i, l := range r.Exceeded {
		s[i] = string(l)
	}
	return strings.Join(s, ",")
}

func paths(r archive.Report) []string {
	var p []string
	for _, e := range r.Entries {
		p = append(p, e.Path)
	}
	return p
}

func entry(t *testing.T, r archive.Report, path string) archive.Entry {
	t.Helper()
	for _, e := range r.Entries {
		if e.Path == path {
			return e
		}
	}
	t.Fatalf("no entry %q in %q", path, paths(r))
	return archive.Entry{}
}

// readFile returns a fixture from testdata. The Go standard library cannot write bzip2, so these
// were made with Python's bz2, tarfile and zipfile:
//   - exe.tar.bz2: a tar holding bin/run.exe (an MZ header) and readme.txt;
//   - zeros.bz2: 100 MiB of zeros;
//   - methods.zip: notes.txt compressed with bzip2 (method 12), tool.exe with LZMA (method 14).
func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDepth(t *testing.T) {
	tests := []struct {
		layers    int
		depth     int
		exceeded  string
		leafFound bool
	}{
		{layers: 1, depth: 1, leafFound: true},
		{layers: 19, depth: 19, leafFound: true},
		{layers: 20, depth: 20, leafFound: true},
		{layers: 21, depth: 20, exceeded: "depth"},
		{layers: 40, depth: 20, exceeded: "depth"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d layers", tt.layers), func(t *testing.T) {
			r := inspect(archivetest.Nested(tt.layers, "run.exe", exe), archive.Limits{MaxDepth: 20})
			if r.Depth != tt.depth || exceeded(r) != tt.exceeded {
				t.Errorf("depth %d exceeded %q, want %d %q", r.Depth, exceeded(r), tt.depth, tt.exceeded)
			}
			last := r.Entries[len(r.Entries)-1]
			if found := last.Type == filetype.PE; found != tt.leafFound {
				t.Errorf("leaf found %v (last entry %s, %s)", found, last.Path, last.Type)
			}
			if tt.leafFound && last.Depth != tt.layers {
				t.Errorf("leaf at depth %d", last.Depth)
			}
		})
	}
}

func TestDepthPaths(t *testing.T) {
	r := inspect(archivetest.Nested(3, "run.exe", exe), archive.Limits{})
	want := []string{"layer2.zip", "layer2.zip/layer3.zip", "layer2.zip/layer3.zip/run.exe"}
	if !slices.Equal(paths(r), want) {
		t.Errorf("paths %q, want %q", paths(r), want)
	}
	if e := entry(t, r, want[2]); e.Type != filetype.PE || e.Depth != 3 || e.Size != int64(len(exe)) {
		t.Errorf("leaf %+v", e)
	}
}

// memDelta returns how many bytes f allocated on the heap.
func memDelta(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestBomb(t *testing.T) {
	bomb := archivetest.Bomb(10 << 30) // 10 GiB of zeros in about 10 MB
	tests := []struct {
		name string
		data []byte
	}{
		{"bomb", bomb},
		{"bomb stored in a zip", storedZip("invoice.zip", bomb)},
		{"bomb in a tar", archivetest.Tar(map[string][]byte{"invoice.zip": bomb})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := archive.DefaultLimits
			var r archive.Report
			alloc := memDelta(func() { r = inspect(tt.data, lim) })
			if exceeded(r) != "bytes" {
				t.Errorf("exceeded %q, want bytes", exceeded(r))
			}
			if r.Bytes > lim.MaxBytes+1 {
				t.Errorf("inflated %d bytes, past the limit of %d", r.Bytes, lim.MaxBytes)
			}
			// Reading 10 GiB into memory would allocate that much; the walker keeps at most a
			// nested archive (the 10 MB bomb) in memory and streams the rest.
			if alloc > 200<<20 {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
			t.Logf("allocated %d KiB", alloc>>10)
		})
	}
}

// storedZip returns a zip holding b uncompressed, as name.
func storedZip(name string, b []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	_, _ = w.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func TestRatio(t *testing.T) {
	random := make([]byte, 2<<20)
	rng := rand.NewChaCha8([32]byte{})
	_, _ = rng.Read(random)
	tests := []struct {
		name     string
		data     []byte
		exceeded string
		minRatio float64 // lower bound of MaxRatio
		maxRatio float64 // upper bound
	}{
		{"ratio bomb", archivetest.Bomb(50 << 20), "ratio", 100, 1100},
		{"ratio bomb in a tar.gz", archivetest.TarGz(map[string][]byte{"zeros.bin": make([]byte, 4<<20)}), "ratio", 100, 1100},
		{"zipped bomb", archivetest.Zip(map[string][]byte{"invoice.zip": archivetest.Bomb(1 << 30)}), "ratio", 100, 1e6},
		{"page of zeros", archivetest.Zip(map[string][]byte{"zeros.bin": make([]byte, 4096)}), "", 0, 0},
		{"1 MiB of zeros", archivetest.Bomb(1 << 20), "", 0, 0},
		{"incompressible", archivetest.Zip(map[string][]byte{"random.bin": random}), "", 0.9, 1.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inspect(tt.data, archive.Limits{})
			if exceeded(r) != tt.exceeded {
				t.Errorf("exceeded %q, want %q", exceeded(r), tt.exceeded)
			}
			if r.MaxRatio < tt.minRatio || r.MaxRatio > tt.maxRatio {
				t.Errorf("max ratio %g, want %g to %g", r.MaxRatio, tt.minRatio, tt.maxRatio)
			}
		})
	}
}

func manyFiles(n int) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		files[fmt.Sprintf("f%04d.txt", i)] = text
	}
	return files
}

func TestFiles(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		files    int
		exceeded string
	}{
		{"353 files", archivetest.Zip(manyFiles(353)), 353, ""},
		{"354 files", archivetest.Zip(manyFiles(354)), 354, "files"},
		{"353 files in a tar.gz", archivetest.TarGz(manyFiles(353)), 353, ""},
		{"354 files in a tar.gz", archivetest.TarGz(manyFiles(354)), 354, "files"},
		{"files across layers", archivetest.Zip(map[string][]byte{"a.zip": archivetest.Zip(manyFiles(200)), "b.zip": archivetest.Zip(manyFiles(200))}), 354, "files"},
		{"directories are not files", dirsAndFile(), 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inspect(tt.data, archive.Limits{MaxFiles: 353})
			if r.Files != tt.files || exceeded(r) != tt.exceeded {
				t.Errorf("files %d exceeded %q, want %d %q", r.Files, exceeded(r), tt.files, tt.exceeded)
			}
		})
	}
}

func dirsAndFile() []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"a/", "a/b/", "a/b/c.txt"} {
		_, _ = zw.Create(name)
	}
	_ = zw.Close()
	return buf.Bytes()
}

func TestEntriesCap(t *testing.T) {
	r := inspect(archivetest.Zip(manyFiles(1500)), archive.Limits{MaxFiles: 2000})
	if r.Files != 1500 || len(r.Entries) != archive.MaxEntries || len(r.Exceeded) != 0 {
		t.Errorf("files %d, entries %d, exceeded %q", r.Files, len(r.Entries), exceeded(r))
	}
}

func TestEncrypted(t *testing.T) {
	aes := func() []byte { // an entry with the WinZip AES method and no flag
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.CreateRaw(&zip.FileHeader{Name: "payload.exe", Method: 99, CompressedSize64: 4, UncompressedSize64: 4})
		_, _ = w.Write([]byte{1, 2, 3, 4})
		_ = zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		path string
	}{
		{"zipcrypto", archivetest.Encrypted("invoice.exe"), "invoice.exe"},
		{"aes", aes(), "payload.exe"},
		{"nested", archivetest.Zip(map[string][]byte{"inner.zip": archivetest.Encrypted("invoice.exe"), "a.txt": text}), "inner.zip/invoice.exe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inspect(tt.data, archive.Limits{})
			if !r.Encrypted || r.Corrupt != "" || len(r.Exceeded) != 0 {
				t.Errorf("encrypted %v, corrupt %q, exceeded %q", r.Encrypted, r.Corrupt, exceeded(r))
			}
			if e := entry(t, r, tt.path); !e.Encrypted || e.Type != filetype.Unknown {
				t.Errorf("entry %+v", e)
			}
		})
	}
	if r := inspect(archivetest.Zip(map[string][]byte{"a.txt": text}), archive.Limits{}); r.Encrypted {
		t.Error("a plain zip reported encrypted")
	}
}

func TestOOXML(t *testing.T) {
	docWithZip := archivetest.Zip(map[string][]byte{
		"[Content_Types].xml":         []byte("<Types/>"),
		"word/document.xml":           []byte("<w:document/>"),
		"word/embeddings/package.zip": archivetest.Zip(map[string][]byte{"run.exe": exe}),
		"word/embeddings/oleObject1.bin": append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
			make([]byte, 100)...),
	})
	tests := []struct {
		name     string
		data     []byte
		format   filetype.Type
		files    int
		macros   bool
		embedded int
		entries  []string
	}{
		{"600 parts", archivetest.OOXML(600, false), filetype.OOXML, 0, false, 0, nil},
		{"macros", archivetest.OOXML(3, true), filetype.OOXML, 0, true, 0, nil},
		{"embedded archive is walked", docWithZip, filetype.OOXML, 2, false, 2,
			[]string{"word/embeddings/package.zip", "word/embeddings/package.zip/run.exe"}},
		{"in a zip", archivetest.Zip(map[string][]byte{"report.docm": archivetest.OOXML(600, true)}), filetype.ZIP, 1, true, 0,
			[]string{"report.docm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inspect(tt.data, archive.Limits{MaxFiles: 353})
			if r.Format != tt.format || r.Files != tt.files || r.Macros != tt.macros || r.Embedded != tt.embedded {
				t.Errorf("format %s files %d macros %v embedded %d, want %s %d %v %d",
					r.Format, r.Files, r.Macros, r.Embedded, tt.format, tt.files, tt.macros, tt.embedded)
			}
			if len(r.Exceeded) != 0 || r.Corrupt != "" {
				t.Errorf("exceeded %q, corrupt %q", exceeded(r), r.Corrupt)
			}
			if !slices.Equal(paths(r), tt.entries) {
				t.Errorf("entries %q, want %q", paths(r), tt.entries)
			}
		})
	}
	t.Run("nested document is typed", func(t *testing.T) {
		r := inspect(archivetest.Zip(map[string][]byte{"report.docx": archivetest.OOXML(1, false)}), archive.Limits{})
		if e := entry(t, r, "report.docx"); e.Type != filetype.OOXML {
			t.Errorf("type %s", e.Type)
		}
	})
	t.Run("parts still count against bytes", func(t *testing.T) {
		r := inspect(archivetest.OOXML(600, false), archive.Limits{MaxBytes: 4 << 10})
		if exceeded(r) != "bytes" {
			t.Errorf("exceeded %q", exceeded(r))
		}
	})
	t.Run("document at the depth limit", func(t *testing.T) {
		// A document is not a layer: one at depth 20 is fine, an archive in it is not.
		doc := archivetest.Nested(20, "report.docx", archivetest.OOXML(10, false))
		if r := inspect(doc, archive.Limits{MaxDepth: 20}); len(r.Exceeded) != 0 || r.Depth != 20 {
			t.Errorf("depth %d, exceeded %q", r.Depth, exceeded(r))
		}
		doc = archivetest.Nested(20, "report.docx", docWithZip)
		if r := inspect(doc, archive.Limits{MaxDepth: 20}); exceeded(r) != "depth" {
			t.Errorf("depth %d, exceeded %q", r.Depth, exceeded(r))
		}
	})
}

func TestFormats(t *testing.T) {
	inner := archivetest.Zip(map[string][]byte{"run.exe": exe, "readme.txt": text})
	tests := []struct {
		name   string
		data   []byte
		format filetype.Type
		want   map[string]filetype.Type // path: type
		depth  int
	}{
		{"exe in zip in tar.gz", archivetest.TarGz(map[string][]byte{"docs/inner.zip": inner, "a.txt": text}), filetype.GZIP,
			map[string]filetype.Type{"a.txt": filetype.Text, "docs/inner.zip": filetype.ZIP, "docs/inner.zip/run.exe": filetype.PE, "docs/inner.zip/readme.txt": filetype.Text}, 2},
		{"tar", archivetest.Tar(map[string][]byte{"inner.zip": inner}), filetype.TAR,
			map[string]filetype.Type{"inner.zip": filetype.ZIP, "inner.zip/run.exe": filetype.PE, "inner.zip/readme.txt": filetype.Text}, 2},
		{"tar.gz whose first member looks like an executable", archivetest.TarGz(map[string][]byte{"MZ.txt": text, "run.exe": exe}), filetype.GZIP,
			map[string]filetype.Type{"MZ.txt": filetype.Text, "run.exe": filetype.PE}, 1},
		{"gzip of one file", gzipFile("invoice.exe", exe), filetype.GZIP, map[string]filetype.Type{"invoice.exe": filetype.PE}, 1},
		{"gzip without a name", gzipFile("", exe), filetype.GZIP, map[string]filetype.Type{"content": filetype.PE}, 1},
		{"gzip in a zip named after it", archivetest.Zip(map[string][]byte{"invoice.exe.gz": gzipFile("", exe)}), filetype.ZIP,
			map[string]filetype.Type{"invoice.exe.gz": filetype.GZIP, "invoice.exe.gz/invoice.exe": filetype.PE}, 2},
		{"tar.bz2", readFile(t, "exe.tar.bz2"), filetype.BZIP2, map[string]filetype.Type{"bin/run.exe": filetype.PE, "readme.txt": filetype.Text}, 1},
		{"zip methods", readFile(t, "methods.zip"), filetype.ZIP, map[string]filetype.Type{"notes.txt": filetype.Text, "tool.exe": filetype.Unknown}, 1},
		{"rar", []byte("Rar!\x1a\x07\x01\x00rest of a rar"), filetype.RAR, map[string]filetype.Type{}, 0},
		{"7z", []byte("7z\xbc\xaf\x27\x1c\x00\x04rest"), filetype.SevenZip, map[string]filetype.Type{}, 0},
		{"xz", []byte("\xfd7zXZ\x00\x00\x04rest"), filetype.XZ, map[string]filetype.Type{}, 0},
		{"rar in a zip", archivetest.Zip(map[string][]byte{"x.rar": []byte("Rar!\x1a\x07\x00rest")}), filetype.ZIP, map[string]filetype.Type{"x.rar": filetype.RAR}, 1},
		{"not an archive", []byte("%PDF-1.7"), filetype.PDF, map[string]filetype.Type{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inspect(tt.data, archive.Limits{})
			got := map[string]filetype.Type{}
			for _, e := range r.Entries {
				got[e.Path] = e.Type
			}
			if r.Format != tt.format || r.Depth != tt.depth || len(r.Exceeded) != 0 {
				t.Errorf("format %s depth %d exceeded %q, want %s %d", r.Format, r.Depth, exceeded(r), tt.format, tt.depth)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("entries %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("unsupported method is reported", func(t *testing.T) {
		r := inspect(readFile(t, "methods.zip"), archive.Limits{})
		if r.Corrupt != "zip: unsupported compression method 14" || r.Files != 2 {
			t.Errorf("corrupt %q, files %d", r.Corrupt, r.Files)
		}
	})
	t.Run("format detected when not given", func(t *testing.T) {
		if r := archive.Inspect(inner, "", archive.Limits{}); r.Format != filetype.ZIP || r.Files != 2 {
			t.Errorf("format %s files %d", r.Format, r.Files)
		}
	})
	t.Run("bzip2 bomb", func(t *testing.T) {
		zeros := readFile(t, "zeros.bz2") // 100 MiB of zeros
		if r := inspect(zeros, archive.Limits{}); exceeded(r) != "ratio" {
			t.Errorf("exceeded %q", exceeded(r))
		}
		if r := inspect(zeros, archive.Limits{MaxRatio: 1e9, MaxBytes: 4 << 20}); exceeded(r) != "bytes" || r.Bytes > 4<<20+1 {
			t.Errorf("exceeded %q after %d bytes", exceeded(r), r.Bytes)
		}
	})
}

func TestTar(t *testing.T) {
	log := bytes.Repeat(text, 20000) // 1 MB
	logs := archivetest.Tar(map[string][]byte{"a.log": log})
	t.Run("members are read in place", func(t *testing.T) {
		r := inspect(logs, archive.Limits{})
		if r.Bytes != 0 || entry(t, r, "a.log").Size != int64(len(log)) {
			t.Errorf("bytes %d, entries %+v", r.Bytes, r.Entries)
		}
	})
	t.Run("a tar in a zip counts once", func(t *testing.T) {
		r := inspect(archivetest.Zip(map[string][]byte{"logs.tar": logs}), archive.Limits{})
		if r.Bytes != int64(len(logs)) || r.Files != 2 {
			t.Errorf("bytes %d, files %d; the tar is %d bytes", r.Bytes, r.Files, len(logs))
		}
	})
	t.Run("a tar in gzip counts as the gzip output", func(t *testing.T) {
		r := inspect(archivetest.TarGz(map[string][]byte{"a.log": log}), archive.Limits{})
		if r.Bytes != int64(len(logs)) || r.Files != 1 {
			t.Errorf("bytes %d, files %d; the tar is %d bytes", r.Bytes, r.Files, len(logs))
		}
	})
	t.Run("sparse member", func(t *testing.T) {
		r := inspect(gnuSparse(archivetest.Tar(map[string][]byte{"holes.zip": []byte("PK\x03\x04")})), archive.Limits{})
		if r.Corrupt != "tar: sparse file not inspected" || r.Files != 0 {
			t.Errorf("corrupt %q, files %d", r.Corrupt, r.Files)
		}
	})
	t.Run("member cut short", func(t *testing.T) {
		data := archivetest.Tar(map[string][]byte{"run.exe": exe})
		r := inspect(data[:512+20], archive.Limits{})
		if r.Corrupt == "" || entry(t, r, "run.exe").Type != filetype.PE {
			t.Errorf("corrupt %q, entries %+v", r.Corrupt, r.Entries)
		}
	})
}

func TestCorrupt(t *testing.T) {
	good := archivetest.Zip(map[string][]byte{"a.txt": bytes.Repeat(text, 20), "run.exe": exe})
	flipped := bytes.Clone(good)
	flipped[40] ^= 0xff // inside a.txt's deflate stream
	tests := []struct {
		name    string
		data    []byte
		format  filetype.Type
		corrupt string
		found   []string
	}{
		{"truncated zip", good[:len(good)/2], filetype.ZIP, "zip: not a valid zip file", nil},
		{"not a zip", []byte("hello"), filetype.ZIP, "zip: not a valid zip file", nil},
		{"corrupt entry", flipped, filetype.ZIP, "zip: ", []string{"a.txt", "run.exe"}},
		{"truncated gzip", archivetest.TarGz(map[string][]byte{"a.txt": text, "b.txt": text})[:40], filetype.GZIP, "unexpected EOF", nil},
		{"not a gzip", []byte("\x1f\x8b\x08hello"), filetype.GZIP, "gzip:", nil},
		{"not a tar", bytes.Repeat([]byte("x"), 1024), filetype.TAR, "tar: invalid tar header", nil},
		{"not a bzip2", []byte("BZh9garbage"), filetype.BZIP2, "bzip2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := archive.Inspect(tt.data, tt.format, archive.Limits{})
			if !strings.Contains(r.Corrupt, tt.corrupt) || r.Corrupt == "" {
				t.Errorf("corrupt %q, want %q", r.Corrupt, tt.corrupt)
			}
			for _, p := range tt.found {
				entry(t, r, p)
			}
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		for _, data := range [][]byte{good, archivetest.Nested(3, "run.exe", exe), archivetest.TarGz(map[string][]byte{"a.zip": good})} {
			for n := range len(data) {
				r := inspect(data[:n], archive.Limits{})
				if r.Corrupt == "" && r.Files == 0 && len(r.Exceeded) == 0 && filetype.Detect(data[:n]).Archive() {
					t.Errorf("%d of %d bytes: nothing found and nothing wrong", n, len(data))
				}
			}
		}
	})
}

// gzipFile returns b gzipped, with name in the header if not empty.
func gzipFile(name string, b []byte) []byte {
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	gw.Name = name
	_, _ = gw.Write(b)
	_ = gw.Close()
	return buf.Bytes()
}

// setSizes overwrites the sizes declared for the only entry of a zip, in its local and central
// headers.
func setSizes(data []byte, compressed, uncompressed uint32) []byte {
	data = bytes.Clone(data)
	binary.LittleEndian.PutUint32(data[18:], compressed)
	binary.LittleEndian.PutUint32(data[22:], uncompressed)
	c := bytes.Index(data, []byte("PK\x01\x02"))
	binary.LittleEndian.PutUint32(data[c+20:], compressed)
	binary.LittleEndian.PutUint32(data[c+24:], uncompressed)
	return data
}

func TestLyingHeaders(t *testing.T) {
	bomb := archivetest.Bomb(50 << 20)
	small := archivetest.Zip(map[string][]byte{"run.exe": exe})
	tests := []struct {
		name     string
		data     []byte
		lim      archive.Limits
		exceeded string
		size     int64 // of the first entry
	}{
		{"bomb claiming 1 KiB", setSizes(bomb, uint32(len(bomb)-200), 1024), archive.Limits{MaxRatio: 1e9, MaxBytes: 8 << 20}, "bytes", 8<<20 + 1},
		{"bomb claiming a big compressed size", setSizes(bomb, 1<<31, 1024), archive.Limits{}, "ratio", -1},
		{"file claiming 4 GiB", setSizes(small, uint32(len(small)-200), 1<<32-1), archive.Limits{}, "", int64(len(exe))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inspect(tt.data, tt.lim)
			if exceeded(r) != tt.exceeded {
				t.Errorf("exceeded %q, want %q (corrupt %q)", exceeded(r), tt.exceeded, r.Corrupt)
			}
			if len(r.Entries) != 1 {
				t.Fatalf("entries %q", paths(r))
			}
			if tt.size >= 0 && r.Entries[0].Size != tt.size {
				t.Errorf("size %d, want %d", r.Entries[0].Size, tt.size)
			}
		})
	}
}

// repeatDirectory returns data, a zip, with its central directory written n times over, so
// that n entries share each entry's data.
func repeatDirectory(data []byte, n int) []byte {
	end := len(data) - 22 // no archive comment
	records := binary.LittleEndian.Uint16(data[end+10:])
	size := binary.LittleEndian.Uint32(data[end+12:])
	offset := binary.LittleEndian.Uint32(data[end+16:])
	out := bytes.Clone(data[:offset])
	for range n {
		out = append(out, data[offset:offset+size]...)
	}
	eocd := bytes.Clone(data[end:])
	binary.LittleEndian.PutUint16(eocd[8:], records*uint16(n))
	binary.LittleEndian.PutUint16(eocd[10:], records*uint16(n))
	binary.LittleEndian.PutUint32(eocd[12:], size*uint32(n))
	return append(out, eocd...)
}

func TestOverlappingEntries(t *testing.T) {
	random := make([]byte, 64<<10)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(random)
	data := repeatDirectory(archivetest.Zip(map[string][]byte{"a.bin": random}), 100)
	r := inspect(data, archive.Limits{})
	if r.Corrupt != "zip: entries overlap" || r.Files > 2 {
		t.Errorf("corrupt %q after %d files", r.Corrupt, r.Files)
	}
}

func TestPathsAreCleaned(t *testing.T) {
	long := strings.Repeat("é", 200) + ".exe" // 404 bytes
	r := inspect(archivetest.Zip(map[string][]byte{long: exe, "bad\xff.txt": text}), archive.Limits{})
	for _, e := range r.Entries {
		if len(e.Path) > 255+3 || !utf8.ValidString(e.Path) {
			t.Errorf("path %q (%d bytes)", e.Path, len(e.Path))
		}
	}
}

func TestDefaults(t *testing.T) {
	data := archivetest.Zip(manyFiles(354))
	if a, b := inspect(data, archive.Limits{}), inspect(data, archive.DefaultLimits); exceeded(a) != "files" || exceeded(b) != "files" {
		t.Errorf("zero limits: %q, default limits: %q", exceeded(a), exceeded(b))
	}
	if r := inspect(data, archive.Limits{MaxFiles: -1, MaxBytes: -1, MaxDepth: -1, MaxRatio: -1}); exceeded(r) != "files" {
		t.Errorf("negative limits: %q", exceeded(r))
	}
}

func TestReportsAreIndependent(t *testing.T) {
	// Inspections share buffers; a report must not change when the next inspection runs.
	a := inspect(archivetest.Nested(2, "run.exe", exe), archive.Limits{})
	want := fmt.Sprint(a)
	_ = inspect(archivetest.Zip(manyFiles(50)), archive.Limits{})
	if got := fmt.Sprint(a); got != want {
		t.Errorf("report changed:\n%s\n%s", want, got)
	}
}

func TestConcurrent(t *testing.T) {
	inputs := [][]byte{
		archivetest.Nested(4, "run.exe", exe),
		archivetest.TarGz(map[string][]byte{"a.zip": archivetest.Zip(manyFiles(10))}),
		archivetest.OOXML(20, true),
		archivetest.Bomb(8 << 20),
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i] = fmt.Sprint(inspect(in, archive.Limits{}))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 20 {
				i := (g + k) % len(inputs)
				if got := fmt.Sprint(inspect(inputs[i], archive.Limits{})); got != want[i] {
					t.Errorf("input %d: %s, want %s", i, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkInspectSmallZip(b *testing.B) {
	data := archivetest.Zip(map[string][]byte{
		"invoice.pdf": append([]byte("%PDF-1.7\n"), bytes.Repeat(text, 200)...),
		"readme.txt":  bytes.Repeat(text, 20),
		"logo.png":    append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 2000)...),
	})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		archive.Inspect(data, filetype.ZIP, archive.Limits{})
	}
}

// gnuSparse turns the first member of a tar into an old GNU sparse file of 1 GiB, all holes but
// for the member's data at the start.
func gnuSparse(data []byte) []byte {
	data = bytes.Clone(data)
	h := data[:512]
	h[156] = 'S'
	copy(h[257:], "ustar  \x00")
	size := strings.TrimRight(string(h[124:136]), "\x00 ") // the physical size, in octal
	copy(h[386:], fmt.Sprintf("%011o\x00%s\x00", 0, size)) // one fragment: offset 0, that size
	copy(h[483:], fmt.Sprintf("%011o\x00", 1<<30))         // the real size
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return data
}
