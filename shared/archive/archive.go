// Package archive inspects archives (zip, gzip, tar, bzip2 and their combinations) without
// trusting them: it walks nested archives and enforces nesting depth, decompressed size, file
// count and compression ratio limits while decompressing, so a zip bomb is stopped, not
// inflated.
//
// What is measured:
//   - Depth: the outermost archive is layer 1 and its files sit at depth 1; an archive found in
//     a layer is walked as the next one. A tar inside gzip or bzip2 (.tar.gz, .tgz, .tar.bz2) is
//     one layer. Opening a layer deeper than MaxDepth stops the inspection.
//   - Bytes: every byte a decompressor produced, across all layers: the data of each zip entry
//     (stored entries too, as zip entries can overlap) and the output of gzip and bzip2 (tar
//     headers included). Sizes declared in headers are never used; the decompressors are cut
//     off as soon as the total would pass MaxBytes, so a 10 GB bomb costs MaxBytes of work, not
//     10 GB. A nested archive is read into memory to be walked, within the same budget. A tar
//     is not compressed: the members of a bare tar are read in place and add nothing.
//   - Files: regular files across all layers (directories, links and devices are not files).
//   - Ratio: bytes produced by one compressed stream (a zip entry, or a gzip or bzip2 layer)
//     over the compressed bytes it has in the archive. It is tested only once the stream has
//     produced more than 1 MiB, so a small file of zeros (ratio 500 and more) is not flagged,
//     and Report.MaxRatio is the highest ratio among such streams only. A bomb is still stopped
//     at 1 MiB and the ratio limit, or by MaxBytes.
//
// The first limit hit ends the inspection and is recorded in Report.Exceeded.
//
// An Office Open XML document (a zip holding [Content_Types].xml: .docx, .xlsx, .pptx) is a
// document, not an archive: its parts are decompressed and measured against MaxBytes and
// MaxRatio, but they are neither files nor a layer. Only the parts that are archives or
// executables become entries (and count); the archives are walked.
//
// Encrypted zip entries are reported, not read. Data that cannot be read is reported in
// Report.Corrupt, keeping what was found before. Some content cannot be inspected with the Go
// standard library and is reported without entries: rar, 7z and xz archives (Format only, or an
// entry of that type), zip entries compressed with methods other than store, deflate and bzip2
// (Corrupt), and sparse tar members (Corrupt). A zip whose central directory could hold more
// than 65536 entries is not parsed and is reported over the files limit, so hostile input
// cannot make the zip reader allocate without bound.
//
// Inspect uses only the input it is given: no files, no network, no clock.
package archive

import "github.com/moatmail/moat/shared/filetype"

// Limit names one of the limits an inspection can hit.
type Limit string

const (
	LimitDepth Limit = "depth" // nesting deeper than Limits.MaxDepth
	LimitBytes Limit = "bytes" // decompressed total over Limits.MaxBytes
	LimitFiles Limit = "files" // more entries than Limits.MaxFiles
	LimitRatio Limit = "ratio" // an entry's ratio over Limits.MaxRatio
)

// Limits bound one inspection. Zero (or negative) values mean the defaults of DefaultLimits.
type Limits struct {
	MaxDepth int     // archive layers; the outermost archive is layer 1 (default 20)
	MaxBytes int64   // decompressed bytes across all layers (default 60 MiB)
	MaxFiles int     // entries across all layers (default 353)
	MaxRatio float64 // uncompressed/compressed of any one entry (default 100)
}

// DefaultLimits are the hosted service's defaults.
var DefaultLimits = Limits{MaxDepth: 20, MaxBytes: 60 << 20, MaxFiles: 353, MaxRatio: 100}

// Entry is one file found inside an archive (at any depth). Path joins the names of the layers
// with "/", each name cut to 255 bytes and made valid UTF-8. Size is the bytes actually read (of
// an entry cut short by a limit or corruption, what was read before); Type is Unknown for an
// encrypted entry, and OOXML for a nested zip found to be an Office document.
type Entry struct {
	Path      string        `json:"path"` // "outer.zip/inner.zip/file.exe"
	Type      filetype.Type `json:"type"`
	Size      int64         `json:"size"`
	Depth     int           `json:"depth"` // layer the entry sits in; 1 = directly in the attachment
	Encrypted bool          `json:"encrypted,omitempty"`
}

// Report is what an inspection measured. Inspection stops at the first limit hit and records it
// in Exceeded; the measured values are then lower bounds.
type Report struct {
	Format    filetype.Type `json:"format"`
	Depth     int           `json:"depth"`    // deepest layer reached
	Files     int           `json:"files"`    // entries seen across all layers
	Bytes     int64         `json:"bytes"`    // decompressed bytes across all layers
	MaxRatio  float64       `json:"maxRatio"` // highest entry ratio seen
	Encrypted bool          `json:"encrypted,omitempty"`
	Corrupt   string        `json:"corrupt,omitempty"` // why a layer could not be read
	Exceeded  []Limit       `json:"exceeded,omitempty"`
	Entries   []Entry       `json:"entries,omitempty"`  // at most MaxEntries kept
	Macros    bool          `json:"macros,omitempty"`   // an Office Open XML package holds VBA macros (a vbaProject.bin part)
	Embedded  int           `json:"embedded,omitempty"` // parts in Office Open XML embeddings folders: OLE objects, packaged files
}

// MaxEntries caps Report.Entries; counting goes on past it.
const MaxEntries = 1000
