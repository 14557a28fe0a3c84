// Package message parses Internet messages (RFC 5322, MIME RFC 2045–2049) from a stream into
// what the filter needs: decoded headers, addresses, the MIME leaf parts with their true file
// types, archive reports, bounded text for content rules, and the client IP from the topmost
// Received header that SES adds. It never fails on malformed content: it records defects.
package message

import (
	"net/netip"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/filetype"
)

// Field is one header field as it appeared, unfolded; Value is not decoded.
type Field struct {
	Name  string
	Value string
}

// Header is the ordered list of a message's (or a part's) header fields.
type Header []Field

// Address is a parsed mailbox. Addr is local@domain with the domain lower-cased; Name is the
// decoded display name.
type Address struct {
	Name string `json:"name,omitempty"`
	Addr string `json:"addr"`
}

// Part is one MIME leaf part.
type Part struct {
	ContentType string          `json:"contentType"` // declared media type, lower case ("text/plain")
	Charset     string          `json:"charset,omitempty"`
	Filename    string          `json:"filename,omitempty"` // decoded (RFC 2231 / encoded words)
	Attachment  bool            `json:"attachment"`         // has a filename or disposition attachment
	Size        int64           `json:"size"`               // decoded bytes
	Type        filetype.Type   `json:"type"`               // true type from the content
	Depth       int             `json:"depth"`              // MIME nesting depth; 0 = top level
	Archive     *archive.Report `json:"archive,omitempty"`  // set when Type is an archive
}

// Link is one hyperlink of an HTML part.
type Link struct {
	Href string `json:"href"`           // the href attribute, entities decoded, at most 2 KiB
	Text string `json:"text,omitempty"` // the visible link text, white space collapsed, at most 256 bytes
}

// Form is one HTML form. A password input outside any form is recorded as a form without an
// action.
type Form struct {
	Action   string `json:"action,omitempty"`   // the action attribute, at most 2 KiB
	Password bool   `json:"password,omitempty"` // holds an <input type="password">
}

// MaxLinks bounds Message.Links and Message.Forms each.
const MaxLinks = 1000

// Message is a parsed message.
type Message struct {
	Header    Header
	From      Address   // first header From mailbox; zero if absent or unparseable
	ReplyTo   []Address // header Reply-To
	To, Cc    []Address
	Subject   string // decoded
	MessageID string // header Message-ID without angle brackets
	// ClientIP is the connecting client's address from the topmost Received header, the one
	// SES adds; invalid when there is none. Deeper Received headers are never trusted.
	ClientIP netip.Addr
	Size     int64  // raw bytes read
	Parts    []Part // leaf parts in order
	// Text is the decoded text of the text/plain and text/html parts (HTML reduced to text),
	// joined, at most Options.MaxTextBytes.
	Text string
	// Links are the hyperlinks (<a href>) of the text/html parts, at most MaxLinks, and Forms
	// their forms, for the phishing heuristics. Only HTML reduced into Text is looked at.
	Links []Link
	Forms []Form
	// Defects are malformations noticed while parsing ("header-too-large",
	// "mime-depth", "bad-base64", "missing-boundary", ...); parsing carries on past them.
	Defects []string
	// Unscannable is set when the message could not be parsed well enough to scan: no header
	// section, header section over the limit, MIME nesting over the limit, too many parts. It
	// holds the first such defect code (DefectNoHeader, DefectHeaderTooLarge, DefectMIMEDepth,
	// DefectTooManyParts), which is also in Defects.
	Unscannable string
}

// Options bound a parse. Zero values mean the defaults.
type Options struct {
	MaxHeaderBytes int64          // top-level header section (default 1 MiB)
	MaxTextBytes   int            // text kept for content rules (default 1 MiB)
	MaxMIMEDepth   int            // multipart nesting (default 50)
	MaxArchive     int64          // largest archive attachment inspected in memory (default 50 MiB)
	Archive        archive.Limits // limits for archive inspection
	MaxParts       int            // leaf parts recorded (default 10000); more is unscannable
}
