package filetype

import (
	"bytes"
	"testing"
)

func FuzzDetect(f *testing.F) {
	for _, seed := range []string{
		"PK\x03\x04", "\x1f\x8b\x08", "BZh9", "\xfd7zXZ\x00", "Rar!\x1a\x07\x01\x00", "7z\xbc\xaf\x27\x1c",
		"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "%PDF-1.7", "MZ", "\x7fELF", "\xca\xfe\xba\xbe\x00\x00\x00\x01",
		"#!/bin/sh", "L\x00\x00\x00\x01\x14\x02\x00", "\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "GIF89a",
		" <!DOCTYPE html>", "plain text", "\xef\xbb\xbf<html>",
	} {
		f.Add([]byte(seed))
	}
	f.Add(tarHead("a.txt", "ustar\x0000"))
	f.Add([]byte("a line of ordinary text\x01 with one control\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Detect(b)
		if got == "" || got == OOXML || got == ISO {
			t.Fatalf("Detect returned %q", got)
		}
		if len(b) > HeadSize {
			if short := Detect(b[:HeadSize]); short != got {
				t.Fatalf("Detect looked past HeadSize: %s with the whole input, %s with the head", got, short)
			}
		}
		if head := b[:min(len(b), HeadSize)]; isText(head) != slowIsText(head) {
			t.Fatalf("isText(%q) = %v, byte by byte %v", head, isText(head), slowIsText(head))
		}
		if got == Text && bytes.IndexByte(b[:min(len(b), HeadSize)], 0) >= 0 && !bytes.HasPrefix(b, []byte("\xff\xfe")) && !bytes.HasPrefix(b, []byte("\xfe\xff")) {
			t.Fatalf("text with a NUL: %q", b)
		}
	})
}

// slowIsText is isText one byte at a time.
func slowIsText(b []byte) bool {
	if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
		return true
	}
	n := 0
	for _, c := range b {
		if c == 0 {
			return false
		}
		if c == 0x7f || c < 0x20 && !bytes.ContainsRune([]byte("\t\n\v\f\r\b\x1b"), rune(c)) {
			n++
		}
	}
	return n*32 <= len(b)
}
