package deliver

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SSMAPI is the part of the SSM client Secrets uses; *ssm.Client satisfies it.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SecretsManagerAPI is the part of the Secrets Manager client Secrets uses;
// *secretsmanager.Client satisfies it.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// DefaultSecretTTL is how long a warm function keeps a credential or CA before reading it
// again, so that a rotation takes effect within minutes.
const DefaultSecretTTL = 5 * time.Minute

// Secrets reads the routes' credentials and CA certificates by name, never from the
// environment, and keeps them for TTL. A name that starts with "/" is an SSM parameter (a
// SecureString, decrypted); any other name of an AUTH secret is a Secrets Manager secret.
// CA certificates are always SSM parameters. It is safe for concurrent use.
type Secrets struct {
	SSM            SSMAPI
	SecretsManager SecretsManagerAPI
	TTL            time.Duration
	Now            func() time.Time

	mu    sync.Mutex
	cache map[string]cached
	pools map[string]*x509.CertPool // by PEM
}

type cached struct {
	value   string
	expires time.Time
}

// IsParameter reports whether an AUTH secret name names an SSM parameter.
func IsParameter(name string) bool { return strings.HasPrefix(name, "/") }

// Credentials reads the {"username","password"} JSON stored under name.
func (s *Secrets) Credentials(ctx context.Context, name string) (*Credentials, error) {
	var v string
	var err error
	if IsParameter(name) {
		v, err = s.get(ctx, "ssm:"+name, func() (string, error) { return s.parameter(ctx, name) })
	} else {
		v, err = s.get(ctx, "sm:"+name, func() (string, error) { return s.secret(ctx, name) })
	}
	if err != nil {
		return nil, err
	}
	var c Credentials
	if err := json.Unmarshal([]byte(v), &c); err != nil || c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("secret %s: want JSON {\"username\": ..., \"password\": ...}", name)
	}
	return &c, nil
}

// CA reads the PEM certificates stored in the SSM parameter name.
func (s *Secrets) CA(ctx context.Context, name string) (*x509.CertPool, error) {
	v, err := s.get(ctx, "ssm:"+name, func() (string, error) { return s.parameter(ctx, name) })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[v]; ok {
		return p, nil // the same pool for the same certificates: connections keyed by it are shared
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(v)) {
		return nil, fmt.Errorf("parameter %s: no PEM certificate in it", name)
	}
	if s.pools == nil || len(s.pools) > 100 {
		s.pools = map[string]*x509.CertPool{}
	}
	s.pools[v] = pool
	return pool, nil
}

func (s *Secrets) get(ctx context.Context, key string, read func() (string, error)) (string, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	if c, ok := s.cache[key]; ok && now().Before(c.expires) {
		s.mu.Unlock()
		return c.value, nil
	}
	s.mu.Unlock()
	v, err := read()
	if err != nil {
		return "", err
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultSecretTTL
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cached{}
	}
	s.cache[key] = cached{value: v, expires: now().Add(ttl)}
	s.mu.Unlock()
	return v, nil
}

func (s *Secrets) parameter(ctx context.Context, name string) (string, error) {
	if s.SSM == nil {
		return "", errors.New("no SSM client")
	}
	out, err := s.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("read parameter %s: %w", name, err)
	}
	if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
		return "", fmt.Errorf("parameter %s is empty", name)
	}
	return aws.ToString(out.Parameter.Value), nil
}

func (s *Secrets) secret(ctx context.Context, name string) (string, error) {
	if s.SecretsManager == nil {
		return "", errors.New("no Secrets Manager client")
	}
	out, err := s.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", name, err)
	}
	if aws.ToString(out.SecretString) == "" {
		return "", fmt.Errorf("secret %s has no string value", name)
	}
	return aws.ToString(out.SecretString), nil
}
