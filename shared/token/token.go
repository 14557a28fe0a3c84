// Package token makes and checks the signed, expiring, single-purpose tokens that carry the
// end users' quarantine actions in digest links (HMAC-SHA256, RFC 2104).
//
// A token is base64url(payload) "." base64url(mac), where payload is the JSON of Claims and
// mac = HMAC-SHA256(key, "moat-link/v1\n" + purpose + "\n" + payload). The purpose (the
// action: deliver, block-sender, ...) is inside the signed payload and in the MAC input, so a
// token made for one action is refused for any other. Tokens are not secret from their holder
// (anyone can read the claims) but cannot be made or changed without the key.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinKeyBytes is the shortest key accepted: the HMAC-SHA256 block of security.
const MinKeyBytes = 32

// MaxLen bounds a token's length; anything longer is refused before decoding.
const MaxLen = 2048

const domainSep = "moat-link/v1\n"

// strict refuses non-canonical encodings, so one token has one spelling.
var strict = base64.RawURLEncoding.Strict()

var (
	// ErrInvalid is returned for a token that is malformed or whose signature does not match
	// (tampered, or made with another key).
	ErrInvalid = errors.New("invalid link")
	// ErrExpired is returned for a genuine token past its expiry.
	ErrExpired = errors.New("link expired")
	// ErrPurpose is returned for a genuine token used for another action than it was made for.
	ErrPurpose = errors.New("link made for another action")
)

// Claims are what a token says: who may do what to which message, until when.
type Claims struct {
	Purpose   string `json:"p"`
	MessageID string `json:"m"`
	Recipient string `json:"r"`
	Expires   int64  `json:"e"` // Unix seconds
}

// Signer makes and checks tokens with one key.
type Signer struct {
	key []byte
}

// New returns a signer over key, which must be at least MinKeyBytes long.
func New(key []byte) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("link signing key is %d bytes: want at least %d", len(key), MinKeyBytes)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

func (s *Signer) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(domainSep + purpose + "\n"))
	m.Write(payload)
	return m.Sum(nil)
}

// Make returns a token for c.
func (s *Signer) Make(c Claims) (string, error) {
	if c.Purpose == "" || strings.ContainsRune(c.Purpose, '\n') {
		return "", fmt.Errorf("token purpose %q is not allowed", c.Purpose)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.mac(c.Purpose, payload))
	if len(tok) > MaxLen {
		return "", fmt.Errorf("token of %d bytes is over %d", len(tok), MaxLen)
	}
	return tok, nil
}

// Check verifies tok for purpose at now and returns its claims. The signature is checked
// first, in constant time; only a genuine token is then told apart as expired or made for
// another purpose.
func (s *Signer) Check(tok, purpose string, now time.Time) (Claims, error) {
	if len(tok) > MaxLen {
		return Claims{}, ErrInvalid
	}
	p, m, ok := strings.Cut(tok, ".")
	if !ok {
		return Claims{}, ErrInvalid
	}
	payload, err1 := strict.DecodeString(p)
	mac, err2 := strict.DecodeString(m)
	if err1 != nil || err2 != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Purpose == "" {
		return Claims{}, ErrInvalid
	}
	// The MAC binds the purpose the token claims; a token presented for another purpose is
	// checked against its own claim, then refused for the mismatch.
	if !hmac.Equal(mac, s.mac(c.Purpose, payload)) {
		return Claims{}, ErrInvalid
	}
	if c.Purpose != purpose {
		return Claims{}, ErrPurpose
	}
	if now.Unix() >= c.Expires {
		return Claims{}, ErrExpired
	}
	return c, nil
}
