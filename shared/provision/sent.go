package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
)

// SentEmail is one message the emulator recorded as sent through SES (v1 or v2).
type SentEmail struct {
	Source       string
	Destinations []string // each address once; from the message's To when moto lists none
	Raw          string   // the raw message; for a formatted send, a message built from its parts
}

// ErrNoSentMail means the endpoint does not show sent mail: it is not moto.
var ErrNoSentMail = errors.New("the emulator does not show sent mail (not moto?)")

// SentMail returns every message the emulator at endpoint recorded as sent through SES, from
// moto's state endpoint. moto answers 500 now and then while other requests change its state:
// SentMail tries again, up to attempts times in all, before it gives up.
func SentMail(ctx context.Context, endpoint string) ([]SentEmail, error) {
	const attempts = 10
	url := strings.TrimSuffix(endpoint, "/") + "/moto-api/data.json"
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		var out []SentEmail
		out, err = sentMail(ctx, url)
		if err == nil || errors.Is(err, ErrNoSentMail) || ctx.Err() != nil {
			return out, err
		}
	}
	return nil, err
}

func sentMail(ctx context.Context, url string) ([]SentEmail, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s: %s: %w", url, resp.Status, ErrNoSentMail)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var state struct {
		SES map[string][]json.RawMessage `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		return nil, fmt.Errorf("decode %s: %w", url, err)
	}
	var out []SentEmail
	for _, items := range state.SES {
		for _, it := range items {
			var m struct {
				Source       string          `json:"source"`
				Destinations json.RawMessage `json:"destinations"`
				RawData      string          `json:"raw_data"`
				Subject      string          `json:"subject"`
				Body         string          `json:"body"`
			}
			if json.Unmarshal(it, &m) != nil || (m.RawData == "" && m.Source == "" && m.Body == "") {
				continue // not a message: moto keeps identities, rule sets, ... beside them
			}
			raw := m.RawData
			if raw == "" {
				raw = fmt.Sprintf("From: %s\r\nSubject: %s\r\n\r\n%s\r\n", m.Source, m.Subject, m.Body)
			}
			out = append(out, SentEmail{Source: m.Source, Destinations: destinations(m.Destinations, raw), Raw: raw})
		}
	}
	return out, nil
}

// destinations accepts moto's list or {"ToAddresses": [...], ...} forms, each address once
// (moto lists a raw message's envelope destinations and its To addresses together); without
// any, the message's To.
func destinations(raw json.RawMessage, msg string) []string {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var m map[string][]string
		if json.Unmarshal(raw, &m) == nil {
			for _, v := range m {
				list = append(list, v...)
			}
		}
	}
	if len(list) == 0 {
		if h, err := mail.ReadMessage(strings.NewReader(msg)); err == nil {
			if to, err := h.Header.AddressList("To"); err == nil {
				for _, a := range to {
					list = append(list, a.Address)
				}
			}
		}
	}
	seen := map[string]bool{}
	out := list[:0]
	for _, a := range list {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}
