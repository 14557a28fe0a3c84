package filetype

import (
	"strings"
	"testing"
)

// tarHead is the first block of a tar archive whose first member is named name, with the given
// magic at offset 257.
func tarHead(name, magic string) []byte {
	b := make([]byte, 512)
	copy(b, name)
	copy(b[257:], magic)
	return b
}

func TestDetect(t *testing.T) {
	bin := func(prefix string) []byte { // prefix followed by binary filler
		return append([]byte(prefix), 0, 1, 2, 3, 0, 0xff, 0x10, 0)
	}
	tests := []struct {
		name string
		head []byte
		want Type
	}{
		{"zip", bin("PK\x03\x04"), ZIP},
		{"empty zip", bin("PK\x05\x06"), ZIP},
		{"spanned zip", bin("PK\x07\x08PK\x03\x04"), ZIP},
		{"not zip: PK then other", bin("PK\x01\x02"), Unknown},
		{"gzip", bin("\x1f\x8b\x08"), GZIP},
		{"not gzip: other method", bin("\x1f\x8b\x07"), Unknown},
		{"bzip2", bin("BZh91AY&SY"), BZIP2},
		{"not bzip2: bad level", []byte("BZh0 is not a block size"), Text},
		{"xz", bin("\xfd7zXZ\x00"), XZ},
		{"not xz: wrong last byte", bin("\xfd7zXZ\x01"), Unknown},
		{"tar posix", tarHead("report.txt", "ustar\x0000"), TAR},
		{"tar gnu", tarHead("report.txt", "ustar  \x00"), TAR},
		{"tar member named like an image", tarHead("GIF89a.txt", "ustar\x0000"), TAR},
		{"not tar: magic elsewhere", append(make([]byte, 300), "ustar"...), Unknown},
		{"not tar: cut before magic", tarHead("a", "ustar")[:260], Unknown},
		{"rar 4", bin("Rar!\x1a\x07\x00"), RAR},
		{"rar 5", bin("Rar!\x1a\x07\x01\x00"), RAR},
		{"not rar: other version", bin("Rar!\x1a\x07\x02"), Unknown},
		{"7z", bin("7z\xbc\xaf\x27\x1c"), SevenZip},
		{"not 7z: text", []byte("7z is a format"), Text},
		{"ole", bin("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), OLE},
		{"not ole: partial", bin("\xd0\xcf\x11\xe0"), Unknown},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), PDF},
		{"pdf after junk", append(bin("junk"), "%PDF-1.4"...), PDF},
		{"not pdf: no dash", []byte("%PDF is a marker"), Text},
		{"pe", bin("MZ\x90\x00"), PE},
		{"not pe: lower case", []byte("mz and more"), Text},
		{"not pe: MZ not at start", bin("xMZ"), Unknown},
		{"elf", bin("\x7fELF\x02\x01\x01"), ELF},
		{"not elf: no 7f", []byte("ELF on the shelf"), Text},
		{"mach-o 32 big endian", bin("\xfe\xed\xfa\xce"), MachO},
		{"mach-o 32 little endian", bin("\xce\xfa\xed\xfe"), MachO},
		{"mach-o 64 big endian", bin("\xfe\xed\xfa\xcf"), MachO},
		{"mach-o 64 little endian", bin("\xcf\xfa\xed\xfe"), MachO},
		{"mach-o fat", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x02\x01\x00\x00\x07"), MachO},
		{"mach-o fat 64", []byte("\xca\xfe\xba\xbf\x00\x00\x00\x02\x01\x00\x00\x07"), MachO},
		{"mach-o fat little endian", []byte("\xbe\xba\xfe\xca\x02\x00\x00\x00\x07\x00\x00\x01"), MachO},
		{"not mach-o: java class", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34\x00\x1d"), Unknown},
		{"script", []byte("#!/bin/sh\nrm -rf /\n"), Script},
		{"script with space", []byte("#! /usr/bin/env python3\n"), Script},
		{"not script: comment", []byte("# a comment\n"), Text},
		{"lnk", bin("L\x00\x00\x00\x01\x14\x02\x00"), LNK},
		{"not lnk: wrong guid", bin("L\x00\x00\x00\x01\x14\x02\x01"), Unknown},
		{"png", bin("\x89PNG\r\n\x1a\n"), PNG},
		{"not png: text", []byte("PNG image"), Text},
		{"jpeg", bin("\xff\xd8\xff\xe0"), JPEG},
		{"not jpeg: no third marker byte", bin("\xff\xd8"), Unknown},
		{"gif87", bin("GIF87a"), GIF},
		{"gif89", bin("GIF89a"), GIF},
		{"not gif: other version", []byte("GIF90a"), Text},
		{"html", []byte("<html><body>hi</body></html>"), HTML},
		{"html doctype", []byte("<!DOCTYPE html>\n<html>"), HTML},
		{"html whitespace and case", []byte(" \r\n\t<HTML lang=en>"), HTML},
		{"html with bom", []byte("\xef\xbb\xbf<!doctype HTML>"), HTML},
		{"html head", []byte("<head><title>x</title>"), HTML},
		{"html body", []byte("<BODY>"), HTML},
		{"not html: other tag", []byte("<header>not a document"), Text},
		{"not html: tag later", []byte("hello <html>"), Text},
		{"text ascii", []byte("Hello,\r\nthis is a letter.\r\n"), Text},
		{"text utf-8", []byte("Grüße, 你好, привет"), Text},
		{"text latin-1", []byte("Gr\xfc\xdfe aus K\xf6ln"), Text},
		{"text utf-8 cut mid rune", []byte("日本語")[:7], Text},
		{"text utf-16 bom", []byte("\xff\xfeH\x00i\x00"), Text},
		{"text with a few control characters", []byte(strings.Repeat("a line of ordinary text\x01 with one control\n", 12)), Text},
		{"not text: many control characters", []byte(strings.Repeat("abc\x01\x02\x03\x7f", 50)), Unknown},
		{"not text: nul", []byte("abc\x00def"), Unknown},
		{"not text: control characters", []byte("\x01\x02\x03\x04abcdefgh"), Unknown},
		{"empty", nil, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.head); got != tt.want {
				t.Errorf("Detect(%q) = %s, want %s", tt.head, got, tt.want)
			}
		})
	}
}

