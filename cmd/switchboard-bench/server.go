package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// env is what every scenario shares: where the switchboard binary is, where
// its databases go, and the HTTP client that drives it.
type env struct {
	opts    *options
	binary  string // built or given; empty when targeting -url
	tempDir string
	http    *http.Client
	log     io.Writer
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns * 4,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// buildSwitchboard compiles cmd/switchboard into dir. It must run inside the
// module (the repository or a subdirectory).
func buildSwitchboard(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "switchboard")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/switchboard/switchboard/cmd/switchboard")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// tail keeps the last bytes written to it: the server logs every request,
// and only the end matters when something fails.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 32 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf[max(0, len(t.buf)-tailSize):])
}

// process is one running switchboard serve.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs *tail
	done chan struct{}
}

// listening matches the log line that names the address serve listens on.
var listening = regexp.MustCompile(`msg="switchboard listening" addr=(\S+)`)

// startProcess starts switchboard serve on dsn and waits until it is ready;
// procs > 0 sets its GOMAXPROCS. It listens on a port the kernel gives it,
// named in its log: a port found free and handed over could be taken
// meanwhile by another program.
func (e *env) startProcess(ctx context.Context, dsn string, procs int) (*process, error) {
	cmd := exec.Command(e.binary, "serve", "--addr", "127.0.0.1:0", "--advertise", e.opts.advertise, "--db", dsn)
	cmd.Env = append(os.Environ(),
		"SWITCHBOARD_ADMIN_EMAIL="+e.opts.email, "SWITCHBOARD_ADMIN_PASSWORD="+e.opts.password)
	if procs > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", procs))
	}
	p := &process{cmd: cmd, logs: &tail{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.url == "" {
			if m := listening.FindStringSubmatch(p.logs.String()); m != nil {
				p.url = "http://" + m[1]
			}
		}
		if p.url != "" {
			resp, err := e.http.Get(p.url + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p, nil
				}
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("switchboard exited before it was ready:\n%s", p.logs)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("switchboard not ready after 60s:\n%s", p.logs)
}

// stop ends the process with SIGTERM, or SIGKILL after 10 s.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// database is a fresh database for one scenario and the DSN the bench uses
// to seed and check it directly.
type database struct {
	dsn     string // as switchboard serve --db takes it
	cleanup func()
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// freshDatabase makes an empty database: a new SQLite file in the temp dir,
// or a new schema on the PostgreSQL server named by pgURL (dropped by
// cleanup).
func (e *env) freshDatabase(ctx context.Context, name, pgURL string) (database, error) {
	if pgURL == "" {
		dir, err := os.MkdirTemp(e.tempDir, name)
		if err != nil {
			return database{}, err
		}
		return database{dsn: "sqlite:" + filepath.Join(dir, "switchboard.db"), cleanup: func() { os.RemoveAll(dir) }}, nil
	}
	admin, err := sql.Open("pgx", pgURL)
	if err != nil {
		return database{}, err
	}
	schema := "swbench_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return database{}, fmt.Errorf("create schema: %w", err)
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		admin.Close()
		return database{}, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return database{dsn: u.String(), cleanup: func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			fmt.Fprintf(e.log, "drop schema %s: %v\n", schema, err)
		}
	}}, nil
}

// target is a switchboard deployment under test: the URLs of its processes
// and, when known, its database.
type target struct {
	urls      []string
	db        string // empty when the bench cannot reach the database
	processes []*process
	cleanup   func()
	procs     int // each process's GOMAXPROCS; 0: Go's default
	stops     []func()
}

// onStop has stop run when the target stops, before its processes do.
func (t *target) onStop(stop func()) {
	t.stops = append(t.stops, stop)
}

func (t *target) stop() {
	for _, stop := range t.stops {
		stop()
	}
	for _, p := range t.processes {
		p.stop()
	}
	if t.cleanup != nil {
		t.cleanup()
	}
}

func (t *target) logs() string {
	var b strings.Builder
	for i, p := range t.processes {
		fmt.Fprintf(&b, "--- process %d (%s) ---\n%s\n", i, p.url, p.logs)
	}
	return b.String()
}

// serverProcs is the GOMAXPROCS of each of n processes started on this
// machine: with -share-cores and several processes, each gets its share of
// the cores (at least one), as one sizes processes that share a machine;
// otherwise 0, Go's default, every core.
func (e *env) serverProcs(n int) int {
	if n < 2 || !e.opts.shareCores {
		return 0
	}
	return max(1, runtime.NumCPU()/n)
}

// startTarget gives a scenario its deployment: n fresh processes on a fresh
// database (SQLite, or PostgreSQL when pgURL is set), or the running server
// of -url (except for the processes scenario, which always starts its own).
func (e *env) startTarget(ctx context.Context, name string, n int, pgURL string) (*target, error) {
	if e.opts.url != "" && name != "processes" {
		return &target{urls: []string{strings.TrimSuffix(e.opts.url, "/")}, db: e.opts.db}, nil
	}
	d, err := e.freshDatabase(ctx, name, pgURL)
	if err != nil {
		return nil, err
	}
	t := &target{db: d.dsn, cleanup: d.cleanup, procs: e.serverProcs(n)}
	for range n {
		p, err := e.startProcess(ctx, d.dsn, t.procs)
		if err != nil {
			t.stop()
			return nil, err
		}
		t.processes = append(t.processes, p)
		t.urls = append(t.urls, p.url)
	}
	return t, nil
}

// client is one user's client of one process.
type client struct {
	base    string
	token   string
	account int64
	user    int64 // the signed-in user
	http    *http.Client
}

// statusError is a reply other than 200.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.status, e.body)
}

