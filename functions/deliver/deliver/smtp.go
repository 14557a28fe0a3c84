package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of an smtp route.
const (
	TLSRequired      = "required"      // STARTTLS (or TLS on 465) must succeed; any certificate
	TLSOpportunistic = "opportunistic" // STARTTLS when offered and working, else plain text
	TLSVerify        = "verify"        // STARTTLS with a certificate from the route's CA for the host
)

// Outcome is what happened to one recipient in one attempt.
type Outcome int

const (
	Delivered Outcome = iota // the server accepted the message for the recipient
	Deferred                 // a temporary failure: try again later
	Failed                   // a permanent failure: tell the sender
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Deferred:
		return "deferred"
	default:
		return "failed"
	}
}

// Result is one recipient's outcome with the reply that decided it.
type Result struct {
	Recipient string
	Outcome   Outcome
	Code      int    // SMTP reply code (or the one that stands for a local failure)
	Enhanced  string // enhanced status code, x.y.z
	// Reply is the remote server's reply, or what went wrong locally, for tracking and logs
	// (administrators only).
	Reply string
	// Diagnostic is the text a DSN may show the sender: the remote server's reply, or a
	// generic sentence for local failures (never addresses of the customer's hosts).
	Diagnostic string
	// Local marks a permanent failure of the gateway's own (the stored message is gone),
	// tracked as delivery-failed rather than bounced.
	Local bool
}

// SMTPRoute is a resolved smtp route: where to connect and how.
type SMTPRoute struct {
	Host string
	Port int
	TLS  string
	CA   *x509.CertPool // verify: the roots the server's certificate must chain to
	// ImplicitTLS starts TLS on connect (port 465, RFC 8314) instead of STARTTLS.
	ImplicitTLS bool
	Auth        *Credentials // nil: no AUTH
}

// Credentials log in to the smart host.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Envelope is one SMTP transaction's sender and recipients.
type Envelope struct {
	Sender     string // empty: the null reverse-path <>
	Recipients []string
}

// SMTP sends messages to a customer's mail server, one transaction per call.
type SMTP struct {
	// Dial opens the TCP connection; nil: a net.Dialer with ConnectTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HeloName introduces the gateway in EHLO.
	HeloName       string
	ConnectTimeout time.Duration // TCP connect and TLS handshake
	CommandTimeout time.Duration // each command's reply, and the reply after the data
	// Pool keeps connections for later transactions; nil: one connection per transaction.
	Pool *Pool
}

// stageError is a failure at one stage of the transaction before the recipients (connect,
// tls, greeting, auth, mail) or of the data; its result applies to every recipient it covers.
type stageError struct {
	stage string // connect, tls, greeting, auth, mail, data
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// Send delivers the message in one transaction and returns one result per recipient, in
// order. size is the message's size in bytes (for the SIZE parameter). Send never returns
// without a result for each recipient; ctx bounds the whole transaction.
func (s *SMTP) Send(ctx context.Context, rt SMTPRoute, env Envelope, msg io.Reader, size int64) []Result {
	results, err := s.send(ctx, rt, env, msg, size, false, true)
	var plainRetry *tlsFailure
	if err != nil && rt.TLS == TLSOpportunistic && errors.As(err, &plainRetry) {
		// Opportunistic: a server whose STARTTLS is broken still gets the mail, in plain
		// text, on a new connection.
		results, err = s.send(ctx, rt, env, msg, size, true, true)
	}
	if err != nil {
		return allResults(env.Recipients, errorResult(err))
	}
	return results
}

type tlsFailure struct{ err error }

func (e *tlsFailure) Error() string { return "TLS: " + e.err.Error() }
func (e *tlsFailure) Unwrap() error { return e.err }

func (s *SMTP) send(ctx context.Context, rt SMTPRoute, env Envelope, msg io.Reader, size int64, noTLS, pooled bool) ([]Result, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Hour)
	}
	key := rt.key(noTLS)
	var sess *session
	if s.Pool != nil && pooled {
		sess = s.Pool.get(key)
	}
	reused := sess != nil
	var stop func() bool
	if sess != nil {
		sess.conn.limit = deadline
		raw := sess.raw
		stop = context.AfterFunc(ctx, func() { raw.Close() })
		// A connection kept from an earlier transaction may have been closed by the server
		// meanwhile: RSET tells, and a fresh connection takes over.
		sess.conn.SetDeadline(time.Now().Add(min(s.CommandTimeout, 5*time.Second)))
		err := sess.c.Reset()
		sess.conn.SetDeadline(time.Time{})
		if err != nil {
			stop()
			sess.close()
			sess, reused = nil, false
		}
	}
	if sess == nil {
		var err error
		sess, err = s.connect(ctx, rt, noTLS, deadline)
		if err != nil {
			return nil, err
		}
		raw := sess.raw
		stop = context.AfterFunc(ctx, func() { raw.Close() })
	}
	results, reusable, err := s.transaction(sess, env, msg, size)
	alive := stop()
	// Keep the connection for the next transaction only when it ended cleanly and the
	// context did not close it.
	if alive && reusable && s.Pool != nil {
		s.Pool.put(key, sess)
	} else if reusable {
		sess.quit()
	} else {
		sess.close()
	}
	if reused && alive && staleSession(err) {
		// The server ended a kept connection between RSET and MAIL (a per-connection limit,
		// 421): nothing was sent yet, so try once on a fresh one.
		return s.send(ctx, rt, env, msg, size, noTLS, false)
	}
	return results, err
}

