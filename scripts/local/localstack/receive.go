package localstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/reputation"
	"github.com/moatmail/moat/shared/schema"
)

// SESMaxMessageBytes is the largest message SES receiving accepts; larger mail is refused
// during the SMTP conversation with 552 5.3.4.
const SESMaxMessageBytes = 40 << 20

// maxEventHeaderBytes is how much of the header section SES puts into the receipt event before
// it sets headersTruncated.
const maxEventHeaderBytes = 10 << 10

// receiver is the SMTP listener that stands in for SES receiving: the receipt IP filters (the
// policy's global blocked IPs and the dynamic blocks) at connection time, the receipt rule's recipient domains (the
// policy's domains) at RCPT, the S3 action (incoming/<messageId> with SES's Received header)
// and the Lambda action (an Event invocation of the inbound handler with the receipt event).
type receiver struct {
	policies *policies
	blocks   *reputation.Store // dynamic blocks, which SES gets as receipt IP filters
	s3       *s3.Client
	bucket   string
	region   string
	invoke   func(events.SimpleEmailEvent) // asynchronous, like an Event invocation
	log      *slog.Logger
	now      func() time.Time
}

func (r *receiver) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ip := remoteIP(c.Conn())
	pol, err := r.policies.compiled(context.Background())
	if err != nil {
		r.log.Error("read policy", "error", err)
		return nil, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
	}
	// SES receipt IP filters are account-wide: the policy's global block list.
	if ip.IsValid() && pol.IP("", ip).Blocked {
		r.log.Info("connection refused by IP filter", "client_ip", ip.String())
		return nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Access denied"}
	}
	// Dynamic blocks become receipt IP filters too (reputation.Store pushes them to SES).
	if ip.IsValid() && r.blocks != nil {
		_, err := r.blocks.Active(context.Background(), ip, r.now())
		switch {
		case err == nil:
			r.log.Info("connection refused: dynamic block", "client_ip", ip.String())
			return nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Access denied"}
		case !errors.Is(err, reputation.ErrNotFound):
			r.log.Warn("read dynamic blocks; accepting", "error", err)
		}
	}
	return &session{r: r, ip: ip, helo: c.Hostname()}, nil
}

func remoteIP(c net.Conn) netip.Addr {
	if c == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

type session struct {
	r      *receiver
	ip     netip.Addr
	helo   string
	from   string
	hasMsg bool
	rcpts  []string
}

func (s *session) Reset()        { s.from, s.hasMsg, s.rcpts = "", false, nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	// Like SES, take any sender an MTA would send (root@host included); the filter judges it.
	if from != "" && !plausibleAddr(from) {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Invalid sender address"}
	}
	s.from, s.hasMsg, s.rcpts = from, true, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	addr, err := policy.ParseAddress(to)
	if err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Invalid recipient address"}
	}
	pol, err := s.r.policies.compiled(context.Background())
	if err != nil {
		s.r.log.Error("read policy", "error", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
	}
	// The receipt rule matches the served domains only: no open relay.
	if !pol.Serves(addr[strings.LastIndexByte(addr, '@')+1:]) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied: recipient domain not served"}
	}
	for _, r := range s.rcpts {
		if strings.EqualFold(r, addr) {
			return nil
		}
	}
	s.rcpts = append(s.rcpts, addr)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if !s.hasMsg || len(s.rcpts) == 0 {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Need RCPT first"}
	}
	body, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // 552 5.3.4 over the size limit
		}
		return err
	}
	now := s.r.now().UTC()
	id := newMessageID()
	raw := append([]byte(s.sesHeader(id, now)), body...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.r.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.r.bucket), Key: aws.String(schema.IncomingPrefix + id), Body: bytes.NewReader(raw),
	}); err != nil {
		s.r.log.Error("store incoming message", "message_id", id, "error", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
	}
	ev := receiptEvent(id, now, s.from, s.rcpts, raw, s.r.region)
	s.r.log.Info("received", "message_id", id, "recipients", len(s.rcpts), "size", len(raw), "client_ip", s.ip.String())
	s.r.invoke(ev)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok " + id}
}

