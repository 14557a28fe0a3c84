// Package policy is Moat's policy model: global defaults, per-domain overrides, sender lists
// with their pattern rules, IP lists, content rules and delivery routes. One document format
// (YAML or JSON, same field names) is read by the CLI and written to the stores: policy as code.
package policy

import "github.com/moatmail/moat/shared/verdict"

// Policy is a whole policy document.
type Policy struct {
	Defaults Settings          `json:"defaults"`
	Domains  map[string]Domain `json:"domains"` // the served domains, lower case
	Senders  []SenderEntry     `json:"senders,omitempty"`
	IPs      IPLists           `json:"ips,omitempty"` // global admin IP lists
	Rules    []Rule            `json:"rules,omitempty"`
}

// Settings are the tunable limits and actions. In Defaults every nil field takes the built-in
// default; in a Domain a nil field inherits Defaults.
type Settings struct {
	MaxMessageBytes *int64 `json:"maxMessageBytes,omitempty"` // default 50 MiB
	MaxRecipients   *int   `json:"maxRecipients,omitempty"`   // default 1000

	ArchiveMaxLayers *int     `json:"archiveMaxLayers,omitempty"` // default 20
	ArchiveMaxBytes  *int64   `json:"archiveMaxBytes,omitempty"`  // decompressed, default 60 MiB
	ArchiveMaxFiles  *int     `json:"archiveMaxFiles,omitempty"`  // default 353
	ArchiveMaxRatio  *float64 `json:"archiveMaxRatio,omitempty"`  // default 100

	// ScanExceptionAction applies when an attachment cannot be scanned (limits, encryption,
	// corruption, unparseable message). Default quarantine.
	ScanExceptionAction *verdict.Action `json:"scanExceptionAction,omitempty"`
	// ExecutableAction applies to executables by true type. Default quarantine.
	ExecutableAction *verdict.Action `json:"executableAction,omitempty"`
	// VirusAction: delete or quarantine (default quarantine).
	VirusAction *verdict.Action `json:"virusAction,omitempty"`
	// DMARC: "honor" (the sender's p=reject bounces, p=quarantine quarantines; default),
	// "quarantine" (both quarantine), "tag" (both tag), "ignore".
	DMARC *string `json:"dmarc,omitempty"`
	// SpamAction applies to spam and phishing (DESIGN.md §3 step 6: the score of the SES
	// verdict, heuristics and classifier reaches the sensitivity's threshold): quarantine
	// (default), delete, tag (tag the subject and deliver) or deliver (record only).
	SpamAction *verdict.Action `json:"spamAction,omitempty"`
	// SubjectTag is the tag the tag action puts in front of the subject. Default "[SPAM]".
	SubjectTag *string `json:"subjectTag,omitempty"`

	// IP reputation: 0 = look up, never block … 4 = most aggressive. Default 2. What each
	// level blocks is documented in package filter (Levels).
	Aggressiveness *int `json:"aggressiveness,omitempty"`
	// FailOpen: when blocklists cannot be queried, deliver (true, default) or block temporarily.
	FailOpen *bool `json:"failOpen,omitempty"`
	// FailClosedOnTimeout: with failOpen false, a blocklist that did not answer in time blocks
	// temporarily too. Default false: a timeout alone never blocks.
	FailClosedOnTimeout *bool `json:"failClosedOnTimeout,omitempty"`
	// ReputationAction applies to a permanent IP reputation block (a DNSBL listing that blocks
	// at the domain's level). Temporary blocks (dynamic blocks, temporary listings, DNS
	// failures when fail-closed) take the milder of this and quarantine. Default delete.
	ReputationAction *verdict.Action `json:"reputationAction,omitempty"`
	// Sensitivity of spam detection (issue 7): low, medium (default), high.
	Sensitivity *string `json:"sensitivity,omitempty"`

	// BlockedSenderAction applies to a sender on a blocked list (an end user's or an
	// administrator's). Default delete.
	BlockedSenderAction *verdict.Action `json:"blockedSenderAction,omitempty"`
	// BlockedIPAction applies to a client IP on an administrator's block list. Default delete.
	BlockedIPAction *verdict.Action `json:"blockedIPAction,omitempty"`

	// DigestHours are the hours of the day (UTC, 0–23) at which end users get their quarantine
	// digest: one hour for a daily digest, several for several a day, [] for none. Default [7].
	DigestHours *[]int `json:"digestHours,omitempty"`
}

