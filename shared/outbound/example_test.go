package outbound_test

import (
	"fmt"

	"github.com/moatmail/moat/shared/outbound"
)

func ExamplePolicy_Evaluate() {
	p := outbound.Policy{PerSender: outbound.Rate{Limit: 100}}.WithDefaults()
	for _, v := range p.Evaluate(outbound.Counts{Sender: "alice@acme.example", SenderCount: 101, Sends: 400, Bounces: 30}) {
		fmt.Println(v.Rule, "-", v.Detail)
	}
	// Output:
	// sender-rate - 101 messages from one sender address within 10m0s (limit 100)
	// bounce-rate - 30 permanent bounces among 400 messages within 24h0m0s: 7.5 % (limit 5 %)
}