// plausibleAddr accepts local@domain without spaces, control characters or angle brackets.
func plausibleAddr(a string) bool {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 320 {
		return false
	}
	for _, c := range a {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// sesHeader is what SES puts in front of the message it stores: the Received field naming the
// client (the one shared/message reads the client IP from) and the Return-Path.
func (s *session) sesHeader(id string, now time.Time) string {
	helo := s.helo
	if helo == "" {
		helo = "unknown"
	}
	rdns := "unknown"
	if s.ip.IsLoopback() {
		rdns = "localhost"
	}
	ip := s.ip.String()
	if s.ip.Is6() {
		ip = "IPv6:" + ip
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s (%s [%s])\r\n by inbound-smtp.%s.amazonaws.com with SMTP id %s", helo, rdns, ip, s.r.region, id)
	if len(s.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n for %s", s.rcpts[0])
	}
	fmt.Fprintf(&b, ";\r\n %s (UTC)\r\n", now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", s.from)
	return b.String()
}

// newMessageID returns an ID in the form of SES's: 40 lower-case letters and digits.
func newMessageID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [40]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// receiptEvent builds the event SES's Lambda action sends for a stored message. SES's spam,
// virus, SPF, DKIM and DMARC checks do not run locally: every verdict is GRAY.
func receiptEvent(id string, now time.Time, sender string, rcpts []string, raw []byte, region string) events.SimpleEmailEvent {
	head := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head = raw[:i+4]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head = raw[:i+2]
	}
	msg, _ := message.Parse(bytes.NewReader(head), message.Options{})
	mail := events.SimpleEmailMessage{
		Source: sender, Timestamp: now, Destination: rcpts, MessageID: id,
		Headers: []events.SimpleEmailHeader{},
	}
	size := 0
	if msg != nil {
		for _, f := range msg.Header {
			size += len(f.Name) + len(f.Value) + 4
			if size > maxEventHeaderBytes {
				mail.HeadersTruncated = true
				break
			}
			mail.Headers = append(mail.Headers, events.SimpleEmailHeader{Name: f.Name, Value: f.Value})
		}
		ch := &mail.CommonHeaders
		ch.ReturnPath = sender
		if msg.From.Addr != "" {
			ch.From = []string{formatAddr(msg.From)}
		}
		for _, a := range msg.To {
			ch.To = append(ch.To, formatAddr(a))
		}
		for _, a := range msg.Cc {
			ch.Cc = append(ch.Cc, formatAddr(a))
		}
		if msg.MessageID != "" {
			ch.MessageID = "<" + msg.MessageID + ">"
		}
		ch.Subject = msg.Subject
		for _, f := range msg.Header {
			if strings.EqualFold(f.Name, "Date") {
				ch.Date = strings.TrimSpace(f.Value)
				break
			}
		}
	}
	gray := events.SimpleEmailVerdict{Status: "GRAY"}
	return events.SimpleEmailEvent{Records: []events.SimpleEmailRecord{{
		EventVersion: "1.0", EventSource: "aws:ses",
		SES: events.SimpleEmailService{
			Mail: mail,
			Receipt: events.SimpleEmailReceipt{
				Recipients: rcpts, Timestamp: now,
				SpamVerdict: gray, VirusVerdict: gray, SPFVerdict: gray, DKIMVerdict: gray, DMARCVerdict: gray,
				Action: events.SimpleEmailReceiptAction{
					Type: "Lambda", InvocationType: "Event",
					FunctionARN: "arn:aws:lambda:" + region + ":000000000000:function:moat-local-inbound",
				},
			},
		},
	}}}
}

func formatAddr(a message.Address) string {
	if a.Name == "" {
		return a.Addr
	}
	return fmt.Sprintf("%q <%s>", a.Name, a.Addr)
}
