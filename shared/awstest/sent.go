package awstest

import (
	"context"
	"os"
	"testing"

	"github.com/moatmail/moat/shared/provision"
)

// SentEmail is one message the emulator recorded as sent through SES.
type SentEmail = provision.SentEmail

// SentEmails returns every message sent through SES (v1 and v2) that the emulator recorded.
func SentEmails(t testing.TB) []SentEmail {
	t.Helper()
	out, err := provision.SentMail(context.Background(), os.Getenv("AWS_ENDPOINT_URL"))
	if err != nil {
		t.Fatalf("read the emulator's sent mail: %v", err)
	}
	return out
}
