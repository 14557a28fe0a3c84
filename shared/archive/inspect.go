package archive

import "github.com/moatmail/moat/shared/filetype"

// Inspect walks the archive in data, of the given format, within lim. (Stub: replaced by the
// real walker.)
func Inspect(data []byte, format filetype.Type, lim Limits) Report {
	return Report{Format: format}
}
