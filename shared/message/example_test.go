package message_test

import (
	"bytes"
	"fmt"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

func ExampleParse() {
	raw := messagetest.New().
		Received("198.51.100.7").
		From("Alice <alice@Example.ORG>").
		To("bob@example.com").
		Subject("Grüße").
		Text("Hello Bob.").
		HTML("<p>Hello <b>Bob</b>.</p>").
		Attach("notes.txt", "text/plain", []byte("notes")).
		Bytes()

	m, err := message.Parse(bytes.NewReader(raw), message.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.From.Name, m.From.Addr)
	fmt.Println(m.Subject)
	fmt.Println(m.ClientIP)
	for _, p := range m.Parts {
		fmt.Println(p.Depth, p.ContentType, p.Filename, p.Size)
	}
	fmt.Printf("%q\n", m.Text)
	fmt.Println(m.Unscannable == "", len(m.Defects))
	// Output:
	// Alice alice@example.org
	// Grüße
	// 198.51.100.7
	// 2 text/plain  10
	// 2 text/html  24
	// 1 text/plain notes.txt 5
	// "Hello Bob.\nHello Bob."
	// true 0
}
