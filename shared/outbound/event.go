package outbound

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// EventType is the eventType of an SES sending event (event publishing of a configuration set).
type EventType string

// The event types SES publishes. Open, Click and Subscription are decoded and ignored.
const (
	Send             EventType = "Send"
	Delivery         EventType = "Delivery"
	Bounce           EventType = "Bounce"
	Complaint        EventType = "Complaint"
	Reject           EventType = "Reject"
	DeliveryDelay    EventType = "DeliveryDelay"
	RenderingFailure EventType = "Rendering Failure"
	Open             EventType = "Open"
	Click            EventType = "Click"
	Subscription     EventType = "Subscription"
)

// Event is one SES sending event, as SES publishes it to SNS (the message) or EventBridge
// (the detail).
type Event struct {
	EventType     EventType      `json:"eventType"`
	Mail          Mail           `json:"mail"`
	Send          *struct{}      `json:"send,omitempty"`
	Delivery      *DeliveryInfo  `json:"delivery,omitempty"`
	Bounce        *BounceInfo    `json:"bounce,omitempty"`
	Complaint     *ComplaintInfo `json:"complaint,omitempty"`
	Reject        *RejectInfo    `json:"reject,omitempty"`
	DeliveryDelay *DelayInfo     `json:"deliveryDelay,omitempty"`
	Failure       *FailureInfo   `json:"failure,omitempty"`
}

// Mail describes the message an event concerns.
type Mail struct {
	Timestamp        time.Time           `json:"timestamp"`
	Source           string              `json:"source"` // envelope sender
	SourceARN        string              `json:"sourceArn,omitempty"`
	SourceIP         string              `json:"sourceIp,omitempty"`
	SendingAccountID string              `json:"sendingAccountId,omitempty"`
	CallerIdentity   string              `json:"callerIdentity,omitempty"`
	MessageID        string              `json:"messageId"`
	Destination      []string            `json:"destination"`
	HeadersTruncated bool                `json:"headersTruncated"`
	Headers          []Header            `json:"headers,omitempty"`
	CommonHeaders    CommonHeaders       `json:"commonHeaders"`
	Tags             map[string][]string `json:"tags,omitempty"`
}

// Header is one message header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CommonHeaders are the headers SES parses.
type CommonHeaders struct {
	From      []string `json:"from,omitempty"`
	To        []string `json:"to,omitempty"`
	Cc        []string `json:"cc,omitempty"`
	ReplyTo   []string `json:"replyTo,omitempty"`
	MessageID string   `json:"messageId,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Date      string   `json:"date,omitempty"`
}

// DeliveryInfo is a Delivery event's detail.
type DeliveryInfo struct {
	Timestamp            time.Time `json:"timestamp"`
	ProcessingTimeMillis int64     `json:"processingTimeMillis"`
	Recipients           []string  `json:"recipients"`
	SMTPResponse         string    `json:"smtpResponse"`
	ReportingMTA         string    `json:"reportingMTA"`
	RemoteMTAIP          string    `json:"remoteMtaIp,omitempty"`
}

// BounceInfo is a Bounce event's detail.
type BounceInfo struct {
	BounceType        string             `json:"bounceType"` // Permanent, Transient, Undetermined
	BounceSubType     string             `json:"bounceSubType"`
	BouncedRecipients []BouncedRecipient `json:"bouncedRecipients"`
	Timestamp         time.Time          `json:"timestamp"`
	FeedbackID        string             `json:"feedbackId"`
	ReportingMTA      string             `json:"reportingMTA,omitempty"`
	RemoteMTAIP       string             `json:"remoteMtaIp,omitempty"`
}

// BouncedRecipient is one recipient of a bounce.
type BouncedRecipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action,omitempty"`
	Status         string `json:"status,omitempty"` // enhanced status code, e.g. 5.1.1
	DiagnosticCode string `json:"diagnosticCode,omitempty"`
}

// ComplaintInfo is a Complaint event's detail.
type ComplaintInfo struct {
	ComplainedRecipients  []Recipient `json:"complainedRecipients"`
	Timestamp             time.Time   `json:"timestamp"`
	FeedbackID            string      `json:"feedbackId"`
	ComplaintSubType      *string     `json:"complaintSubType"`
	UserAgent             string      `json:"userAgent,omitempty"`
	ComplaintFeedbackType string      `json:"complaintFeedbackType,omitempty"` // abuse, fraud, virus, ...
	ArrivalDate           string      `json:"arrivalDate,omitempty"`
}

// Recipient is one complained-about recipient.
type Recipient struct {
	EmailAddress string `json:"emailAddress"`
}

// RejectInfo is a Reject event's detail: SES refused to send the message.
type RejectInfo struct {
	Reason string `json:"reason"` // "Bad content": it contains a virus
}

