package message_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/shared/message"
	"github.com/moatmail/moat/shared/message/messagetest"
)

func TestHTMLLinksAndForms(t *testing.T) {
	html := `<html><body><p>Dear customer,</p>
<a href="https://evil.example.net/login?a=1&amp;b=2">https://www.bank.example.com/</a>
<A HREF='http://example.org/x' class=x>  Read <b>more</b>
 here </A>
<a name="anchor">no href</a>
<a href=http://unquoted.example/>unquoted</a>
<form action="https://collect.example.net/p.php" method=post>
<input type="text" name="u"><INPUT TYPE=PASSWORD name=p>
</form>
<form action="/search"><input type="text" name="q"></form>
<input type="password">
</body></html>`
	raw := messagetest.New().From("a@example.com").To("b@example.org").Subject("x").HTML(html).Bytes()
	m, err := message.Parse(bytes.NewReader(raw), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []message.Link{
		{Href: "https://evil.example.net/login?a=1&b=2", Text: "https://www.bank.example.com/"},
		{Href: "http://example.org/x", Text: "Read more here"},
		{Href: "http://unquoted.example/", Text: "unquoted"},
	}
	if !slices.Equal(m.Links, want) {
		t.Errorf("Links = %+v,\nwant %+v", m.Links, want)
	}
	wantForms := []message.Form{
		{Action: "https://collect.example.net/p.php", Password: true},
		{Action: "/search"},
		{Password: true},
	}
	if !slices.Equal(m.Forms, wantForms) {
		t.Errorf("Forms = %+v, want %+v", m.Forms, wantForms)
	}
	if !strings.Contains(m.Text, "Read more here") {
		t.Errorf("Text = %q, want the link text in it", m.Text)
	}
}

func TestPlainTextHasNoLinks(t *testing.T) {
	raw := messagetest.New().From("a@example.com").Text(`<a href="http://x.example/">x</a> <input type=password>`).Bytes()
	m, err := message.Parse(bytes.NewReader(raw), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Links) != 0 || len(m.Forms) != 0 {
		t.Errorf("Links = %v, Forms = %v; want none from text/plain", m.Links, m.Forms)
	}
}

func TestLinksBounded(t *testing.T) {
	var b strings.Builder
	for range message.MaxLinks + 50 {
		b.WriteString(`<a href="http://x.example/">x</a>`)
	}
	raw := messagetest.New().From("a@example.com").HTML(b.String()).Bytes()
	m, err := message.Parse(bytes.NewReader(raw), message.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Links) != message.MaxLinks {
		t.Errorf("%d links, want at most %d", len(m.Links), message.MaxLinks)
	}
}
