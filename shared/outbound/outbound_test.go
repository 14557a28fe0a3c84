package outbound

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	p := Policy{}.WithDefaults()
	if p.PerIP.Limit != 1000 || p.PerIP.Window.D() != 5*time.Minute {
		t.Errorf("perIP = %+v, want 1000 per 5m", p.PerIP)
	}
	if p.PerSender.Limit != 500 || p.PerSender.Window.D() != 10*time.Minute {
		t.Errorf("perSender = %+v, want 500 per 10m", p.PerSender)
	}
	if err := p.Validate(""); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	// A partial policy keeps what it sets.
	q := Policy{PerSender: Rate{Limit: 50}}.WithDefaults()
	if q.PerSender.Limit != 50 || q.PerSender.Window.D() != 10*time.Minute {
		t.Errorf("partial perSender = %+v", q.PerSender)
	}
}

func TestEvaluateBoundaries(t *testing.T) {
	p := DefaultPolicy
	tests := []struct {
		name string
		c    Counts
		want []Rule
	}{
		{"1000 from one IP", Counts{IP: "198.51.100.25", IPCount: 1000}, nil},
		{"1001 from one IP", Counts{IP: "198.51.100.25", IPCount: 1001}, []Rule{RuleIPRate}},
		{"500 from one sender", Counts{Sender: "a@acme.example", SenderCount: 500}, nil},
		{"501 from one sender", Counts{Sender: "a@acme.example", SenderCount: 501}, []Rule{RuleSenderRate}},
		{"bounces under min volume", Counts{Sends: 199, Bounces: 150}, nil},
		{"bounce rate at the limit", Counts{Sends: 200, Bounces: 10}, nil},
		{"bounce rate over", Counts{Sends: 200, Bounces: 11}, []Rule{RuleBounceRate}},
		{"complaints over", Counts{Sends: 1000, Complaints: 4}, []Rule{RuleComplaintRate}},
		{"complaints at the limit", Counts{Sends: 1000, Complaints: 3}, nil},
		{"spike without history", Counts{LastHour: 5000}, nil},
		{"spike below min volume", Counts{LastHour: 499, BaselineHourly: 1, BaselineDays: 7}, nil},
		{"spike", Counts{LastHour: 501, BaselineHourly: 50, BaselineDays: 7}, []Rule{RuleVolumeSpike}},
		{"busy but usual", Counts{LastHour: 900, BaselineHourly: 100, BaselineDays: 7}, nil},
		{"two at once", Counts{IP: "198.51.100.25", IPCount: 2000, Sender: "a@acme.example", SenderCount: 600}, []Rule{RuleIPRate, RuleSenderRate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Rule
			for _, v := range p.Evaluate(tt.c) {
				got = append(got, v.Rule)
				if v.Detail == "" {
					t.Errorf("%s without detail", v.Rule)
				}
			}
			if strings.Join(rules(got), ",") != strings.Join(rules(tt.want), ",") {
				t.Errorf("rules = %v, want %v", got, tt.want)
			}
		})
	}
}

func rules(r []Rule) []string {
	s := make([]string, len(r))
	for i, x := range r {
		s[i] = string(x)
	}
	return s
}

