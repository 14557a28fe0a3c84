package deliver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

const testMsg = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Hello\r\nMessage-ID: <m1@example.org>\r\n\r\nHi Bob,\r\n.leading dot\r\n"

func testSMTP() *SMTP {
	return &SMTP{HeloName: "gw.example.net", ConnectTimeout: 2 * time.Second, CommandTimeout: 2 * time.Second}
}

func send(t *testing.T, rt SMTPRoute, env Envelope) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := testSMTP().Send(ctx, rt, env, strings.NewReader(testMsg), int64(len(testMsg)))
	if len(res) != len(env.Recipients) {
		t.Fatalf("%d results for %d recipients", len(res), len(env.Recipients))
	}
	for i, r := range res {
		if r.Recipient != env.Recipients[i] {
			t.Errorf("result %d is for %q, want %q", i, r.Recipient, env.Recipients[i])
		}
	}
	return res
}

func outcomes(res []Result) string {
	var s []string
	for _, r := range res {
		s = append(s, r.Outcome.String())
	}
	return strings.Join(s, ",")
}

func TestSMTPAcceptOverSTARTTLS(t *testing.T) {
	pki := newPKI(t)
	s := startSink(t, &sink{}, pki, "starttls")
	env := Envelope{Sender: "alice@example.org", Recipients: []string{"bob@example.com", "carol@example.com"}}
	res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, env)
	if outcomes(res) != "delivered,delivered" {
		t.Fatalf("outcomes %s: %+v", outcomes(res), res)
	}
	if !strings.HasPrefix(res[0].Reply, "250 ") || !strings.Contains(res[0].Reply, "TLS") {
		t.Errorf("reply %q: want the server's 250 and the TLS version", res[0].Reply)
	}
	got := s.messages()
	if len(got) != 1 {
		t.Fatalf("server got %d messages, want one transaction", len(got))
	}
	m := got[0]
	if m.From != "alice@example.org" || strings.Join(m.Rcpts, " ") != "bob@example.com carol@example.com" || !m.TLS {
		t.Errorf("envelope %q %v TLS %t", m.From, m.Rcpts, m.TLS)
	}
	if m.Data != testMsg {
		t.Errorf("data changed in transit:\n%q\nwant\n%q", m.Data, testMsg)
	}
}

func TestSMTPNullSender(t *testing.T) {
	s := startSink(t, &sink{}, newPKI(t), "starttls")
	res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, Envelope{Recipients: []string{"bob@example.com"}})
	if outcomes(res) != "delivered" || s.messages()[0].From != "" {
		t.Errorf("null sender: %s, MAIL FROM %q", outcomes(res), s.messages()[0].From)
	}
}

func TestSMTPPerRecipientReplies(t *testing.T) {
	s := startSink(t, &sink{rcpt: func(a string) error {
		switch {
		case strings.HasPrefix(a, "gone@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		case strings.HasPrefix(a, "full@"):
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
		}
		return nil
	}}, newPKI(t), "starttls")
	env := Envelope{Sender: "alice@example.org", Recipients: []string{"bob@example.com", "gone@example.com", "full@example.com"}}
	res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, env)
	if outcomes(res) != "delivered,failed,deferred" {
		t.Fatalf("outcomes %s: %+v", outcomes(res), res)
	}
	if res[1].Code != 550 || res[1].Enhanced != "5.1.1" || res[1].Diagnostic != "550 5.1.1 No such user" {
		t.Errorf("refused recipient: %+v", res[1])
	}
	if res[2].Code != 452 || res[2].Enhanced != "4.2.2" {
		t.Errorf("deferred recipient: %+v", res[2])
	}
	if got := s.messages(); len(got) != 1 || strings.Join(got[0].Rcpts, " ") != "bob@example.com" {
		t.Errorf("server got %+v, want one message for bob only", got)
	}
}

func TestSMTPAllRefusedSendsNoData(t *testing.T) {
	s := startSink(t, &sink{rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	}}, newPKI(t), "starttls")
	res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, Envelope{Sender: "a@example.org", Recipients: []string{"x@example.com"}})
	if outcomes(res) != "failed" || s.data != 0 {
		t.Errorf("outcomes %s, DATA commands %d", outcomes(res), s.data)
	}
}

