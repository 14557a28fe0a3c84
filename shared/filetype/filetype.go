// Package filetype tells a file's true type from its first bytes (magic numbers), whatever its
// name or declared MIME type says.
package filetype

// Type is a true file type.
type Type string

const (
	Unknown  Type = "unknown"
	Text     Type = "text"
	HTML     Type = "html"
	PDF      Type = "pdf"
	ZIP      Type = "zip"
	GZIP     Type = "gzip"
	TAR      Type = "tar"
	RAR      Type = "rar"
	SevenZip Type = "7z"
	BZIP2    Type = "bzip2"
	XZ       Type = "xz"
	OLE      Type = "ole"    // Compound File Binary: .doc, .xls, .ppt, .msg
	OOXML    Type = "ooxml"  // a ZIP recognised as .docx/.xlsx/.pptx (set by archive inspection)
	PE       Type = "pe"     // Windows executable or DLL
	ELF      Type = "elf"    // Linux executable
	MachO    Type = "mach-o" // macOS executable
	Script   Type = "script" // starts with #! or is a recognised script
	PNG      Type = "png"
	JPEG     Type = "jpeg"
	GIF      Type = "gif"
	ISO      Type = "iso"
	LNK      Type = "lnk" // Windows shortcut
)

// HeadSize is how many leading bytes Detect looks at.
const HeadSize = 512