// call sends a JSON request and decodes a 200 reply into out; any other
// status is a *statusError.
func (c *client) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("api_access_token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if len(data) > 300 {
			data = data[:300]
		}
		return &statusError{method, path, resp.StatusCode, string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %v in %.200s", method, path, err, data)
		}
	}
	return nil
}

// on returns the same user's client of another process.
func (c *client) on(base string) *client {
	d := *c
	d.base = base
	return &d
}

func (c *client) accountPath(format string, args ...any) string {
	return fmt.Sprintf("/api/v1/accounts/%d", c.account) + fmt.Sprintf(format, args...)
}

// signIn signs the administrator in on base.
func (e *env) signIn(ctx context.Context, base string) (*client, error) {
	c := &client{base: base, http: e.http}
	var reply struct {
		Data struct {
			ID          int64  `json:"id"`
			AccessToken string `json:"access_token"`
			AccountID   int64  `json:"account_id"`
		} `json:"data"`
	}
	err := c.call(ctx, "POST", "/auth/sign_in", map[string]string{"email": e.opts.email, "password": e.opts.password}, &reply)
	if err != nil {
		return nil, fmt.Errorf("sign in as %s: %w", e.opts.email, err)
	}
	if reply.Data.AccessToken == "" || reply.Data.AccountID == 0 {
		return nil, errors.New("sign in: no access token or account in the reply")
	}
	c.token, c.account, c.user = reply.Data.AccessToken, reply.Data.AccountID, reply.Data.ID
	if e.opts.account != 0 {
		c.account = e.opts.account
	}
	return c, nil
}

// createInbox creates an API inbox and returns its id.
func (c *client) createInbox(ctx context.Context, name string) (int64, error) {
	var in struct {
		ID int64 `json:"id"`
	}
	err := c.call(ctx, "POST", c.accountPath("/inboxes"), map[string]any{"name": name, "channel": map[string]string{"type": "api"}}, &in)
	return in.ID, err
}

// createAgents creates n online agents with unique e-mails and returns
// their ids. Each costs the server a bcrypt hash (it hashes a random password
// when none is given), so keep n small; bulk members are seeded in SQL.
func (c *client) createAgents(ctx context.Context, n int, tag string) ([]int64, error) {
	return c.createAgentsWith(ctx, n, tag, "")
}

// agentEmail is the e-mail of createAgents' i-th agent of tag.
func agentEmail(tag string, i int) string {
	return fmt.Sprintf("bench-%s-%d@example.com", tag, i)
}

// createAgentsWith is createAgents, the agents signing in to the console
// with password (none when empty).
func (c *client) createAgentsWith(ctx context.Context, n int, tag, password string) ([]int64, error) {
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var a struct {
				ID int64 `json:"id"`
			}
			body := map[string]any{
				"name": fmt.Sprintf("Bench %s %d", tag, i), "email": agentEmail(tag, i),
				"role": "agent", "availability": "online",
			}
			if password != "" {
				body["password"] = password
			}
			errs[i] = c.call(ctx, "POST", c.accountPath("/agents"), body, &a)
			ids[i] = a.ID
		})
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

func (c *client) addMembers(ctx context.Context, inbox int64, users []int64) error {
	return c.call(ctx, "POST", c.accountPath("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": users}, nil)
}

// conversationReply is what the bench reads of a conversation.
type conversationReply struct {
	ID   int64 `json:"id"`
	Meta struct {
		Assignee *struct {
			ID int64 `json:"id"`
		} `json:"assignee"`
	} `json:"meta"`
}

// createConversation creates an open conversation in inbox and returns it.
func (c *client) createConversation(ctx context.Context, inbox int64, k int, assignee *int64) (conversationReply, error) {
	body := map[string]any{"inbox_id": inbox, "message": map[string]string{"content": fmt.Sprintf("Hello from the bench, %d", k)}}
	if assignee != nil {
		body["assignee_id"] = *assignee
	}
	var conv conversationReply
	err := c.call(ctx, "POST", c.accountPath("/conversations"), body, &conv)
	return conv, err
}

// runTag is a random tag that keeps the e-mails of one run apart from those
// of earlier runs on the same server.
func runTag() string { return strings.ToLower(rand.Text()[:8]) }
