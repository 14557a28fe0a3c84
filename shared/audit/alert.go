package audit

import (
	"fmt"
	"strings"

	"github.com/moatmail/moat/shared/dnsbl"
)

// MaxAlertChanges bounds the changes an alert spells out; the rest are counted (SNS messages
// are at most 256 KB, and e-mail subscribers read the top).
const MaxAlertChanges = 200

// Alert writes the one message a run sends: a subject (ASCII, under SNS's 100 characters) and
// a plain-text body listing every change with the code's meaning and the delisting link or
// advice. No changes: empty strings, and nothing is sent.
func Alert(changes []Change, rep Report, stage string) (subject, body string) {
	if len(changes) == 0 {
		return "", ""
	}
	count := map[ChangeKind]int{}
	for _, c := range changes {
		count[c.Kind]++
	}
	var parts []string
	for _, k := range []struct {
		kind       ChangeKind
		one, other string
	}{
		{ChangeListed, "new listing", "new listings"},
		{ChangeASNListed, "new ASN listing", "new ASN listings"},
		{ChangeListingChanged, "changed listing", "changed listings"},
		{ChangeDelisted, "delisting", "delistings"},
		{ChangeASNDelisted, "ASN delisting", "ASN delistings"},
		{ChangeZoneUnusable, "zone unusable", "zones unusable"},
		{ChangeZoneUsable, "zone usable again", "zones usable again"},
	} {
		switch n := count[k.kind]; n {
		case 0:
		case 1:
			parts = append(parts, "1 "+k.one)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, k.other))
		}
	}
	prefix := "Moat blocklist audit"
	if stage != "" {
		prefix += " (" + stage + ")"
	}
	subject = prefix + ": " + strings.Join(parts, ", ")
	if len(subject) > 100 {
		subject = subject[:97] + "..."
	}

	var b strings.Builder
	fmt.Fprintf(&b, "The blocklist audit of %s found %d change(s) since the previous run (%d targets, %d zones).\n",
		rep.Time.Format("2006-01-02 15:04 UTC"), len(changes), len(rep.Targets), len(rep.Zones))
	sections := []struct {
		kind  ChangeKind
		title string
	}{
		{ChangeListed, "NEWLY LISTED"},
		{ChangeASNListed, "NEW ASN LISTINGS (collateral: the whole network is listed, not your IPs)"},
		{ChangeListingChanged, "LISTING CHANGED"},
		{ChangeDelisted, "DELISTED"},
		{ChangeASNDelisted, "ASN LISTINGS ENDED"},
		{ChangeZoneUnusable, "ZONES UNUSABLE (their results are errors until fixed)"},
		{ChangeZoneUsable, "ZONES USABLE AGAIN"},
	}
	written := 0
	for _, s := range sections {
		if count[s.kind] == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n", s.title)
		for _, c := range changes {
			if c.Kind != s.kind {
				continue
			}
			if written == MaxAlertChanges {
				break
			}
			written++
			writeChange(&b, c)
		}
	}
	if written < len(changes) {
		fmt.Fprintf(&b, "\n... and %d more change(s): run moatctl audit report.\n", len(changes)-written)
	}
	own, collateral := rep.Listings()
	fmt.Fprintf(&b, "\nNow: %d target(s) listed in their own right, %d network listing(s) (collateral). "+
		"Full state and history: moatctl audit report\n", own, collateral)
	return subject, b.String()
}

func writeChange(b *strings.Builder, c Change) {
	as := ""
	if c.ASN != 0 {
		as = " (" + asnLabel(c.ASN)
		if c.ASName != "" {
			as += " " + c.ASName
		}
		as += ")"
	}
	code := ""
	if c.Code != "" {
		code = " " + c.Code
	}
	switch c.Kind {
	case ChangeListed, ChangeListingChanged:
		level := ""
		if c.Level == dnsbl.LevelAllocation {
			level = " [allocation listing: collateral]"
		}
		fmt.Fprintf(b, "- %s%s in %s:%s %s%s\n", c.Target, as, c.Zone, code, c.Meaning, level)
	case ChangeDelisted:
		fmt.Fprintf(b, "- %s%s is no longer listed in %s (was%s %s)\n", c.Target, as, c.Zone, code, c.Meaning)
	case ChangeASNListed:
		name := asnLabel(c.ASN)
		if c.ASName != "" {
			name += " " + c.ASName
		}
		fmt.Fprintf(b, "- %s in %s:%s %s\n  your IPs in it: %s\n", name, c.Zone, code, c.Meaning, joinCapped(c.Targets, 20))
	case ChangeASNDelisted:
		name := asnLabel(c.ASN)
		if c.ASName != "" {
			name += " " + c.ASName
		}
		fmt.Fprintf(b, "- %s is no longer listed in %s (your IPs: %s)\n", name, c.Zone, joinCapped(c.Targets, 20))
	case ChangeZoneUnusable:
		fmt.Fprintf(b, "- %s: %s\n", c.Zone, c.Meaning)
	case ChangeZoneUsable:
		fmt.Fprintf(b, "- %s answers correctly again\n", c.Zone)
	}
	if c.DelistURL != "" {
		fmt.Fprintf(b, "  delisting: %s\n", c.DelistURL)
	}
	if c.Advice != "" {
		fmt.Fprintf(b, "  advice: %s\n", c.Advice)
	}
}

func joinCapped(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:n], ", "), len(s)-n)
}