func TestSMTPDataReplies(t *testing.T) {
	for _, tt := range []struct {
		name  string
		err   error
		want  string
		reply string
	}{
		{"4xx", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}, "deferred,deferred", "451 4.3.0 Try later"},
		{"5xx", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Spam refused"}, "failed,failed", "554 5.7.1 Spam refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startSink(t, &sink{dataReply: func(int) error { return tt.err }}, newPKI(t), "starttls")
			res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired},
				Envelope{Sender: "a@example.org", Recipients: []string{"b@example.com", "c@example.com"}})
			if outcomes(res) != tt.want || res[0].Reply != tt.reply {
				t.Errorf("outcomes %s reply %q, want %s %q", outcomes(res), res[0].Reply, tt.want, tt.reply)
			}
		})
	}
}

func TestSMTPMailFromRefused(t *testing.T) {
	s := startSink(t, &sink{mail: func(string) error {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender refused"}
	}}, newPKI(t), "starttls")
	res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, Envelope{Sender: "a@example.org", Recipients: []string{"b@example.com", "c@example.com"}})
	if outcomes(res) != "failed,failed" || res[1].Diagnostic != "553 5.7.1 Sender refused" {
		t.Errorf("outcomes %s %+v", outcomes(res), res[1])
	}
}

func TestSMTPConnectionFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		res := send(t, SMTPRoute{Host: "127.0.0.1", Port: closedPort(t), TLS: TLSRequired}, Envelope{Recipients: []string{"b@example.com"}})
		if outcomes(res) != "deferred" || res[0].Enhanced != "4.4.1" || strings.Contains(res[0].Diagnostic, "127.0.0.1") {
			t.Errorf("%+v", res[0])
		}
	})
	t.Run("silent server", func(t *testing.T) {
		res := send(t, SMTPRoute{Host: "127.0.0.1", Port: hangingServer(t), TLS: TLSRequired}, Envelope{Recipients: []string{"b@example.com"}})
		if outcomes(res) != "deferred" || res[0].Enhanced != "4.4.2" {
			t.Errorf("%+v", res[0])
		}
	})
	t.Run("hangs after the data", func(t *testing.T) {
		s := startSink(t, &sink{hangData: make(chan struct{})}, newPKI(t), "starttls")
		res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, Envelope{Recipients: []string{"b@example.com"}})
		if outcomes(res) != "deferred" || res[0].Enhanced != "4.4.2" {
			t.Errorf("%+v", res[0])
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		sm := testSMTP()
		sm.CommandTimeout = time.Hour // the attempt's deadline must still end it
		res := sm.Send(ctx, SMTPRoute{Host: "127.0.0.1", Port: hangingServer(t), TLS: TLSRequired}, Envelope{Recipients: []string{"b@example.com"}}, strings.NewReader(testMsg), 10)
		if outcomes(res) != "deferred" {
			t.Errorf("%+v", res[0])
		}
	})
}

