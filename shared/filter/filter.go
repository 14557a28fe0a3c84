// Package filter is the filter core: it evaluates one parsed message for each of its recipients
// in the order of DESIGN.md §3 and returns a verdict per recipient with the trail of reasons.
// It is pure: no AWS, no network, no clock, no logging. Callers look facts up (directory
// entries, end users' sender lists, SES verdicts, DNSBL answers, dynamic blocks) and pass them in.
//
// A step that intercepts (quarantine, delete, bounce) is decisive and ends the evaluation for
// that recipient; a step that tags only adds a modification and evaluation goes on, so a later
// step can still intercept. A sender approval skips IP reputation and spam scoring, never the
// virus verdict, attachment checks or content rules.
package filter

import (
	"fmt"
	"strings"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/classify"
	"github.com/moatmail/moat/shared/dnsbl"
	"github.com/moatmail/moat/shared/heuristic"
	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/verdict"
)

// Envelope is the SMTP envelope as SES received it.
type Envelope struct {
	MessageID   string   // SES message ID
	Sender      string   // MAIL FROM; empty for bounces
	Recipients  []string // the recipients this gateway handles (receipt.recipients)
	Destination []string // every envelope recipient of the message (mail.destination)
}

// SES verdict statuses.
const (
	Pass             = "PASS"
	Fail             = "FAIL"
	Gray             = "GRAY"
	ProcessingFailed = "PROCESSING_FAILED"
)

// SES is what SES's own checks concluded.
type SES struct {
	Spam, Virus, SPF, DKIM, DMARC string // PASS, FAIL, GRAY, PROCESSING_FAILED
	DMARCPolicy                   string // none, quarantine, reject; set only when DMARC failed
}

// Facts are the looked-up data the evaluation needs beyond the policy.
type Facts struct {
	// Directory holds the recipients found in the stored directory of their domain.
	Directory map[string]bool
	// UserSenders holds each recipient's own approved/blocked senders from the store.
	UserSenders map[string][]policy.SenderEntry
	// DNSBL holds the client IP's lookups in the configured block lists (dnsbl.Client.Lookup).
	DNSBL []dnsbl.Result
	// DynamicBlock is the client IP's active dynamic block; nil: none.
	DynamicBlock *DynamicBlock
	// Model is the default spam model (step 6); nil: heuristics and the SES verdict only.
	Model *classify.Model
	// Models are the spam models of the recipient domains (lower case) whose tenant's model
	// differs from Model; the others use Model (ModelFor).
	Models map[string]*classify.Model
	// URIListings are the message's link domains (heuristic.LinkDomains) that URI block lists
	// list (step 6).
	URIListings []heuristic.Listing
}

// Input is one message to evaluate.
type Input struct {
	Msg      *message.Message
	Envelope Envelope
	SES      SES
	Facts    Facts
}

// Evaluate returns one verdict per recipient in in.Envelope.Recipients, in that order.
func Evaluate(p *policy.Compiled, in Input) []verdict.Verdict {
	out := make([]verdict.Verdict, 0, len(in.Envelope.Recipients))
	ev := newEvaluation(p, in)
	for _, rcpt := range in.Envelope.Recipients {
		out = append(out, ev.recipient(rcpt))
	}
	return out
}

// ParseOptions returns the parse options for a message to these recipients: archive limits are
// the most generous of the recipients' domains, so one inspection serves every recipient and
// each verdict compares the measurements with its own domain's limits.
func ParseOptions(p *policy.Compiled, recipients []string) message.Options {
	var lim archive.Limits
	for _, r := range recipients {
		e := p.Effective(domainOf(r))
		lim.MaxDepth = max(lim.MaxDepth, e.ArchiveMaxLayers)
		lim.MaxBytes = max(lim.MaxBytes, e.ArchiveMaxBytes)
		lim.MaxFiles = max(lim.MaxFiles, e.ArchiveMaxFiles)
		lim.MaxRatio = max(lim.MaxRatio, e.ArchiveMaxRatio)
	}
	if len(recipients) == 0 {
		lim = archive.DefaultLimits
	}
	return message.Options{Archive: lim}
}

// evaluation holds what is shared by every recipient of one message.
type evaluation struct {
	p       *policy.Compiled
	in      Input
	senders []string // addresses the sender lists are matched against
	rule    policy.RuleInput
	cls     map[*classify.Model]*classify.Result // step 6's classification per model, made on first need
}

