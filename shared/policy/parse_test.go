package policy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/invalid")

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatalf("example policy does not parse:\n%v", err)
	}
	if len(p.Domains) != 2 || !p.Domains["example.com"].Directory || len(p.Senders) != 6 || len(p.Rules) != 3 {
		t.Errorf("example parsed to an unexpected shape: %d domains, %d senders, %d rules", len(p.Domains), len(p.Senders), len(p.Rules))
	}
	if r := p.Domains["example.com"].Route; r == nil || r.Host != "mail.example.com" || r.Port != 587 {
		t.Errorf("example.com route = %+v", r)
	}
	if _, err := Compile(p); err != nil {
		t.Errorf("compile example: %v", err)
	}
}

// TestParseJSON reads the same field names from JSON.
func TestParseJSON(t *testing.T) {
	p, err := Parse([]byte(`{"defaults": {"maxRecipients": 10}, "domains": {"example.com": {"directory": true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *p.Defaults.MaxRecipients != 10 || !p.Domains["example.com"].Directory {
		t.Errorf("got %+v", p)
	}
}

// TestParseErrors checks that every problem names the field path and the value and says what
// is allowed.
func TestParseErrors(t *testing.T) {
	const base = "domains:\n  example.com: {}\n  example.org: {}\n"
	tests := []struct {
		name string
		doc  string
		want []string // each must appear in the error, in order, one per problem line
	}{
		{"empty", "", []string{"the policy document is empty"}},
		{"not a mapping", "- a\n- b\n", []string{"the policy document is a list: it must be a mapping"}},
		{"bad yaml", "domains: [\n", []string{"read policy document: yaml: line"}},
		{"duplicate key", "domains: {}\ndomains: {}\n", []string{`read policy document:`, `"domains" already set`}},
		{"unknown field with suggestion", "domains:\n  example.com:\n    maxRecipient: 5\n",
			[]string{`unknown field "maxRecipient" in domains["example.com"] (did you mean maxRecipients?)`}},
		{"unknown top-level field", "domain: {}\n", []string{`unknown field "domain" at the top level (did you mean domains?)`}},
		{"unknown field wrong case", "defaults:\n  MaxRecipients: 5\n", []string{`unknown field "MaxRecipients" in defaults (did you mean maxRecipients?)`}},
		{"unknown field no suggestion", "defaults:\n  colour: blue\n", []string{`unknown field "colour" in defaults (known fields: aggressiveness, archiveMaxBytes`}},
		{"unknown field in sender", base + "senders:\n  - {pattern: '*@x.example', lst: blocked}\n",
			[]string{`unknown field "lst" in senders[0] (did you mean list?)`, `senders[0].list: is required`}},
		{"unknown criterion field", base + "rules:\n  - name: r\n    criteria: [{field: size, op: gt, value: [1]}]\n    action: tag\n",
			[]string{`unknown field "value" in rules[0].criteria[0] (did you mean values?)`, `rules[0].criteria[0].values: size gt takes exactly one value, got 0`}},
		{"wrong type number", "defaults:\n  maxRecipients: ten\n", []string{`defaults.maxRecipients: "ten" is not allowed: must be a whole number`}},
		{"wrong type fraction", "defaults:\n  maxRecipients: 1.5\n", []string{`defaults.maxRecipients: 1.5 is not allowed: must be a whole number`}},
		{"wrong type bool", "defaults:\n  failOpen: maybe\n", []string{`defaults.failOpen: "maybe" is not allowed: must be true or false`}},
		{"wrong type list", "senders: {pattern: x}\n", []string{`senders: a mapping is not allowed: must be a list`}},
		{"wrong type string", base + "rules:\n  - name: [a]\n", []string{`rules[0].name: a list is not allowed: must be a string`}},

		{"domain upper case", "domains:\n  Example.COM: {}\n", []string{`domains["Example.COM"]: "Example.COM" is not allowed: write domain names in lower case ("example.com")`}},
		{"domain wildcard", "domains:\n  '*.example.com': {}\n", []string{`domains["*.example.com"]: "*.example.com" is not allowed: a served domain is one exact name, not a wildcard`}},
		{"domain invalid", "domains:\n  ex_ample.com: {}\n", []string{`domains["ex_ample.com"]: "ex_ample.com" is not a valid domain name: the character '_' (U+005F) is not allowed`}},
		{"domain unicode", "domains:\n  münchen.de: {}\n", []string{`domains["münchen.de"]: "münchen.de" is not allowed: write the domain in its ASCII form "xn--mnchen-3ya.de"`}},
		{"domain single label", "domains:\n  localhost: {}\n", []string{`domains["localhost"]: "localhost" is not allowed: a mail domain has at least two labels`}},
		{"domain public suffix", "domains:\n  co.uk: {}\n", []string{`domains["co.uk"]: "co.uk" is not allowed: it is a public suffix`}},
		{"domain IP", "domains:\n  192.0.2.1: {}\n", []string{`domains["192.0.2.1"]: "192.0.2.1" is not a valid domain name: it is an IP address`}},

		{"max message bytes low", "defaults:\n  maxMessageBytes: 100\n", []string{`defaults.maxMessageBytes: 100 is not allowed: must be between 1024 (1 KiB) and 157286400 (150 MiB)`}},
		{"max message bytes high", "defaults:\n  maxMessageBytes: 157286401\n", []string{`defaults.maxMessageBytes: 157286401 is not allowed`}},
		{"max recipients", "domains:\n  example.com:\n    maxRecipients: -5\n", []string{`domains["example.com"].maxRecipients: -5 is not allowed: must be between 1 and 100000`}},
		{"max recipients high", "defaults:\n  maxRecipients: 100001\n", []string{`defaults.maxRecipients: 100001 is not allowed: must be between 1 and 100000`}},
		{"archive layers", "defaults:\n  archiveMaxLayers: 0\n", []string{`defaults.archiveMaxLayers: 0 is not allowed: must be between 1 and 100`}},
		{"archive layers high", "defaults:\n  archiveMaxLayers: 101\n", []string{`defaults.archiveMaxLayers: 101 is not allowed: must be between 1 and 100`}},
		{"archive bytes", "defaults:\n  archiveMaxBytes: 1073741825\n", []string{`defaults.archiveMaxBytes: 1073741825 is not allowed: must be between 1024 (1 KiB) and 1073741824 (1 GiB)`}},
		{"archive bytes low", "defaults:\n  archiveMaxBytes: 10\n", []string{`defaults.archiveMaxBytes: 10 is not allowed`}},
		{"archive files", "defaults:\n  archiveMaxFiles: 0\n", []string{`defaults.archiveMaxFiles: 0 is not allowed: must be between 1 and 100000`}},
		{"archive ratio", "defaults:\n  archiveMaxRatio: 0.5\n", []string{`defaults.archiveMaxRatio: 0.5 is not allowed: must be at least 1`}},
		{"scan exception action", "defaults:\n  scanExceptionAction: drop\n", []string{`defaults.scanExceptionAction: "drop" is not allowed: must be one of deliver, tag, quarantine, delete, bounce`}},
		{"executable action", "defaults:\n  executableAction: allow\n", []string{`defaults.executableAction: "allow" is not allowed: must be one of`}},
		{"virus action", "defaults:\n  virusAction: deliver\n", []string{`defaults.virusAction: "deliver" is not allowed: must be delete or quarantine (a virus is never delivered)`}},
		{"virus action tag", "defaults:\n  virusAction: tag\n", []string{`defaults.virusAction: "tag" is not allowed`}},
		{"spam action", "defaults:\n  spamAction: junk\n", []string{`defaults.spamAction: "junk" is not allowed`}},
		{"blocked sender action", "defaults:\n  blockedSenderAction: nothing\n", []string{`defaults.blockedSenderAction: "nothing" is not allowed`}},
		{"blocked IP action", "defaults:\n  blockedIPAction: nothing\n", []string{`defaults.blockedIPAction: "nothing" is not allowed`}},
		{"dmarc", "defaults:\n  dmarc: honour\n", []string{`defaults.dmarc: "honour" is not allowed: must be one of honor, quarantine, tag, ignore (did you mean honor?)`}},
		{"aggressiveness", "defaults:\n  aggressiveness: 5\n", []string{`defaults.aggressiveness: 5 is not allowed: must be between 0 (look up, never block) and 4 (most aggressive)`}},
		{"aggressiveness negative", "defaults:\n  aggressiveness: -1\n", []string{`defaults.aggressiveness: -1 is not allowed`}},
		{"spam bounced", "defaults:\n  spamAction: bounce\n", []string{`defaults.spamAction: "bounce" is not allowed: must be quarantine (default), delete, tag`}},
		{"executive one word", "domains:\n  example.com:\n    executives: [Jane Doe, Boss]\n", []string{`domains["example.com"].executives[1]: "Boss" is not allowed: give a full name`}},
		{"sensitivity", "defaults:\n  sensitivity: extreme\n", []string{`defaults.sensitivity: "extreme" is not allowed: must be one of low, medium, high`}},
		{"subject tag long", "defaults:\n  subjectTag: '" + strings.Repeat("x", 65) + "'\n", []string{`defaults.subjectTag: "xxxx`, `is not allowed: must be at most 64 characters`}},
		{"subject tag newline", "defaults:\n  subjectTag: \"[a]\\r\\nBcc: x\"\n", []string{`defaults.subjectTag: "[a]\r\nBcc: x" is not allowed: must not contain line breaks`}},

		{"recipient other domain", "domains:\n  example.com:\n    recipients: [bob@other.example]\n", []string{`domains["example.com"].recipients[0]: "bob@other.example" is not allowed: the directory of example.com holds addresses in example.com only`}},
		{"recipient invalid", "domains:\n  example.com:\n    recipients: [bob]\n", []string{`domains["example.com"].recipients[0]: "bob" is not a valid address: missing @`}},

		{"route port 25", "domains:\n  example.com:\n    route: {host: mail.example.com, port: 25}\n", []string{`domains["example.com"].route.port: 25 is not allowed: AWS Lambda cannot open connections to port 25`}},
		{"route port range", "domains:\n  example.com:\n    route: {host: mail.example.com, port: 70000}\n", []string{`domains["example.com"].route.port: 70000 is not allowed: must be between 1 and 65535`}},
		{"route no host", "domains:\n  example.com:\n    route: {type: smtp}\n", []string{`domains["example.com"].route.host: is required for an smtp route`}},
		{"route host with port", "domains:\n  example.com:\n    route: {host: 'mail.example.com:587'}\n", []string{`domains["example.com"].route.host: "mail.example.com:587" is not allowed: give the port in port, not in host`}},
		{"route bad host", "domains:\n  example.com:\n    route: {host: 'mail server'}\n", []string{`domains["example.com"].route.host: "mail server" is not a valid host name or IP address`}},
		{"route type", "domains:\n  example.com:\n    route: {type: lmtp, host: mail.example.com}\n", []string{`domains["example.com"].route.type: "lmtp" is not allowed: must be one of smtp, ses-forward`}},
		{"route tls", "domains:\n  example.com:\n    route: {host: mail.example.com, tls: always}\n", []string{`domains["example.com"].route.tls: "always" is not allowed: must be one of required, opportunistic, verify`}},
		{"route verify needs ca", "domains:\n  example.com:\n    route: {host: mail.example.com, tls: verify}\n", []string{`domains["example.com"].route.caParam: is required with tls: verify`}},
		{"route smtp with forward", "domains:\n  example.com:\n    route: {host: mail.example.com, fromAddress: a@example.com}\n", []string{`domains["example.com"].route.fromAddress: is only for type ses-forward`}},
		{"ses-forward needs forward and from", "domains:\n  example.com:\n    route: {type: ses-forward}\n", []string{`domains["example.com"].route.forward: is required for a ses-forward route`, `domains["example.com"].route.fromAddress: is required for a ses-forward route`}},
		{"ses-forward bad addresses", "domains:\n  example.com:\n    route:\n      type: ses-forward\n      host: x.example.com\n      forward: {a@other.example: 'b@', c@example.com: d@x.example}\n      fromAddress: nobody\n",
			[]string{`domains["example.com"].route.host: is only for type smtp`, `domains["example.com"].route.forward["a@other.example"]: "a@other.example" is not allowed: forwarded recipients must be addresses in example.com`, `domains["example.com"].route.forward["a@other.example"]: "b@" is not a valid address: empty domain after @`, `domains["example.com"].route.fromAddress: "nobody" is not a valid address: missing @`}},

		{"sender pattern", base + "senders:\n  - {pattern: '*@x.example', list: blocked}\n  - {pattern: '*@x.example', list: blocked}\n  - {pattern: '*@x.example', list: blocked}\n  - {pattern: '*@*.com', list: blocked}\n",
			[]string{`senders[3].pattern: "*@*.com" is refused: a wildcard may not cover a whole top-level domain`}},
		{"sender list", base + "senders:\n  - {pattern: '*@x.example', list: allowed}\n", []string{`senders[0].list: "allowed" is not allowed: must be approved or blocked`}},
		{"sender domain not served", base + "senders:\n  - {pattern: '*@x.example', list: blocked, domain: example.con}\n", []string{`senders[0].domain: "example.con" is not allowed: it is not one of the served domains (did you mean example.com?)`}},
		{"sender recipient not served", base + "senders:\n  - {pattern: '*@x.example', list: blocked, recipient: a@other.example}\n", []string{`senders[0].recipient: "a@other.example" is not allowed: its domain is not one of the served domains`}},
		{"sender recipient invalid", base + "senders:\n  - {pattern: '*@x.example', list: blocked, recipient: 'a b@example.com'}\n", []string{`senders[0].recipient: "a b@example.com" is not a valid address: it contains a space`}},
		{"sender both scopes", base + "senders:\n  - {pattern: '*@x.example', list: blocked, domain: example.com, recipient: a@example.com}\n", []string{`senders[0]: an entry has one scope: set domain or recipient, not both`}},

		{"ip invalid", "ips:\n  allow: [10.0.0.300]\n", []string{`ips.allow[0]: "10.0.0.300" is not allowed: must be an IP address or a CIDR prefix`}},
		{"ip bad prefix", "ips:\n  block: [10.0.0.0/33]\n", []string{`ips.block[0]: "10.0.0.0/33" is not allowed: must be an IP address or a CIDR prefix`}},
		{"ip block all v4", "ips:\n  block: [0.0.0.0/0]\n", []string{`ips.block[0]: "0.0.0.0/0" is not allowed: it would block every IPv4 client`}},
		{"ip block all v6", "domains:\n  example.com:\n    ips:\n      block: ['::/0']\n", []string{`domains["example.com"].ips.block[0]: "::/0" is not allowed: it would block every IPv6 client`}},
		{"ip zone", "ips:\n  allow: ['fe80::1%eth0']\n", []string{`ips.allow[0]: "fe80::1%eth0" is not allowed`}},

		{"rule no name", base + "rules:\n  - criteria: [{field: subject-blank, op: is}]\n    action: tag\n", []string{`rules[0].name: is required`}},
		{"rule duplicate name", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}], action: tag}\n  - {name: r, criteria: [{field: body-blank, op: is}], action: tag}\n", []string{`rules[1].name: "r" is already the name of rules[0]: rule names must be unique`}},
		{"rule domain not served", base + "rules:\n  - {name: r, domains: [example.net], criteria: [{field: subject-blank, op: is}], action: tag}\n", []string{`rules[0].domains[0]: "example.net" is not allowed: it is not one of the served domains`}},
		{"rule match", base + "rules:\n  - {name: r, match: some, criteria: [{field: subject-blank, op: is}], action: tag}\n", []string{`rules[0].match: "some" is not allowed: must be all (every criterion) or any (one criterion)`}},
		{"rule no criteria", base + "rules:\n  - {name: r, action: tag}\n", []string{`rules[0].criteria: a rule needs at least one criterion`}},
		{"rule action missing", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}]}\n", []string{`rules[0].action: is required: one of deliver, tag, quarantine, delete, bounce`}},
		{"rule action invalid", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}], action: reject}\n", []string{`rules[0].action: "reject" is not allowed: must be one of`}},
		{"rule subject tag without tag", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}], action: quarantine, subjectTag: '[X]'}\n", []string{`rules[0].subjectTag: "[X]" is not allowed: a subject tag goes with action tag`}},
		{"rule header not X-", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}], action: tag, headers: {Subject: hi}}\n", []string{`rules[0].headers["Subject"]: "Subject" is not allowed: inserted header names start with X-`}},
		{"rule header reserved", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}], action: tag, headers: {X-Moat-Verdict: hi}}\n", []string{`rules[0].headers["X-Moat-Verdict"]: "X-Moat-Verdict" is not allowed: X-Moat- headers are Moat's own`}},
		{"rule header value", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}], action: tag, headers: {X-A: \"a\\nb\"}}\n", []string{`rules[0].headers["X-A"]: the value "a\nb" is not allowed`}},
		{"rule notify", base + "rules:\n  - {name: r, criteria: [{field: subject-blank, op: is}], action: tag, notify: [security]}\n", []string{`rules[0].notify[0]: "security" is not a valid address: missing @`}},

		{"criterion field", base + "rules:\n  - {name: r, criteria: [{field: subjct, op: contains, values: [x]}], action: tag}\n", []string{`rules[0].criteria[0].field: "subjct" is not allowed: must be one of subject, body, header:<Name>`, `(did you mean subject?)`}},
		{"criterion field missing", base + "rules:\n  - {name: r, criteria: [{op: contains, values: [x]}], action: tag}\n", []string{`rules[0].criteria[0].field: is required: one of subject`}},
		{"criterion header name", base + "rules:\n  - {name: r, criteria: [{field: 'header:', op: contains, values: [x]}], action: tag}\n", []string{`rules[0].criteria[0].field: "header:" is not allowed: write header:<Name>`}},
		{"criterion op", base + "rules:\n  - {name: r, criteria: [{field: attachment-name, op: contains, values: [x]}], action: tag}\n", []string{`rules[0].criteria[0].op: "contains" is not allowed for attachment-name: must be matches`}},
		{"criterion op missing", base + "rules:\n  - {name: r, criteria: [{field: size, values: [1]}], action: tag}\n", []string{`rules[0].criteria[0].op: is required for size: gt or lt`}},
		{"criterion blank values", base + "rules:\n  - {name: r, criteria: [{field: body-blank, op: is, values: [x]}], action: tag}\n", []string{`rules[0].criteria[0].values: body-blank takes no values`}},
		{"criterion no values", base + "rules:\n  - {name: r, criteria: [{field: subject, op: contains}], action: tag}\n", []string{`rules[0].criteria[0].values: subject contains needs at least one value`}},
		{"criterion blank keyword", base + "rules:\n  - {name: r, criteria: [{field: subject, op: contains, values: ['  ']}], action: tag}\n", []string{`rules[0].criteria[0].values[0]: "  " is not allowed: a keyword or phrase`}},
		{"criterion regexp", base + "rules:\n  - name: r\n    criteria:\n      - {field: subject, op: contains, values: [x]}\n      - {field: body, op: matches, values: ['([']}\n    action: tag\n", []string{"rules[0].criteria[1].values[0]: \"([\" is not a valid regular expression: missing closing ]: `[`"}},
		{"criterion glob", base + "rules:\n  - {name: r, criteria: [{field: attachment-name, op: matches, values: ['[a-']}], action: tag}\n", []string{`rules[0].criteria[0].values[0]: "[a-" is not a valid file name pattern: unbalanced [ ] or a trailing \`}},
		{"criterion glob path", base + "rules:\n  - {name: r, criteria: [{field: attachment-name, op: matches, values: ['dir/*.exe']}], action: tag}\n", []string{`rules[0].criteria[0].values[0]: "dir/*.exe" is not a valid file name pattern: it matches file names, not paths`}},
		{"criterion type", base + "rules:\n  - {name: r, criteria: [{field: attachment-type, op: is, values: [exe]}], action: tag}\n", []string{`rules[0].criteria[0].values[0]: "exe" is not allowed: must be a true file type, one of unknown, text`}},
		{"criterion size", base + "rules:\n  - {name: r, criteria: [{field: size, op: gt, values: [10XB]}], action: tag}\n", []string{`rules[0].criteria[0].values[0]: "10XB" is not a valid size: write bytes, or a number with KB, MB or GB`}},
		{"criterion size count", base + "rules:\n  - {name: r, criteria: [{field: size, op: gt, values: [1, 2]}], action: tag}\n", []string{`rules[0].criteria[0].values: size gt takes exactly one value, got 2`}},
		{"criterion recipient count", base + "rules:\n  - {name: r, criteria: [{field: recipient-count, op: lt, values: [many]}], action: tag}\n", []string{`rules[0].criteria[0].values[0]: "many" is not allowed: must be a whole number of recipients`}},

		{"all problems at once", "defaults:\n  maxRecipients: 0\n  sensitivity: x\ndomains:\n  example.com:\n    archiveMaxLayers: 200\n",
			[]string{`defaults.maxRecipients: 0`, `defaults.sensitivity: "x"`, `domains["example.com"].archiveMaxLayers: 200`}},
		{"unknown field and validation together", "defaults:\n  maxRecipients: 0\n  colour: x\n",
			[]string{`unknown field "colour" in defaults`, `defaults.maxRecipients: 0 is not allowed`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed without error: %+v", p)
			}
			if p != nil {
				t.Errorf("a failed parse returned a policy")
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error lacks %q (in order)\ngot:\n%s", w, msg)
				}
				rest = rest[i+len(w):]
			}
			var ve *ValidationError
			if errors.As(err, &ve) && len(ve.Problems) != strings.Count(msg, "\n")+1 {
				t.Errorf("%d problems but %d lines", len(ve.Problems), strings.Count(msg, "\n")+1)
			}
		})
	}
}

func TestValidationErrorPaths(t *testing.T) {
	_, err := Parse([]byte("defaults:\n  maxRecipients: 0\ndomains:\n  example.com:\n    route: {host: h.example.com, port: 25}\n"))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	want := []string{"defaults.maxRecipients", `domains["example.com"].route.port`}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
}

func TestValidPolicies(t *testing.T) {
	docs := map[string]string{
		"empty mapping":   "{}\n",
		"defaults only":   "defaults: {maxRecipients: 1}\n",
		"route defaults":  "domains:\n  example.com:\n    route: {host: 192.0.2.10}\n",
		"route verify":    "domains:\n  example.com:\n    route: {host: mail.example.com, port: 2525, tls: verify, caParam: /moat/ca}\n",
		"bounds":          "defaults: {maxMessageBytes: 1024, archiveMaxBytes: 1073741824, aggressiveness: 0, archiveMaxRatio: 1, maxRecipients: 100000}\n",
		"null fields":     "defaults:\ndomains:\n  example.com:\n",
		"IPv4-mapped":     "ips:\n  block: ['::ffff:192.0.2.0/120']\n",
		"host bits":       "ips:\n  allow: [192.0.2.7/24]\n",
		"allow all":       "ips:\n  allow: [0.0.0.0/0]\n",
		"unicode keyword": "domains: {example.com: {}}\nrules:\n  - {name: r, criteria: [{field: body, op: contains, values: [Überweisung]}], action: tag}\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

// TestInvalidGolden parses every document under testdata/invalid and compares the error with
// its .golden file; -update rewrites them.
func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid policies: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse(data)
			if perr == nil {
				t.Fatal("parsed without error")
			}
			got := perr.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("error differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(out)
	if err != nil {
		t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(p, q) {
		t.Errorf("round trip changed the policy:\n%s", out)
	}
	again, err := Marshal(q)
	if err != nil || string(again) != string(out) {
		t.Errorf("Marshal is not stable:\n%s\n---\n%s", out, again)
	}
	// Canonical order: the document's sections in declaration order.
	order := []string{"defaults:", "domains:", "senders:", "ips:", "rules:"}
	last := -1
	for _, k := range order {
		i := strings.Index(string(out), "\n"+k)
		if k == "defaults:" && strings.HasPrefix(string(out), k) {
			i = 0
		}
		if i <= last {
			t.Errorf("%s out of order in:\n%s", k, out)
		}
		last = i
	}
}

func TestMarshalQuotesAmbiguousStrings(t *testing.T) {
	p := Default()
	p.Domains["example.com"] = Domain{}
	tag := "yes"
	p.Defaults.SubjectTag = &tag
	p.Rules = []Rule{{Name: "on", Criteria: []Criterion{{Field: "subject", Op: "contains", Values: []string{"no", "1:30", "null", "true", "- x", "# y", "a: b"}}}, Action: verdict.Tag}}
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(p, q) {
		t.Errorf("round trip changed the policy:\n%s", out)
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(p.Domains) != 0 {
		t.Errorf("Default has domains")
	}
	c, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Effective("example.com"); !reflect.DeepEqual(got, Builtin) {
		t.Errorf("Default compiles to %+v, want Builtin %+v", got, Builtin)
	}
	// Default shares nothing: changing one does not change the next.
	*p.Defaults.MaxRecipients = 1
	if *Default().Defaults.MaxRecipients != 1000 {
		t.Error("Default returned shared values")
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"maxRecipients", "maxMessageBytes", "directory", "route"}
	for in, want := range map[string]string{
		"maxRecipient": "maxRecipients", "maxrecipients": "maxRecipients", "directroy": "directory",
		"rout": "route", "colour": "", "x": "",
	} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
