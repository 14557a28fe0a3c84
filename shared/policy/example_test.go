package policy_test

import (
	"fmt"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/policy"
)

func ExampleParse() {
	doc := `
defaults:
  maxRecipients: 200
domains:
  example.com:
    directory: true
    recipients: [alice@example.com]
    route: {host: mail.example.com}
senders:
  - {pattern: "*@*.partner.example", list: approved, domain: example.com}
rules:
  - name: no-disk-images
    criteria: [{field: attachment-name, op: matches, values: ["*.iso"]}]
    action: quarantine
`
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := policy.Compile(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	eff := c.Effective("example.com")
	fmt.Println(eff.MaxRecipients, eff.MaxMessageBytes, eff.Route.Host, eff.Route.Port)
	fmt.Println(c.InDirectory("Alice@example.com"), c.InDirectory("bob@example.com"))
	e, ok := c.Sender(policy.Approved, false, "alice@example.com", "news@mail.partner.example")
	fmt.Println(ok, e.Pattern)
	in := &policy.RuleInput{Msg: &message.Message{Parts: []message.Part{{Filename: "Disk.ISO"}}}}
	for _, r := range c.Rules("example.com") {
		fmt.Println(r.Rule().Name, r.Match(in))
	}
	// Output:
	// 200 52428800 mail.example.com 587
	// true false
	// true *@*.partner.example
	// no-disk-images true
}

func ExampleParse_errors() {
	_, err := policy.Parse([]byte(`
domains:
  example.com:
    maxRecipient: 5
    route: {host: mail.example.com, port: 25}
senders:
  - {pattern: "*@*.com", list: blocked}
`))
	fmt.Println(err)
	// Output:
	// unknown field "maxRecipient" in domains["example.com"] (did you mean maxRecipients?)
	// domains["example.com"].route.port: 25 is not allowed: AWS Lambda cannot open connections to port 25; have the mail server listen on 587, 465 or another port for Moat
	// senders[0].pattern: "*@*.com" is refused: a wildcard may not cover a whole top-level domain
}

func ExampleParsePattern() {
	for _, s := range []string{"*@Example.com", "*@*.example.com", "*@*.co.uk", "name@*.example.com"} {
		p, err := policy.ParsePattern(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(p, p.Match("a@example.com"), p.Match("a@mail.example.com"))
	}
	// Output:
	// *@example.com true false
	// *@*.example.com false true
	// "*@*.co.uk" is refused: a wildcard may not cover the public suffix co.uk, under which unrelated organisations register their names
	// "name@*.example.com" is refused: a named sender cannot have a wildcard domain: use name@host.example.com for one address, or *@*.example.com for every sender at its subdomains
}

func ExampleMarshal() {
	p := policy.Default()
	p.Domains["example.com"] = policy.Domain{Directory: true}
	out, _ := policy.Marshal(&policy.Policy{Domains: p.Domains, Senders: []policy.SenderEntry{{Pattern: "*@spam.example", List: policy.Blocked}}})
	fmt.Print(string(out))
	// Output:
	// defaults: {}
	// domains:
	//   example.com:
	//     directory: true
	// senders:
	//   - pattern: '*@spam.example'
	//     list: blocked
}
