// Package filetype tells a file's true type from its first bytes (magic numbers), whatever its
// name or declared MIME type says.
//
// Detect looks at no more than HeadSize bytes. Two names exist only for other layers to set:
// OOXML (a ZIP that archive inspection found to be an Office document) and ISO (ISO 9660 images
// carry their signature "CD001" at offset 32769, far beyond HeadSize, so Detect never returns
// ISO; callers that can look further, or go by the file name, may use it).
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

// Archive reports whether t is a container of other files: zip, gzip, tar, rar, 7z, bzip2 or
// xz. An Office Open XML document is a zip underneath but is not an archive.
func (t Type) Archive() bool {
	switch t {
	case ZIP, GZIP, TAR, RAR, SevenZip, BZIP2, XZ:
		return true
	}
	return false
}

// Executable reports whether t runs when opened: a Windows, Linux or macOS executable, a script
// with a #! line, or a Windows shortcut (which can launch any command).
func (t Type) Executable() bool {
	switch t {
	case PE, ELF, MachO, Script, LNK:
		return true
	}
	return false
}
