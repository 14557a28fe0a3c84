package dnsbl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Kind says what a zone lists, and so how a target is turned into a query name.
type Kind string

const (
	KindIP     Kind = "ip"     // IP addresses: reversed octets, or nibbles for IPv6 (RFC 5782 §2.1, §2.4)
	KindDomain Kind = "domain" // domain names, queried as themselves (RFC 5782 §2.3)
)

// Level says how much address space one listing covers. A listing on a zone wider than a
// single IP says more about the neighbours than about the IP itself.
type Level string

const (
	LevelSingle     Level = "single"     // the IP or domain itself
	LevelAllocation Level = "allocation" // the provider's allocation or subnet containing the IP
	LevelASN        Level = "asn"        // the whole autonomous system: collateral for most IPs in it
)

// Severity ranks what a listing says about the target. Policy decides what each rank does.
type Severity int

const (
	SeverityNone   Severity = iota // not a listing
	SeverityLow                    // policy listings, grey lists, listings of a wider level than the IP
	SeverityMedium                 // automated, short-lived listings (spam-trap hits, reports)
	SeverityHigh                   // confirmed abuse: spam operations, exploited hosts, phishing, malware
)

var severityNames = []string{"none", "low", "medium", "high"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(severityNames) {
		return nil, fmt.Errorf("invalid severity %d", int(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if string(b) == n {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q (want one of %s)", b, strings.Join(severityNames, ", "))
}

// Meaning is what one return code of a zone says.
type Meaning struct {
	Text     string   `json:"text"`
	Listing  bool     `json:"listing"`            // false for known codes that are not listings (e.g. good reputation)
	Severity Severity `json:"severity,omitempty"` // for listings
}

// Zone is one DNS block list and the meaning of its answers. The default zones are in
// Catalogue; operators add their own with ParseZone.
type Zone struct {
	Name        string `json:"name"` // stable identifier, e.g. "spamhaus-zen"; used in results, alerts and config
	Description string `json:"description,omitempty"`
	Host        string `json:"host"`              // e.g. "zen.spamhaus.org"
	DQSHost     string `json:"dqsHost,omitempty"` // with a Spamhaus DQS key, queries go to <key>.<DQSHost>
	Kind        Kind   `json:"kind"`
	Level       Level  `json:"level"`

	// Codes maps an exact A answer to its meaning.
	Codes map[netip.Addr]Meaning `json:"codes,omitempty"`
	// Bits decodes bitmask zones (SURBL, URIBL): each key is one bit of the answer's last
	// octet. Consulted for answers not in Codes or ErrorCodes.
	Bits map[uint8]Meaning `json:"bits,omitempty"`
	// ErrorCodes are answers that report a problem with the query (typo, public resolver,
	// rate limit, refused): errors, never listings.
	ErrorCodes map[netip.Addr]string `json:"errorCodes,omitempty"`

	DelistURL string `json:"delistURL,omitempty"`
	Advice    string `json:"advice,omitempty"` // what to tell an operator whose target is listed

	// TestPoints says the zone lists its RFC 5782 §5 positive test point: 127.0.0.2 for IP
	// zones, TestListed (default "test") for domain zones. The negative test point (127.0.0.1,
	// "invalid") must never be listed and is checked for every zone.
	TestPoints bool   `json:"testPoints,omitempty"`
	TestListed string `json:"testListed,omitempty"`
}

// ErrZone wraps every validation error of a zone definition.
var ErrZone = errors.New("invalid zone")

// ParseZone reads one zone definition in JSON (the form Zone marshals to) and validates it.
// Unknown fields are errors, so a misspelt field is reported rather than ignored.
func ParseZone(data []byte) (Zone, error) {
	var z Zone
	if err := z.UnmarshalJSON(data); err != nil {
		return Zone{}, err
	}
	return z, nil
}

// ParseZones reads a JSON array of zone definitions, validates each and rejects duplicate names.
func ParseZones(data []byte) ([]Zone, error) {
	var zones []Zone
	if err := json.Unmarshal(data, &zones); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, z := range zones {
		if seen[z.Name] {
			return nil, fmt.Errorf("%w %q: name: duplicate", ErrZone, z.Name)
		}
		seen[z.Name] = true
	}
	return zones, nil
}

// zoneJSON has string map keys so a bad code is reported with its field.
type zoneJSON struct {
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	Host        string             `json:"host"`
	DQSHost     string             `json:"dqsHost,omitempty"`
	Kind        Kind               `json:"kind"`
	Level       Level              `json:"level"`
	Codes       map[string]Meaning `json:"codes,omitempty"`
	Bits        map[string]Meaning `json:"bits,omitempty"`
	ErrorCodes  map[string]string  `json:"errorCodes,omitempty"`
	DelistURL   string             `json:"delistURL,omitempty"`
	Advice      string             `json:"advice,omitempty"`
	TestPoints  bool               `json:"testPoints,omitempty"`
	TestListed  string             `json:"testListed,omitempty"`
}

// UnmarshalJSON decodes and validates a zone definition; see ParseZone.
func (z *Zone) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j zoneJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: %w", ErrZone, err)
	}
	nz := Zone{
		Name: j.Name, Description: j.Description, Host: j.Host, DQSHost: j.DQSHost,
		Kind: j.Kind, Level: j.Level, DelistURL: j.DelistURL, Advice: j.Advice,
		TestPoints: j.TestPoints, TestListed: j.TestListed,
	}
	if nz.Level == "" {
		nz.Level = LevelSingle
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w %q: %s: %s", ErrZone, j.Name, field, fmt.Sprintf(format, args...))
	}
	if len(j.Codes) > 0 {
		nz.Codes = map[netip.Addr]Meaning{}
		for k, m := range j.Codes {
			a, err := netip.ParseAddr(k)
			if err != nil {
				return bad(fmt.Sprintf("codes[%q]", k), "not an IPv4 address")
			}
			nz.Codes[a] = m
		}
	}
	if len(j.Bits) > 0 {
		nz.Bits = map[uint8]Meaning{}
		for k, m := range j.Bits {
			b, err := strconv.ParseUint(k, 10, 8)
			if err != nil {
				return bad(fmt.Sprintf("bits[%q]", k), "not a number from 1 to 128")
			}
			nz.Bits[uint8(b)] = m
		}
	}
	if len(j.ErrorCodes) > 0 {
		nz.ErrorCodes = map[netip.Addr]string{}
		for k, t := range j.ErrorCodes {
			a, err := netip.ParseAddr(k)
			if err != nil {
				return bad(fmt.Sprintf("errorCodes[%q]", k), "not an IPv4 address")
			}
			nz.ErrorCodes[a] = t
		}
	}
	if err := nz.Validate(); err != nil {
		return err
	}
	*z = nz
	return nil
}

var (
	loopback8   = netip.MustParsePrefix("127.0.0.0/8")
	errorRange  = netip.MustParsePrefix("127.255.255.0/24") // Spamhaus's error codes; never listings
	testNotIP   = netip.MustParseAddr("127.0.0.1")
	testListIP  = netip.MustParseAddr("127.0.0.2")
	testNotName = "invalid"
)

// Validate checks a zone definition and names the first bad field.
func (z Zone) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w %q: %s: %s", ErrZone, z.Name, field, fmt.Sprintf(format, args...))
	}
	if z.Name == "" {
		return bad("name", "missing")
	}
	for _, c := range z.Name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return bad("name", "use lower-case letters, digits and '-'")
		}
	}
	if err := checkHost(z.Host); err != nil {
		return bad("host", "%v", err)
	}
	if z.DQSHost != "" {
		if err := checkHost(z.DQSHost); err != nil {
			return bad("dqsHost", "%v", err)
		}
	}
	switch z.Kind {
	case KindIP, KindDomain:
	case "":
		return bad("kind", "missing (ip or domain)")
	default:
		return bad("kind", "%q is neither ip nor domain", z.Kind)
	}
	switch z.Level {
	case LevelSingle, LevelAllocation, LevelASN:
	default:
		return bad("level", "%q is not single, allocation or asn", z.Level)
	}
	for a, m := range z.Codes {
		f := fmt.Sprintf("codes[%q]", a)
		if !a.Is4() || !loopback8.Contains(a) {
			return bad(f, "return codes are IPv4 addresses in 127.0.0.0/8")
		}
		if _, ok := z.ErrorCodes[a]; ok {
			return bad(f, "also an error code")
		}
		if err := checkMeaning(m); err != nil {
			return bad(f, "%v", err)
		}
	}
	for b, m := range z.Bits {
		f := fmt.Sprintf("bits[%d]", b)
		if bits.OnesCount8(b) != 1 {
			return bad(f, "a bit is a power of two from 1 to 128")
		}
		if err := checkMeaning(m); err != nil {
			return bad(f, "%v", err)
		}
	}
	for a, t := range z.ErrorCodes {
		f := fmt.Sprintf("errorCodes[%q]", a)
		if !a.Is4() || !loopback8.Contains(a) {
			return bad(f, "return codes are IPv4 addresses in 127.0.0.0/8")
		}
		if strings.TrimSpace(t) == "" {
			return bad(f, "missing text")
		}
	}
	if z.TestListed != "" {
		if z.Kind == KindIP {
			if _, err := netip.ParseAddr(z.TestListed); err != nil {
				return bad("testListed", "not an IP address")
			}
		} else if err := checkDomain(z.TestListed); err != nil {
			return bad("testListed", "%v", err)
		}
	}
	return nil
}

