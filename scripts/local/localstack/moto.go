package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// moto is a moto_server process the stack started.
type moto struct {
	cmd  *exec.Cmd
	done chan error
}

// startMoto starts moto_server on 127.0.0.1:port (a free port when 0), logging to logFile, and
// waits until it answers.
func startMoto(ctx context.Context, port int, logFile string) (*moto, string, error) {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, "", errors.New("moto_server not found on PATH: install moto (pip install 'moto[server]'), or pass --endpoint of a running emulator")
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	log, err := os.Create(logFile)
	if err != nil {
		return nil, "", err
	}
	defer log.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches us, we stop moto
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start moto_server: %w", err)
	}
	m := &moto{cmd: cmd, done: make(chan error, 1)}
	go func() { m.done <- cmd.Wait() }()
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-m.done:
			m.done <- err
			return nil, "", fmt.Errorf("moto_server exited at start (%v): see %s (port %d in use? pass --moto-port)", err, logFile, port)
		case <-ctx.Done():
			m.stop()
			return nil, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m, endpoint, nil
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, "", fmt.Errorf("moto_server did not answer on %s within 30 s: see %s", endpoint, logFile)
		}
	}
}

// stop ends moto_server: SIGINT, then SIGKILL after five seconds.
func (m *moto) stop() {
	if m == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGINT) // moto_server (werkzeug) stops at once on an interrupt
	select {
	case err := <-m.done:
		m.done <- err
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
