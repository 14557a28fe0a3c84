// Package archivetest builds archives for tests: nested zips, zip bombs, encrypted zips, Office
// Open XML documents and tarballs, in memory and deterministically (the same arguments give the
// same bytes).
//
// The builders write to memory, where archive/zip, archive/tar and compress/gzip cannot fail;
// they panic only on arguments those writers refuse, such as a name longer than 65535 bytes.
package archivetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"
)

// Zip returns a zip holding files, deflated, in name order.
func Zip(files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// One deflate writer, reset for each file, and the fastest level: tests build big zips, and
	// under the race detector a new writer per file costs seconds.
	var fw *flate.Writer
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		if fw == nil {
			var err error
			fw, err = flate.NewWriter(w, flate.BestSpeed)
			return fw, err
		}
		fw.Reset(w)
		return fw, nil
	})
	for _, name := range sortedNames(files) {
		w, err := zw.Create(name)
		check(err)
		_, err = w.Write(files[name])
		check(err)
	}
	check(zw.Close())
	return buf.Bytes()
}

// Nested returns leaf, named leafName, inside layers zips, each holding the next: layers=1 is a
// plain zip holding the leaf, layers=3 is a zip holding layer2.zip, holding layer3.zip, holding
// the leaf (so the leaf's path is "layer2.zip/layer3.zip/leafName"). Zero layers return leaf.
func Nested(layers int, leafName string, leaf []byte) []byte {
	data, name := leaf, leafName
	for i := layers; i >= 1; i-- {
		data = Zip(map[string][]byte{name: data})
		name = fmt.Sprintf("layer%d.zip", i)
	}
	return data
}

// Bomb returns a zip with one entry, zeros.bin, of uncompressed zero bytes (zip64 when over
// 4 GiB). The deflate stream is a 1 MiB block of zeros compressed once and repeated, and the
// CRC-32 is computed arithmetically, so building a 10 GB bomb takes about 10 MB and a few
// milliseconds.
func Bomb(uncompressed int64) []byte {
	const chunk = 1 << 20
	full := deflatedZeros(chunk)
	rest := deflatedZeros(int(uncompressed % chunk))
	n := uncompressed / chunk
	var stream bytes.Buffer
	stream.Grow(int(n)*len(full) + len(rest) + 2)
	for range n {
		stream.Write(full)
	}
	stream.Write(rest)
	stream.Write([]byte{0x03, 0x00}) // an empty final block with fixed codes

	var buf bytes.Buffer
	buf.Grow(stream.Len() + 200)
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               "zeros.bin",
		Method:             zip.Deflate,
		CRC32:              crc32Zeros(uncompressed),
		CompressedSize64:   uint64(stream.Len()),
		UncompressedSize64: uint64(uncompressed),
	})
	check(err)
	_, err = stream.WriteTo(w)
	check(err)
	check(zw.Close())
	return buf.Bytes()
}

// deflatedZeros returns n zero bytes as non-final deflate blocks ending on a byte boundary (a
// sync flush), which can be repeated and followed by more blocks: their back-references never
// reach before their own start.
func deflatedZeros(n int) []byte {
	if n == 0 {
		return nil
	}
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	check(err)
	_, err = fw.Write(make([]byte, n))
	check(err)
	check(fw.Flush())
	return buf.Bytes()
}

// crc32Zeros returns the CRC-32 (IEEE) of n zero bytes. Feeding zeros to the CRC register is
// linear over GF(2), so the register after n bytes is a 32×32 bit matrix, raised to the power n
// by squaring, applied to the initial register (the method of zlib's crc32_combine).
func crc32Zeros(n int64) uint32 {
	var op, sq [32]uint32
	op[0] = 0xedb88320 // one zero bit: shift right, folding the polynomial in
	for i := 1; i < 32; i++ {
		op[i] = 1 << (i - 1)
	}
	for range 3 { // one zero byte: eight zero bits
		square(&sq, &op)
		op = sq
	}
	reg := uint32(0xffffffff)
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			reg = times(&op, reg)
		}
		square(&sq, &op)
		op = sq
	}
	return ^reg
}

