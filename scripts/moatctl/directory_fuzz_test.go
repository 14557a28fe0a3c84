package main

import (
	"strings"
	"testing"
)

// The directory file readers never panic, and every address they return names the line it
// came from.
func FuzzDirectoryFiles(f *testing.F) {
	f.Add("email\nalice@example.com\n\"bob\"@example.com,x\n")
	f.Add("dn: cn=a\nmail: a@exam\n ple.com\nmail:: YUBleGFtcGxlLmNvbQ==\nproxyAddresses: smtp:b@x.example\n\n")
	f.Add("Name,E-mail Address\n\"unterminated,a@b.example\n")
	f.Fuzz(func(t *testing.T, data string) {
		for _, read := range []func(*badRows) []dirEntry{
			func(b *badRows) []dirEntry { return readCSV(strings.NewReader(data), b) },
			func(b *badRows) []dirEntry { return readLDIF(strings.NewReader(data), b) },
		} {
			bad := &badRows{file: "f"}
			for _, e := range read(bad) {
				if e.line < 1 || e.line > strings.Count(data, "\n")+1 {
					t.Errorf("entry %q names line %d of a %d-line input", e.addr, e.line, strings.Count(data, "\n")+1)
				}
			}
		}
	})
}
