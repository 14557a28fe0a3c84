package dnsbl

import (
	"fmt"
	"net/netip"
)

// Catalogue returns the default zones, freshly allocated so callers may change them. SORBS
// is not among them: it shut down in 2024.
//
//	name          host                      kind    level       codes
//	spamhaus-zen  zen.spamhaus.org (DQS)    ip      single      SBL .2, CSS .3, XBL .4-.7, DROP .9, PBL .10/.11, BCL .30
//	spamhaus-dbl  dbl.spamhaus.org (DQS)    domain  single      127.0.1.2-.6, abused-legit 127.0.1.102-.106
//	spamcop       bl.spamcop.net            ip      single      .2
//	barracuda     b.barracudacentral.org    ip      single      .2
//	psbl          psbl.surriel.com          ip      single      .2
//	mailspike-bl  bl.mailspike.net          ip      single      .2 (Z), .10-.14 reputation L5-L1
//	mailspike-z   z.mailspike.net           ip      single      .2 (zero-hour)
//	uceprotect-1  dnsbl-1.uceprotect.net    ip      single      .2
//	uceprotect-2  dnsbl-2.uceprotect.net    ip      allocation  .2
//	uceprotect-3  dnsbl-3.uceprotect.net    ip      asn         .2 (an ASN listing: collateral)
//	surbl-multi   multi.surbl.org           domain  single      bitmask PH 8, MW 16, ABUSE 64, CR 128
//	uribl-multi   multi.uribl.com           domain  single      bitmask black 2, grey 4, red 8
//
// Error codes: Spamhaus 127.255.255.250-.255 (DQS key disabled or rejected, typo, public or
// open resolver, excessive queries) and for the DBL 127.0.1.255 (IP queried); SURBL and URIBL
// 127.0.0.1 (query refused).
func Catalogue() []Zone {
	return []Zone{
		spamhausZEN(), spamhausDBL(),
		single("spamcop", "bl.spamcop.net", "SpamCop Blocking List: IPs reported by SpamCop users and seen at its spam traps.",
			code2("SpamCop: reported as a spam source within the last day", SeverityMedium),
			"https://www.spamcop.net/bl.shtml",
			"Listings expire by themselves about 24 hours after the reports stop; find and stop the source of the reports.", true),
		single("barracuda", "b.barracudacentral.org", "Barracuda Reputation Block List. Answers only resolvers registered at barracudacentral.org.",
			code2("Barracuda BRBL: poor sending reputation (spam seen by Barracuda)", SeverityMedium),
			"https://www.barracudacentral.org/rbl/removal-request",
			"Request removal once the cause is fixed; the resolver used for lookups must be registered with Barracuda.", true),
		single("psbl", "psbl.surriel.com", "Passive Spam Block List: IPs that sent mail to its spam traps and are not known good senders.",
			code2("PSBL: sent mail to PSBL spam traps", SeverityMedium),
			"https://psbl.org/",
			"Listings expire by themselves when the trap hits stop; removal is self-service.", true),
		mailspikeBL(),
		single("mailspike-z", "z.mailspike.net", "Mailspike Z: IPs seen taking part in a distributed spam wave (zero-hour).",
			code2("Mailspike Z: seen in a distributed spam wave", SeverityHigh),
			"https://mailspike.org/",
			"Zero-hour listings are short-lived and expire by themselves once the spam stops.", false),
		uceprotect(1), uceprotect(2), uceprotect(3),
		surbl(), uribl(),
	}
}

