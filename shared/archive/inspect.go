package archive

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/filetype"
)

const (
	ratioFloor   = 1 << 20 // a stream's ratio is tested once it has produced more than this
	maxComponent = 255     // bytes kept of each name in Entry.Path
	maxDirectory = 1 << 16 // zip central directory records parsed at most in one layer
	nestKeep     = 1 << 20 // nested-archive buffers up to this size are kept for the next call

	zipBZIP2 = 12 // zip compression method: bzip2
	zipAES   = 99 // zip compression method: WinZip AES encryption
)

// errStop ends reading once a limit is hit. It is never reported as corruption.
var errStop = errors.New("archive: limit reached")

var centralHeader = []byte("PK\x01\x02")

// Inspect walks the archive in data, of the given format (Detect's answer if format is empty),
// within lim, and reports what it found. A zip that turns out to be an Office Open XML document
// is reported with Format OOXML. A format that is not an archive gives a Report with only
// Format set.
func Inspect(data []byte, format filetype.Type, lim Limits) Report {
	if format == "" {
		format = filetype.Detect(data)
	}
	w := walkers.Get().(*walker)
	w.start(lim)
	w.rep.Format = format
	if w.walk(data, format, 1, "") {
		w.rep.Format = filetype.OOXML
	}
	rep := w.rep
	w.release()
	walkers.Put(w)
	return rep
}

// walkers recycles the buffers and the deflate reader between inspections.
var walkers = sync.Pool{New: func() any { return &walker{buf: make([]byte, 32<<10)} }}

// walker is the state of one inspection.
type walker struct {
	lim  Limits
	rep  Report
	stop bool // a limit was hit

	head [filetype.HeadSize]byte // the first bytes of the file being read
	buf  []byte                  // for reading what is measured but not kept
	nest [][]byte                // per depth, the content of the nested archive being walked

	// Zip entries are read one at a time: a nested archive is read whole before it is walked,
	// so one set serves every layer.
	zr bytes.Reader  // the compressed data of the current zip entry
	fl io.ReadCloser // deflate reader, reset for each entry
	zm meter         // meters the current zip entry
}

func (w *walker) start(lim Limits) {
	d := DefaultLimits
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = d.MaxDepth
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = d.MaxBytes
	}
	if lim.MaxFiles <= 0 {
		lim.MaxFiles = d.MaxFiles
	}
	if !(lim.MaxRatio > 0) { // zero, negative or NaN
		lim.MaxRatio = d.MaxRatio
	}
	w.lim, w.rep, w.stop = lim, Report{}, false
}

// release drops what must not outlive the inspection: the report, big buffers, and references
// into the caller's data.
func (w *walker) release() {
	w.rep = Report{}
	for i, b := range w.nest {
		if cap(b) > nestKeep {
			w.nest[i] = nil
		}
	}
	w.zr.Reset(nil)
	w.zm = meter{}
}

// walk walks an archive of type t whose files sit at depth, at path prefix ("" for the
// attachment). It reports whether data was an Office Open XML package.
func (w *walker) walk(data []byte, t filetype.Type, depth int, prefix string) bool {
	switch t {
	case filetype.ZIP, filetype.OOXML:
		return w.walkZip(data, depth, prefix)
	case filetype.GZIP, filetype.BZIP2, filetype.TAR:
		if depth > w.lim.MaxDepth {
			w.exceed(LimitDepth)
			return false
		}
		if t == filetype.TAR {
			w.walkTar(nil, data, depth, prefix)
		} else {
			w.walkStream(data, t, depth, prefix)
		}
	}
	return false
}

