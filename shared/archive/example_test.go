package archive_test

import (
	"fmt"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/archive/archivetest"
	"github.com/moatmail/moat/shared/filetype"
)

func ExampleInspect() {
	// An executable, in a zip, in a tar.gz.
	inner := archivetest.Zip(map[string][]byte{"invoice.pdf.exe": []byte("MZ\x90\x00\x03\x00\x00\x00")})
	attachment := archivetest.TarGz(map[string][]byte{"scans/docs.zip": inner})

	r := archive.Inspect(attachment, filetype.Detect(attachment), archive.DefaultLimits)
	for _, e := range r.Entries {
		fmt.Printf("%d %s %s executable=%v\n", e.Depth, e.Path, e.Type, e.Type.Executable())
	}
	fmt.Printf("format=%s depth=%d files=%d exceeded=%v\n", r.Format, r.Depth, r.Files, r.Exceeded)

	// A zip bomb: 10 GiB of zeros, stopped at the byte limit.
	bomb := archivetest.Bomb(10 << 30)
	r = archive.Inspect(bomb, filetype.ZIP, archive.DefaultLimits)
	fmt.Printf("bomb: exceeded=%v after %d MiB\n", r.Exceeded, r.Bytes>>20)

	// Output:
	// 1 scans/docs.zip zip executable=false
	// 2 scans/docs.zip/invoice.pdf.exe pe executable=true
	// format=gzip depth=2 files=2 exceeded=[]
	// bomb: exceeded=[bytes] after 60 MiB
}
