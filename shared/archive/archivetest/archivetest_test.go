package archivetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"io"
	"testing"
)

func TestCRC32Zeros(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 7, 8, 255, 256, 1000, 1 << 20, 3<<20 + 17} {
		if got, want := crc32Zeros(n), crc32.ChecksumIEEE(make([]byte, n)); got != want {
			t.Errorf("crc32Zeros(%d) = %#x, want %#x", n, got, want)
		}
	}
}

// readZip opens data with archive/zip and returns each entry's content, checked against its CRC.
func readZip(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = b
	}
	return out
}

func TestBuilders(t *testing.T) {
	t.Run("zip", func(t *testing.T) {
		got := readZip(t, Zip(map[string][]byte{"a.txt": []byte("a"), "b/c.txt": []byte("c")}))
		if string(got["a.txt"]) != "a" || string(got["b/c.txt"]) != "c" || len(got) != 2 {
			t.Errorf("got %q", got)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		files := map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}
		if !bytes.Equal(Zip(files), Zip(files)) || !bytes.Equal(TarGz(files), TarGz(files)) {
			t.Error("the same files gave different archives")
		}
	})
	t.Run("nested", func(t *testing.T) {
		data := Nested(3, "leaf.exe", []byte("MZ"))
		for _, name := range []string{"layer2.zip", "layer3.zip"} {
			data = readZip(t, data)[name]
		}
		if got := readZip(t, data)["leaf.exe"]; string(got) != "MZ" {
			t.Errorf("leaf = %q", got)
		}
		if got := Nested(0, "x", []byte("leaf")); string(got) != "leaf" {
			t.Errorf("zero layers = %q", got)
		}
	})
	t.Run("bomb", func(t *testing.T) {
		const size = 5<<20 + 123
		got := readZip(t, Bomb(size))["zeros.bin"] // Open checks the CRC
		if len(got) != size || !bytes.Equal(got, make([]byte, size)) {
			t.Errorf("bomb held %d bytes, want %d zeros", len(got), size)
		}
	})
	t.Run("zip64 bomb", func(t *testing.T) {
		data := Bomb(10 << 30)
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if f := zr.File[0]; f.UncompressedSize64 != 10<<30 || len(data) > 11<<20 {
			t.Errorf("declared %d bytes in a %d byte zip", f.UncompressedSize64, len(data))
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		data := Encrypted("secret.exe")
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		f := zr.File[0]
		if f.Name != "secret.exe" || f.Flags&1 == 0 {
			t.Fatalf("entry %s flags %#x", f.Name, f.Flags)
		}
		raw, err := f.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := io.ReadAll(raw)
		if got := decrypt(enc, "infected"); crc32.ChecksumIEEE(got) != f.CRC32 {
			t.Errorf("decrypted %q does not match the CRC", got)
		}
	})
	t.Run("ooxml", func(t *testing.T) {
		got := readZip(t, OOXML(5, true))
		for _, name := range []string{"[Content_Types].xml", "word/document.xml", "word/part5.xml", "word/vbaProject.bin"} {
			if _, ok := got[name]; !ok {
				t.Errorf("no %s", name)
			}
		}
		if len(got) != 3+5+1 {
			t.Errorf("%d parts", len(got))
		}
		if _, ok := readZip(t, OOXML(0, false))["word/vbaProject.bin"]; ok {
			t.Error("macros without asking")
		}
	})
	t.Run("tar.gz", func(t *testing.T) {
		gr, err := gzip.NewReader(bytes.NewReader(TarGz(map[string][]byte{"x/run.sh": []byte("#!/bin/sh\n")})))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gr)
		hdr, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if hdr.Name != "x/run.sh" || string(b) != "#!/bin/sh\n" {
			t.Errorf("%s: %q", hdr.Name, b)
		}
	})
}

// decrypt undoes ZipCrypto and drops the 12-byte header.
func decrypt(enc []byte, password string) []byte {
	k := newZipCrypto(password)
	out := make([]byte, len(enc))
	for i, c := range enc {
		t := k[2] | 2
		out[i] = c ^ byte((t*(t^1))>>8)
		k.update(out[i])
	}
	return out[12:]
}