func TestSMTPTLSModes(t *testing.T) {
	pki := newPKI(t)
	other := newPKI(t)
	env := Envelope{Sender: "a@example.org", Recipients: []string{"b@example.com"}}
	tests := []struct {
		name, server string
		rt           SMTPRoute
		want         string
		tls          bool
	}{
		{"required, self-signed accepted", "starttls", SMTPRoute{TLS: TLSRequired}, "delivered", true},
		{"required, no STARTTLS offered", "plain", SMTPRoute{TLS: TLSRequired}, "deferred", false},
		{"opportunistic, offered", "starttls", SMTPRoute{TLS: TLSOpportunistic}, "delivered", true},
		{"opportunistic, not offered", "plain", SMTPRoute{TLS: TLSOpportunistic}, "delivered", false},
		{"opportunistic, handshake fails", "brokentls", SMTPRoute{TLS: TLSOpportunistic}, "delivered", false},
		{"required, handshake fails", "brokentls", SMTPRoute{TLS: TLSRequired}, "deferred", false},
		{"verify with the CA", "starttls", SMTPRoute{TLS: TLSVerify, CA: pki.Pool}, "delivered", true},
		{"verify with another CA", "starttls", SMTPRoute{TLS: TLSVerify, CA: other.Pool}, "deferred", false},
		{"implicit TLS (465)", "implicit", SMTPRoute{TLS: TLSRequired, ImplicitTLS: true}, "delivered", true},
		{"implicit TLS verified", "implicit", SMTPRoute{TLS: TLSVerify, CA: pki.Pool, ImplicitTLS: true}, "delivered", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSink(t, &sink{}, pki, tt.server)
			rt := tt.rt
			rt.Host, rt.Port = s.Host, s.Port
			res := send(t, rt, env)
			if outcomes(res) != tt.want {
				t.Fatalf("outcome %s, want %s: %+v", outcomes(res), tt.want, res[0])
			}
			got := s.messages()
			if tt.want == "deferred" {
				if len(got) != 0 {
					t.Errorf("sent without the TLS the route asks for")
				}
				if res[0].Enhanced != "4.7.5" {
					t.Errorf("enhanced %s, want 4.7.5: %+v", res[0].Enhanced, res[0])
				}
				return
			}
			if len(got) != 1 || got[0].TLS != tt.tls {
				t.Errorf("messages %d, TLS %v, want TLS %t", len(got), got, tt.tls)
			}
		})
	}
}

func TestSMTPAuth(t *testing.T) {
	pki := newPKI(t)
	env := Envelope{Sender: "a@example.org", Recipients: []string{"b@example.com"}}
	t.Run("good credentials", func(t *testing.T) {
		s := startSink(t, &sink{users: map[string]string{"moat": "s3cret"}}, pki, "starttls")
		res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired, Auth: &Credentials{"moat", "s3cret"}}, env)
		if outcomes(res) != "delivered" || s.messages()[0].User != "moat" {
			t.Errorf("%+v", res)
		}
	})
	t.Run("bad credentials wait for the administrator", func(t *testing.T) {
		s := startSink(t, &sink{users: map[string]string{"moat": "s3cret"}}, pki, "starttls")
		res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired, Auth: &Credentials{"moat", "wrong"}}, env)
		if outcomes(res) != "deferred" || !strings.Contains(res[0].Reply, "535") {
			t.Errorf("%+v", res)
		}
	})
	t.Run("never in plain text", func(t *testing.T) {
		s := startSink(t, &sink{}, pki, "plain")
		res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSOpportunistic, Auth: &Credentials{"moat", "s3cret"}}, env)
		if outcomes(res) != "deferred" || len(s.messages()) != 0 {
			t.Errorf("%+v", res)
		}
	})
	t.Run("server requires TLS for MAIL", func(t *testing.T) {
		s := startSink(t, &sink{requireTLS: true}, pki, "starttls")
		res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, env)
		if outcomes(res) != "delivered" {
			t.Errorf("%+v", res)
		}
	})
}

func TestSMTPNonASCIIAddressNeedsSMTPUTF8(t *testing.T) {
	s := startSink(t, &sink{}, newPKI(t), "starttls")
	res := send(t, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}, Envelope{Sender: "a@example.org", Recipients: []string{"jörg@example.com"}})
	if outcomes(res) != "failed" || res[0].Enhanced != "5.6.7" {
		t.Errorf("%+v", res)
	}
}

func TestRetryDelay(t *testing.T) {
	r := Retry{Base: 5 * time.Minute, Cap: 4 * time.Hour}
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute, 160 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := r.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w)
		}
	}
	if r.Delay(5000) != 4*time.Hour {
		t.Errorf("huge attempt number overflows")
	}
	// With the default cap, five days of retries stay far below the queue's 50 receives.
	for _, age := range []time.Duration{DefaultMaxAge, MaxMaxAge} {
		r := Retry{Base: DefaultRetryBase, Cap: DefaultCap(age)}
		n, total := 0, time.Duration(0)
		for total < age {
			n++
			total += r.Delay(n)
		}
		if n > 45 {
			t.Errorf("max age %s takes %d attempts", age, n)
		}
	}
}