func TestParseTenantsErrorsNameFieldAndValue(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"bad id", `[{"id":"Acme","organisation":"Acme","domains":["acme.example"]}]`, `tenants[0].id "Acme"`},
		{"no domains", `[{"id":"acme","organisation":"Acme"}]`, `tenants[0].domains is required`},
		{"upper-case domain", `[{"id":"acme","organisation":"Acme","domains":["Acme.example"]}]`, `tenants[0].domains[0] "Acme.example"`},
		{"private IP", `[{"id":"acme","organisation":"Acme","domains":["acme.example"],"sendingIPs":["10.0.0.1"]}]`, `tenants[0].sendingIPs[0] "10.0.0.1"`},
		{"bad admin", `[{"id":"acme","organisation":"Acme","domains":["acme.example"],"adminEmails":["Admin <a@acme.example>"]}]`, `tenants[0].adminEmails[0] "Admin <a@acme.example>"`},
		{"bad window", `[{"id":"acme","organisation":"Acme","domains":["acme.example"],"policy":{"perIP":{"window":"90s"}}}]`, `tenants[0].policy.perIP.window "1m30s"`},
		{"bad rate", `[{"id":"acme","organisation":"Acme","domains":["acme.example"],"policy":{"bounceRate":5}}]`, `tenants[0].policy.bounceRate 5`},
		{"duration text", `[{"id":"acme","organisation":"Acme","domains":["acme.example"],"policy":{"rateWindow":"a day"}}]`, `"a day"`},
		{"unknown field", `[{"id":"acme","organisation":"Acme","domains":["acme.example"],"domain":"x"}]`, `unknown field "domain"`},
		{"shared domain", `[{"id":"acme","organisation":"Acme","domains":["acme.example"]},{"id":"beta","organisation":"Beta","domains":["acme.example"]}]`, `tenants[1].domains "acme.example": tenants[0] sends from it too`},
		{"same id", `[{"id":"acme","organisation":"Acme","domains":["acme.example"]},{"id":"acme","organisation":"Beta","domains":["beta.example"]}]`, `tenants[1].id "acme": tenants[0] has the same id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTenants([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %s", err, tt.want)
			}
		})
	}
	ts, err := ParseTenants([]byte(`[{"id":"acme","organisation":"Acme Ltd","domains":["acme.example"],"configurationSet":"moat-acme","sendingIPs":["198.51.100.25"],"policy":{"perSender":{"limit":50}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := ts.ByConfigurationSet("moat-acme")
	if !ok || a.Policy.PerSender.Limit != 50 || a.Policy.PerIP.Limit != 1000 {
		t.Errorf("tenant = %+v", a)
	}
	if _, ok := ts.BySender("Someone@ACME.example"); !ok {
		t.Error("BySender ignores case of the domain? want a match")
	}
	if _, ok := ts.BySender("x@other.example"); ok {
		t.Error("BySender matched a foreign domain")
	}
}

// TestFixtures decodes every sample under events/outbound and checks what each one shows.
func TestFixtures(t *testing.T) {
	tests := map[string]struct {
		via    Envelope
		typ    EventType
		rcpts  int
		reason string
	}{
		"send.json":              {ViaEventBridge, Send, 2, ""},
		"delivery.json":          {ViaEventBridge, Delivery, 1, ""},
		"bounce-domain.json":     {ViaEventBridge, Bounce, 1, "recipient domain not resolvable"},
		"sns-bounce.json":        {ViaSNS, Bounce, 1, "recipient domain not resolvable"},
		"complaint.json":         {ViaEventBridge, Complaint, 1, "complained (feedback type abuse)"},
		"reject-virus.json":      {ViaEventBridge, Reject, 1, "contains a virus"},
		"delivery-delay.json":    {ViaEventBridge, DeliveryDelay, 1, "4.4.1"},
		"rendering-failure.json": {ViaEventBridge, RenderingFailure, 1, "could not render the template welcome"},
	}
	files, _ := filepath.Glob("../../events/outbound/*.json")
	if len(files) != len(tests) {
		t.Errorf("%d samples, %d tested: test every sample", len(files), len(tests))
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("../../events/outbound/" + name)
			if err != nil {
				t.Fatal(err)
			}
			evs, via, err := DecodeEvents(data)
			if err != nil {
				t.Fatal(err)
			}
			if via != tt.via || len(evs) != 1 {
				t.Fatalf("via %s with %d events, want %s with 1", via, len(evs), tt.via)
			}
			ev := evs[0]
			if ev.EventType != tt.typ || len(ev.Recipients()) != tt.rcpts {
				t.Errorf("type %s with %d recipients, want %s with %d", ev.EventType, len(ev.Recipients()), tt.typ, tt.rcpts)
			}
			if ev.ConfigurationSet() != "moat-acme" || ev.SourceIP() != "198.51.100.25" {
				t.Errorf("configuration set %q, source IP %q", ev.ConfigurationSet(), ev.SourceIP())
			}
			if got := ev.Reason(ev.Recipients()[0]); !strings.Contains(got, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", got, tt.reason)
			}
		})
	}
}

func TestEventKeyDuplicates(t *testing.T) {
	data, _ := os.ReadFile("../../events/outbound/bounce-domain.json")
	a, _, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	sns, _ := os.ReadFile("../../events/outbound/sns-bounce.json")
	b, _, err := DecodeEvents(sns)
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Key() != b[0].Key() {
		t.Error("the same bounce through EventBridge and SNS has two keys")
	}
	send, _ := os.ReadFile("../../events/outbound/send.json")
	c, _, _ := DecodeEvents(send)
	if c[0].Key() == a[0].Key() {
		t.Error("a send and a bounce of one message share a key")
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, in := range []string{
		`{`, `{"foo":1}`,
		`{"detail-type":"Email Sent","source":"aws.ec2","detail":{}}`,
		`{"eventType":"Bounce","mail":{"messageId":"m","timestamp":"2026-11-29T10:00:00Z"}}`,
		`{"eventType":"Send","mail":{"timestamp":"2026-11-29T10:00:00Z"}}`,
		`{"Records":[{"EventSource":"aws:sqs"}]}`,
	} {
		if _, _, err := DecodeEvents([]byte(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

func TestNotice(t *testing.T) {
	ten := Tenant{ID: "acme", Organisation: "Acme Ltd", ConfigurationSet: "moat-acme"}
	v := DefaultPolicy.Evaluate(Counts{Sender: "alice@acme.example", SenderCount: 501})
	subject, text := Notice(ten, Suspension{Tenant: "acme", Since: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Rule: v[0].Rule, Violations: v, MessageID: "m-1"})
	if !strings.Contains(subject, "Acme Ltd") || len(subject) > 100 {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{"open relay", "compromised accounts", "outbound spam filtering", "another smart host", "501 messages", "m-1", "moatctl outbound resume --tenant acme"} {
		if !strings.Contains(text, want) {
			t.Errorf("notice lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "alice@") {
		t.Error("notice names the sender address")
	}
}

func TestCompactRoundTrip(t *testing.T) {
	ten := Tenant{ID: "acme", Organisation: "Acme", Domains: []string{"acme.example"}, ConfigurationSet: "cs",
		AdminEmails: []string{"it@acme.example"}, SendingIPs: []string{"198.51.100.25"},
		Policy: Policy{PerSender: Rate{Limit: 50}, BounceRate: 0.1}}.WithDefaults()
	b, err := json.Marshal(Tenants{ten.Compact()})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"id":"acme","organisation":"Acme","domains":["acme.example"],"configurationSet":"cs","policy":{"perSender":{"limit":50},"bounceRate":0.1}}]`; string(b) != want {
		t.Errorf("compact JSON\n%s\nwant\n%s", b, want)
	}
	back, err := ParseTenants(b)
	if err != nil {
		t.Fatal(err)
	}
	if back[0].Policy != ten.Policy {
		t.Errorf("round trip %+v, want %+v", back[0].Policy, ten.Policy)
	}
}
