// Package submission validates the samples an administrator submits as missed spam or false
// positives — raw messages (.eml), Outlook messages (.msg) and zip files of those — and turns
// each into the raw RFC 5322 message that training reads. Anything else is refused with the
// reason, and so is forwarded mail: a forward carries the forwarder's headers, not the
// original's, and would teach the classifier the wrong sender.
//
// The package is pure: no AWS, no network.
package submission

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/filetype"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/outbound"
	"github.com/moatmail/moat/shared/schema"
)

// Limits on what is accepted.
const (
	MaxMessageBytes = 40 << 20 // one message: SES's own limit
	MaxZipEntries   = 1000
	MaxZipBytes     = 200 << 20 // decompressed, all entries together
)

// Label is what a sample is submitted as.
type Label string

const (
	Spam Label = "spam"
	Ham  Label = "ham"
)

// Message is one accepted sample.
type Message struct {
	Name string // the file, or zip!entry
	Raw  []byte // the RFC 5322 message
}

// Error says why a file was refused.
type Error struct {
	File   string
	Reason string
}

func (e *Error) Error() string { return e.File + ": " + e.Reason }

func refuse(file, format string, args ...any) error {
	return &Error{File: file, Reason: fmt.Sprintf(format, args...)}
}

// Extract validates one submitted file and returns the messages in it: one for an .eml or a
// .msg, each entry's for a .zip. The file name's extension says what the file claims to be;
// the content must agree.
func Extract(name string, data []byte) ([]Message, error) {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".eml":
		m, err := fromEML(name, data)
		if err != nil {
			return nil, err
		}
		return []Message{m}, nil
	case ".msg":
		m, err := fromMSG(name, data)
		if err != nil {
			return nil, err
		}
		return []Message{m}, nil
	case ".zip":
		return fromZip(name, data)
	case "":
		return nil, refuse(name, "no file name extension: submit .eml, Outlook .msg or .zip files of those")
	default:
		return nil, refuse(name, "%s files are not accepted: submit .eml, Outlook .msg or .zip files of those", ext)
	}
}

func fromEML(name string, data []byte) (Message, error) {
	if len(data) > MaxMessageBytes {
		return Message{}, refuse(name, "larger than %d MB", MaxMessageBytes>>20)
	}
	if t := filetype.Detect(head(data)); t != filetype.Text && t != filetype.Unknown {
		return Message{}, refuse(name, "not a message: the content is a %s file", t)
	}
	m, err := message.Parse(bytes.NewReader(data), message.Options{})
	if err != nil {
		return Message{}, refuse(name, "cannot be read: %v", err)
	}
	if m.Unscannable == message.DefectNoHeader || len(m.Header) == 0 {
		return Message{}, refuse(name, "not a message: it does not start with header fields (From:, Subject:, ...)")
	}
	if m.Header.Get("From") == "" && m.Header.Get("Received") == "" {
		return Message{}, refuse(name, "not a message: it has neither a From nor a Received field")
	}
	if why := forwarded(m, data); why != "" {
		return Message{}, refuse(name, "forwarded mail (%s): a forward carries your headers, not the original's; save the original message as .eml or .msg (in Outlook: drag it to a folder; elsewhere: \"Save as\" or \"Download original\") and submit that file", why)
	}
	return Message{Name: name, Raw: data}, nil
}

func head(b []byte) []byte {
	if len(b) > filetype.HeadSize {
		return b[:filetype.HeadSize]
	}
	return b
}

var (
	fwdSubject = regexp.MustCompile(`(?i)^\s*(fwd?|fw|wg|tr|rv|enc|vs|doorst)\s*:`)
	fwdMarkers = []string{
		"---------- forwarded message",
		"-------- forwarded message",
		"begin forwarded message:",
		"-----original message-----",
		"-------- original message --------",
		"----- forwarded by",
		"-----ursprüngliche nachricht-----",
		"-------- message original --------",
		"-------- weitergeleitete nachricht --------",
	}
)

var rfc822Part = regexp.MustCompile(`(?i)\ncontent-type:\s*message/rfc822`)

