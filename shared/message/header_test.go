package message_test

import (
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/message"
)

func TestDecodeWords(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no words", "plain subject", "plain subject"},
		{"utf-8 B", "=?UTF-8?B?4oKsIDEwMA==?=", "€ 100"},
		{"utf-8 Q", "=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"},
		{"iso-8859-1", "=?ISO-8859-1?Q?Andr=E9?=", "André"},
		{"windows-1252", "=?windows-1252?Q?=93hi=94?=", "“hi”"},
		{"gb2312", "=?gb2312?B?xOO6ww==?=", "你好"},
		{"text around words", "Re: =?utf-8?Q?caf=C3=A9?= today", "Re: café today"},
		{"adjacent words join", "=?utf-8?Q?a?= \r\n =?utf-8?Q?b?=", "ab"},
		{"character split across words", "=?utf-8?B?4oI=?= =?utf-8?B?rA==?=", "€"},
		{"missing padding", "=?utf-8?B?aGVsbG8?=", "hello"},
		{"language suffix", "=?utf-8*en?Q?hi?=", "hi"},
		{"unknown charset kept", "=?x-martian?Q?abc?= ok", "=?x-martian?Q?abc?= ok"},
		{"bad base64 kept", "=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="},
		{"unknown encoding kept", "=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
		{"unterminated", "=?utf-8?Q?abc", "=?utf-8?Q?abc"},
		{"lone marker", "what =? is this", "what =? is this"},
		{"invalid utf-8 read as latin-1", "=?utf-8?Q?caf=E9?=", "café"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := message.DecodeWords(tt.in); got != tt.want {
				t.Errorf("DecodeWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHeaderGetValues(t *testing.T) {
	h := message.Header{
		{Name: "Received", Value: "from a"},
		{Name: "Subject", Value: "=?utf-8?Q?raw?="},
		{Name: "RECEIVED", Value: "from b"},
	}
	if got := h.Get("subject"); got != "=?utf-8?Q?raw?=" {
		t.Errorf("Get(subject) = %q, want the raw value", got)
	}
	if got := h.Get("received"); got != "from a" {
		t.Errorf("Get(received) = %q, want the first", got)
	}
	if got := h.Get("X-Missing"); got != "" {
		t.Errorf("Get(X-Missing) = %q", got)
	}
	if got := h.Values("Received"); len(got) != 2 || got[0] != "from a" || got[1] != "from b" {
		t.Errorf("Values(Received) = %q", got)
	}
}

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		name, header string
		want         []message.Address
		bad          bool
	}{
		{"plain", "alice@example.org", []message.Address{{Addr: "alice@example.org"}}, false},
		{"name and domain case", `"Smith, Bob" <Bob.Smith@EXAMPLE.com>`, []message.Address{{Name: "Smith, Bob", Addr: "Bob.Smith@example.com"}}, false},
		{"encoded name", "=?utf-8?Q?J=C3=BCrgen?= <j@example.org>", []message.Address{{Name: "Jürgen", Addr: "j@example.org"}}, false},
		{"list", "a@example.org, B <b@example.org>", []message.Address{{Addr: "a@example.org"}, {Name: "B", Addr: "b@example.org"}}, false},
		{"unquoted comma in name", "Smith, Bob <bob@example.org>", []message.Address{{Name: "Bob", Addr: "bob@example.org"}}, true},
		{"angle brackets only", "<Undisclosed Recipients@Example.net>", []message.Address{{Addr: "Undisclosed Recipients@example.net"}}, true},
		{"bare address in junk", `"" ::: mallory@Example.NET ;;`, []message.Address{{Addr: "mallory@example.net"}}, true},
		{"nothing", `"" <>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "From: x@example.org\r\nTo: " + tt.header + "\r\n\r\n"
			m, err := message.Parse(strings.NewReader(raw), message.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.To) != len(tt.want) {
				t.Fatalf("To = %+v, want %+v", m.To, tt.want)
			}
			for i := range tt.want {
				if m.To[i] != tt.want[i] {
					t.Errorf("To[%d] = %+v, want %+v", i, m.To[i], tt.want[i])
				}
			}
			if bad := len(m.Defects) == 1 && m.Defects[0] == message.DefectBadAddress; bad != tt.bad {
				t.Errorf("Defects = %q, want bad-address: %v", m.Defects, tt.bad)
			}
		})
	}
}