func times(m *[32]uint32, v uint32) uint32 {
	var r uint32
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 == 1 {
			r ^= m[i]
		}
	}
	return r
}

func square(dst, m *[32]uint32) {
	for i := range m {
		dst[i] = times(m, m[i])
	}
}

// Encrypted returns a zip with one entry, name, encrypted with traditional PKWARE encryption
// (ZipCrypto) under the password "infected": the encryption flag is set and the entry starts
// with the 12-byte encryption header, so real tools can open it with that password.
func Encrypted(name string) []byte {
	plain := []byte("This entry is encrypted with the password \"infected\".\n")
	sum := crc32.ChecksumIEEE(plain)

	k := newZipCrypto("infected")
	// The header is random in real archives; fixed bytes keep the output deterministic. Its last
	// byte is the high byte of the CRC, which tools check to tell a wrong password.
	header := []byte{0x5a, 0x17, 0xc3, 0x88, 0x01, 0x6e, 0x2f, 0x90, 0x44, 0xd1, 0x0b, byte(sum >> 24)}
	raw := append(k.encrypt(header), k.encrypt(plain)...)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		Flags:              0x1,
		CRC32:              sum,
		CompressedSize64:   uint64(len(raw)),
		UncompressedSize64: uint64(len(plain)),
	})
	check(err)
	_, err = w.Write(raw)
	check(err)
	check(zw.Close())
	return buf.Bytes()
}

// zipCrypto holds the three keys of traditional PKWARE encryption (APPNOTE 6.1).
type zipCrypto [3]uint32

func newZipCrypto(password string) *zipCrypto {
	k := &zipCrypto{0x12345678, 0x23456789, 0x34567890}
	for i := 0; i < len(password); i++ {
		k.update(password[i])
	}
	return k
}

func (k *zipCrypto) update(c byte) {
	k[0] = crc32.IEEETable[byte(k[0])^c] ^ k[0]>>8
	k[1] = (k[1]+k[0]&0xff)*134775813 + 1
	k[2] = crc32.IEEETable[byte(k[2])^byte(k[1]>>24)] ^ k[2]>>8
}

func (k *zipCrypto) encrypt(plain []byte) []byte {
	out := make([]byte, len(plain))
	for i, c := range plain {
		t := k[2] | 2
		out[i] = c ^ byte((t*(t^1))>>8)
		k.update(c)
	}
	return out
}

// OOXML returns a .docx-like zip: [Content_Types].xml, _rels/.rels, word/document.xml, and parts
// extra parts word/partN.xml; with macros, also word/vbaProject.bin (an OLE compound file
// header, as in a .docm).
func OOXML(parts int, macros bool) []byte {
	files := map[string][]byte{
		"[Content_Types].xml": []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>` +
			`</Types>`),
		"_rels/.rels": []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>` +
			`</Relationships>`),
		"word/document.xml": []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">` +
			`<w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p></w:body></w:document>`),
	}
	for i := 1; i <= parts; i++ {
		files[fmt.Sprintf("word/part%d.xml", i)] = fmt.Appendf(nil, `<?xml version="1.0"?><part n="%d"/>`, i)
	}
	if macros {
		files["word/vbaProject.bin"] = append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 504)...)
	}
	return Zip(files)
}

// Tar returns a tar (POSIX ustar, PAX where a name needs it) holding regular files, in name
// order, with mode 0644 and time 0.
func Tar(files map[string][]byte) []byte {
	var buf bytes.Buffer
	writeTar(&buf, files)
	return buf.Bytes()
}

// TarGz returns Tar(files), gzipped.
func TarGz(files map[string][]byte) []byte {
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	writeTar(gw, files)
	check(gw.Close())
	return buf.Bytes()
}

func writeTar(w io.Writer, files map[string][]byte) {
	tw := tar.NewWriter(w)
	for _, name := range sortedNames(files) {
		check(tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Mode:     0o644,
			Size:     int64(len(files[name])),
			ModTime:  time.Unix(0, 0),
		}))
		_, err := tw.Write(files[name])
		check(err)
	}
	check(tw.Close())
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func check(err error) {
	if err != nil {
		panic("archivetest: " + err.Error())
	}
}