// forwarded tells why m (whose raw form is raw) looks like a forward, or "".
func forwarded(m *message.Message, raw []byte) string {
	text := strings.ToLower(m.Text)
	if len(text) > 64<<10 {
		text = text[:64<<10]
	}
	for _, mk := range fwdMarkers {
		if strings.Contains(text, mk) {
			return fmt.Sprintf("the text holds %q", strings.TrimSpace(strings.Trim(mk, "-: ")))
		}
	}
	if fwdSubject.MatchString(m.Subject) {
		if rfc822Part.Match(raw) {
			return "the subject starts with a forward prefix and the original is attached"
		}
		if m.Header.Get("In-Reply-To") == "" && strings.Contains(text, "from:") && strings.Contains(text, "subject:") {
			return "the subject starts with a forward prefix and the text quotes From and Subject"
		}
	}
	return ""
}

func fromZip(name string, data []byte) ([]Message, error) {
	if filetype.Detect(head(data)) != filetype.ZIP {
		return nil, refuse(name, "not a zip file")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, refuse(name, "cannot be read as a zip file: %v", err)
	}
	var out []Message
	var total int64
	n := 0
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || hidden(f.Name) {
			continue
		}
		n++
		entry := name + "!" + f.Name
		if n > MaxZipEntries {
			return nil, refuse(name, "more than %d files", MaxZipEntries)
		}
		if f.Flags&0x1 != 0 {
			return nil, refuse(entry, "password-protected: submit the zip without a password")
		}
		ext := strings.ToLower(path.Ext(f.Name))
		if ext != ".eml" && ext != ".msg" {
			return nil, refuse(entry, "only .eml and .msg files are accepted inside a zip")
		}
		if f.UncompressedSize64 > MaxMessageBytes {
			return nil, refuse(entry, "larger than %d MB", MaxMessageBytes>>20)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, refuse(entry, "cannot be read: %v", err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, MaxMessageBytes+1))
		rc.Close()
		if err != nil {
			return nil, refuse(entry, "cannot be read: %v", err)
		}
		if total += int64(len(b)); total > MaxZipBytes || len(b) > MaxMessageBytes {
			return nil, refuse(name, "decompresses to more than %d MB", MaxZipBytes>>20)
		}
		ms, err := Extract(entry, b)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	if len(out) == 0 {
		return nil, refuse(name, "the zip holds no .eml or .msg file")
	}
	return out, nil
}

// hidden: macOS resource forks and dot files that archivers add.
func hidden(p string) bool {
	base := path.Base(p)
	return strings.HasPrefix(p, "__MACOSX/") || strings.HasPrefix(base, ".")
}

// Key is where a sample is stored: submissions/<label>/<yyyy-mm-dd>/<sha256>.eml. The
// content hash makes a repeated submission of the same message one object.
func Key(label Label, raw []byte, now time.Time) string {
	sum := sha256.Sum256(raw)
	return "submissions/" + string(label) + "/" + now.UTC().Format("2006-01-02") + "/" + hex.EncodeToString(sum[:]) + ".eml"
}

// ParseKey returns the label of a key Key made.
func ParseKey(key string) (Label, bool) {
	rest, ok := strings.CutPrefix(key, "submissions/")
	if !ok {
		return "", false
	}
	l, _, ok := strings.Cut(rest, "/")
	switch Label(l) {
	case Spam, Ham:
		return Label(l), ok && strings.HasSuffix(key, ".eml")
	}
	return "", false
}

// TenantsPrefix holds the samples of the tenants' models:
// submissions/tenants/<tenant>/<label>/... and submissions/tenants/<tenant>/feedback/....
const TenantsPrefix = schema.SubmissionsPrefix + "tenants/"

// ForTenant moves a key under submissions/ (Key, DecisionKey) to the tenant's samples; tenant
// "" leaves it for the default model. The ID must follow the tenants' rule (outbound.TenantID).
func ForTenant(tenant, key string) (string, error) {
	if tenant == "" {
		return key, nil
	}
	if err := outbound.TenantID(tenant); err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(key, schema.SubmissionsPrefix)
	if !ok {
		return "", fmt.Errorf("key %q: want a key under %s", key, schema.SubmissionsPrefix)
	}
	return TenantsPrefix + tenant + "/" + rest, nil
}

// SplitTenant is ForTenant's inverse: the tenant whose model a key under submissions/ trains
// ("" for the default model) and the key as the default model's (for ParseKey and
// IsDecisionKey). ok is false for a key under submissions/tenants/ without a valid tenant.
func SplitTenant(key string) (tenant, rest string, ok bool) {
	after, found := strings.CutPrefix(key, TenantsPrefix)
	if !found {
		return "", key, true
	}
	tenant, after, found = strings.Cut(after, "/")
	if !found || outbound.TenantID(tenant) != nil {
		return "", key, false
	}
	return tenant, schema.SubmissionsPrefix + after, true
}
