// Package e2e runs the real switchboard binary, several processes at once,
// and drives it over HTTP on loopback.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles the switchboard binary once per test run.
func build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchboard-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "switchboard")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/switchboard/switchboard/cmd/switchboard").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// process is one running switchboard serve.
type process struct {
	cmd    *exec.Cmd
	url    string
	logs   *bytes.Buffer
	out    *lockedWriter // writes to logs
	done   chan struct{}
	killed atomic.Bool // by the test
}

// errorLogs returns the log lines of the process at level ERROR or WARN.
func (p *process) errorLogs() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	var b strings.Builder
	for line := range strings.Lines(p.logs.String()) {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// listening matches the log line that names the address serve listens on.
var listening = regexp.MustCompile(`msg="switchboard listening" addr=(\S+)`)

// listeningOn returns the address the process said it listens on, or "".
func (p *process) listeningOn() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	if m := listening.FindStringSubmatch(p.logs.String()); m != nil {
		return m[1]
	}
	return ""
}

// startProcess starts switchboard serve on db, with any extra flags, and
// waits until it is ready. It listens on a port the kernel gives it (--addr
// 127.0.0.1:0) and the test reads which from its log: a port found free and
// handed over could be taken meanwhile by a server of another test package,
// which would then answer for it.
func startProcess(t testing.TB, db string, extra ...string) *process {
	t.Helper()
	cmd := exec.Command(build(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--advertise", "auto", "--db", db}, extra...)...)
	cmd.Env = append(os.Environ(), "SWITCHBOARD_ADMIN_EMAIL="+adminEmail, "SWITCHBOARD_ADMIN_PASSWORD="+adminPassword)
	p := &process{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan struct{})}
	p.out = &lockedWriter{w: p.logs}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
			if !p.killed.Load() && p.cmd.ProcessState.ExitCode() != 0 {
				t.Errorf("switchboard exited during the test (%s); logs:\n%s", p.cmd.ProcessState, p.logs)
			}
		default:
		}
		p.kill()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.url == "" {
			if addr := p.listeningOn(); addr != "" {
				p.url = "http://" + addr
			}
		}
		if p.url != "" {
			resp, err := http.Get(p.url + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p
				}
			}
		}
		select {
		case <-p.done:
			t.Fatalf("switchboard exited before it was ready:\n%s", p.logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("switchboard not ready after 30s:\n%s", p.logs)
	return nil
}

// kill ends the process with SIGKILL, as a crash would.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.killed.Store(true)
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// api is a client of one process, as one user.
type api struct {
	base  string
	token string
	http  *http.Client
}

// call sends a JSON request. err is set when no reply arrived (the process
// is gone); a reply of any status is not an error.
func (a api) call(ctx context.Context, method, path string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Api-Access-Token", a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode, nil
}

// must calls and fails the test unless the reply is 200.
func (a api) must(t testing.TB, method, path string, body any, out any) {
	t.Helper()
	status, err := a.call(context.Background(), method, path, body, out)
	if err != nil || status != 200 {
		t.Fatalf("%s %s: status %d, err %v", method, path, status, err)
	}
}

// signIn returns a client of base for the user with email and password.
func signIn(t testing.TB, base, email, password string) api {
	t.Helper()
	var reply struct {
		Data struct {
			ID          int64  `json:"id"`
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	a := api{base: base, http: &http.Client{Timeout: 30 * time.Second}}
	a.must(t, "POST", "/auth/sign_in", map[string]string{"email": email, "password": password}, &reply)
	a.token = reply.Data.AccessToken
	return a
}

// on returns the same user's client for another process.
func (a api) on(p *process) api {
	a.base = p.url
	return a
}