// staleSession reports a failure at MAIL that says the connection, not the message, is done.
func staleSession(err error) bool {
	var st *stageError
	if !errors.As(err, &st) || st.stage != "mail" {
		return false
	}
	var se *smtp.SMTPError
	return !errors.As(err, &se) || se.Code == 421
}

// session is an open, greeted (and, as the route says, encrypted and authenticated)
// connection to a mail server.
type session struct {
	c    *smtp.Client
	raw  net.Conn
	conn *deadlineConn
	tls  *tls.ConnectionState
	used time.Time
}

func (ss *session) close() {
	ss.c.Close()
	ss.raw.Close()
}

// quit says QUIT, waiting a second at most for the reply, and closes the connection.
func (ss *session) quit() {
	ss.conn.SetDeadline(time.Now().Add(time.Second))
	ss.c.Quit()
	ss.close()
}

// connect dials the server and sets the connection up for transactions.
func (s *SMTP) connect(ctx context.Context, rt SMTPRoute, noTLS bool, deadline time.Time) (*session, error) {
	addr := net.JoinHostPort(rt.Host, strconv.Itoa(rt.Port))
	dctx, cancel := context.WithTimeout(ctx, s.ConnectTimeout)
	dial := s.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, &stageError{"connect", err}
	}
	conn := &deadlineConn{Conn: raw, limit: deadline}
	// A canceled context ends the set-up at once, whatever the client is waiting for.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	c, tlsState, err := s.open(conn, rt, noTLS)
	if err != nil {
		raw.Close()
		return nil, err
	}
	sess := &session{c: c, raw: raw, conn: conn, tls: tlsState}
	c.CommandTimeout = s.CommandTimeout
	c.SubmissionTimeout = s.CommandTimeout

	if rt.Auth != nil {
		if tlsState == nil {
			sess.close()
			return nil, &stageError{"auth", errors.New("the route has credentials but the connection is not encrypted; refusing to send them")}
		}
		var a sasl.Client
		switch {
		case c.SupportsAuth(sasl.Plain):
			a = sasl.NewPlainClient("", rt.Auth.Username, rt.Auth.Password)
		case c.SupportsAuth(sasl.Login):
			a = sasl.NewLoginClient(rt.Auth.Username, rt.Auth.Password)
		default:
			sess.close()
			return nil, &stageError{"auth", errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")}
		}
		if err := c.Auth(a); err != nil {
			sess.close()
			return nil, &stageError{"auth", err}
		}
	}
	return sess, nil
}

