package policystore

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func addrs(domain string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("user%03d@%s", i, domain))
	}
	return out
}

// list reads the whole directory of domain through DirectoryList, limit at a time.
func list(t *testing.T, s *Store, domain string, limit int) ([]string, int) {
	t.Helper()
	var all []string
	pages := 0
	cursor := ""
	for {
		page, next, err := s.DirectoryList(t.Context(), domain, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		if limit > 0 && len(page) > limit {
			t.Errorf("page of %d addresses, limit %d", len(page), limit)
		}
		pages++
		all = append(all, page...)
		if next == "" {
			return all, pages
		}
		if pages > 100 {
			t.Fatal("the list does not end")
		}
		cursor = next
	}
}

func count(t *testing.T, s *Store, domain string) int {
	t.Helper()
	n, err := s.DirectoryCount(t.Context(), domain)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDirectoryDeltaAndReplace(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()

	// Import 120 addresses as a delta, with mixed case and a duplicate.
	first := addrs("example.com", 0, 120)
	in := slices.Clone(first)
	in[7] = strings.ToUpper(in[7])
	in = append(in, first[3])
	if err := s.DirectoryAdd(ctx, "Example.COM", in); err != nil {
		t.Fatal(err)
	}
	if err := s.DirectoryAdd(ctx, "example.org", addrs("example.org", 0, 5)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "example.com"); n != 120 {
		t.Errorf("count after adding 120: %d", n)
	}
	got, pages := list(t, s, "example.com", 50)
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	if pages < 3 {
		t.Errorf("120 addresses came in %d pages of 50", pages)
	}

	// A delta adds to what is there.
	if err := s.DirectoryAdd(ctx, "example.com", addrs("example.com", 110, 130)); err != nil {
		t.Fatal(err)
	}
	if err := s.DirectoryRemove(ctx, "example.com", addrs("example.com", 0, 30)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "example.com"); n != 100 {
		t.Errorf("count after +10 new, -30: %d, want 100", n)
	}

	// A replace makes the directory exactly the new list: 60 kept, 60 new, the rest deleted.
	next := append(addrs("example.com", 70, 130), addrs("example.com", 200, 260)...)
	if err := s.DirectoryReplace(ctx, "example.com", next); err != nil {
		t.Fatal(err)
	}
	got, _ = list(t, s, "example.com", 0)
	want := slices.Sorted(slices.Values(next))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after replace (-want +got):\n%s", diff)
	}
	if n := count(t, s, "example.org"); n != 5 {
		t.Errorf("replacing example.com changed example.org: %d addresses", n)
	}

	has, err := s.DirectoryHas(ctx, []string{
		"USER070@example.com", "user259@example.com", // kept, new
		"user000@example.com", "user130@example.com", // deleted, never there
		"user001@example.org", "user001@example.net", // other domains
		"not an address", "",
	})
	if err != nil {
		t.Fatal(err)
	}
	wantHas := map[string]bool{
		"USER070@example.com": true, "user259@example.com": true,
		"user000@example.com": false, "user130@example.com": false,
		"user001@example.org": true, "user001@example.net": false,
		"not an address": false, "": false,
	}
	if diff := cmp.Diff(wantHas, has); diff != "" {
		t.Errorf("DirectoryHas (-want +got):\n%s", diff)
	}

	// Replace with nothing empties the directory.
	if err := s.DirectoryReplace(ctx, "example.com", nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "example.com"); n != 0 {
		t.Errorf("count after replacing with nothing: %d", n)
	}
}

func TestDirectoryHasManyAddresses(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if err := s.DirectoryAdd(ctx, "example.com", addrs("example.com", 0, 250)); err != nil {
		t.Fatal(err)
	}
	// 300 lookups (three BatchGetItem calls), half of them present, with repeats.
	look := append(addrs("example.com", 100, 400), "user000@example.com", "User000@Example.com")
	has, err := s.DirectoryHas(ctx, look)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range look {
		var i int
		fmt.Sscanf(strings.ToLower(a), "user%03d@", &i)
		if has[a] != (i < 250) {
			t.Errorf("DirectoryHas[%s] = %v", a, has[a])
		}
	}
	if len(has) != len(look) {
		t.Errorf("%d answers for %d addresses", len(has), len(look))
	}
}

func TestDirectoryValidation(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		domain string
		addrs  []string
		want   []string // in the error
	}{
		{"bad domain", "exa mple.com", []string{"a@example.com"}, []string{`domain: "exa mple.com" is not a valid domain name`}},
		{"address as domain", "a@example.com", nil, []string{`domain: "a@example.com"`}},
		{"one label", "localhost", nil, []string{`domain: "localhost"`, "two labels"}},
		{"bad address", "example.com", []string{"ok@example.com", "bob@@example.com", "x y@example.com"},
			[]string{`addrs[1]: "bob@@example.com" is not a valid address`, `addrs[2]: "x y@example.com"`}},
		{"other domain", "example.com", []string{"bob@example.org"}, []string{`addrs[0]: "bob@example.org" is not an address at example.com`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for op, f := range map[string]func() error{
				"add":     func() error { return s.DirectoryAdd(ctx, tt.domain, tt.addrs) },
				"remove":  func() error { return s.DirectoryRemove(ctx, tt.domain, tt.addrs) },
				"replace": func() error { return s.DirectoryReplace(ctx, tt.domain, tt.addrs) },
			} {
				err := f()
				if err == nil {
					t.Fatalf("%s accepted it", op)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not say %q", op, err, w)
					}
				}
			}
		})
	}
	if n := count(t, s, "example.com"); n != 0 {
		t.Errorf("refused imports wrote %d addresses", n)
	}

	many := make([]string, 80)
	for i := range many {
		many[i] = fmt.Sprintf("bad%d", i)
	}
	err := s.DirectoryAdd(ctx, "example.com", many)
	if err == nil || !strings.Contains(err.Error(), "addrs[49]") || strings.Contains(err.Error(), "addrs[50]") || !strings.Contains(err.Error(), "and 30 more") {
		t.Errorf("80 bad addresses: %v", err)
	}
	if _, _, err := s.DirectoryList(ctx, "example.com", "%%%", 10); err == nil {
		t.Error("DirectoryList accepted a bad cursor")
	}
	if _, _, err := s.DirectoryList(ctx, "example.com", "", MaxListLimit+1); err == nil {
		t.Error("DirectoryList accepted a limit over the maximum")
	}
}
