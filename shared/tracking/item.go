package tracking

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/moatmail/moat/shared/verdict"
)

// Key prefixes (see the package documentation).
const (
	msgPrefix       = "MSG#"
	rcptPrefix      = "RCPT#"
	blockedIPPrefix = "BLOCKEDIP#"
)

// Layouts of the index attributes.
const (
	dayLayout  = "2006-01-02"
	timeLayout = "2006-01-02T15:04:05.000000000Z" // fixed width, so byte order is time order
)

// item is a record as stored. Attribute names are the json tags (the encoder reads them).
type item struct {
	PK      string `json:"pk"`
	SK      string `json:"sk"`
	GSIDay  string `json:"gsiDay"`
	GSITime string `json:"gsiTime"`

	// Index partitions, normalised; absent when empty (an index key cannot be "").
	SenderKey    string `json:"sender,omitempty"`
	RecipientKey string `json:"recipient"`
	Domain       string `json:"domain,omitempty"`
	ClientIP     string `json:"clientIP,omitempty"`

	Expires int64 `json:"expires"`
	Version int   `json:"version"`

	MessageID     string            `json:"messageId"`
	Time          time.Time         `json:"time"`
	Direction     Direction         `json:"direction"`
	EnvelopeFrom  string            `json:"envelopeFrom,omitempty"`
	RcptTo        string            `json:"rcptTo"`
	From          string            `json:"from,omitempty"`
	Subject       string            `json:"subject,omitempty"`
	Size          int64             `json:"size"`
	Traffic       Traffic           `json:"traffic"`
	Status        Status            `json:"status"`
	Action        verdict.Action    `json:"action,omitempty"`
	BlockType     verdict.BlockType `json:"blockType,omitempty"`
	Reasons       []verdict.Reason  `json:"reasons,omitempty"`
	Verdicts      map[string]string `json:"verdicts,omitempty"`
	Key           string            `json:"key,omitempty"`
	QuarantineKey string            `json:"quarantineKey,omitempty"`
	Events        []Event           `json:"events,omitempty"`

	// The delivery lease (see Store.Claim): its owner and its end in epoch milliseconds.
	LeaseOwner string `json:"leaseOwner,omitempty"`
	LeaseUntil int64  `json:"leaseUntil,omitempty"`
}

func useJSONTags(o *attributevalue.EncoderOptions)  { o.TagKey = "json" }
func readJSONTags(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// marshal builds the stored item of rec.
func (s *Store) marshal(rec Record) (map[string]types.AttributeValue, error) {
	t := rec.Time.UTC()
	rcpt := recipientKey(rec.Recipient)
	it := item{
		PK:            msgPrefix + rec.MessageID,
		SK:            rcptPrefix + rcpt,
		GSIDay:        dayOf(t),
		GSITime:       gsiTime(t, rec.MessageID, rcpt),
		SenderKey:     strings.ToLower(rec.Sender),
		RecipientKey:  rcpt,
		Domain:        domainKey(rec),
		ClientIP:      clientIPKey(rec.ClientIP),
		Expires:       t.Add(s.ttl).Unix(),
		Version:       rec.Version,
		MessageID:     rec.MessageID,
		Time:          t,
		Direction:     rec.Direction,
		EnvelopeFrom:  rec.Sender,
		RcptTo:        rec.Recipient,
		From:          rec.From,
		Subject:       rec.Subject,
		Size:          rec.Size,
		Traffic:       rec.Traffic,
		Status:        rec.Status,
		Action:        rec.Action,
		BlockType:     rec.BlockType,
		Reasons:       rec.Reasons,
		Verdicts:      rec.Verdicts,
		Key:           rec.Key,
		QuarantineKey: rec.QuarantineKey,
	}
	if rec.Lease != nil {
		it.LeaseOwner, it.LeaseUntil = rec.Lease.Owner, rec.Lease.Until.UnixMilli()
	}
	if rec.Events != nil {
		it.Events = make([]Event, len(rec.Events))
		for i, e := range rec.Events {
			e.Time = e.Time.UTC()
			it.Events[i] = e
		}
	}
	m, err := attributevalue.MarshalMapWithOptions(it, useJSONTags)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return m, nil
}

// unmarshal reads a stored item back into a Record.
func unmarshal(m map[string]types.AttributeValue) (Record, error) {
	var it item
	if err := attributevalue.UnmarshalMapWithOptions(m, &it, readJSONTags); err != nil {
		return Record{}, fmt.Errorf("decode: %w", err)
	}
	rec := Record{
		MessageID:     it.MessageID,
		Recipient:     it.RcptTo,
		Time:          it.Time,
		Direction:     it.Direction,
		Sender:        it.EnvelopeFrom,
		From:          it.From,
		Subject:       it.Subject,
		ClientIP:      it.ClientIP,
		Size:          it.Size,
		Traffic:       it.Traffic,
		Status:        it.Status,
		Action:        it.Action,
		BlockType:     it.BlockType,
		Reasons:       it.Reasons,
		Verdicts:      it.Verdicts,
		Key:           it.Key,
		QuarantineKey: it.QuarantineKey,
		Events:        it.Events,
		Version:       it.Version,
	}
	if it.LeaseOwner != "" {
		rec.Lease = &Lease{Owner: it.LeaseOwner, Until: time.UnixMilli(it.LeaseUntil).UTC()}
	}
	return rec, nil
}

// recordKey is the primary key of a record item.
func recordKey(messageID, recipient string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: msgPrefix + messageID},
		"sk": &types.AttributeValueMemberS{Value: rcptPrefix + recipientKey(recipient)},
	}
}

// recipientKey normalises an address for keys: trimmed, lower case.
func recipientKey(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// domainKey is the served domain a record belongs to: the recipient's for inbound mail, the
// envelope sender's for outbound mail. Empty when the address has no domain.
func domainKey(rec Record) string {
	addr := rec.Recipient
	if rec.Direction == Outbound {
		addr = rec.Sender
	}
	return domainOf(recipientKey(addr))
}

func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return addr[at+1:]
}

// clientIPKey normalises an IP address to its canonical text (lower case, IPv6 compressed,
// IPv4-mapped IPv6 unmapped) so every spelling finds the same records. Text that is not an
// IP address is kept, lower case.
func clientIPKey(ip string) string {
	ip = strings.TrimSpace(ip)
	if a, err := netip.ParseAddr(ip); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return strings.ToLower(ip)
}

// dayOf is the byTime partition of t.
func dayOf(t time.Time) string { return t.UTC().Format(dayLayout) }

// dayStart is midnight UTC of t's day.
func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// timeKey formats t for gsiTime comparisons.
func timeKey(t time.Time) string { return t.UTC().Format(timeLayout) }

// gsiTime is the sort key shared by every index: unique and in time order.
func gsiTime(t time.Time, messageID, rcpt string) string {
	return timeKey(t) + "#" + messageID + "#" + rcpt
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}
