package bounce

import (
	"errors"
	"fmt"
	"testing"

	"github.com/moatmail/moat/shared/verdict"
)

func TestNoBounce(t *testing.T) {
	tests := []struct {
		name    string
		sender  string
		headers string
	}{
		{"empty sender", "", ""},
		{"null sender", "<>", ""},
		{"blank sender", "  ", ""},
		{"MAILER-DAEMON", "MAILER-DAEMON@mx.example.org", ""},
		{"mailer-daemon lower case", "mailer-daemon@mx.example.org", ""},
		{"postmaster", "Postmaster@example.org", ""},
		{"not an address", "alice", ""},
		{"bracketed", "<alice@example.org>", ""},
		{"display name", "Alice <alice@example.org>", ""},
		{"CRLF injection", "alice@example.org\r\nBcc: x@example.net", ""},
		{"two addresses", "alice@example.org, bob@example.org", ""},
		{"Auto-Submitted auto-replied", "alice@example.org", "Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\n"},
		{"Auto-Submitted auto-generated, odd case, LF", "alice@example.org", "auto-submitted:   Auto-Generated (monitoring)\n\n"},
		{"Auto-Submitted folded", "alice@example.org", "Auto-Submitted:\r\n auto-notified\r\n\r\n"},
		{"the original is a DSN", "alice@example.org", "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=x\r\n\r\n"},
		{"the original is an Exim bounce", "alice@example.org", "X-Failed-Recipients: bob@example.com\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Bounce{
				MessageID: sesID, Sender: tt.sender, OriginalHeaders: []byte(tt.headers),
				Recipients: []Recipient{{Addr: "bob@example.com", Status: verdict.StatusNoSuchUser}},
			}
			if err := b.Validate(); !errors.Is(err, ErrNoBounce) {
				t.Errorf("Validate() = %v, want ErrNoBounce", err)
			}
			if _, err := BuildDSN(b, from, now); !errors.Is(err, ErrNoBounce) {
				t.Errorf("BuildDSN: %v, want ErrNoBounce", err)
			}
		})
	}
}

func TestBounceAllowed(t *testing.T) {
	for _, tc := range []struct{ sender, headers string }{
		{"alice@example.org", "Auto-Submitted: no\r\n\r\n"},
		{"alice@example.org", "Subject: about Auto-Submitted: auto-replied\r\n\r\n"},
		{"alice@example.org", "Subject: x\r\n\r\nAuto-Submitted: auto-replied\r\n"}, // in the body
		{"daemon-mailer@example.org", ""},
		{`"alice smith"@example.org`, ""},
		{"bounce+123=x@lists.example.org", ""},
		{"alice@localhost", ""},
	} {
		b := Bounce{MessageID: sesID, Sender: tc.sender, OriginalHeaders: []byte(tc.headers),
			Recipients: []Recipient{{Addr: "bob@example.com", Status: verdict.StatusNoSuchUser}}}
		if err := b.Validate(); err != nil {
			t.Errorf("sender %q headers %q: %v", tc.sender, tc.headers, err)
		}
	}
}

func TestInvalid(t *testing.T) {
	ok := Recipient{Addr: "bob@example.com", Status: verdict.StatusNoSuchUser}
	tests := []struct {
		name string
		edit func(*Bounce)
	}{
		{"no recipients", func(b *Bounce) { b.Recipients = nil }},
		{"bad message id", func(b *Bounce) { b.MessageID = "../x" }},
		{"no message id", func(b *Bounce) { b.MessageID = "" }},
		{"bad recipient", func(b *Bounce) { b.Recipients = []Recipient{ok, {Addr: "bob", Status: verdict.StatusNoSuchUser}} }},
		{"temporary status", func(b *Bounce) {
			b.Recipients = []Recipient{{Addr: "bob@example.com", Status: verdict.Status{Code: 451, Enhanced: "4.3.0", Text: "try later"}}}
		}},
		{"mismatched classes", func(b *Bounce) {
			b.Recipients = []Recipient{{Addr: "bob@example.com", Status: verdict.Status{Code: 550, Enhanced: "4.1.1"}}}
		}},
		{"no enhanced code", func(b *Bounce) {
			b.Recipients = []Recipient{{Addr: "bob@example.com", Status: verdict.Status{Code: 550}}}
		}},
		{"bad reporting MTA", func(b *Bounce) { b.ReportingMTA = "mx.example.com\r\nX: y" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Bounce{MessageID: sesID, Sender: "alice@example.org", Recipients: []Recipient{ok}}
			tt.edit(&b)
			if err := b.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate() = %v, want ErrInvalid", err)
			}
		})
	}
	b := Bounce{MessageID: sesID, Sender: "alice@example.org", Recipients: []Recipient{ok}}
	for _, bad := range []string{"", "MAILER-DAEMON", "Mail Delivery System <m@example.com>"} {
		if _, err := BuildDSN(b, bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("BuildDSN from %q: %v, want ErrInvalid", bad, err)
		}
	}
}

func ExampleBounce_Validate() {
	b := Bounce{
		MessageID:       "o3vrnil0e2ic28trm7dfhrc2v0cnbvn4v6n3s6o1",
		Sender:          "alice@example.org",
		Recipients:      []Recipient{{Addr: "bob@example.com", Status: verdict.StatusNoSuchUser}},
		OriginalHeaders: []byte("From: alice@example.org\r\nAuto-Submitted: auto-replied\r\n\r\n"),
	}
	err := b.Validate()
	fmt.Println(errors.Is(err, ErrNoBounce), err)
	// Output: true bounce suppressed: the original is Auto-Submitted: auto-replied
}
