// Package actions is the action function's handler: the Lambda function URL behind the links of
// the quarantine digests. A GET shows what the link would do and asks for confirmation (mail
// link scanners fetch every link; a GET never changes anything); the confirmation form POSTs
// back and the action is carried out. Every request carries a signed, expiring, single-purpose
// token (shared/token): a tampered, expired or misused token gets a refusal page and changes
// nothing.
package actions

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/moatmail/moat/shared/euq"
	"github.com/moatmail/moat/shared/policy"
	"github.com/moatmail/moat/shared/quarantine/admin"
	"github.com/moatmail/moat/shared/token"
	"github.com/moatmail/moat/shared/tracking"
)

// MaxBody bounds the form a POST may carry.
const MaxBody = 8 << 10

// Handler serves the action links.
type Handler struct {
	Admin  *admin.Admin
	Signer *token.Signer
	Log    *slog.Logger
	Now    func() time.Time
}

type page struct {
	Title, Message string
	Question       string
	From, Subject  string
	Action, Token  string
	Button         string
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto">
<h1>{{.Title}}</h1>
{{if .From}}<p><b>From:</b> {{.From}}<br><b>Subject:</b> {{.Subject}}</p>{{end}}
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Token}}<form method="post" action="/{{.Action}}">
<p>{{.Question}}</p>
<input type="hidden" name="t" value="{{.Token}}">
<button type="submit">{{.Button}}</button>
</form>{{end}}
</body></html>
`))

func respond(status int, p page) events.LambdaFunctionURLResponse {
	var b strings.Builder
	if err := pageTmpl.Execute(&b, p); err != nil {
		b.Reset()
		b.WriteString("error")
	}
	return events.LambdaFunctionURLResponse{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
			"X-Robots-Tag":            "noindex",
		},
		Body: b.String(),
	}
}

func refuse(status int, msg string) events.LambdaFunctionURLResponse {
	return respond(status, page{Title: "Link refused", Message: msg + " Nothing was changed."})
}

// refusal words a token error for the end user.
func refusal(err error) events.LambdaFunctionURLResponse {
	switch {
	case errors.Is(err, token.ErrExpired):
		return refuse(http.StatusForbidden, "This link has expired. Use the links in your latest quarantine digest.")
	case errors.Is(err, token.ErrPurpose):
		return refuse(http.StatusForbidden, "This link was made for another action.")
	default:
		return refuse(http.StatusForbidden, "This link is not valid: it may have been changed or copied incompletely.")
	}
}

// Handle serves one function URL request.
func (h *Handler) Handle(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	action, ok := euq.FromPath(path)
	if !ok {
		return refuse(http.StatusNotFound, "This address is not a quarantine action."), nil
	}
	switch req.RequestContext.HTTP.Method {
	case http.MethodGet, http.MethodHead:
		return h.confirm(ctx, action, req.QueryStringParameters["t"]), nil
	case http.MethodPost:
		tok, err := formToken(req)
		if err != nil {
			return refuse(http.StatusBadRequest, "The form could not be read."), nil
		}
		return h.act(ctx, action, tok), nil
	default:
		r := refuse(http.StatusMethodNotAllowed, "Open the link in a web browser.")
		r.Headers["Allow"] = "GET, POST"
		return r, nil
	}
}

func formToken(req events.LambdaFunctionURLRequest) (string, error) {
	body := req.Body
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return "", err
		}
		body = string(b)
	}
	if len(body) > MaxBody {
		return "", errors.New("form too large")
	}
	v, err := url.ParseQuery(body)
	if err != nil {
		return "", err
	}
	return v.Get("t"), nil
}

// lookup checks the token and finds the record it names, or returns the page to answer.
func (h *Handler) lookup(ctx context.Context, action euq.Action, tok string) (token.Claims, tracking.Record, *events.LambdaFunctionURLResponse) {
	c, err := h.Signer.Check(tok, string(action), h.Now())
	if err != nil {
		h.Log.Info("link refused", "action", action, "why", err.Error())
		r := refusal(err)
		return c, tracking.Record{}, &r
	}
	rec, err := h.Admin.Record(ctx, c.MessageID, c.Recipient)
	switch {
	case errors.Is(err, admin.ErrNotFound):
		r := refuse(http.StatusNotFound, "This message is no longer known: its record has expired.")
		return c, rec, &r
	case err != nil:
		h.Log.Error("read tracking", "message_id", c.MessageID, "error", err)
		r := respond(http.StatusServiceUnavailable, page{Title: "Try again later", Message: "The quarantine could not be read just now. Nothing was changed."})
		return c, rec, &r
	case !admin.EndUserVisible(rec.Reasons):
		r := refuse(http.StatusForbidden, "Only an administrator can act on this message.")
		return c, rec, &r
	case action != euq.Deliver && admin.SenderAddress(rec) == "":
		r := refuse(http.StatusConflict, "This message has no sender address to approve or block.")
		return c, rec, &r
	}
	return c, rec, nil
}

func senderDomain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

func (h *Handler) confirm(ctx context.Context, action euq.Action, tok string) events.LambdaFunctionURLResponse {
	_, rec, refused := h.lookup(ctx, action, tok)
	if refused != nil {
		return *refused
	}
	sender := admin.SenderAddress(rec)
	p := pageInfo(rec)
	p.Title = action.Label()
	p.Question = action.Question(sender, senderDomain(sender))
	p.Action, p.Token, p.Button = string(action), tok, "Yes, "+strings.ToLower(action.Label())
	if (action == euq.Deliver || action == euq.DeliverApprove) && rec.Status != tracking.Quarantined {
		p.Message = "This message is no longer in quarantine (" + string(rec.Status) + ")."
		p.Token = ""
	}
	return respond(http.StatusOK, p)
}

func pageInfo(rec tracking.Record) page {
	from, _ := admin.Clean(admin.SenderAddress(rec), 120, false)
	subj, _ := admin.Clean(rec.Subject, 200, false)
	return page{From: from, Subject: subj}
}

func (h *Handler) act(ctx context.Context, action euq.Action, tok string) events.LambdaFunctionURLResponse {
	c, rec, refused := h.lookup(ctx, action, tok)
	if refused != nil {
		return *refused
	}
	p := pageInfo(rec)
	p.Title = "Done"
	var err error
	var pat string
	switch action {
	case euq.Deliver, euq.DeliverApprove:
		r := admin.Release{MessageID: c.MessageID, Recipients: []string{c.Recipient}, By: "recipient", EndUser: true}
		if action == euq.DeliverApprove {
			r.Approve = admin.ApproveSender
		}
		var res []admin.Result
		res, err = h.Admin.Release(ctx, r)
		if err == nil && len(res) == 1 && res[0].Note != "" {
			p.Message = "This message was already released; it is on its way to your mailbox."
		} else {
			p.Message = "The message is on its way to your mailbox."
		}
		if err == nil && action == euq.DeliverApprove && len(res) == 1 {
			if res[0].Approved != "" {
				p.Message += " Mail from " + res[0].Approved + " will no longer be held as spam."
			}
		}
	case euq.BlockSender:
		pat, err = h.Admin.ListSender(ctx, c.MessageID, c.Recipient, admin.ApproveSender, policy.Blocked, "recipient")
		p.Message = "Mail from " + pat + " will be blocked."
	case euq.ApproveDomain:
		pat, err = h.Admin.ListSender(ctx, c.MessageID, c.Recipient, admin.ApproveDomain, policy.Approved, "recipient")
		p.Message = "Mail from senders matching " + pat + " will no longer be held as spam."
	case euq.BlockDomain:
		pat, err = h.Admin.ListSender(ctx, c.MessageID, c.Recipient, admin.ApproveDomain, policy.Blocked, "recipient")
		p.Message = "Mail from senders matching " + pat + " will be blocked."
	}
	switch {
	case errors.Is(err, admin.ErrNotQuarantined):
		return refuse(http.StatusConflict, "This message is no longer in quarantine: it was deleted or has expired.")
	case err != nil:
		h.Log.Error("action failed", "action", action, "message_id", c.MessageID, "error", err)
		return respond(http.StatusServiceUnavailable, page{Title: "Try again later", Message: "The action could not be completed just now. Use the link again later."})
	}
	h.Log.Info("action", "action", action, "message_id", c.MessageID)
	return respond(http.StatusOK, p)
}
