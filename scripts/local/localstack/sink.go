package localstack

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/shared/policy"
)

// sink is the customers' mail server: it accepts every message and writes one copy per
// recipient to <dir>/<recipient>/<time>-<n>.eml.
type sink struct {
	dir string
	log *slog.Logger
	seq atomic.Int64
}

func (k *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }

type sinkSession struct {
	k     *sink
	from  string
	rcpts []string
}

func (s *sinkSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.rcpts = from, nil
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	addr, err := policy.ParseAddress(to)
	if err != nil || strings.ContainsAny(addr, `/\`) || strings.HasPrefix(addr, ".") {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Invalid recipient address"}
	}
	s.rcpts = append(s.rcpts, strings.ToLower(addr))
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%d.eml", time.Now().UTC().Format("20060102T150405.000000000"), s.k.seq.Add(1))
	for _, rcpt := range s.rcpts {
		dir := filepath.Join(s.k.dir, rcpt)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		envelope := fmt.Sprintf("X-Sink-Envelope-From: <%s>\r\nX-Sink-Envelope-To: <%s>\r\n", s.from, rcpt)
		if err := os.WriteFile(filepath.Join(dir, name), append([]byte(envelope), body...), 0o644); err != nil {
			return err
		}
	}
	s.k.log.Info("sink stored", "recipients", len(s.rcpts), "size", len(body), "file", name)
	return nil
}