// Domain is one served domain.
type Domain struct {
	Settings `json:",inline"`
	// Directory, when true, bounces recipients that are not in the domain's directory
	// (Recipients here plus what `moatctl directory import` stored).
	Directory  bool     `json:"directory,omitempty"`
	Recipients []string `json:"recipients,omitempty"` // inline directory entries, lower case
	// Executives are display names of the domain's people whom impostors imitate ("Jane
	// Doe"): mail from outside the served domains showing one of them scores as phishing.
	Executives []string `json:"executives,omitempty"`
	IPs        IPLists  `json:"ips,omitempty"`   // admin IP lists for this domain
	Route      *Route   `json:"route,omitempty"` // where clean mail goes
}

// Route says how mail for a domain reaches its mail server.
type Route struct {
	Type string `json:"type"` // "smtp" (default) or "ses-forward"
	// smtp
	Host       string `json:"host,omitempty"`
	Port       int    `json:"port,omitempty"`       // default 587 (Lambda cannot use 25)
	TLS        string `json:"tls,omitempty"`        // required (default) | opportunistic | verify
	CAParam    string `json:"caParam,omitempty"`    // SSM parameter holding the CA PEM for verify
	AuthSecret string `json:"authSecret,omitempty"` // Secrets Manager/SSM name of {"username","password"}
	// ses-forward: recipient → forwarding address; From is rewritten to FromAddress.
	Forward     map[string]string `json:"forward,omitempty"`
	FromAddress string            `json:"fromAddress,omitempty"`
}

// List is which sender list an entry is on.
type List string

const (
	Approved List = "approved"
	Blocked  List = "blocked"
)

// SenderEntry is one approved or blocked sender pattern. Scope: global when Domain and
// Recipient are empty; domain when Domain is set; recipient (an end user's own list) when
// Recipient is set.
type SenderEntry struct {
	Pattern   string `json:"pattern"` // name@host.example.com, *@example.com, *@*.example.com
	List      List   `json:"list"`
	Domain    string `json:"domain,omitempty"`
	Recipient string `json:"recipient,omitempty"`
	Comment   string `json:"comment,omitempty"`
}

// IPLists are administrator allow and block lists of CIDRs (a bare IP is a /32 or /128).
type IPLists struct {
	Allow []string `json:"allow,omitempty"`
	Block []string `json:"block,omitempty"`
}

// Rule is an administrator content rule (DESIGN.md §3 step 8).
type Rule struct {
	Name     string      `json:"name"`
	Domains  []string    `json:"domains,omitempty"` // empty: every served domain
	Match    string      `json:"match,omitempty"`   // "all" (default) or "any" criterion
	Criteria []Criterion `json:"criteria"`
	// Action is the intercept action; Tag also sets SubjectTag.
	Action     verdict.Action    `json:"action"`
	SubjectTag string            `json:"subjectTag,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"` // X- headers to insert
	Notify     []string          `json:"notify,omitempty"`  // addresses told when it matches
}

// Criterion is one test of a content rule.
//
// Fields and the operators they take:
//   - subject, body, header:<Name>, from, to: "contains" (any of Values, case-insensitive,
//     whole words or phrases), "matches" (Values[0] is a Go regular expression; further
//     Values are more expressions, any of which may match; case-insensitive unless the
//     expression starts with (?-i))
//   - attachment-name: "matches" (glob patterns in Values, e.g. "*.iso")
//   - attachment-type: "is" (true file types in Values, e.g. "pe", "ole"; inside archives too)
//   - size: "gt", "lt" (Values[0] in bytes, or with KB/MB/GB suffix)
//   - recipient-count: "gt", "lt"
//   - subject-blank, body-blank, from-mismatch (header From ≠ envelope sender domain),
//     reply-to-mismatch (Reply-To domain ≠ From domain): "is" with no Values
//
// from is the header From ("Name <addr>"), to the header To and Cc addresses. The precise
// semantics of each field are in the documentation of CompiledRule.Match.
//
// Negate inverts the result.
type Criterion struct {
	Field  string   `json:"field"`
	Op     string   `json:"op"`
	Values []string `json:"values,omitempty"`
	Negate bool     `json:"negate,omitempty"`
}
