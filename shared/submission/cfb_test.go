package submission

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strings"
	"unicode/utf16"
)

// buildCFB writes a compound file (MS-CFB version 3) with the given top-level streams, for
// tests. Every stream is padded with NULs to the mini stream cutoff (4096 bytes), so all live
// in regular sectors and no mini stream is needed.
func buildCFB(streams map[string][]byte) []byte {
	const (
		sector     = 512
		endOfChain = 0xFFFFFFFE
		freeSect   = 0xFFFFFFFF
		fatSect    = 0xFFFFFFFD
		noStream   = 0xFFFFFFFF
		cutoff     = 4096
	)
	names := make([]string, 0, len(streams))
	for n := range streams {
		names = append(names, n)
	}
	// Directory order: shorter names first, then by upper-case code points.
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return strings.ToUpper(a) < strings.ToUpper(b)
	})
	entries := 1 + len(names)
	dirSectors := (entries*128 + sector - 1) / sector
	var fat []uint32
	fat = append(fat, fatSect) // sector 0: the FAT
	dirStart := uint32(len(fat))
	for i := range dirSectors {
		if i == dirSectors-1 {
			fat = append(fat, endOfChain)
		} else {
			fat = append(fat, uint32(len(fat)+1))
		}
	}
	type placed struct {
		start uint32
		data  []byte
	}
	var data []placed
	for _, n := range names {
		b := streams[n]
		if len(b) < cutoff {
			b = append(append([]byte{}, b...), make([]byte, cutoff-len(b))...)
		}
		secs := (len(b) + sector - 1) / sector
		start := uint32(len(fat))
		for i := range secs {
			if i == secs-1 {
				fat = append(fat, endOfChain)
			} else {
				fat = append(fat, uint32(len(fat)+1))
			}
		}
		data = append(data, placed{start, b})
	}
	if len(fat) > sector/4 {
		panic("buildCFB: too much data for one FAT sector")
	}
	for len(fat) < sector/4 {
		fat = append(fat, freeSect)
	}

	var out bytes.Buffer
	le := func(v any) { binary.Write(&out, binary.LittleEndian, v) }
	// Header.
	out.Write([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
	out.Write(make([]byte, 16))
	le(uint16(0x003E))
	le(uint16(3))
	le(uint16(0xFFFE))
	le(uint16(9))
	le(uint16(6))
	out.Write(make([]byte, 6))
	le(uint32(0))          // directory sectors (0 in version 3)
	le(uint32(1))          // FAT sectors
	le(dirStart)           // first directory sector
	le(uint32(0))          // transaction signature
	le(uint32(cutoff))     // mini stream cutoff
	le(uint32(endOfChain)) // first mini FAT sector
	le(uint32(0))
	le(uint32(endOfChain)) // first DIFAT sector
	le(uint32(0))
	le(uint32(0)) // DIFAT[0]: the FAT is sector 0
	for range 108 {
		le(uint32(freeSect))
	}
	// FAT.
	for _, v := range fat {
		le(v)
	}
	// Directory.
	entry := func(name string, typ byte, right, child, start uint32, size int) {
		var e [128]byte
		u := utf16.Encode([]rune(name))
		for i, c := range u {
			binary.LittleEndian.PutUint16(e[2*i:], c)
		}
		binary.LittleEndian.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66], e[67] = typ, 1
		binary.LittleEndian.PutUint32(e[68:], noStream)
		binary.LittleEndian.PutUint32(e[72:], right)
		binary.LittleEndian.PutUint32(e[76:], child)
		binary.LittleEndian.PutUint32(e[116:], start)
		binary.LittleEndian.PutUint32(e[120:], uint32(size))
		out.Write(e[:])
	}
	child := uint32(noStream)
	if len(names) > 0 {
		child = 1
	}
	entry("Root Entry", 5, noStream, child, endOfChain, 0)
	for i, n := range names {
		right := uint32(noStream)
		if i+1 < len(names) {
			right = uint32(i + 2)
		}
		entry(n, 2, right, noStream, data[i].start, len(data[i].data))
	}
	for out.Len() < sector*(1+1+dirSectors) {
		out.WriteByte(0)
	}
	// Stream data.
	for _, d := range data {
		out.Write(d.data)
		for out.Len()%sector != 0 {
			out.WriteByte(0)
		}
	}
	return out.Bytes()
}

func utf16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}