func checkMeaning(m Meaning) error {
	if strings.TrimSpace(m.Text) == "" {
		return errors.New("text: missing")
	}
	if m.Severity < SeverityNone || m.Severity > SeverityHigh {
		return errors.New("severity: out of range")
	}
	if !m.Listing && m.Severity != SeverityNone {
		return errors.New("severity: only listings have one")
	}
	return nil
}

func checkHost(h string) error {
	if h == "" {
		return errors.New("missing")
	}
	if strings.HasSuffix(h, ".") {
		return errors.New("no trailing dot")
	}
	if h != strings.ToLower(h) {
		return errors.New("use lower case")
	}
	return checkDomain(h)
}

// checkDomain accepts ASCII domain names: labels of letters, digits, '-' and '_'.
func checkDomain(d string) error {
	if d == "" {
		return errors.New("empty name")
	}
	if len(d) > 253 {
		return errors.New("name longer than 253 characters")
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" {
			return errors.New("empty label")
		}
		if len(l) > 63 {
			return errors.New("label longer than 63 characters")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("label %q: only ASCII letters, digits, '-' and '_'", l)
			}
		}
	}
	return nil
}

// ReverseIP returns the RFC 5782 form of an address: "4.3.2.1" for 1.2.3.4, and 32 dot
// separated nibbles, least significant first, for an IPv6 address. IPv4-mapped IPv6
// addresses are treated as IPv4.
func ReverseIP(ip netip.Addr) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d", a[3], a[2], a[1], a[0])
		return b.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	for i := 15; i >= 0; i-- {
		if i < 15 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
	}
	return b.String()
}

