package awstest

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

// SentEmail is one message the emulator recorded as sent through SES.
type SentEmail struct {
	Source       string   `json:"source"`
	Destinations []string `json:"-"`
	Raw          string   `json:"raw_data"`
	Subject      string   `json:"subject"`
	Body         string   `json:"body"`
}

// SentEmails returns every message sent through SES (v1 and v2) that the emulator recorded,
// from moto's state endpoint.
func SentEmails(t testing.TB) []SentEmail {
	t.Helper()
	endpoint := strings.TrimSuffix(os.Getenv("AWS_ENDPOINT_URL"), "/")
	resp, err := http.Get(endpoint + "/moto-api/data.json")
	if err != nil {
		t.Fatalf("read moto state: %v", err)
	}
	defer resp.Body.Close()
	var state struct {
		SES map[string][]struct {
			Source       string          `json:"source"`
			Destinations json.RawMessage `json:"destinations"`
			RawData      string          `json:"raw_data"`
			Subject      string          `json:"subject"`
			Body         string          `json:"body"`
		} `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		t.Fatalf("decode moto state: %v", err)
	}
	var out []SentEmail
	for _, msgs := range state.SES {
		for _, m := range msgs {
			e := SentEmail{Source: m.Source, Raw: m.RawData, Subject: m.Subject, Body: m.Body}
			e.Destinations = destinations(m.Destinations)
			out = append(out, e)
		}
	}
	return out
}

// destinations accepts moto's list or {"ToAddresses": [...], ...} forms, each address once
// (moto lists a raw message's envelope destinations and its To addresses together).
func destinations(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var m map[string][]string
		if json.Unmarshal(raw, &m) == nil {
			for _, v := range m {
				list = append(list, v...)
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
