package token_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/token"
)

var (
	key = []byte("0123456789abcdef0123456789abcdef")
	now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
)

func TestCheck(t *testing.T) {
	s, err := token.New(key)
	if err != nil {
		t.Fatal(err)
	}
	c := token.Claims{Purpose: "deliver", MessageID: "m1", Recipient: "alice@example.com", Expires: now.Add(time.Hour).Unix()}
	tok, err := s.Make(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Check(tok, "deliver", now)
	if err != nil || got != c {
		t.Fatalf("genuine token: %+v, %v", got, err)
	}
	other, _ := token.New([]byte(strings.Repeat("k", 32)))
	payload, mac, _ := strings.Cut(tok, ".")
	forged, _ := s.Make(token.Claims{Purpose: "deliver", MessageID: "m2", Recipient: "alice@example.com", Expires: c.Expires})
	forgedPayload, _, _ := strings.Cut(forged, ".")
	flip := []byte(mac)
	flip[3] ^= 1
	for _, tc := range []struct {
		name, tok, purpose string
		signer             *token.Signer
		at                 time.Time
		want               error
	}{
		{"expired", tok, "deliver", s, now.Add(time.Hour), token.ErrExpired},
		{"other purpose", tok, "block-sender", s, now, token.ErrPurpose},
		{"other key", tok, "deliver", other, now, token.ErrInvalid},
		{"payload swapped", forgedPayload + "." + mac, "deliver", s, now, token.ErrInvalid},
		{"mac changed", payload + "." + string(flip), "deliver", s, now, token.ErrInvalid},
		{"no dot", payload, "deliver", s, now, token.ErrInvalid},
		{"garbage", "!!!.???", "deliver", s, now, token.ErrInvalid},
		{"empty", "", "deliver", s, now, token.ErrInvalid},
		{"huge", strings.Repeat("a", token.MaxLen+1), "deliver", s, now, token.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.signer.Check(tc.tok, tc.purpose, tc.at); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := token.New(key[:31]); err == nil {
		t.Error("a 31-byte key accepted")
	}
	if _, err := s.Make(token.Claims{}); err == nil {
		t.Error("a token without purpose made")
	}
}

func FuzzCheck(f *testing.F) {
	s, _ := token.New(key)
	tok, _ := s.Make(token.Claims{Purpose: "deliver", MessageID: "m", Recipient: "a@b.example", Expires: now.Add(time.Hour).Unix()})
	f.Add(tok)
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := s.Check(in, "deliver", now)
		if err == nil && in != tok {
			// Only a token the key made can pass: re-making its claims must give it back.
			again, _ := s.Make(c)
			if again != in {
				t.Fatalf("accepted a token the signer did not make: %q", in)
			}
		}
	})
}

func TestLoadKey(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := t.Context()
	sm, ps := secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	secret, param := awstest.Name(t, "link-key"), "/"+awstest.Name(t, "link-key")
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secret), SecretString: aws.String(string(key))}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String(string(key)), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{secret, "secret:" + secret, "ssm:" + param} {
		got, err := token.LoadKey(ctx, sm, ps, name)
		if err != nil || string(got) != string(key) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	short := awstest.Name(t, "short")
	sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(short), SecretString: aws.String("tiny")})
	if _, err := token.LoadKey(ctx, sm, ps, short); err == nil || !strings.Contains(err.Error(), short) {
		t.Errorf("short key: %v, want an error naming it", err)
	}
	if _, err := token.LoadKey(ctx, sm, ps, "missing-"+secret); err == nil {
		t.Error("missing secret: no error")
	}
}

func BenchmarkCheck(b *testing.B) {
	s, _ := token.New(key)
	tok, _ := s.Make(token.Claims{Purpose: "deliver", MessageID: "0100018c1a2b3c4d-5e6f7a8b-1111-2222-3333-444455556666-000000", Recipient: "alice@example.com", Expires: now.Add(time.Hour).Unix()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Check(tok, "deliver", now); err != nil {
			b.Fatal(err)
		}
	}
}