// target is a parsed lookup target.
type target struct {
	ip     netip.Addr // valid for IP targets
	domain string     // lower case, no trailing dot, for domain targets
}

func (t target) kind() Kind {
	if t.ip.IsValid() {
		return KindIP
	}
	return KindDomain
}

func (t target) String() string {
	if t.ip.IsValid() {
		return t.ip.String()
	}
	return t.domain
}

// ErrTarget is returned for a target that is neither an IP address nor a domain name.
var ErrTarget = errors.New("invalid target")

func parseTarget(s string) (target, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		if ip.Zone() != "" {
			return target{}, fmt.Errorf("%w %q: IPv6 zone not allowed", ErrTarget, s)
		}
		return target{ip: ip.Unmap()}, nil
	}
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	if err := checkDomain(d); err != nil {
		return target{}, fmt.Errorf("%w %q: %v", ErrTarget, s, err)
	}
	return target{domain: d}, nil
}

// host is the zone's query suffix: with a DQS key and a DQS host, <key>.<DQSHost>.
func (z Zone) host(dqsKey string) string {
	if dqsKey != "" && z.DQSHost != "" {
		return dqsKey + "." + z.DQSHost
	}
	return z.Host
}

// QueryName returns the fully qualified name to look up for target (an IP address for IP
// zones, a domain for domain zones) in the zone, through DQS when dqsKey is set and the zone
// supports it. The name contains the key: do not log it.
func (z Zone) QueryName(targetName, dqsKey string) (string, error) {
	t, err := parseTarget(targetName)
	if err != nil {
		return "", err
	}
	if t.kind() != z.Kind {
		return "", fmt.Errorf("%w %q: zone %s lists %s targets", ErrTarget, targetName, z.Name, z.Kind)
	}
	return z.queryName(t, dqsKey)
}

