package verdict

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update", false, "rewrite the reason-code table in README.md")

// readmeTable renders Codes as the README's Markdown table.
func readmeTable() string {
	var b strings.Builder
	b.WriteString("| step | code | meaning |\n|---|---|---|\n")
	for _, c := range Codes {
		step := fmt.Sprint(c.Step)
		if c.Step == 0 {
			step = "–"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", step, c.Code, strings.ReplaceAll(c.Doc, "|", `\|`))
	}
	return b.String()
}

// TestReadmeCodes keeps the README's reason-code table equal to Codes.
func TestReadmeCodes(t *testing.T) {
	const path = "../../README.md"
	const start, end = "<!-- reason-codes:start -->\n", "<!-- reason-codes:end -->"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(start)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers", start, end)
	}
	want := readmeTable()
	if got := string(readme[i+len(start) : j]); got != want {
		if !*updateReadme {
			t.Fatalf("README.md's reason-code table differs from verdict.Codes: run go test ./shared/verdict -run TestReadmeCodes -update")
		}
		out := append(append(append([]byte{}, readme[:i+len(start)]...), want...), readme[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCodesUnique: every code is documented once.
func TestCodesUnique(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes {
		if seen[c.Code] || c.Doc == "" {
			t.Errorf("code %q documented twice or without text", c.Code)
		}
		seen[c.Code] = true
	}
}
