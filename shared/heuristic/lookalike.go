package heuristic

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// imitates says how the registrable domain cand imitates the protected registrable domain p,
// or "" when it does not: the same name under another public suffix, the same skeleton
// (homoglyphs, also in IDN), or one or two character edits of a long enough name.
func imitates(cand, p string) string {
	if cand == p || cand == "" {
		return ""
	}
	cl, cs := splitSuffix(unicodeHost(cand))
	pl, ps := splitSuffix(unicodeHost(p))
	if cl == "" || pl == "" || len(pl) < 4 {
		return ""
	}
	idn := strings.Contains(cand, "xn--") || hasNonASCII(cand)
	switch {
	case cl == pl && cs != ps:
		return "same name, other top-level domain"
	case skeleton(cl) == skeleton(pl) && idn:
		return "look-alike characters (IDN)"
	case skeleton(cl) == skeleton(pl):
		return "look-alike characters"
	}
	d := editDistance(cl, pl, 3)
	switch {
	case d == 1 && len(pl) >= 5:
		return "one character changed"
	case d == 2 && len(pl) >= 9:
		return "two characters changed"
	}
	return ""
}

// splitSuffix splits a registrable domain into its name and its public suffix.
func splitSuffix(reg string) (name, suffix string) {
	s, _ := publicsuffix.PublicSuffix(reg)
	if len(s) >= len(reg) {
		return "", s
	}
	return strings.TrimSuffix(reg[:len(reg)-len(s)], "."), s
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// confusables maps characters that look like Latin letters (Cyrillic, Greek, digits, accented
// forms) to them. A selection of Unicode's confusables.txt covering the usual phishing tricks.
var confusables = map[rune]string{
	'0': "o", '1': "l", '3': "e", '5': "s", '|': "l", 'i': "l", 'I': "l",
	'а': "a", 'в': "b", 'с': "c", 'ԁ': "d", 'е': "e", 'һ': "h", 'і': "l", 'ј': "j", 'к': "k",
	'м': "m", 'н': "h", 'о': "o", 'р': "p", 'ԛ': "q", 'ѕ': "s", 'т': "t", 'υ': "u", 'х': "x",
	'у': "y", 'ԝ': "w", 'ɡ': "g", 'ı': "l", 'ⅼ': "l", 'ο': "o", 'α': "a", 'ν': "v", 'ρ': "p",
	'ϲ': "c", 'κ': "k", 'τ': "t", 'ε': "e", 'ι': "l", 'β': "b",
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ç': "c", 'è': "e", 'é': "e",
	'ê': "e", 'ë': "e", 'ì': "l", 'í': "l", 'î': "l", 'ï': "l", 'ñ': "n", 'ò': "o", 'ó': "o",
	'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ý': "y",
	'ÿ': "y", 'ł': "l",
}

// skeleton maps a name to a canonical form in which look-alikes are equal: confusable
// characters replaced, "rn" read as "m", "vv" as "w", "cl" as "d", hyphens dropped.
func skeleton(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r == '-' {
			continue
		}
		if c, ok := confusables[r]; ok {
			b.WriteString(c)
		} else {
			b.WriteRune(r)
		}
	}
	t := b.String()
	t = strings.ReplaceAll(t, "rn", "m")
	t = strings.ReplaceAll(t, "vv", "w")
	t = strings.ReplaceAll(t, "cl", "d")
	return t
}

// editDistance is the optimal string alignment distance (Damerau–Levenshtein with adjacent
// transpositions) between a and b, capped at limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], limit)
}
