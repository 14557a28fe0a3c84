// Package euq is the vocabulary of end-user quarantine shared by the digest, which puts action
// links in the mail it sends, and the action function, which serves them: the actions, their
// wording, and the link format <base>/<action>?t=<token> (shared/token, purpose = action).
package euq

import (
	"net/url"
	"strings"
)

// Action is what an end user can do with a quarantined message from a digest link.
type Action string

const (
	Deliver        Action = "deliver"         // release it to the mailbox
	DeliverApprove Action = "deliver-approve" // release it and approve the sender
	BlockSender    Action = "block-sender"    // block the sender's address
	ApproveDomain  Action = "approve-domain"  // approve every sender at the sender's domain
	BlockDomain    Action = "block-domain"    // block every sender at the sender's domain
)

// Actions are every action, in the order a digest lists their links.
var Actions = []Action{Deliver, DeliverApprove, BlockSender, ApproveDomain, BlockDomain}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool {
	for _, x := range Actions {
		if a == x {
			return true
		}
	}
	return false
}

// Label is the link text.
func (a Action) Label() string {
	switch a {
	case Deliver:
		return "Deliver"
	case DeliverApprove:
		return "Deliver and approve sender"
	case BlockSender:
		return "Block sender"
	case ApproveDomain:
		return "Approve sender domain"
	case BlockDomain:
		return "Block sender domain"
	}
	return string(a)
}

// Question is what the confirmation page asks, about a sender address and its domain.
func (a Action) Question(sender, domain string) string {
	switch a {
	case Deliver:
		return "Deliver this message to your mailbox?"
	case DeliverApprove:
		return "Deliver this message and always accept mail from " + sender + "?"
	case BlockSender:
		return "Block all future mail from " + sender + "?"
	case ApproveDomain:
		return "Always accept mail from senders at " + domain + "?"
	case BlockDomain:
		return "Block all future mail from senders at " + domain + "?"
	}
	return ""
}

// Link is the URL of an action: base (the action function's URL) / action ? t=token.
func Link(base string, a Action, tok string) string {
	return strings.TrimRight(base, "/") + "/" + string(a) + "?t=" + url.QueryEscape(tok)
}

// FromPath returns the action a request path names ("/deliver" → Deliver).
func FromPath(path string) (Action, bool) {
	a := Action(strings.Trim(path, "/"))
	return a, a.Valid()
}
