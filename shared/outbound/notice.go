package outbound

import (
	"fmt"
	"strings"
	"time"
)

// Remediation is what a tenant's administrators should do before asking for their sending to be
// resumed, in the order to do it.
var Remediation = []string{
	"Check your mail servers for an open relay: only your own users and networks may relay, with authentication.",
	"Scan for compromised accounts: look for mailboxes or devices sending unusual volumes, reset their passwords and revoke app passwords and sessions.",
	"Enable outbound spam filtering on your mail servers, and rate limits per user.",
	"Meanwhile, send through another smart host (your provider's or a backup relay) so that legitimate mail still leaves.",
	"When it is clean, ask the gateway's operator to resume sending (moatctl outbound resume).",
}

// Suspension is why and when a tenant's sending was suspended.
type Suspension struct {
	Tenant     string      `json:"tenant"`
	Since      time.Time   `json:"since"`
	Rule       Rule        `json:"rule"`
	Violations []Violation `json:"violations"`
	Counts     Counts      `json:"counts,omitempty"`
	// MessageID of the event that crossed the threshold (SES's message ID), as evidence.
	MessageID string `json:"messageId,omitempty"`
	By        string `json:"by,omitempty"` // who suspended it: "outbound function" or the operator
}

// Notice returns the subject and text of the notification of a suspension. It names the
// sending IPs but no sender address: the notification goes to an SNS topic that e-mail
// subscribers read, and the evidence of which mailbox is compromised is in the state record.
func Notice(t Tenant, s Suspension) (subject, text string) {
	org := t.Organisation
	if org == "" {
		org = t.ID
	}
	subject = fmt.Sprintf("Moat: outbound mail of %s suspended (%s)", org, s.Rule)
	if len(subject) > 100 { // SNS subject limit
		subject = subject[:97] + "..."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Outbound mail of %s (tenant %s) was suspended at %s by %s.\n\n", org, t.ID, s.Since.UTC().Format(time.RFC3339), nonEmpty(s.By, "the outbound monitor"))
	fmt.Fprintf(&b, "SES no longer sends mail through configuration set %s: your mail servers' messages are refused until sending is resumed.\n\n", t.ConfigurationSet)
	b.WriteString("Evidence:\n")
	for _, v := range s.Violations {
		fmt.Fprintf(&b, "  - %s: %s\n", v.Rule, v.Detail)
	}
	if s.MessageID != "" {
		fmt.Fprintf(&b, "  - the message that crossed the threshold: SES message ID %s (moatctl tracking search --direction outbound)\n", s.MessageID)
	}
	if s.Counts.IP != "" {
		fmt.Fprintf(&b, "  - sending IP of that message: %s\n", s.Counts.IP)
	}
	b.WriteString("\nWhat to do:\n")
	for i, r := range Remediation {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, r)
	}
	fmt.Fprintf(&b, "\nOperators: moatctl outbound status --tenant %s shows the evidence; moatctl outbound resume --tenant %s re-enables sending.\n", t.ID, t.ID)
	return subject, b.String()
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