// A pool carries the next transactions on the same connection, and notices a connection the
// server dropped or that sat idle too long.
func TestSMTPPoolReusesConnections(t *testing.T) {
	pki := newPKI(t)
	ctx := context.Background()
	env := Envelope{Sender: "a@example.org", Recipients: []string{"b@example.com"}}
	t.Run("reuse", func(t *testing.T) {
		s := startSink(t, &sink{rcpt: func(a string) error {
			if strings.HasPrefix(a, "gone@") {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			}
			return nil
		}}, pki, "starttls")
		sm := testSMTP()
		sm.Pool = &Pool{}
		defer sm.Pool.Close()
		rt := SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}
		for i, e := range []Envelope{env, {Sender: "a@example.org", Recipients: []string{"gone@example.com"}}, env, env} {
			res := sm.Send(ctx, rt, e, strings.NewReader(testMsg), int64(len(testMsg)))
			want := "delivered"
			if i == 1 {
				want = "failed"
			}
			if outcomes(res) != want {
				t.Fatalf("transaction %d: %s %+v", i, outcomes(res), res)
			}
		}
		if n := s.connections(); n != 1 {
			t.Errorf("%d connections for 4 transactions, want 1", n)
		}
		if got := s.messages(); len(got) != 3 || !got[2].TLS {
			t.Errorf("server got %d messages", len(got))
		}
	})
	t.Run("server dropped the idle connection", func(t *testing.T) {
		s := startSink(t, &sink{idle: 200 * time.Millisecond}, pki, "starttls")
		sm := testSMTP()
		sm.Pool = &Pool{}
		defer sm.Pool.Close()
		rt := SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}
		for i := range 2 {
			if i == 1 {
				time.Sleep(600 * time.Millisecond)
			}
			if res := sm.Send(ctx, rt, env, strings.NewReader(testMsg), int64(len(testMsg))); outcomes(res) != "delivered" {
				t.Fatalf("transaction %d: %+v", i, res)
			}
		}
		if n := s.connections(); n != 2 {
			t.Errorf("%d connections, want a fresh one after the drop", n)
		}
	})
	t.Run("server limits messages per connection", func(t *testing.T) {
		s := startSink(t, &sink{perConn: 2}, pki, "starttls")
		sm := testSMTP()
		sm.Pool = &Pool{}
		defer sm.Pool.Close()
		rt := SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}
		for i := range 5 {
			if res := sm.Send(ctx, rt, env, strings.NewReader(testMsg), int64(len(testMsg))); outcomes(res) != "delivered" {
				t.Fatalf("transaction %d: %+v", i, res)
			}
		}
		if n, m := s.connections(), len(s.messages()); n != 3 || m != 5 {
			t.Errorf("%d connections, %d messages; want 3 and 5", n, m)
		}
	})
	t.Run("idle too long", func(t *testing.T) {
		s := startSink(t, &sink{}, pki, "starttls")
		now := time.Now()
		sm := testSMTP()
		sm.Pool = &Pool{IdleTimeout: time.Minute, Now: func() time.Time { return now }}
		defer sm.Pool.Close()
		rt := SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired}
		sm.Send(ctx, rt, env, strings.NewReader(testMsg), 1)
		now = now.Add(2 * time.Minute)
		if res := sm.Send(ctx, rt, env, strings.NewReader(testMsg), 1); outcomes(res) != "delivered" {
			t.Fatalf("%+v", res)
		}
		if n := s.connections(); n != 2 {
			t.Errorf("%d connections, want a fresh one after the idle timeout", n)
		}
	})
	t.Run("other credentials, other connection", func(t *testing.T) {
		s := startSink(t, &sink{users: map[string]string{"u1": "p1", "u2": "p2"}}, pki, "starttls")
		sm := testSMTP()
		sm.Pool = &Pool{}
		defer sm.Pool.Close()
		for _, c := range []*Credentials{{"u1", "p1"}, {"u2", "p2"}} {
			res := sm.Send(ctx, SMTPRoute{Host: s.Host, Port: s.Port, TLS: TLSRequired, Auth: c}, env, strings.NewReader(testMsg), 1)
			if outcomes(res) != "delivered" {
				t.Fatalf("%+v", res)
			}
		}
		if got := s.messages(); len(got) != 2 || got[0].User != "u1" || got[1].User != "u2" {
			t.Errorf("users %+v", got)
		}
	})
}