func TestDetectLooksOnlyAtHead(t *testing.T) {
	text := []byte(strings.Repeat("a", HeadSize))
	if got := Detect(append(text, 0)); got != Text {
		t.Errorf("a NUL after HeadSize changed the type to %s", got)
	}
	if got := Detect(append(text, "%PDF-"...)); got != Text {
		t.Errorf("a PDF header after HeadSize changed the type to %s", got)
	}
}

func TestDetectISO(t *testing.T) {
	// An ISO 9660 image is recognised 32769 bytes in; within HeadSize it is zeros.
	if got := Detect(make([]byte, HeadSize)); got == ISO {
		t.Errorf("Detect returned %s from zeros", got)
	}
}

func TestTypeClasses(t *testing.T) {
	archives := map[Type]bool{ZIP: true, GZIP: true, TAR: true, RAR: true, SevenZip: true, BZIP2: true, XZ: true}
	executables := map[Type]bool{PE: true, ELF: true, MachO: true, Script: true, LNK: true}
	all := []Type{Unknown, Text, HTML, PDF, ZIP, GZIP, TAR, RAR, SevenZip, BZIP2, XZ, OLE, OOXML, PE, ELF, MachO, Script, PNG, JPEG, GIF, ISO, LNK}
	for _, typ := range all {
		t.Run(string(typ), func(t *testing.T) {
			if got := typ.Archive(); got != archives[typ] {
				t.Errorf("Archive() = %v", got)
			}
			if got := typ.Executable(); got != executables[typ] {
				t.Errorf("Executable() = %v", got)
			}
		})
	}
}

func TestDetectDoesNotAllocate(t *testing.T) {
	heads := [][]byte{
		[]byte("Hello, this is plain text that goes on for a while."),
		[]byte("<!doctype html><html>"),
		append(make([]byte, 100), "%PDF-1.4"...),
		tarHead("x", "ustar\x0000"),
	}
	for _, h := range heads {
		if n := testing.AllocsPerRun(100, func() { Detect(h) }); n != 0 {
			t.Errorf("Detect(%.10q) allocates %v times", h, n)
		}
	}
}

func BenchmarkDetect(b *testing.B) {
	heads := map[string][]byte{
		"zip":  append([]byte("PK\x03\x04"), make([]byte, HeadSize-4)...),
		"text": []byte(strings.Repeat("Dear customer, your invoice is attached.\r\n", 13)[:HeadSize]),
	}
	for name, h := range heads {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Detect(h)
			}
		})
	}
}