func newEvaluation(p *policy.Compiled, in Input) *evaluation {
	ev := &evaluation{p: p, in: in}
	if s := strings.ToLower(in.Envelope.Sender); s != "" {
		ev.senders = append(ev.senders, s)
	}
	if f := strings.ToLower(in.Msg.From.Addr); f != "" && (len(ev.senders) == 0 || f != ev.senders[0]) {
		ev.senders = append(ev.senders, f)
	}
	ev.rule = policy.RuleInput{Msg: in.Msg, Sender: in.Envelope.Sender, RecipientCount: recipientCount(in.Envelope)}
	return ev
}

func recipientCount(e Envelope) int {
	return max(len(e.Destination), len(e.Recipients))
}

// state is one recipient's evaluation in progress.
type state struct {
	v        verdict.Verdict
	eff      policy.Effective
	approved bool
	done     bool
}

// intercept ends the evaluation with a decisive action.
func (s *state) intercept(a verdict.Action, bt verdict.BlockType, code verdict.Code, detail string) {
	s.v.Add(code, detail)
	s.v.Action = a
	if a.Intercepts() {
		s.v.BlockType = bt
	}
	s.done = true
}

// bounce ends the evaluation with a bounce carrying st.
func (s *state) bounce(st verdict.Status, bt verdict.BlockType, code verdict.Code, detail string) {
	s.intercept(verdict.Bounce, bt, code, detail)
	s.v.SMTPCode, s.v.EnhancedCode = st.Code, st.Enhanced
}

// apply applies a configured action: intercepting actions end the evaluation, tag adds the
// subject tag and goes on, deliver only records the reason.
func (s *state) apply(a verdict.Action, bt verdict.BlockType, code verdict.Code, detail string) {
	switch a {
	case verdict.Tag:
		s.v.Add(code, detail)
		s.v.Action = verdict.Tag
		if s.v.SubjectTag == "" {
			s.v.SubjectTag = s.eff.SubjectTag
		}
	case verdict.Deliver:
		s.v.Add(code, detail)
	case verdict.Bounce:
		s.bounce(verdict.StatusPolicy, bt, code, detail)
	default:
		s.intercept(a, bt, code, detail)
	}
}

func (ev *evaluation) recipient(rcpt string) verdict.Verdict {
	rcpt = strings.ToLower(rcpt)
	s := &state{v: verdict.Verdict{Recipient: rcpt, Action: verdict.Deliver}}
	domain := domainOf(rcpt)
	s.eff = ev.p.Effective(domain)
	steps := []func(*state, string){
		ev.validity, ev.senderLists, ev.limits, ev.ipReputation,
		ev.sesVerdicts, ev.spam, ev.attachments, ev.contentRules,
	}
	for _, step := range steps {
		step(s, rcpt)
		if s.done {
			break
		}
	}
	ev.stamp(&s.v)
	return s.v
}

// Step 1: is the recipient one we serve?
func (ev *evaluation) validity(s *state, rcpt string) {
	domain := domainOf(rcpt)
	if !ev.p.Serves(domain) {
		s.bounce(verdict.StatusNoSuchUser, verdict.Permanent, verdict.DomainNotServed, domain)
		return
	}
	if s.eff.Directory && !ev.p.InDirectory(rcpt) && !ev.in.Facts.Directory[rcpt] {
		s.bounce(verdict.StatusNoSuchUser, verdict.Permanent, verdict.RecipientInvalid, "not in the directory of "+domain)
	}
}

// Step 2: end user's blocked → admin blocked → end user's approved → admin approved.
func (ev *evaluation) senderLists(s *state, rcpt string) {
	if len(ev.senders) == 0 {
		return
	}
	if e, ok := ev.userSender(policy.Blocked, rcpt); ok {
		s.apply(s.eff.BlockedSenderAction, verdict.Permanent, verdict.SenderBlockedUser, e.Pattern)
		return
	}
	if e, ok := ev.p.Sender(policy.Blocked, false, rcpt, ev.senders...); ok {
		s.apply(s.eff.BlockedSenderAction, verdict.Permanent, verdict.SenderBlocked, e.Pattern)
		return
	}
	code := verdict.SenderApprovedUser
	e, ok := ev.userSender(policy.Approved, rcpt)
	if !ok {
		code = verdict.SenderApproved
		e, ok = ev.p.Sender(policy.Approved, false, rcpt, ev.senders...)
	}
	if !ok {
		return
	}
	// An approval is worthless for a spoofed sender: when DMARC failed, or SES judged the
	// message spam while only the forgeable header From matched, the approval is ignored.
	if ev.in.SES.DMARC == Fail {
		s.v.Add(verdict.SenderApprovalGuard, e.Pattern+": DMARC failed")
		return
	}
	s.approved = true
	s.v.Add(code, e.Pattern)
}

