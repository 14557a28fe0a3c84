// Package verdict holds the vocabulary of a filtering decision: the action taken for one
// recipient, the SMTP status of a bounce, the block type, and the trail of reasons that led
// there. Reason codes are stable machine strings; this file is the one place they are defined
// and documented, and the README's table is generated from Codes.
package verdict

// Action is the single intercept action applied to one recipient's copy of a message.
type Action string

const (
	Deliver    Action = "deliver"    // hand to the delivery queue unchanged
	Tag        Action = "tag"        // deliver with a subject tag and X-Moat-* verdict headers
	Quarantine Action = "quarantine" // keep a copy under quarantine/ for review; do not deliver
	Delete     Action = "delete"     // drop silently (tracked, never delivered)
	Bounce     Action = "bounce"     // refuse with a DSN to the envelope sender
)

// Actions lists every valid action, for validation and help texts.
var Actions = []Action{Deliver, Tag, Quarantine, Delete, Bounce}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool {
	for _, v := range Actions {
		if a == v {
			return true
		}
	}
	return false
}

// Intercepts reports whether the action keeps the message from the recipient's mailbox.
func (a Action) Intercepts() bool { return a == Quarantine || a == Delete || a == Bounce }

// BlockType says why blocked mail was blocked, as the tracking search shows it.
type BlockType string

const (
	NotBlocked BlockType = ""
	Temporary  BlockType = "temporary"  // the block would lift by itself (dynamic IP block, DNS failure with fail-closed)
	Permanent  BlockType = "permanent"  // policy or content decided it
	SizeLimit  BlockType = "size-limit" // the message or an archive was over a limit
)

// Code is a stable machine reason. Codes never change meaning; new ones are added here.
type Code string

// Reason codes, grouped by the evaluation step that emits them (DESIGN.md §3).
const (
	// Step 1: recipient validity.
	DomainNotServed  Code = "domain-not-served"
	RecipientInvalid Code = "recipient-invalid"

	// Step 2: sender lists.
	SenderBlockedUser   Code = "sender-blocked-user"
	SenderBlocked       Code = "sender-blocked"
	SenderApprovedUser  Code = "sender-approved-user"
	SenderApproved      Code = "sender-approved"
	SenderApprovalGuard Code = "sender-approval-ignored" // an end-user approval met an admin block

	// Step 3: message limits.
	MessageSize    Code = "size-limit"
	RecipientCount Code = "recipient-limit"

	// Step 4: IP reputation.
	IPAllowed      Code = "ip-allowed"
	IPBlocked      Code = "ip-blocked"
	IPDynamicBlock Code = "ip-dynamic-block"
	DNSBLListed    Code = "dnsbl-listed"
	DNSBLNoted     Code = "dnsbl-noted"
	DNSBLError     Code = "dnsbl-error"
	DNSBLTimeout   Code = "dnsbl-timeout"

	// Step 5: SES verdicts.
	Virus           Code = "virus"
	VirusScanFailed Code = "virus-scan-failed"
	SPFFail         Code = "spf-fail"
	DKIMFail        Code = "dkim-fail"
	DMARCReject     Code = "dmarc-reject"
	DMARCQuarantine Code = "dmarc-quarantine"

	// Step 6: spam and phishing.
	Spam  Code = "spam"
	Phish Code = "phish"

	// Step 7: attachments and archives.
	ArchiveDepth     Code = "archive-depth"
	ArchiveSize      Code = "archive-size"
	ArchiveFiles     Code = "archive-files"
	ArchiveRatio     Code = "archive-ratio"
	ArchiveEncrypted Code = "archive-encrypted"
	ArchiveCorrupt   Code = "archive-corrupt"
	Executable       Code = "executable-attachment"

	// Step 8: content rules.
	ContentRule Code = "content-rule"

	// Outside the steps: the message itself.
	Malformed Code = "message-malformed"
	Released  Code = "released"
)

