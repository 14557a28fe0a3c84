package deliver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sink is a scripted SMTP server on 127.0.0.1:0 standing in for the customer's mail server.
type sink struct {
	Host string
	Port int

	mu   sync.Mutex
	got  []received
	data int // DATA commands seen

	// Scripts; nil accepts.
	rcpt       func(addr string) error
	dataReply  func(n int) error // n counts DATA commands from 0
	mail       func(from string) error
	requireTLS bool              // refuse MAIL before STARTTLS
	users      map[string]string // non-nil: AUTH PLAIN required with these credentials
	hangData   chan struct{}     // non-nil: hold the reply after the data until closed
	discard    bool              // count messages, keep none (benchmarks)
	count      int
	conns      int           // connections accepted
	perConn    int           // non-zero: 421 to MAIL after this many transactions on a connection
	idle       time.Duration // non-zero: the server drops a connection idle this long
}

func (s *sink) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

type received struct {
	From  string
	Rcpts []string
	Data  string
	TLS   bool
	User  string
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

type sinkSession struct {
	s     *sink
	c     *smtp.Conn
	mails int
	from  string
	to    []string
	user  string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.s.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if p, ok := ss.s.users[username]; !ok || p != password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if _, ok := ss.c.TLSConnectionState(); ss.s.requireTLS && !ok {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	if ss.s.users != nil && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	if ss.mails++; ss.s.perConn > 0 && ss.mails > ss.s.perConn {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages on this connection"}
	}
	if ss.s.mail != nil {
		if err := ss.s.mail(from); err != nil {
			return err
		}
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.rcpt != nil {
		if err := ss.s.rcpt(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	n := ss.s.data
	ss.s.data++
	ss.s.mu.Unlock()
	if ss.s.hangData != nil {
		<-ss.s.hangData
		return errors.New("hung")
	}
	if ss.s.dataReply != nil {
		if err := ss.s.dataReply(n); err != nil {
			return err
		}
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.count++
	if ss.s.discard {
		ss.s.mu.Unlock()
		return nil
	}
	ss.s.got = append(ss.s.got, received{From: ss.from, Rcpts: ss.to, Data: string(b), TLS: isTLS, User: ss.user})
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }

// startSink serves s on 127.0.0.1:0 with STARTTLS (the certificate from pki) unless plain;
// implicit serves TLS from the first byte instead.
func startSink(t testing.TB, s *sink, pki *testPKI, mode string) *sink {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{s: s, c: c}, nil
	}))
	srv.Domain = "mx.example.com"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	if s.idle > 0 {
		srv.ReadTimeout = s.idle
	}
	srv.MaxMessageBytes = 50 << 20
	srv.MaxRecipients = 200
	srv.AllowInsecureAuth = false
	srv.ErrorLog = discardLogger{}
	var l net.Listener
	var err error
	switch mode {
	case "plain":
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "starttls":
		srv.TLSConfig = pki.serverConfig()
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "brokentls": // offers STARTTLS, then fails every handshake
		srv.TLSConfig = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, errors.New("no certificate")
		}}
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "implicit":
		srv.TLSConfig = pki.serverConfig()
		l, err = tls.Listen("tcp", "127.0.0.1:0", pki.serverConfig())
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(&countingListener{Listener: l, s: s})
	t.Cleanup(func() {
		if s.hangData != nil {
			select {
			case <-s.hangData:
			default:
				close(s.hangData)
			}
		}
		srv.Close()
	})
	s.Host = "127.0.0.1"
	s.Port = l.Addr().(*net.TCPAddr).Port
	return s
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}
func (discardLogger) Println(...interface{})        {}

// hangingServer accepts connections and never says a word.
func hangingServer(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().(*net.TCPAddr).Port
}

// closedPort is a port nothing listens on.
func closedPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// testPKI is a self-signed CA and a server certificate for 127.0.0.1 it signed.
type testPKI struct {
	CAPEM  string
	Pool   *x509.CertPool
	server tls.Certificate
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Moat test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mx.example.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"mx.example.com"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testPKI{
		CAPEM:  pemCert(caDER),
		Pool:   pool,
		server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
}

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// countingListener counts the connections the sink accepts.
type countingListener struct {
	net.Listener
	s *sink
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.conns++
		l.s.mu.Unlock()
	}
	return c, err
}
