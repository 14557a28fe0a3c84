package filetype

import (
	"bytes"
	"encoding/binary"
)

// Detect returns the true type of content whose first bytes are head. Only the first HeadSize
// bytes are looked at; fewer are fine. It does not allocate.
//
// Binary signatures at fixed offsets are tried first; then a PDF header anywhere in the head
// (readers accept leading junk); then HTML (optional whitespace, then <html, <!doctype html,
// <head or <body, in any case); then text: no NUL byte and at most one control character in
// 32, or a UTF-16 byte order mark. Anything else is Unknown, as is an empty head.
func Detect(head []byte) Type {
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	if len(head) == 0 {
		return Unknown
	}
	if t := magic(head); t != Unknown {
		return t
	}
	if bytes.Contains(head, pdfMagic) {
		return PDF
	}
	if isHTML(head) {
		return HTML
	}
	if isText(head) {
		return Text
	}
	return Unknown
}

// magic matches the binary signatures. Executables come before tar, whose signature sits at
// offset 257 after the first member's name: a file that starts like an executable is treated as
// one. Tar comes before the image formats, so a member named "GIF89a" cannot hide an archive.
func magic(b []byte) Type {
	switch {
	case has(b, 0, "PK\x03\x04"), has(b, 0, "PK\x05\x06"), has(b, 0, "PK\x07\x08"):
		return ZIP
	case has(b, 0, "\x1f\x8b\x08"):
		return GZIP
	case has(b, 0, "BZh") && len(b) > 3 && b[3] >= '1' && b[3] <= '9':
		return BZIP2
	case has(b, 0, "\xfd7zXZ\x00"):
		return XZ
	case has(b, 0, "Rar!\x1a\x07\x00"), has(b, 0, "Rar!\x1a\x07\x01\x00"):
		return RAR
	case has(b, 0, "7z\xbc\xaf\x27\x1c"):
		return SevenZip
	case has(b, 0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return OLE
	case has(b, 0, "MZ"):
		return PE
	case has(b, 0, "\x7fELF"):
		return ELF
	case isMachO(b):
		return MachO
	case has(b, 0, "#!"):
		return Script
	case has(b, 0, "L\x00\x00\x00\x01\x14\x02\x00"):
		return LNK
	case has(b, 257, "ustar"): // POSIX "ustar\x0000" and GNU "ustar  \x00"
		return TAR
	case has(b, 0, "\x89PNG\r\n\x1a\n"):
		return PNG
	case has(b, 0, "\xff\xd8\xff"):
		return JPEG
	case has(b, 0, "GIF87a"), has(b, 0, "GIF89a"):
		return GIF
	}
	return Unknown
}

// isMachO matches thin Mach-O headers (32 and 64 bit, either byte order) and universal ("fat")
// headers. A fat header shares 0xCAFEBABE with Java class files; there the next four bytes are
// the class version (major 45 and up), in a fat file the number of architectures, a handful.
func isMachO(b []byte) bool {
	switch {
	case has(b, 0, "\xfe\xed\xfa\xce"), has(b, 0, "\xce\xfa\xed\xfe"),
		has(b, 0, "\xfe\xed\xfa\xcf"), has(b, 0, "\xcf\xfa\xed\xfe"):
		return true
	case has(b, 0, "\xca\xfe\xba\xbe"), has(b, 0, "\xca\xfe\xba\xbf"):
		return len(b) >= 8 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] > 0 && b[7] < 20
	case has(b, 0, "\xbe\xba\xfe\xca"), has(b, 0, "\xbf\xba\xfe\xca"):
		return len(b) >= 8 && b[7] == 0 && b[6] == 0 && b[5] == 0 && b[4] > 0 && b[4] < 20
	}
	return false
}

// isHTML reports whether b starts, after whitespace and an optional UTF-8 byte order mark, with
// one of the tags that open an HTML document.
func isHTML(b []byte) bool {
	if has(b, 0, "\xef\xbb\xbf") {
		b = b[3:]
	}
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for _, tag := range [...]string{"<html", "<!doctype html", "<head", "<body"} {
		if hasFold(b, tag) && (len(b) == len(tag) || isSpace(b[len(tag)]) || b[len(tag)] == '>' || b[len(tag)] == '/') {
			return true
		}
	}
	return false
}

// isText reports whether b looks like text: no NUL and few control characters, or a UTF-16 byte
// order mark. Bytes from 0x80 up count as printable, so UTF-8 and the legacy 8-bit and CJK
// charsets all pass (and a rune cut at the end of the head does not matter); random binary data
// has about one control character in ten.
func isText(b []byte) bool {
	if has(b, 0, "\xff\xfe") || has(b, 0, "\xfe\xff") {
		return true
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	size, n := len(b), 0
	for ; len(b) >= 8; b = b[8:] {
		// Eight bytes at a time: only a word holding a byte below 0x20 or a DEL needs a look.
		w := binary.LittleEndian.Uint64(b)
		del := w ^ (ones * 0x7f)
		if ((w-ones*0x20)&^w|(del-ones)&^del)&(ones*0x80) == 0 {
			continue
		}
		for _, c := range b[:8] {
			n += int(isControl[c])
		}
	}
	for _, c := range b {
		n += int(isControl[c])
	}
	return n*32 <= size
}

const ones = 0x0101010101010101

// isControl is 1 for the control characters that text does not use: C0 controls other than
// whitespace, backspace and ESC (which starts ISO-2022 shifts), and DEL. Everything from 0x80 up
// is printable in some charset.
var isControl = func() (t [256]uint8) {
	for c := range 0x20 {
		if !isSpace(byte(c)) && c != '\b' && c != 0x1b {
			t[c] = 1
		}
	}
	t[0x7f] = 1
	return t
}()

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// has reports whether b holds s at offset off. The comparison does not allocate.
func has(b []byte, off int, s string) bool {
	return len(b) >= off+len(s) && string(b[off:off+len(s)]) == s
}

// hasFold reports whether b starts with the lower-case ASCII s, ignoring ASCII case.
func hasFold(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

var pdfMagic = []byte("%PDF-")
