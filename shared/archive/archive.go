// Package archive inspects archives (zip, gzip, tar) without trusting them: it walks nested
// archives and enforces nesting depth, decompressed size, file count and compression ratio
// limits while decompressing, so a zip bomb is stopped, not inflated.
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

// Limits bound one inspection. Zero values mean the defaults of DefaultLimits.
type Limits struct {
	MaxDepth int     // archive layers; the outermost archive is layer 1 (default 20)
	MaxBytes int64   // decompressed bytes across all layers (default 60 MiB)
	MaxFiles int     // entries across all layers (default 353)
	MaxRatio float64 // uncompressed/compressed of any one entry (default 100)
}

// DefaultLimits are the hosted service's defaults.
var DefaultLimits = Limits{MaxDepth: 20, MaxBytes: 60 << 20, MaxFiles: 353, MaxRatio: 100}

// Entry is one file found inside an archive (at any depth).
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
	Entries   []Entry       `json:"entries,omitempty"` // at most MaxEntries kept
}

// MaxEntries caps Report.Entries; counting goes on past it.
const MaxEntries = 1000