// Select returns the zones of zones with the given names, in the order of names, or an error
// naming the first unknown one.
func Select(zones []Zone, names ...string) ([]Zone, error) {
	var out []Zone
	for _, n := range names {
		found := false
		for _, z := range zones {
			if z.Name == n {
				out = append(out, z)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown zone %q", n)
		}
	}
	return out, nil
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func code2(text string, sev Severity) map[netip.Addr]Meaning {
	return map[netip.Addr]Meaning{ip("127.0.0.2"): {Text: text, Listing: true, Severity: sev}}
}

func single(name, host, desc string, codes map[netip.Addr]Meaning, delist, advice string, testPoints bool) Zone {
	return Zone{
		Name: name, Description: desc, Host: host, Kind: KindIP, Level: LevelSingle,
		Codes: codes, DelistURL: delist, Advice: advice, TestPoints: testPoints,
	}
}

// spamhausErrors are the error codes of every Spamhaus zone: never listings.
func spamhausErrors() map[netip.Addr]string {
	return map[netip.Addr]string{
		ip("127.255.255.250"): "Spamhaus error: the DQS key is disabled",
		ip("127.255.255.251"): "Spamhaus error: the DQS key was rejected (not authorised, or in use elsewhere)",
		ip("127.255.255.252"): "Spamhaus error: typing error in the DNSBL name",
		ip("127.255.255.254"): "Spamhaus error: query via a public or open resolver (or one without attributable rDNS) refused; use a DQS key or your own resolver",
		ip("127.255.255.255"): "Spamhaus error: excessive number of queries from this resolver; use a DQS key",
	}
}

const spamhausAdvice = "Look the target up at https://check.spamhaus.org/ for the reason and the removal " +
	"procedure; fix the cause first. PBL entries are policy, not abuse: a mail server with proper rDNS can " +
	"remove its IP itself. Spamhaus refuses queries through public resolvers, including AWS's: configure a " +
	"DQS key (free for low volumes) or your own resolver."

func spamhausZEN() Zone {
	m := func(text string, sev Severity) Meaning { return Meaning{Text: text, Listing: true, Severity: sev} }
	xbl := m("Spamhaus XBL: exploited host (botnet infection, open proxy or other malware)", SeverityHigh)
	return Zone{
		Name:        "spamhaus-zen",
		Description: "Spamhaus ZEN: SBL, CSS, XBL, DROP and PBL in one zone.",
		Host:        "zen.spamhaus.org",
		DQSHost:     "zen.dq.spamhaus.net",
		Kind:        KindIP,
		Level:       LevelSingle,
		Codes: map[netip.Addr]Meaning{
			ip("127.0.0.2"):  m("Spamhaus SBL: spam source or spam operation", SeverityHigh),
			ip("127.0.0.3"):  m("Spamhaus CSS: low-reputation sender detected automatically (snowshoe or compromised)", SeverityMedium),
			ip("127.0.0.4"):  xbl,
			ip("127.0.0.5"):  xbl,
			ip("127.0.0.6"):  xbl,
			ip("127.0.0.7"):  xbl,
			ip("127.0.0.9"):  m("Spamhaus DROP: netblock hijacked or run by criminals", SeverityHigh),
			ip("127.0.0.10"): m("Spamhaus PBL (ISP maintained): end-user address that should not send to mail servers directly", SeverityLow),
			ip("127.0.0.11"): m("Spamhaus PBL (Spamhaus maintained): end-user address that should not send to mail servers directly", SeverityLow),
			ip("127.0.0.30"): m("Spamhaus BCL: botnet controller", SeverityHigh),
		},
		ErrorCodes: spamhausErrors(),
		DelistURL:  "https://check.spamhaus.org/",
		Advice:     spamhausAdvice,
		TestPoints: true,
	}
}

func spamhausDBL() Zone {
	m := func(text string, sev Severity) Meaning { return Meaning{Text: text, Listing: true, Severity: sev} }
	errs := spamhausErrors()
	errs[ip("127.0.1.255")] = "Spamhaus error: IP address queried in the DBL, which lists domains only"
	return Zone{
		Name:        "spamhaus-dbl",
		Description: "Spamhaus Domain Block List: domains in spam, phishing and malware.",
		Host:        "dbl.spamhaus.org",
		DQSHost:     "dbl.dq.spamhaus.net",
		Kind:        KindDomain,
		Level:       LevelSingle,
		Codes: map[netip.Addr]Meaning{
			ip("127.0.1.2"):   m("Spamhaus DBL: low-reputation (spam) domain", SeverityHigh),
			ip("127.0.1.3"):   m("Spamhaus DBL: spammed redirector domain (legacy code)", SeverityHigh),
			ip("127.0.1.4"):   m("Spamhaus DBL: phishing domain", SeverityHigh),
			ip("127.0.1.5"):   m("Spamhaus DBL: malware domain", SeverityHigh),
			ip("127.0.1.6"):   m("Spamhaus DBL: botnet C&C domain", SeverityHigh),
			ip("127.0.1.102"): m("Spamhaus DBL: abused legitimate domain (spam)", SeverityMedium),
			ip("127.0.1.103"): m("Spamhaus DBL: abused legitimate redirector", SeverityMedium),
			ip("127.0.1.104"): m("Spamhaus DBL: abused legitimate domain (phishing)", SeverityMedium),
			ip("127.0.1.105"): m("Spamhaus DBL: abused legitimate domain (malware)", SeverityMedium),
			ip("127.0.1.106"): m("Spamhaus DBL: abused legitimate domain (botnet C&C)", SeverityMedium),
		},
		ErrorCodes: errs,
		DelistURL:  "https://check.spamhaus.org/",
		Advice:     spamhausAdvice,
		TestPoints: true,
		TestListed: "dbltest.com",
	}
}

func mailspikeBL() Zone {
	m := func(text string, sev Severity) Meaning { return Meaning{Text: text, Listing: true, Severity: sev} }
	return Zone{
		Name:        "mailspike-bl",
		Description: "Mailspike BL: the Z zone plus IPs of reputation L3 to L5 (bad to worst).",
		Host:        "bl.mailspike.net",
		Kind:        KindIP,
		Level:       LevelSingle,
		Codes: map[netip.Addr]Meaning{
			ip("127.0.0.2"):  m("Mailspike Z: seen in a distributed spam wave", SeverityHigh),
			ip("127.0.0.10"): m("Mailspike L5: worst possible reputation", SeverityHigh),
			ip("127.0.0.11"): m("Mailspike L4: very bad reputation", SeverityHigh),
			ip("127.0.0.12"): m("Mailspike L3: bad reputation", SeverityMedium),
			ip("127.0.0.13"): m("Mailspike L2: suspicious behaviour", SeverityLow),
			ip("127.0.0.14"): m("Mailspike L1: neutral, probably spam", SeverityLow),
		},
		DelistURL: "https://mailspike.org/",
		Advice:    "Mailspike listings are automated and temporary: reputation recovers once the spam stops; removal can be requested on its site.",
	}
}

const uceprotectAdvice = "UCEPROTECT listings expire by themselves (level 1 seven days after the last " +
	"trap hit). Do not pay for express delisting or \"whitelisting\". Levels 2 and 3 list the provider's " +
	"allocation or whole network, not this IP: ask the provider to deal with the abuse, and ask recipients " +
	"who reject on level 3 (or 2) to stop: UCEPROTECT itself warns of the collateral damage."

func uceprotect(level int) Zone {
	z := Zone{
		Name:       fmt.Sprintf("uceprotect-%d", level),
		Host:       fmt.Sprintf("dnsbl-%d.uceprotect.net", level),
		Kind:       KindIP,
		DelistURL:  "https://www.uceprotect.net/en/rblcheck.php",
		Advice:     uceprotectAdvice,
		TestPoints: true,
	}
	var text string
	sev := SeverityLow
	switch level {
	case 1:
		z.Level, z.Description = LevelSingle, "UCEPROTECT level 1: single IPs that hit its spam traps."
		text, sev = "UCEPROTECT level 1: this IP sent to UCEPROTECT spam traps", SeverityMedium
	case 2:
		z.Level, z.Description = LevelAllocation, "UCEPROTECT level 2: allocations holding too many level-1 IPs."
		text = "UCEPROTECT level 2: the IP's allocation is listed (collateral)"
	case 3:
		z.Level, z.Description = LevelASN, "UCEPROTECT level 3: whole ASNs holding too many level-1 IPs."
		text = "UCEPROTECT level 3: the IP's whole ASN is listed (collateral, not about this IP)"
	}
	z.Codes = code2(text, sev)
	return z
}

func surbl() Zone {
	m := func(text string, sev Severity) Meaning { return Meaning{Text: text, Listing: true, Severity: sev} }
	return Zone{
		Name:        "surbl-multi",
		Description: "SURBL multi: domains in message bodies (URIs), bitmasked into the answer's last octet.",
		Host:        "multi.surbl.org",
		Kind:        KindDomain,
		Level:       LevelSingle,
		Bits: map[uint8]Meaning{
			8:   m("SURBL PH: phishing site", SeverityHigh),
			16:  m("SURBL MW: malware site", SeverityHigh),
			64:  m("SURBL ABUSE: spam or abuse site", SeverityHigh),
			128: m("SURBL CR: cracked (compromised) site", SeverityMedium),
		},
		ErrorCodes: map[netip.Addr]string{
			ip("127.0.0.1"): "SURBL error: query blocked (public resolver or excessive queries)",
		},
		DelistURL:  "https://www.surbl.org/surbl-analysis",
		Advice:     "Clean the site (compromised pages, open redirects) before requesting removal.",
		TestPoints: true,
		TestListed: "test.surbl.org",
	}
}

func uribl() Zone {
	m := func(text string, sev Severity) Meaning { return Meaning{Text: text, Listing: true, Severity: sev} }
	return Zone{
		Name:        "uribl-multi",
		Description: "URIBL multi: domains in message bodies, bitmasked (black, grey, red).",
		Host:        "multi.uribl.com",
		Kind:        KindDomain,
		Level:       LevelSingle,
		Bits: map[uint8]Meaning{
			2: m("URIBL black: domain used by spammers", SeverityHigh),
			4: m("URIBL grey: domain in bulk mail that may also be legitimate", SeverityLow),
			8: m("URIBL red: very young or whois-private domain active in mail flow (automated)", SeverityLow),
		},
		ErrorCodes: map[netip.Addr]string{
			ip("127.0.0.1"): "URIBL error: query refused (public or shared resolver, or excessive queries)",
		},
		DelistURL:  "https://admin.uribl.com/",
		Advice:     "Request removal through the URIBL lookup page (an account is needed) once the domain no longer appears in unwanted mail.",
		TestPoints: true,
		TestListed: "test.uribl.com",
	}
}