// transaction runs MAIL, RCPT and DATA on an open session. reusable reports that the session
// is ready for another transaction.
func (s *SMTP) transaction(sess *session, env Envelope, msg io.Reader, size int64) (results []Result, reusable bool, err error) {
	c := sess.c
	opts := &smtp.MailOptions{Size: size}
	if !allASCII(env.Sender, env.Recipients...) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return allResults(env.Recipients, Result{
				Outcome: Failed, Code: 553, Enhanced: "5.6.7",
				Reply:      "the server does not offer SMTPUTF8, needed for an address that is not ASCII",
				Diagnostic: "553 5.6.7 The destination does not accept non-ASCII addresses",
			}), true, nil
		}
		opts.UTF8 = true
	}
	if err := c.Mail(env.Sender, opts); err != nil {
		return nil, false, &stageError{"mail", err}
	}
	results = make([]Result, len(env.Recipients))
	accepted := 0
	for i, r := range env.Recipients {
		if err := c.Rcpt(r, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return nil, false, &stageError{"rcpt", err} // the connection broke
			}
			results[i] = errorResult(err)
			continue
		}
		results[i].Outcome = Delivered
		accepted++
	}
	if accepted == 0 {
		return fill(results, env.Recipients), true, nil // the next use starts with RSET
	}
	w, err := c.Data()
	if err != nil {
		return applyAccepted(results, env.Recipients, errorResult(&stageError{"data", err})), false, nil
	}
	if _, err := io.Copy(w, msg); err != nil {
		var src *sourceError
		if errors.As(err, &src) {
			return nil, false, err // the store failed: not the server's fault, and nothing was sent
		}
		return applyAccepted(results, env.Recipients, errorResult(&stageError{"data", err})), false, nil
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return applyAccepted(results, env.Recipients, errorResult(&stageError{"data", err})), false, nil
	}
	ok250 := Result{Outcome: Delivered, Code: 250, Enhanced: "2.0.0", Reply: "250 " + oneLine(resp.StatusText)}
	if sess.tls != nil {
		ok250.Reply += " (" + tls.VersionName(sess.tls.Version) + ")"
	}
	return applyAccepted(results, env.Recipients, ok250), true, nil
}

// Pool keeps connections open between transactions (RFC 5321 §3.3 allows several on one
// connection), so a warm function pays TCP, TLS and AUTH once per server rather than once per
// message. A connection idle longer than IdleTimeout is closed rather than reused. It is safe
// for concurrent use; each connection serves one transaction at a time.
type Pool struct {
	MaxIdle     int           // per route; 0: 10
	IdleTimeout time.Duration // 0: 30 s
	Now         func() time.Time

	mu   sync.Mutex
	idle map[string][]*session
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pool) get(key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweep()
	if list := p.idle[key]; len(list) > 0 {
		ss := list[len(list)-1]
		p.idle[key] = list[:len(list)-1]
		return ss
	}
	return nil
}

// sweep closes the connections idle too long, under any key (a rotated credential leaves
// its connections behind). The caller holds p.mu.
func (p *Pool) sweep() {
	timeout := p.IdleTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	now := p.now()
	for key, list := range p.idle {
		kept := list[:0]
		for _, ss := range list {
			if now.Sub(ss.used) <= timeout {
				kept = append(kept, ss)
			} else {
				go ss.close()
			}
		}
		if len(kept) == 0 {
			delete(p.idle, key)
		} else {
			p.idle[key] = kept
		}
	}
}

func (p *Pool) put(key string, ss *session) {
	max := p.MaxIdle
	if max <= 0 {
		max = 10
	}
	ss.used = p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*session{}
	}
	if len(p.idle[key]) >= max {
		go ss.quit()
		return
	}
	p.idle[key] = append(p.idle[key], ss)
}

// Close says QUIT on every idle connection and closes it.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, list := range idle {
		for _, ss := range list {
			ss.quit()
		}
	}
}

// key identifies the connections a route may share.
func (rt SMTPRoute) key(noTLS bool) string {
	user := ""
	if rt.Auth != nil {
		user = rt.Auth.Username + "\x00" + rt.Auth.Password
	}
	return fmt.Sprintf("%s\x00%d\x00%s\x00%t\x00%t\x00%p\x00%s", rt.Host, rt.Port, rt.TLS, rt.ImplicitTLS, noTLS, rt.CA, user)
}