// Codes documents every reason code; the README table and `moatctl check --help` come from it.
var Codes = []struct {
	Code Code
	Step int
	Doc  string
}{
	{DomainNotServed, 1, "the recipient's domain is not one this gateway serves (550 5.1.1)"},
	{RecipientInvalid, 1, "the domain has a directory and the recipient is not in it (550 5.1.1)"},
	{SenderBlockedUser, 2, "the sender is on the recipient's own blocked list"},
	{SenderBlocked, 2, "the sender is on an administrator's blocked list (global or domain)"},
	{SenderApprovedUser, 2, "the sender is on the recipient's own approved list: IP reputation and spam scoring skipped"},
	{SenderApproved, 2, "the sender is on an administrator's approved list: IP reputation and spam scoring skipped"},
	{SenderApprovalGuard, 2, "an approval was ignored because the SES spam verdict or DMARC failed for a spoofable sender"},
	{MessageSize, 3, "the message is larger than the domain's size limit (552 5.3.4)"},
	{RecipientCount, 3, "the message has more recipients than the domain allows (550 5.5.3)"},
	{IPAllowed, 4, "the client IP is on an administrator's allow list"},
	{IPBlocked, 4, "the client IP is on an administrator's block list"},
	{IPDynamicBlock, 4, "the client IP is under a temporary dynamic block for recent spam"},
	{DNSBLListed, 4, "the client IP is listed on a DNS blocklist that blocks at the domain's aggressiveness"},
	{DNSBLNoted, 4, "the client IP is listed on a DNS blocklist that does not block at the domain's aggressiveness (recorded only)"},
	{DNSBLError, 4, "a DNS blocklist could not be queried (SERVFAIL, error code, unusable zone); the domain's fail-open/closed setting applied"},
	{DNSBLTimeout, 4, "a DNS blocklist did not answer in time; blocks only when the domain is fail-closed and failClosedOnTimeout is set"},
	{Virus, 5, "SES's virus scan found malware"},
	{VirusScanFailed, 5, "SES could not scan the message for viruses (PROCESSING_FAILED)"},
	{SPFFail, 5, "SPF failed"},
	{DKIMFail, 5, "DKIM failed"},
	{DMARCReject, 5, "DMARC failed and the sender's domain publishes p=reject"},
	{DMARCQuarantine, 5, "DMARC failed and the sender's domain publishes p=quarantine"},
	{Spam, 6, "the spam score (SES spam verdict, heuristics, token classifier) reached the threshold of the domain's sensitivity; the detail gives the score, the threshold and the reasons with their points"},
	{Phish, 6, "as spam, and phishing checks (impersonation, look-alike domains, deceptive or IP links, password forms, macros, executables) gave at least 30 of the points"},
	{ArchiveDepth, 7, "an archive nests deeper than the layer limit: scan exception"},
	{ArchiveSize, 7, "an archive decompresses to more than the size limit: scan exception"},
	{ArchiveFiles, 7, "an archive holds more files than the limit: scan exception"},
	{ArchiveRatio, 7, "an archive entry's compression ratio is over the limit (zip bomb): scan exception"},
	{ArchiveEncrypted, 7, "an archive is password-protected and cannot be scanned: scan exception"},
	{ArchiveCorrupt, 7, "an archive could not be read: scan exception"},
	{Executable, 7, "an attachment (or a file inside an archive) is an executable by its true file type"},
	{ContentRule, 8, "an administrator's content rule matched (the detail names the rule)"},
	{Malformed, 0, "the message could not be parsed well enough to scan: scan exception"},
	{Released, 0, "an administrator or the recipient released the message from quarantine"},
}

// Reason is one entry of the verdict trail.
type Reason struct {
	Code   Code   `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// Verdict is the decision for one recipient of one message.
type Verdict struct {
	Recipient    string    `json:"recipient"`
	Action       Action    `json:"action"`
	SMTPCode     int       `json:"smtpCode,omitempty"`     // bounces only: 550, 552, ...
	EnhancedCode string    `json:"enhancedCode,omitempty"` // bounces only: "5.1.1", "5.3.4", ...
	BlockType    BlockType `json:"blockType,omitempty"`
	Reasons      []Reason  `json:"reasons"`
	// Modifications applied at delivery time, never to the stored original.
	SubjectTag string            `json:"subjectTag,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	// Notify lists addresses to tell about this verdict (content rule notifications).
	Notify []string `json:"notify,omitempty"`
	// Rule names the content rule that decided, when one did.
	Rule string `json:"rule,omitempty"`
}

// Add appends a reason to the trail.
func (v *Verdict) Add(code Code, detail string) {
	v.Reasons = append(v.Reasons, Reason{Code: code, Detail: detail})
}

// Has reports whether the trail holds code.
func (v *Verdict) Has(code Code) bool {
	for _, r := range v.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Status is an SMTP reply code with its enhanced status code (RFC 3463).
type Status struct {
	Code     int
	Enhanced string
	Text     string
}

// Standard bounce statuses. The text reaches the sender, so it is generic.
var (
	StatusNoSuchUser    = Status{550, "5.1.1", "Recipient address rejected: user unknown"}
	StatusSizeLimit     = Status{552, "5.3.4", "Message size exceeds fixed limit"}
	StatusTooManyRcpts  = Status{550, "5.5.3", "Too many recipients"}
	StatusPolicy        = Status{550, "5.7.1", "Message rejected by policy"}
	StatusDMARC         = Status{550, "5.7.1", "Message rejected per sender's DMARC policy"}
	StatusContentReject = Status{550, "5.7.1", "Message content rejected"}
)