// userSender looks in the recipient's own list: entries in the policy document and those the
// end user keeps in the store.
func (ev *evaluation) userSender(list policy.List, rcpt string) (policy.SenderEntry, bool) {
	if e, ok := ev.p.Sender(list, true, rcpt, ev.senders...); ok {
		return e, true
	}
	for _, e := range ev.in.Facts.UserSenders[rcpt] {
		if e.List != list {
			continue
		}
		pat, err := policy.ParsePattern(e.Pattern)
		if err != nil {
			continue // stored entries were validated on write; a bad one never matches
		}
		for _, a := range ev.senders {
			if pat.Match(a) {
				return e, true
			}
		}
	}
	return policy.SenderEntry{}, false
}

// Step 3: size and recipient count.
func (ev *evaluation) limits(s *state, _ string) {
	if size := ev.in.Msg.Size; size > s.eff.MaxMessageBytes {
		s.bounce(verdict.StatusSizeLimit, verdict.SizeLimit, verdict.MessageSize,
			fmt.Sprintf("%d bytes > %d", size, s.eff.MaxMessageBytes))
		return
	}
	if n := recipientCount(ev.in.Envelope); n > s.eff.MaxRecipients {
		s.bounce(verdict.StatusTooManyRcpts, verdict.Permanent, verdict.RecipientCount,
			fmt.Sprintf("%d recipients > %d", n, s.eff.MaxRecipients))
	}
}

// Step 4: IP reputation — the administrator's allow and block lists, then the dynamic block and
// the DNSBL listings at the domain's aggressiveness (reputation.go). An allowed IP skips the rest.
func (ev *evaluation) ipReputation(s *state, rcpt string) {
	ip := ev.in.Msg.ClientIP
	if s.approved || !ip.IsValid() {
		return
	}
	m := ev.p.IP(domainOf(rcpt), ip)
	switch {
	case m.Blocked:
		s.apply(s.eff.BlockedIPAction, verdict.Permanent, verdict.IPBlocked, ip.String()+" in "+m.CIDR)
	case m.Allowed:
		s.v.Add(verdict.IPAllowed, ip.String()+" in "+m.CIDR)
	default:
		ev.reputation(s, ip)
	}
}

// Step 5: SES's virus scan, SPF, DKIM and DMARC.
func (ev *evaluation) sesVerdicts(s *state, _ string) {
	v := ev.in.SES
	switch v.Virus {
	case Fail:
		s.apply(s.eff.VirusAction, verdict.Permanent, verdict.Virus, "SES virus verdict FAIL")
		return
	case ProcessingFailed:
		s.apply(s.eff.ScanExceptionAction, verdict.Permanent, verdict.VirusScanFailed, "SES could not scan")
		if s.done {
			return
		}
	}
	if v.SPF == Fail {
		s.v.Add(verdict.SPFFail, "")
	}
	if v.DKIM == Fail {
		s.v.Add(verdict.DKIMFail, "")
	}
	if v.DMARC != Fail {
		return
	}
	pol := strings.ToLower(v.DMARCPolicy)
	code := verdict.DMARCQuarantine
	if pol == "reject" {
		code = verdict.DMARCReject
	}
	switch s.eff.DMARC {
	case "ignore":
		s.v.Add(code, "ignored by policy")
	case "tag":
		if pol == "reject" || pol == "quarantine" {
			s.apply(verdict.Tag, verdict.Permanent, code, "p="+pol)
		}
	case "quarantine":
		if pol == "reject" || pol == "quarantine" {
			s.apply(verdict.Quarantine, verdict.Permanent, code, "p="+pol)
		}
	default: // honor
		switch pol {
		case "reject":
			s.bounce(verdict.StatusDMARC, verdict.Permanent, code, "p=reject")
		case "quarantine":
			s.apply(verdict.Quarantine, verdict.Permanent, code, "p=quarantine")
		}
	}
}

// Step 6: spam and phishing: the SES spam verdict, the heuristics and the classifier add up to
// one score (spam.go); the domain's sensitivity sets the threshold.
func (ev *evaluation) spam(s *state, _ string) {
	if !s.approved {
		ev.spamScore(s)
	}
}