// open greets the server and sets up TLS as the route asks: implicit TLS on port 465,
// STARTTLS otherwise.
func (s *SMTP) open(conn net.Conn, rt SMTPRoute, noTLS bool) (*smtp.Client, *tls.ConnectionState, error) {
	cfg := &tls.Config{ServerName: rt.Host, MinVersion: tls.VersionTLS12}
	switch rt.TLS {
	case TLSVerify:
		cfg.RootCAs = rt.CA
	default:
		// required and opportunistic encrypt without checking the certificate (most smart
		// hosts use private or self-signed certificates); verify checks it.
		cfg.InsecureSkipVerify = true
	}
	if rt.ImplicitTLS {
		tc := tls.Client(conn, cfg)
		conn.SetDeadline(time.Now().Add(s.ConnectTimeout))
		if err := tc.Handshake(); err != nil {
			return nil, nil, &stageError{"tls", &tlsFailure{err}}
		}
		conn.SetDeadline(time.Time{})
		c := smtp.NewClient(tc)
		c.CommandTimeout = s.CommandTimeout
		if err := c.Hello(s.HeloName); err != nil {
			c.Close()
			return nil, nil, &stageError{"greeting", err}
		}
		st := tc.ConnectionState()
		return c, &st, nil
	}

	// The exchange up to STARTTLS is done here, so that EHLO carries the gateway's name
	// (go-smtp's STARTTLS helpers say "localhost"); the client takes over after it.
	tp := textproto.NewConn(conn)
	step := func() { conn.SetDeadline(time.Now().Add(s.CommandTimeout)) }
	step()
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, nil, &stageError{"greeting", smtpErr(err)}
	}
	step()
	id, err := tp.Cmd("EHLO %s", s.HeloName)
	if err != nil {
		return nil, nil, &stageError{"greeting", err}
	}
	tp.StartResponse(id)
	_, msg, err := tp.ReadResponse(250)
	tp.EndResponse(id)
	starttls := false
	if err == nil {
		for _, line := range strings.Split(msg, "\n")[1:] {
			if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
				starttls = true
			}
		}
	} else if te := (*textproto.Error)(nil); !errors.As(err, &te) || te.Code != 500 && te.Code != 502 {
		return nil, nil, &stageError{"greeting", smtpErr(err)}
	}
	conn.SetDeadline(time.Time{})
	useTLS := starttls && !noTLS
	if !useTLS && rt.TLS != TLSOpportunistic {
		return nil, nil, &stageError{"tls", errors.New("the server does not offer STARTTLS, which the route requires")}
	}
	var next net.Conn = conn
	var state *tls.ConnectionState
	if useTLS {
		step()
		id, err := tp.Cmd("STARTTLS")
		if err != nil {
			return nil, nil, &stageError{"tls", err}
		}
		tp.StartResponse(id)
		_, _, err = tp.ReadResponse(220)
		tp.EndResponse(id)
		if err != nil {
			return nil, nil, &stageError{"tls", &tlsFailure{smtpErr(err)}}
		}
		tc := tls.Client(conn, cfg)
		conn.SetDeadline(time.Now().Add(s.ConnectTimeout))
		if err := tc.Handshake(); err != nil {
			return nil, nil, &stageError{"tls", &tlsFailure{err}}
		}
		conn.SetDeadline(time.Time{})
		next = tc
		st := tc.ConnectionState()
		state = &st
	}
	// The client expects a greeting; the server gave it already.
	c := smtp.NewClient(&greetedConn{Conn: next, greeting: strings.NewReader("220 greeted\r\n")})
	c.CommandTimeout = s.CommandTimeout
	if err := c.Hello(s.HeloName); err != nil {
		c.Close()
		return nil, nil, &stageError{"greeting", err}
	}
	return c, state, nil
}

// greetedConn replays a greeting before the connection's data.
type greetedConn struct {
	net.Conn
	greeting *strings.Reader
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if c.greeting.Len() > 0 {
		return c.greeting.Read(p)
	}
	return c.Conn.Read(p)
}

// deadlineConn keeps every deadline within limit: go-smtp clears deadlines between
// commands, and a server that stops reading during DATA must not hold the function.
type deadlineConn struct {
	net.Conn
	limit time.Time
}

func (c *deadlineConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}
func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func smtpErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		se := &smtp.SMTPError{Code: te.Code, Message: te.Msg, EnhancedCode: smtp.NoEnhancedCode}
		if code, text, ok := strings.Cut(te.Msg, " "); ok {
			if ec, ok := parseEnhanced(code); ok && ec[0] == te.Code/100 {
				se.EnhancedCode, se.Message = ec, text
			}
		}
		return se
	}
	return err
}

