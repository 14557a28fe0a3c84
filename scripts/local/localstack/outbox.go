package localstack

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// outbox copies the mail the gateway sent through SES (DSNs, digests, forwards), which the
// emulator only records, to <dir>/<recipient>/<time>-<hash>.eml so that one can read it. It
// polls moto's state endpoint; against another emulator it stops at the first miss.
func (s *Stack) outbox(ctx context.Context, dir string, every time.Duration) {
	seen := map[[32]byte]bool{}
	url := strings.TrimSuffix(s.Endpoint, "/") + "/moto-api/data.json"
	client := &http.Client{Timeout: 30 * time.Second}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ok := false // the emulator has shown its sent mail at least once
		for ctx.Err() == nil {
			err := s.collectSent(ctx, client, url, dir, seen)
			switch {
			case err != nil && !ok:
				s.log.Warn("SES outbox stops: the emulator does not show sent mail", "error", err)
				return
			case err != nil:
				s.log.Warn("SES outbox: reading the emulator's sent mail failed; trying again", "error", err)
			default:
				ok = true
			}
			sleep(ctx, every)
		}
	}()
}

// sentMail is a message in moto's state.
type sentMail struct {
	Source       string          `json:"source"`
	Destinations json.RawMessage `json:"destinations"`
	RawData      string          `json:"raw_data"`
	Subject      string          `json:"subject"`
	Body         string          `json:"body"`
}

func (s *Stack) collectSent(ctx context.Context, client *http.Client, url, dir string, seen map[[32]byte]bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	var state struct {
		SES map[string][]sentMail `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	for _, msgs := range state.SES {
		for _, m := range msgs {
			if m.RawData == "" && m.Source == "" && m.Body == "" {
				continue // not a message (moto keeps other SES objects beside them)
			}
			raw := m.RawData
			if raw == "" {
				raw = fmt.Sprintf("From: %s\r\nSubject: %s\r\n\r\n%s\r\n", m.Source, m.Subject, m.Body)
			}
			sum := sha256.Sum256([]byte(m.Source + "\x00" + string(m.Destinations) + "\x00" + raw))
			if seen[sum] {
				continue
			}
			seen[sum] = true
			rcpts := sentTo(m.Destinations, raw)
			name := fmt.Sprintf("%s-%x.eml", time.Now().UTC().Format("20060102T150405.000"), sum[:4])
			for _, r := range rcpts {
				d := filepath.Join(dir, safeName(r))
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
				if err := writeAtomic(filepath.Join(d, name), []byte(raw)); err != nil {
					return err
				}
			}
			s.log.Info("sent through SES", "recipients", len(rcpts), "file", name)
		}
	}
	return nil
}

// sentTo returns the message's recipients: moto's destinations (a list, or a map of To, Cc and
// Bcc lists), else the header's To.
func sentTo(dest json.RawMessage, raw string) []string {
	var list []string
	if json.Unmarshal(dest, &list) != nil || len(list) == 0 {
		var m map[string][]string
		if json.Unmarshal(dest, &m) == nil {
			for _, v := range m {
				list = append(list, v...)
			}
		}
	}
	if len(list) == 0 {
		if msg, err := mail.ReadMessage(strings.NewReader(raw)); err == nil {
			if to, err := msg.Header.AddressList("To"); err == nil {
				for _, a := range to {
					list = append(list, a.Address)
				}
			}
		}
	}
	if len(list) == 0 {
		list = []string{"unknown"}
	}
	return list
}

// safeName keeps an address usable as one folder name.
func safeName(addr string) string {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = strings.ToLower(a.Address)
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, strings.TrimLeft(addr, "."))
}

// writeAtomic writes a file under a temporary name and renames it into place, so that a reader
// never sees half of it.
func writeAtomic(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