// Step 7: attachments and archives.
func (ev *evaluation) attachments(s *state, _ string) {
	m := ev.in.Msg
	if m.Unscannable != "" {
		s.apply(s.eff.ScanExceptionAction, verdict.Permanent, verdict.Malformed, m.Unscannable)
		return
	}
	for i := range m.Parts {
		part := &m.Parts[i]
		if part.Type.Executable() {
			s.apply(s.eff.ExecutableAction, verdict.Permanent, verdict.Executable, partName(part)+" ("+string(part.Type)+")")
			if s.done {
				return
			}
		}
		if part.Archive == nil {
			continue
		}
		if code, detail := archiveException(part.Archive, s.eff); code != "" {
			bt := verdict.Permanent
			if code == verdict.ArchiveSize {
				bt = verdict.SizeLimit
			}
			s.apply(s.eff.ScanExceptionAction, bt, code, partName(part)+": "+detail)
			if s.done {
				return
			}
		}
		for _, e := range part.Archive.Entries {
			if e.Type.Executable() {
				s.apply(s.eff.ExecutableAction, verdict.Permanent, verdict.Executable, partName(part)+"/"+e.Path+" ("+string(e.Type)+")")
				if s.done {
					return
				}
				break
			}
		}
	}
}

// archiveException compares an inspection with the recipient's limits. An inspection that
// stopped at a limit measured a lower bound; that limit is at least the recipient's, so the
// recipient's limit is exceeded too.
func archiveException(r *archive.Report, e policy.Effective) (verdict.Code, string) {
	stopped := func(l archive.Limit) bool {
		for _, x := range r.Exceeded {
			if x == l {
				return true
			}
		}
		return false
	}
	switch {
	case stopped(archive.LimitDepth) || r.Depth > e.ArchiveMaxLayers:
		return verdict.ArchiveDepth, fmt.Sprintf("more than %d layers", e.ArchiveMaxLayers)
	case stopped(archive.LimitBytes) || r.Bytes > e.ArchiveMaxBytes:
		return verdict.ArchiveSize, fmt.Sprintf("more than %d bytes decompressed", e.ArchiveMaxBytes)
	case stopped(archive.LimitFiles) || r.Files > e.ArchiveMaxFiles:
		return verdict.ArchiveFiles, fmt.Sprintf("more than %d files", e.ArchiveMaxFiles)
	case stopped(archive.LimitRatio) || r.MaxRatio > e.ArchiveMaxRatio:
		return verdict.ArchiveRatio, fmt.Sprintf("compression ratio over %g", e.ArchiveMaxRatio)
	case r.Encrypted:
		return verdict.ArchiveEncrypted, "password-protected"
	case r.Corrupt != "":
		return verdict.ArchiveCorrupt, r.Corrupt
	}
	return "", ""
}

// Step 8: the administrator's content rules, in document order. The first intercepting rule
// decides; tagging and header rules accumulate; a deliver rule ends rule evaluation.
func (ev *evaluation) contentRules(s *state, rcpt string) {
	for _, r := range ev.p.Rules(domainOf(rcpt)) {
		if !r.Match(&ev.rule) {
			continue
		}
		rule := r.Rule()
		s.v.Notify = append(s.v.Notify, rule.Notify...)
		for k, v := range rule.Headers {
			if s.v.Headers == nil {
				s.v.Headers = map[string]string{}
			}
			s.v.Headers[k] = v
		}
		if rule.Action == verdict.Tag && rule.SubjectTag != "" && s.v.SubjectTag == "" {
			s.v.SubjectTag = rule.SubjectTag
		}
		s.v.Rule = rule.Name
		if rule.Action == verdict.Bounce {
			s.bounce(verdict.StatusContentReject, verdict.Permanent, verdict.ContentRule, rule.Name)
			return
		}
		s.apply(rule.Action, verdict.Permanent, verdict.ContentRule, rule.Name)
		if s.done || rule.Action == verdict.Deliver {
			return
		}
	}
}

// stamp adds the X-Moat-* headers that delivery inserts for delivered and tagged mail.
func (ev *evaluation) stamp(v *verdict.Verdict) {
	if v.Action.Intercepts() {
		return
	}
	if v.Headers == nil {
		v.Headers = map[string]string{}
	}
	v.Headers[HeaderVerdict] = string(v.Action)
	codes := make([]string, 0, len(v.Reasons))
	for _, r := range v.Reasons {
		codes = append(codes, string(r.Code))
	}
	if len(codes) == 0 {
		codes = append(codes, "clean")
	}
	v.Headers[HeaderReasons] = strings.Join(codes, ", ")
	if ev.in.Envelope.MessageID != "" {
		v.Headers[HeaderID] = ev.in.Envelope.MessageID
	}
}

// The verdict headers delivery inserts.
const (
	HeaderVerdict = "X-Moat-Verdict"
	HeaderReasons = "X-Moat-Reasons"
	HeaderID      = "X-Moat-ID"
)

func partName(p *message.Part) string {
	if p.Filename != "" {
		return p.Filename
	}
	return p.ContentType
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return strings.ToLower(addr)
}