// walkZip walks the zip in data. Its entries are read straight from data: archive/zip finds
// them, but the walker meters each entry's compressed bytes itself.
func (w *walker) walkZip(data []byte, depth int, prefix string) bool {
	if len(data)/46 > maxDirectory && bytes.Count(data, centralHeader) > max(maxDirectory, w.lim.MaxFiles) {
		w.exceed(LimitFiles) // a central directory record takes at least 46 bytes
		return false
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		w.fail("zip", err)
		return false
	}
	ooxml := false
	for _, f := range zr.File {
		if strings.EqualFold(f.Name, "[Content_Types].xml") {
			ooxml = true
			break
		}
	}
	if !ooxml && depth > w.lim.MaxDepth {
		w.exceed(LimitDepth)
		return ooxml
	}
	var spanned uint64 // compressed bytes of the entries read so far
	for _, f := range zr.File {
		if w.stop {
			break
		}
		name := f.Name
		if strings.HasSuffix(name, "/") {
			continue // a directory
		}
		if ooxml {
			w.rep.Macros = w.rep.Macros || strings.EqualFold(base(name), "vbaProject.bin")
			if strings.Contains(name, "/embeddings/") {
				w.rep.Embedded++
			}
		}
		if f.Flags&0x1 != 0 || f.Method == zipAES {
			w.rep.Encrypted = true
			if w.count(depth) {
				w.record(Entry{Path: join(prefix, name), Type: filetype.Unknown, Depth: depth, Encrypted: true})
			}
			continue
		}
		off, err := f.DataOffset()
		if err == nil && off > int64(len(data)) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			w.fail("zip", err)
			continue
		}
		size := min(f.CompressedSize64, uint64(len(data)-int(off)))
		// Entries of a sound zip do not overlap, so together they span no more than the zip.
		// Overlapping entries unpack the same bytes again and again: a bomb, or a way to make
		// the walker parse the same data at no cost to the sender.
		if spanned += size; spanned > uint64(len(data)) {
			w.corrupt("zip: entries overlap")
			break
		}
		w.zr.Reset(data[off : off+int64(size)])
		var src io.Reader
		switch f.Method {
		case zip.Store:
			src = &w.zr
		case zip.Deflate:
			src = w.inflate()
		case zipBZIP2:
			src = bzip2.NewReader(&w.zr)
		default:
			if w.count(depth) {
				w.record(Entry{Path: join(prefix, name), Type: filetype.Unknown, Depth: depth})
			}
			w.corrupt(fmt.Sprintf("zip: unsupported compression method %d", f.Method))
			continue
		}
		w.zm = meter{w: w, r: src, src: &w.zr, in: int64(size), check: true, want: f.CRC32}
		w.file(member{kind: "zip", name: name, r: &w.zm, m: &w.zm, part: ooxml}, depth, prefix)
	}
	return ooxml
}

// inflate returns the deflate reader over w.zr, reset.
func (w *walker) inflate() io.Reader {
	if w.fl == nil {
		w.fl = flate.NewReader(&w.zr)
	} else if err := w.fl.(flate.Resetter).Reset(&w.zr, nil); err != nil {
		w.fl = flate.NewReader(&w.zr)
	}
	return w.fl
}

// walkStream walks a gzip or bzip2 layer: a tar inside is walked as part of this layer;
// anything else is the layer's one file, named in the gzip header or after the compressed file.
func (w *walker) walkStream(data []byte, t filetype.Type, depth int, prefix string) {
	kind, name := string(t), unpackedName(prefix)
	src := bytes.NewReader(data)
	var dec io.Reader
	if t == filetype.GZIP {
		gr, err := gzip.NewReader(src)
		if err != nil {
			w.fail(kind, err)
			return
		}
		if n := base(gr.Name); n != "" {
			name = n
		}
		dec = gr
	} else {
		dec = bzip2.NewReader(src)
	}
	m := &meter{w: w, r: dec, src: src, in: int64(len(data))}
	br := bufio.NewReaderSize(m, 4<<10)
	head, err := br.Peek(filetype.HeadSize)
	if err != nil && err != io.EOF {
		w.fail(kind, err)
		return
	}
	// Only the tar signature counts here: Detect puts executables first, and the name of the
	// first member could make a tarball look like one.
	if len(head) >= 262 && string(head[257:262]) == "ustar" {
		w.walkTar(br, nil, depth, prefix)
		w.finish(m)
		return
	}
	w.file(member{kind: kind, name: name, r: br, m: m}, depth, prefix)
}

// walkTar walks a tar: the stream r coming out of gzip or bzip2, or else data, in memory, whose
// members are read in place.
func (w *walker) walkTar(r io.Reader, data []byte, depth int, prefix string) {
	var src *bytes.Reader
	if r == nil {
		src = bytes.NewReader(data)
		r = src
	}
	tr := tar.NewReader(r)
	for !w.stop {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			w.fail("tar", err)
			return
		}
		switch {
		case hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeCont && hdr.Typeflag != tar.TypeGNUSparse:
			continue // not a file
		case sparse(hdr):
			// The tar reader fills the holes of a sparse file itself, bytes no stream has
			// produced or metered: such a member could be made of nothing but holes.
			w.corrupt("tar: sparse file not inspected")
			continue
		}
		f := member{kind: "tar", name: hdr.Name, r: tr}
		if src != nil {
			// The tar reader reads no further than the member's header: its content starts
			// where the reader stands, and the next call to Next skips it.
			off := int64(len(data)) - int64(src.Len())
			end := off + min(hdr.Size, int64(src.Len()))
			f.r, f.data = nil, data[off:end]
		}
		w.file(f, depth, prefix)
	}
}

func sparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// member is one file of a layer, to be read by walker.file.
type member struct {
	kind string    // the layer's format, for corruption reports: "zip", "tar", "gzip", "bzip2"
	name string    // its name in the layer
	data []byte    // its content, when the layer is in memory (a bare tar), r being nil
	r    io.Reader // else its content as a stream, metered
	m    *meter    // the meter of its own compressed stream (a zip entry, a gzip holding one file)
	part bool      // a part of an Office Open XML package
}

// file reads one file f of a layer at depth: it detects the type from the first bytes, counts
// and records the file, measures the rest or, for an archive, keeps it in memory and walks it as
// the next layer. A part of an OOXML package is counted and recorded only when it is an archive
// or an executable.
func (w *walker) file(f member, depth int, prefix string) {
	var head []byte
	var err error
	if f.r == nil {
		head = f.data[:min(len(f.data), filetype.HeadSize)]
	} else {
		var n int
		n, err = io.ReadFull(f.r, w.head[:])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = nil // a file shorter than the head
		}
		head = w.head[:n]
	}
	t := filetype.Detect(head)
	if f.part && !t.Archive() && !t.Executable() {
		if err == nil {
			_, err = w.drain(f.r)
		}
		if err != nil {
			w.fail(f.kind, err)
			return
		}
		w.finish(f.m)
		return
	}
	if !w.count(depth) {
		return
	}
	path := join(prefix, f.name)
	i := w.record(Entry{Path: path, Type: t, Depth: depth})
	size := int64(len(head))
	walk := t == filetype.ZIP || t == filetype.GZIP || t == filetype.BZIP2 || t == filetype.TAR
	var nested []byte
	switch {
	case err != nil:
	case t.Archive() && t != filetype.ZIP && depth >= w.lim.MaxDepth:
		// It would be a layer too many. (A zip may be an Office document, which is not a layer:
		// walkZip decides.)
		w.exceed(LimitDepth)
		return
	case f.r == nil:
		size, nested = int64(len(f.data)), f.data
	case walk:
		nested, err = w.readAll(depth, head, f.r)
		size = int64(len(nested))
	default: // not an archive, or one the standard library cannot open (rar, 7z, xz)
		var k int64
		k, err = w.drain(f.r)
		size += k
	}
	if i >= 0 {
		w.rep.Entries[i].Size = size
	}
	if err != nil {
		w.fail(f.kind, err)
		return
	}
	if !w.finish(f.m) || !walk {
		return
	}
	if w.walk(nested, t, depth+1, path) && i >= 0 {
		w.rep.Entries[i].Type = filetype.OOXML
	}
}

// count counts a file at depth, and reports whether the limits allow it.
func (w *walker) count(depth int) bool {
	if depth > w.lim.MaxDepth {
		w.exceed(LimitDepth)
		return false
	}
	w.rep.Files++
	if w.rep.Files > w.lim.MaxFiles {
		w.exceed(LimitFiles)
		return false
	}
	w.rep.Depth = max(w.rep.Depth, depth)
	return true
}

// record keeps e, if there is room, and returns its index in the report (-1 if not kept).
func (w *walker) record(e Entry) int {
	if len(w.rep.Entries) >= MaxEntries {
		return -1
	}
	w.rep.Entries = append(w.rep.Entries, e)
	return len(w.rep.Entries) - 1
}

// drain reads r to the end, measuring it, and returns how many bytes it read.
func (w *walker) drain(r io.Reader) (int64, error) {
	var total int64
	for idle := 0; ; {
		n, err := r.Read(w.buf)
		total += int64(n)
		switch {
		case err == io.EOF:
			return total, nil
		case err != nil:
			return total, err
		case n > 0:
			idle = 0
		case idle > 100:
			return total, io.ErrNoProgress
		default:
			idle++
		}
	}
}