func (z Zone) queryName(t target, dqsKey string) (string, error) {
	var label string
	if t.ip.IsValid() {
		label = ReverseIP(t.ip)
	} else {
		label = t.domain
	}
	name := label + "." + z.host(dqsKey) + "."
	if len(name) > 254 {
		return "", fmt.Errorf("%w %q: query name too long", ErrTarget, t)
	}
	return name, nil
}

// testPoints returns the negative test point (never listed) and, if the zone supports RFC
// 5782 test points, the positive one.
func (z Zone) testPoints() (notListed target, listed *target) {
	if z.Kind == KindIP {
		notListed = target{ip: testNotIP}
	} else {
		notListed = target{domain: testNotName}
	}
	if !z.TestPoints {
		return notListed, nil
	}
	var t target
	switch {
	case z.Kind == KindIP && z.TestListed != "":
		t.ip = netip.MustParseAddr(z.TestListed).Unmap()
	case z.Kind == KindIP:
		t.ip = testListIP
	case z.TestListed != "":
		t.domain = strings.ToLower(z.TestListed)
	default:
		t.domain = "test"
	}
	return notListed, &t
}

// decoded is what a zone's answer means.
type decoded struct {
	status   Status
	meaning  string
	severity Severity
	err      error // for StatusError: wraps ErrCode or ErrUnexpectedAnswer
}

// decode interprets the A records of a positive answer. Error codes and answers outside
// 127.0.0.0/8 make the whole answer an error; known non-listing codes alone mean not listed;
// any other code in 127.0.0.0/8 is a listing (RFC 5782 §2.1), with "unknown code" when the
// catalogue does not know it.
func (z Zone) decode(codes []netip.Addr) decoded {
	var listings, others, codeErrs, unexpected []string
	sev := SeverityNone
	list := func(m Meaning) {
		listings = append(listings, m.Text)
		sev = max(sev, m.Severity)
	}
	for _, c := range codes {
		c = c.Unmap()
		if !c.Is4() || !loopback8.Contains(c) {
			unexpected = append(unexpected, c.String())
			continue
		}
		if t, ok := z.ErrorCodes[c]; ok {
			codeErrs = append(codeErrs, c.String()+": "+t)
			continue
		}
		if m, ok := z.Codes[c]; ok {
			if m.Listing {
				list(m)
			} else {
				others = append(others, m.Text)
			}
			continue
		}
		switch {
		case errorRange.Contains(c):
			codeErrs = append(codeErrs, c.String()+": unknown code in the error range 127.255.255.0/24")
		case c == testNotIP:
			codeErrs = append(codeErrs, c.String()+": 127.0.0.1 is not a listing code (usually: query refused)")
		case len(z.Bits) > 0:
			last := c.As4()[3]
			var known uint8
			for b := uint8(1); b != 0; b <<= 1 {
				if m, ok := z.Bits[b]; ok && last&b != 0 {
					known |= b
					if m.Listing {
						list(m)
					} else {
						others = append(others, m.Text)
					}
				}
			}
			if known == 0 {
				list(Meaning{Text: fmt.Sprintf("listed (%s: unknown bits 0x%02x)", c, last), Listing: true, Severity: SeverityLow})
			}
		default:
			list(Meaning{Text: fmt.Sprintf("listed (%s: unknown code)", c), Listing: true, Severity: SeverityMedium})
		}
	}
	switch {
	case len(unexpected) > 0:
		msg := "answer outside 127.0.0.0/8: " + strings.Join(unexpected, ", ")
		return decoded{status: Error, meaning: msg, err: fmt.Errorf("%w: %s", ErrUnexpectedAnswer, msg)}
	case len(codeErrs) > 0:
		msg := strings.Join(codeErrs, "; ")
		return decoded{status: Error, meaning: msg, err: fmt.Errorf("%w %s", ErrCode, msg)}
	case len(listings) > 0:
		return decoded{status: Listed, meaning: strings.Join(listings, "; "), severity: sev}
	default:
		return decoded{status: NotListed, meaning: strings.Join(others, "; ")}
	}
}
