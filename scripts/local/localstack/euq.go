package localstack

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/moatmail/moat/functions/actions/actions"
	"github.com/moatmail/moat/functions/digest/digest"
	"github.com/moatmail/moat/shared/provision"
)

// startQuarantineDigests runs the end-user quarantine: the link signing key as a secret in the
// emulator, the action function behind an HTTPS listener on loopback (its function URL, with a
// certificate made at start: the browser asks once to trust it), and the digest function every
// period, as EventBridge runs it every hour. Digests go out through SES; the outbox copies them
// to <Dir>/sent/<recipient>/.
func (s *Stack) startQuarantineDigests(ctx, bg context.Context, env map[string]string, ln net.Listener, every time.Duration, suffix, sender string) error {
	sm := secretsmanager.NewFromConfig(s.AWS)
	key := make([]byte, 48)
	rand.Read(key)
	name := "moat-link-key-" + suffix
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(base64.RawStdEncoding.EncodeToString(key)),
	}); err != nil {
		return fmt.Errorf("create the link key secret: %w", err)
	}
	env[actions.EnvLinkKey] = name
	env[digest.EnvActionsURL] = "https://" + ln.Addr().String()
	env[digest.EnvSender] = sender
	get := func(k string) string { return env[k] }

	acfg, err := actions.LoadConfig(get)
	if err != nil {
		return fmt.Errorf("actions configuration: %w", err)
	}
	ah, err := actions.New(ctx, acfg, actions.Clients{
		S3: provision.S3(s.AWS), DynamoDB: dynamodb.NewFromConfig(s.AWS), SQS: sqs.NewFromConfig(s.AWS),
		Secrets: sm, SSM: ssm.NewFromConfig(s.AWS),
	}, s.log.With("function", "actions"))
	if err != nil {
		return fmt.Errorf("actions: %w", err)
	}
	dcfg, err := digest.LoadConfig(get)
	if err != nil {
		return fmt.Errorf("digest configuration: %w", err)
	}
	dh, err := digest.New(ctx, dcfg, digest.Clients{
		S3: provision.S3(s.AWS), DynamoDB: dynamodb.NewFromConfig(s.AWS), SES: ses.NewFromConfig(s.AWS),
		Secrets: sm, SSM: ssm.NewFromConfig(s.AWS),
	}, s.log.With("function", "digest"))
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	s.digest = dh

	cert, pool, err := selfSigned(ln.Addr())
	if err != nil {
		return err
	}
	s.ActionsURL, s.ActionsCA = env[digest.EnvActionsURL], pool
	srv := &http.Server{
		Handler:           functionURL(ah.Handle),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.httpServers = append(s.httpServers, srv)
	s.bg.Add(2)
	go func() {
		defer s.bg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("action endpoint stopped", "error", err)
		}
	}()
	go func() {
		defer s.bg.Done()
		for {
			sleep(bg, every)
			if bg.Err() != nil {
				return
			}
			if err := s.RunDigests(bg, time.Now()); err != nil {
				s.log.Warn("digest run", "error", err)
			}
		}
	}()
	return nil
}

// RunDigests does the digest function's work for the hour of now, as its schedule would.
func (s *Stack) RunDigests(ctx context.Context, now time.Time) error {
	return s.digest.Run(ctx, now.UTC())
}

// functionURL serves a Lambda function URL handler over HTTP, as the function URL does.
func functionURL(h func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, actions.MaxBody+1))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		req := events.LambdaFunctionURLRequest{
			Version: "2.0", RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
			Headers: map[string]string{}, QueryStringParameters: map[string]string{},
			Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true,
		}
		for k, v := range r.URL.Query() {
			req.QueryStringParameters[k] = v[0]
		}
		for k, v := range r.Header {
			req.Headers[http.CanonicalHeaderKey(k)] = v[0]
		}
		req.RequestContext.HTTP.Method, req.RequestContext.HTTP.Path = r.Method, r.URL.Path
		req.RequestContext.HTTP.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
		resp, err := h(r.Context(), req)
		if err != nil {
			http.Error(w, "internal error", http.StatusBadGateway)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		for _, c := range resp.Cookies {
			w.Header().Add("Set-Cookie", c)
		}
		out := []byte(resp.Body)
		if resp.IsBase64Encoded {
			if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
				http.Error(w, "internal error", http.StatusBadGateway)
				return
			}
		}
		if resp.StatusCode == 0 {
			resp.StatusCode = http.StatusOK
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	})
}

// selfSigned makes a certificate for the listener's loopback address, valid for a year.
func selfSigned(addr net.Addr) (tls.Certificate, *x509.CertPool, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ip := netip.MustParseAddrPort(addr.String()).Addr()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "Moat local stack"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IP(ip.AsSlice())}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: c}, pool, nil
}
