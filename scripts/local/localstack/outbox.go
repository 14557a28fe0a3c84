package localstack

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moatmail/moat/shared/provision"
)

// outbox copies the mail the gateway sent through SES (DSNs, digests, forwards), which the
// emulator only records, to <dir>/<recipient>/<time>-<hash>.eml so that one can read it. It
// polls moto's state endpoint; against another emulator it stops.
func (s *Stack) outbox(ctx context.Context, dir string, every time.Duration) {
	seen := map[[32]byte]bool{}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for ctx.Err() == nil {
			err := s.collectSent(ctx, dir, seen)
			switch {
			case errors.Is(err, provision.ErrNoSentMail):
				s.log.Warn("SES outbox stops", "error", err)
				return
			case err != nil && ctx.Err() == nil:
				s.log.Warn("SES outbox: reading the emulator's sent mail failed; trying again", "error", err)
			}
			sleep(ctx, every)
		}
	}()
}

func (s *Stack) collectSent(ctx context.Context, dir string, seen map[[32]byte]bool) error {
	sent, err := provision.SentMail(ctx, s.Endpoint)
	if err != nil {
		return err
	}
	for _, m := range sent {
		sum := sha256.Sum256([]byte(m.Source + "\x00" + strings.Join(m.Destinations, ",") + "\x00" + m.Raw))
		if seen[sum] {
			continue
		}
		seen[sum] = true
		rcpts := m.Destinations
		if len(rcpts) == 0 {
			rcpts = []string{"unknown"}
		}
		name := fmt.Sprintf("%s-%x.eml", time.Now().UTC().Format("20060102T150405.000"), sum[:4])
		for _, r := range rcpts {
			d := filepath.Join(dir, safeName(r))
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			if err := writeAtomic(filepath.Join(d, name), []byte(m.Raw)); err != nil {
				return err
			}
		}
		s.log.Info("sent through SES", "recipients", len(rcpts), "file", name)
	}
	return nil
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
