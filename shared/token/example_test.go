package token_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/moatmail/moat/shared/token"
)

func Example() {
	s, _ := token.New([]byte("an example key of at least 32 bytes!"))
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	tok, _ := s.Make(token.Claims{Purpose: "deliver", MessageID: "m1", Recipient: "alice@example.com", Expires: now.Add(7 * 24 * time.Hour).Unix()})

	c, err := s.Check(tok, "deliver", now)
	fmt.Println(c.MessageID, c.Recipient, err)
	_, err = s.Check(tok, "block-domain", now)
	fmt.Println(errors.Is(err, token.ErrPurpose))
	_, err = s.Check(tok, "deliver", now.Add(8*24*time.Hour))
	fmt.Println(errors.Is(err, token.ErrExpired))
	_, err = s.Check(tok[:len(tok)-2]+"AA", "deliver", now)
	fmt.Println(errors.Is(err, token.ErrInvalid))
	// Output:
	// m1 alice@example.com <nil>
	// true
	// true
	// true
}