// readAll reads head and the rest of r, a metered stream, into the buffer for depth, which it
// returns. The meter keeps it within the byte budget, and it never grows past what the budget
// allows.
func (w *walker) readAll(depth int, head []byte, r io.Reader) ([]byte, error) {
	for len(w.nest) <= depth {
		w.nest = append(w.nest, nil)
	}
	buf := append(w.nest[depth][:0], head...)
	defer func() { w.nest[depth] = buf }()
	for idle := 0; ; {
		if len(buf) == cap(buf) {
			room := w.lim.MaxBytes - w.rep.Bytes + 1 // bytes that can still arrive
			buf = slices.Grow(buf, int(max(min(int64(len(buf)), room), 32<<10)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		case n > 0:
			idle = 0
		case idle > 100:
			return buf, io.ErrNoProgress
		default:
			idle++
		}
	}
}

// meter counts the bytes a stream produces, against the byte budget of the whole inspection and
// the ratio limit of the stream, and cuts the stream off at either.
type meter struct {
	w   *walker
	r   io.Reader     // the decompressed stream
	src *bytes.Reader // the compressed bytes r reads
	in  int64         // how many compressed bytes src held: the ratio's denominator
	out int64         // bytes produced so far

	check bool   // compare the CRC-32 of the output with want (zip entries; gzip and bzip2 check their own)
	want  uint32 // the CRC-32 declared for the output
	crc   uint32 // the CRC-32 of the output so far
}

func (m *meter) Read(p []byte) (int, error) {
	w := m.w
	if w.stop {
		return 0, errStop
	}
	// Ask for no more than one byte past the budget: enough to tell it was crossed.
	if room := w.lim.MaxBytes - w.rep.Bytes + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := m.r.Read(p)
	if m.check {
		m.crc = crc32.Update(m.crc, crc32.IEEETable, p[:n])
	}
	m.out += int64(n)
	w.rep.Bytes += int64(n)
	if w.rep.Bytes > w.lim.MaxBytes {
		w.exceed(LimitBytes)
		return n, errStop
	}
	if m.out > ratioFloor {
		if ratio := float64(m.out) / float64(max(m.in, 1)); ratio > w.lim.MaxRatio {
			w.rep.MaxRatio = max(w.rep.MaxRatio, ratio)
			w.exceed(LimitRatio)
			return n, errStop
		}
	}
	return n, err
}

// finish checks a stream read to its end: its CRC, and its ratio, now against the compressed
// bytes it actually used (a header may claim more). It reports whether the limits still allow
// going on.
func (w *walker) finish(m *meter) bool {
	if w.stop || m == nil {
		return !w.stop
	}
	if m.check && m.crc != m.want {
		w.corrupt("zip: checksum error")
	}
	if m.out <= ratioFloor {
		return true
	}
	used := m.in - int64(m.src.Len())
	ratio := float64(m.out) / float64(max(used, 1))
	w.rep.MaxRatio = max(w.rep.MaxRatio, ratio)
	if ratio > w.lim.MaxRatio {
		w.exceed(LimitRatio)
		return false
	}
	return true
}

// exceed records that limit l was hit and stops the inspection.
func (w *walker) exceed(l Limit) {
	w.stop = true
	if !slices.Contains(w.rep.Exceeded, l) {
		w.rep.Exceeded = append(w.rep.Exceeded, l)
	}
}

// fail records err, met reading a layer of the given kind, unless it only says a limit
// stopped the reading.
func (w *walker) fail(kind string, err error) {
	if w.stop || errors.Is(err, errStop) {
		return
	}
	msg := strings.TrimPrefix(err.Error(), "archive/")
	if !strings.HasPrefix(msg, kind) {
		msg = kind + ": " + msg
	}
	w.corrupt(msg)
}

// corrupt keeps the first reason a layer could not be read.
func (w *walker) corrupt(reason string) {
	if w.rep.Corrupt == "" {
		w.rep.Corrupt = reason
	}
}

// join appends name to the path prefix, cut to maxComponent bytes and made valid UTF-8: names
// come from the archive and may be anything.
func join(prefix, name string) string {
	if len(name) > maxComponent {
		i := maxComponent
		for i > 0 && !utf8.RuneStart(name[i]) {
			i--
		}
		name = name[:i]
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

// base returns the last element of a path with / or \ separators.
func base(name string) string {
	return name[strings.LastIndexAny(name, `/\`)+1:]
}

// unpackedName names the file inside a compressed file at path when its header does not:
// "report.pdf.gz" holds "report.pdf", "logs.tgz" holds "logs.tar"; "content" otherwise.
func unpackedName(path string) string {
	name := base(path)
	lower := strings.ToLower(name)
	for _, ext := range [...]struct{ from, to string }{
		{".gz", ""}, {".gzip", ""}, {".bz2", ""}, {".bzip2", ""}, {".tgz", ".tar"}, {".tbz2", ".tar"}, {".tbz", ".tar"},
	} {
		if strings.HasSuffix(lower, ext.from) && len(name) > len(ext.from) {
			return name[:len(name)-len(ext.from)] + ext.to
		}
	}
	return "content"
}