// DelayInfo is a DeliveryDelay event's detail.
type DelayInfo struct {
	Timestamp            time.Time          `json:"timestamp"`
	DelayType            string             `json:"delayType"`
	ExpirationTime       time.Time          `json:"expirationTime"`
	DelayedRecipients    []BouncedRecipient `json:"delayedRecipients"`
	ProcessingTimeMillis int64              `json:"processingTimeMillis"`
	ReportingMTA         string             `json:"reportingMTA,omitempty"`
}

// FailureInfo is a Rendering Failure event's detail.
type FailureInfo struct {
	TemplateName string `json:"templateName"`
	ErrorMessage string `json:"errorMessage"`
}

// ConfigurationSet returns the configuration set the message was sent through.
func (e Event) ConfigurationSet() string {
	if v := e.Mail.Tags["ses:configuration-set"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// SourceIP returns the address of the client that handed the message to SES.
func (e Event) SourceIP() string {
	if e.Mail.SourceIP != "" {
		return e.Mail.SourceIP
	}
	if v := e.Mail.Tags["ses:source-ip"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Recipients are the recipients the event concerns: every destination for Send, Reject and
// Rendering Failure, the affected ones otherwise.
func (e Event) Recipients() []string {
	var r []string
	switch {
	case e.Delivery != nil:
		r = e.Delivery.Recipients
	case e.Bounce != nil:
		for _, b := range e.Bounce.BouncedRecipients {
			r = append(r, b.EmailAddress)
		}
	case e.Complaint != nil:
		for _, c := range e.Complaint.ComplainedRecipients {
			r = append(r, c.EmailAddress)
		}
	case e.DeliveryDelay != nil:
		for _, d := range e.DeliveryDelay.DelayedRecipients {
			r = append(r, d.EmailAddress)
		}
	default:
		r = e.Mail.Destination
	}
	return r
}

// Time is when the event happened: its detail's timestamp, or the mail's.
func (e Event) Time() time.Time {
	switch {
	case e.Delivery != nil && !e.Delivery.Timestamp.IsZero():
		return e.Delivery.Timestamp
	case e.Bounce != nil && !e.Bounce.Timestamp.IsZero():
		return e.Bounce.Timestamp
	case e.Complaint != nil && !e.Complaint.Timestamp.IsZero():
		return e.Complaint.Timestamp
	case e.DeliveryDelay != nil && !e.DeliveryDelay.Timestamp.IsZero():
		return e.DeliveryDelay.Timestamp
	}
	return e.Mail.Timestamp
}

// Key identifies the event for duplicate detection: SES and its transports deliver an event
// at least once, and a redelivered event has the same type, message ID, time and recipients.
func (e Event) Key() string {
	rcpts := append([]string(nil), e.Recipients()...)
	for i := range rcpts {
		rcpts[i] = strings.ToLower(rcpts[i])
	}
	sort.Strings(rcpts)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", e.EventType, e.Mail.MessageID, e.Time().UTC().Format(time.RFC3339Nano), strings.Join(rcpts, "\x00"))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Validate checks what the outbound function relies on.
func (e Event) Validate() error {
	var errs []error
	if e.EventType == "" {
		errs = append(errs, errors.New("eventType is missing"))
	}
	if e.Mail.MessageID == "" {
		errs = append(errs, errors.New("mail.messageId is missing"))
	}
	if e.Mail.Timestamp.IsZero() {
		errs = append(errs, errors.New("mail.timestamp is missing"))
	}
	detail := map[EventType]bool{
		Delivery: e.Delivery != nil, Bounce: e.Bounce != nil, Complaint: e.Complaint != nil,
		Reject: e.Reject != nil, DeliveryDelay: e.DeliveryDelay != nil, RenderingFailure: e.Failure != nil,
	}
	if has, ok := detail[e.EventType]; ok && !has {
		errs = append(errs, fmt.Errorf("eventType %q without its detail object", e.EventType))
	}
	return errors.Join(errs...)
}

// Envelope is how a sending event arrived.
type Envelope string

const (
	ViaEventBridge Envelope = "eventbridge"
	ViaSNS         Envelope = "sns"
	Bare           Envelope = "bare"
)

// DecodeEvents reads the payload a function receives: an EventBridge event whose detail is the
// SES event, a Lambda SNS event whose records' messages are SES events (SNS also wraps
// SES's test notification, which is skipped), or a bare SES event.
func DecodeEvents(data []byte) ([]Event, Envelope, error) {
	var probe struct {
		Records    []json.RawMessage `json:"Records"`
		DetailType string            `json:"detail-type"`
		Source     string            `json:"source"`
		Detail     json.RawMessage   `json:"detail"`
		EventType  string            `json:"eventType"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "", fmt.Errorf("decode sending event: %w", err)
	}
	switch {
	case probe.DetailType != "":
		if probe.Source != "aws.ses" {
			return nil, ViaEventBridge, fmt.Errorf("EventBridge event from source %q, not aws.ses", probe.Source)
		}
		ev, err := DecodeEvent(probe.Detail)
		if err != nil {
			return nil, ViaEventBridge, err
		}
		return []Event{ev}, ViaEventBridge, nil
	case probe.Records != nil:
		var evs []Event
		for i, raw := range probe.Records {
			var rec struct {
				EventSource string `json:"EventSource"`
				SNS         struct {
					Message string `json:"Message"`
				} `json:"Sns"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil || rec.EventSource != "aws:sns" {
				return nil, ViaSNS, fmt.Errorf("record %d: not an SNS record", i)
			}
			if strings.Contains(rec.SNS.Message, `"notificationType":"AmazonSnsSubscriptionSucceeded"`) ||
				strings.Contains(rec.SNS.Message, `"eventType":"Testing"`) {
				continue
			}
			ev, err := DecodeEvent([]byte(rec.SNS.Message))
			if err != nil {
				return nil, ViaSNS, fmt.Errorf("record %d: %w", i, err)
			}
			evs = append(evs, ev)
		}
		return evs, ViaSNS, nil
	case probe.EventType != "":
		ev, err := DecodeEvent(data)
		if err != nil {
			return nil, Bare, err
		}
		return []Event{ev}, Bare, nil
	}
	return nil, "", errors.New("decode sending event: neither an EventBridge event, an SNS event nor an SES event")
}

// DecodeEvent parses one SES sending event and validates it. Unknown fields are ignored: SES
// adds fields over time.
func DecodeEvent(data []byte) (Event, error) {
	var ev Event
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&ev); err != nil {
		return Event{}, fmt.Errorf("decode sending event: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return Event{}, fmt.Errorf("sending event %s: %w", ev.Mail.MessageID, err)
	}
	return ev, nil
}

// Reason explains, for outbound tracking, what happened to recipient: the bounce diagnostic in
// words ("recipient domain not resolvable"), SES's reject reason ("rejected by SES: the
// message contains a virus"), the delay, the complaint. Empty for Send and Delivery.
func (e Event) Reason(recipient string) string {
	switch e.EventType {
	case Bounce:
		for _, b := range e.Bounce.BouncedRecipients {
			if strings.EqualFold(b.EmailAddress, recipient) {
				return bounceReason(e.Bounce.BounceType, e.Bounce.BounceSubType, b)
			}
		}
		return bounceReason(e.Bounce.BounceType, e.Bounce.BounceSubType, BouncedRecipient{})
	case Reject:
		if strings.EqualFold(e.Reject.Reason, "Bad content") {
			return "rejected by SES: the message contains a virus (Bad content)"
		}
		return "rejected by SES: " + e.Reject.Reason
	case DeliveryDelay:
		for _, d := range e.DeliveryDelay.DelayedRecipients {
			if strings.EqualFold(d.EmailAddress, recipient) {
				return joinNonEmpty("delayed: "+e.DeliveryDelay.DelayType, d.Status, d.DiagnosticCode)
			}
		}
		return "delayed: " + e.DeliveryDelay.DelayType
	case Complaint:
		t := e.Complaint.ComplaintFeedbackType
		if t == "" {
			t = "unspecified"
		}
		return "the recipient complained (feedback type " + t + ")"
	case RenderingFailure:
		return "SES could not render the template " + e.Failure.TemplateName + ": " + e.Failure.ErrorMessage
	}
	return ""
}

// bounceReason words a bounce by its enhanced status code (RFC 3463) and SES's subtype.
func bounceReason(typ, sub string, b BouncedRecipient) string {
	var what string
	switch {
	case strings.HasPrefix(b.Status, "5.1.1"), sub == "NoEmail":
		what = "recipient address does not exist"
	case strings.HasPrefix(b.Status, "5.1.2"), strings.HasPrefix(b.Status, "5.4.4"), strings.HasPrefix(b.Status, "4.4.4"):
		what = "recipient domain not resolvable"
	case strings.HasPrefix(b.Status, "5.2.2"), strings.HasPrefix(b.Status, "4.2.2"), sub == "MailboxFull":
		what = "recipient mailbox full"
	case strings.HasPrefix(b.Status, "5.3.4"), sub == "MessageTooLarge":
		what = "message too large for the recipient's server"
	case sub == "Suppressed" || sub == "OnAccountSuppressionList":
		what = "recipient on SES's suppression list (it bounced or complained before)"
	case sub == "ContentRejected" || sub == "AttachmentRejected" || strings.HasPrefix(b.Status, "5.7."):
		what = "refused by the recipient's server for its content or by policy"
	default:
		what = "bounced"
	}
	return joinNonEmpty(strings.ToLower(typ)+" bounce: "+what, b.Status, b.DiagnosticCode)
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
