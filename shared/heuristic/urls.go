package heuristic

import (
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/moatmail/moat/shared/message"
)

// URL is a web link found in a message: an HTML href or a URL written in the text.
type URL struct {
	Host string // lower case, without port or brackets; IDN kept as written (xn-- or Unicode)
	Text string // the visible text of an HTML link; empty for URLs in text
	Href bool   // from an HTML href
}

// maxTextURLs bounds the URLs taken from the text.
const maxTextURLs = 200

// URLs returns the http(s) links of m: the HTML hrefs first, then URLs written in the text
// ("http://", "https://" or "www." followed by a host).
func URLs(m *message.Message) []URL {
	var out []URL
	for _, l := range m.Links {
		if h, ok := urlHost(l.Href); ok {
			out = append(out, URL{Host: h, Text: l.Text, Href: true})
		}
	}
	t := m.Text
	n := 0
	for n < maxTextURLs {
		i := indexURL(t)
		if i < 0 {
			break
		}
		t = t[i:]
		end := strings.IndexAny(t, " \t\r\n<>\"'(){}|\\^`")
		if end < 0 {
			end = len(t)
		}
		if h, ok := urlHost(strings.TrimRight(t[:end], ".,;:!?")); ok {
			out = append(out, URL{Host: h})
			n++
		}
		t = t[max(end, 1):]
	}
	return out
}

// indexURL finds the next "http://", "https://" or "www." (case-insensitive) in s.
func indexURL(s string) int {
	for i := 0; i+4 <= len(s); i++ {
		c := s[i] | 0x20
		if c != 'h' && c != 'w' {
			continue
		}
		if c == 'w' {
			if strings.EqualFold(s[i:i+4], "www.") && (i == 0 || !isHostByte(s[i-1])) {
				return i
			}
			continue
		}
		if i+7 <= len(s) && strings.EqualFold(s[i:i+7], "http://") || i+8 <= len(s) && strings.EqualFold(s[i:i+8], "https://") {
			return i
		}
	}
	return -1
}

func isHostByte(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c >= 0x80
}

// urlHost returns the host of an http(s) URL or a "www." reference, lower case, without
// user info, port or IPv6 brackets.
func urlHost(u string) (string, bool) {
	u = strings.TrimSpace(u)
	switch {
	case hasPrefixFold(u, "http://"):
		u = u[7:]
	case hasPrefixFold(u, "https://"):
		u = u[8:]
	case hasPrefixFold(u, "www."):
	case strings.HasPrefix(u, "//"):
		u = u[2:]
	default:
		return "", false
	}
	u = strings.TrimLeft(u, "/\\")
	if i := strings.IndexAny(u, "/?#\\"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if strings.HasPrefix(u, "[") {
		if i := strings.IndexByte(u, ']'); i > 0 {
			return strings.ToLower(u[1:i]), true
		}
		return "", false
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	u = strings.TrimSuffix(strings.ToLower(u), ".")
	if u == "" {
		return "", false
	}
	return u, true
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// isIPHost reports whether host is an IP address, also in the forms browsers accept for IPv4:
// one decimal or hexadecimal number ("3232235777", "0xc0a80001").
func isIPHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "" || strings.Contains(host, ".") {
		return false
	}
	_, err := strconv.ParseUint(host, 0, 32)
	return err == nil
}

// registered returns the registrable domain of host (example.co.uk for www.example.co.uk),
// or host itself when it has none (an IP, a public suffix, a single label).
func registered(host string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// unicodeHost returns host with punycode labels decoded, or host when they do not decode.
func unicodeHost(host string) string {
	if !strings.Contains(host, "xn--") {
		return host
	}
	u, err := idna.ToUnicode(host)
	if err != nil {
		return host
	}
	return u
}

// shorteners are URL shortening services.
var shorteners = map[string]bool{
	"bit.ly": true, "bitly.com": true, "tinyurl.com": true, "goo.gl": true, "t.co": true,
	"ow.ly": true, "is.gd": true, "buff.ly": true, "rebrand.ly": true, "cutt.ly": true,
	"shorturl.at": true, "tiny.cc": true, "rb.gy": true, "t.ly": true, "v.gd": true,
	"bl.ink": true, "short.io": true, "s.id": true, "lnkd.in": true, "qrco.de": true,
	"tr.im": true, "snip.ly": true, "x.co": true, "shorte.st": true, "adf.ly": true,
	"soo.gd": true, "clck.ru": true, "u.to": true, "2no.co": true, "urlz.fr": true,
}

// LinkDomains returns the distinct registrable domains of m's links, in order of appearance,
// at most max: what a caller looks up in URI block lists for Context.ListedDomains. IP
// addresses are left out.
func LinkDomains(m *message.Message, max int) []string {
	var out []string
	seen := map[string]bool{}
	for _, u := range URLs(m) {
		if len(out) >= max {
			break
		}
		if isIPHost(u.Host) {
			continue
		}
		d := registered(u.Host)
		if !seen[d] && strings.Contains(d, ".") {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
