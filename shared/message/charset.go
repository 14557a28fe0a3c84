package message

import (
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
)

// wordDecoder is what net/mail uses for encoded words in display names.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(input), nil
}}

// isUTF8Name reports whether charset needs no conversion when its bytes are valid UTF-8.
func isUTF8Name(charset string) bool {
	switch strings.ToLower(charset) {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "default", "unknown-8bit", "x-unknown":
		return true
	}
	return false
}

// asciiCompatible reports whether bytes below 0x80 mean ASCII in charset (so pure ASCII text
// needs no conversion). UTF-16/32, UTF-7, HZ and ISO-2022 do not qualify.
func asciiCompatible(charset string) bool {
	c := strings.ToLower(charset)
	for _, p := range [...]string{"utf-16", "utf-32", "utf16", "utf32", "ucs", "utf-7", "utf7", "hz", "iso-2022", "csiso2022"} {
		if strings.HasPrefix(c, p) {
			return false
		}
	}
	return true
}

// lookupCharset finds a decoder for charset; ok is false for an unknown one.
func lookupCharset(charset string) (encoding.Encoding, bool) {
	enc, err := htmlindex.Get(strings.TrimSpace(charset))
	return enc, err == nil
}

// knownCharset reports whether DecodeWords can convert from charset.
func knownCharset(charset string) bool {
	if isUTF8Name(charset) || strings.EqualFold(charset, "iso-8859-1") {
		return true
	}
	_, ok := lookupCharset(charset)
	return ok
}

// appendCharset appends b, in charset, as UTF-8. Bytes that are not valid in a UTF-8 or unknown
// charset are read as Latin-1.
func appendCharset(dst []byte, charset string, b []byte) []byte {
	out, _ := convertCharset(dst, charset, b)
	return out
}

// convertCharset appends b, in charset, as UTF-8; known is false when charset is unknown (the
// bytes are then taken as UTF-8 when valid, else as Latin-1).
func convertCharset(dst []byte, charset string, b []byte) (out []byte, known bool) {
	if isUTF8Name(charset) {
		return appendUTF8OrLatin1(dst, b), true
	}
	if asciiCompatible(charset) && isASCII(b) {
		return append(dst, b...), true
	}
	if strings.EqualFold(charset, "iso-8859-1") || strings.EqualFold(charset, "latin1") {
		return appendLatin1(dst, b), true
	}
	enc, ok := lookupCharset(charset)
	if !ok {
		return appendUTF8OrLatin1(dst, b), false
	}
	dec, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return appendUTF8OrLatin1(dst, b), true
	}
	return append(dst, dec...), true
}

func appendUTF8OrLatin1(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	return appendLatin1(dst, b)
}

// isASCII reports whether b is 7-bit without ESC (which starts ISO-2022 shifts).
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf || c == 0x1b {
			return false
		}
	}
	return true
}