func parseEnhanced(s string) (smtp.EnhancedCode, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return smtp.EnhancedCode{}, false
	}
	var ec smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return smtp.EnhancedCode{}, false
		}
		ec[i] = n
	}
	return ec, true
}

// errorResult classifies a failure. Replies of the server count as they are (4xx deferred,
// 5xx failed) except those that mean the gateway itself is misconfigured (TLS, AUTH): the
// mail waits for the administrator rather than bouncing. Anything local (connection, timeout,
// TLS) is deferred with a generic diagnostic.
func errorResult(err error) Result {
	stage := ""
	var st *stageError
	if errors.As(err, &st) {
		stage = st.stage
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		enh := enhanced(se)
		reply := oneLine(fmt.Sprintf("%d %s %s", se.Code, enh, se.Message))
		r := Result{Code: se.Code, Enhanced: enh, Reply: reply, Diagnostic: reply}
		if stage != "" && stage != "data" && stage != "rcpt" {
			r.Reply = stage + ": " + reply
		}
		switch {
		case se.Code >= 400 && se.Code < 500:
			r.Outcome = Deferred
		case se.Code >= 500 && (stage == "greeting" || stage == "auth" || stage == "tls" || se.Code == 530 || se.Code == 535 || se.Code == 538):
			// The customer's server refuses the gateway, not the message: wait for a fix.
			r.Outcome, r.Code, r.Enhanced = Deferred, 451, "4.7.0"
		case se.Code >= 500 && se.Code < 600:
			r.Outcome = Failed
		default:
			r.Outcome = Deferred
		}
		return r
	}
	r := Result{Outcome: Deferred, Code: 451, Reply: oneLine(err.Error())}
	var src *sourceError
	var nerr net.Error
	switch {
	case errors.As(err, &src):
		r.Enhanced, r.Diagnostic = "4.3.0", "451 4.3.0 Temporary local problem"
	case stage == "connect":
		r.Enhanced, r.Diagnostic = "4.4.1", "451 4.4.1 No answer from the destination server"
	case stage == "tls" || errors.As(err, new(*tlsFailure)):
		r.Enhanced, r.Diagnostic = "4.7.5", "451 4.7.5 Could not establish a secure connection with the destination server"
	case errors.As(err, &nerr) && nerr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		r.Enhanced, r.Diagnostic = "4.4.2", "451 4.4.2 The destination server did not answer in time"
	default:
		r.Enhanced, r.Diagnostic = "4.4.2", "451 4.4.2 The connection to the destination server was lost"
	}
	r.Reply = strings.TrimPrefix(r.Diagnostic, "451 ") + ": " + r.Reply
	return r
}

func enhanced(se *smtp.SMTPError) string {
	ec := se.EnhancedCode
	if ec == smtp.NoEnhancedCode || ec == (smtp.EnhancedCode{}) || ec[0] != se.Code/100 {
		return fmt.Sprintf("%d.0.0", se.Code/100)
	}
	return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
}

// oneLine makes a multi-line reply one line of at most 500 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

func allResults(rcpts []string, r Result) []Result {
	out := make([]Result, len(rcpts))
	for i, a := range rcpts {
		out[i] = r
		out[i].Recipient = a
	}
	return out
}

// applyAccepted gives r to every recipient the server accepted at RCPT (marked Delivered so
// far); the refused keep their own result.
func applyAccepted(results []Result, rcpts []string, r Result) []Result {
	for i := range results {
		if results[i].Outcome == Delivered && results[i].Code == 0 {
			results[i] = r
		}
	}
	return fill(results, rcpts)
}

func fill(results []Result, rcpts []string) []Result {
	for i := range results {
		results[i].Recipient = rcpts[i]
	}
	return results
}

func allASCII(s string, more ...string) bool {
	if !isASCII(s) {
		return false
	}
	for _, m := range more {
		if !isASCII(m) {
			return false
		}
	}
	return true
}

// sourceError is a failure to read the stored message while sending it.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "read stored message: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// sourceReader marks read errors of the stored message, to tell them from the server's.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}
