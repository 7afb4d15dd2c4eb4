package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/store"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) {
	store.BcryptCost = bcrypt.MinCost // hashing speed is not under test
	os.Exit(m.Run())
}

// env returns a getenv that knows only vars: the tests never read the real
// environment.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// syncBuffer is a bytes.Buffer that the server's goroutines may write while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runOnce runs a command that returns by itself.
func runOnce(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, args, env(vars), &out, &errOut)
	return out.String(), errOut.String(), err
}

func tempDB(t *testing.T) (path, dsn string) {
	path = filepath.Join(t.TempDir(), "switchboard.db")
	return path, "sqlite:" + path
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// server is a running "switchboard serve".
type server struct {
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startServe runs serve in a goroutine and waits until it says it listens
// on addr and addr answers /healthz.
func startServe(t *testing.T, addr string, vars map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{base: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), env(vars), s.stdout, s.stderr) }()
	t.Cleanup(func() { s.stop(t) })
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.once.Do(func() { s.err = err })
			t.Fatalf("serve returned before it was up: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
		default:
		}
		// Only once serve says it listens on addr: before, another test
		// package's server could hold the port and answer for it.
		var err error
		if strings.Contains(s.stdout.String(), `msg="switchboard listening" addr=`+addr+" ") {
			var resp *http.Response
			if resp, err = client.Get(s.base + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer on %s: %v\nstdout:\n%s", addr, err, s.stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels the server's context and returns what run returned.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(20 * time.Second):
			s.err = errors.New("run did not return after its context was cancelled")
		}
	})
	return s.err
}

// call sends a JSON request to the running server.
func (s *server) call(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("api_access_token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// signIn signs in and returns the user's access token, failing the test
// unless the sign-in succeeds.
func (s *server) signIn(t *testing.T, email, password string) string {
	t.Helper()
	status, data := s.call(t, "POST", "/auth/sign_in", "", map[string]string{"email": email, "password": password})
	if status != http.StatusOK {
		t.Fatalf("sign in as %s: status %d, want 200; body %s", email, status, data)
	}
	var reply struct {
		Data struct {
			Email       string `json:"email"`
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &reply); err != nil || reply.Data.AccessToken == "" {
		t.Fatalf("sign in as %s: no access token in %s (%v)", email, data, err)
	}
	return reply.Data.AccessToken
}

// agents returns the e-mails of the users of account 1.
func (s *server) agents(t *testing.T, token string) []string {
	t.Helper()
	status, data := s.call(t, "GET", "/api/v1/accounts/1/agents", token, nil)
	if status != http.StatusOK {
		t.Fatalf("list agents: status %d; body %s", status, data)
	}
	var list []struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("list agents: %v in %s", err, data)
	}
	var emails []string
	for _, a := range list {
		emails = append(emails, a.Email)
	}
	return emails
}

func countAccounts(t *testing.T, path string) int {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.CountAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// generatedPassword matches the password that serve logs when it makes one.
var generatedPassword = regexp.MustCompile(`password=(\S+)`)

func TestVersion(t *testing.T) {
	t.Run("PrintsTheVersion", func(t *testing.T) {
		stdout, _, err := runOnce(t, nil, "version")
		if err != nil {
			t.Fatalf("version: %v", err)
		}
		if want := "switchboard " + version; !strings.Contains(stdout, want) || version == "" {
			t.Errorf("version printed %q, want it to contain %q", stdout, want)
		}
	})
}

func TestUnknownCommand(t *testing.T) {
	t.Run("FailsNamingTheCommand", func(t *testing.T) {
		_, stderr, err := runOnce(t, nil, "frobnicate")
		if err == nil {
			t.Fatal("an unknown command succeeded")
		}
		if !strings.Contains(err.Error(), "frobnicate") {
			t.Errorf("error %q does not name the command", err)
		}
		if !strings.Contains(stderr, "usage") {
			t.Errorf("stderr %q does not show the usage", stderr)
		}
	})
	t.Run("NoCommandFails", func(t *testing.T) {
		if _, _, err := runOnce(t, nil); err == nil {
			t.Fatal("running without a command succeeded")
		}
	})
	t.Run("AccountsWithoutCreateFails", func(t *testing.T) {
		if _, _, err := runOnce(t, nil, "accounts", "delete"); err == nil {
			t.Fatal("accounts delete succeeded")
		}
	})
}

// A PostgreSQL URL that serve cannot use must stop it with an error that says
// what is wrong with the database, whether the build does not support
// PostgreSQL ("not supported yet") or cannot reach the server. The URLs point
// at a port where nothing listens, so no real server is touched.
func TestServePostgresURL(t *testing.T) {
	wantClear := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("serve with an unusable PostgreSQL URL succeeded")
		}
		msg := strings.ToLower(err.Error())
		if !strings.Contains(msg, "postgres") && !strings.Contains(msg, "database") {
			t.Errorf("error %q names neither PostgreSQL nor the database", err)
		}
	}
	for _, scheme := range []string{"postgres", "postgresql"} {
		t.Run("FailsNamingTheDatabase/"+scheme, func(t *testing.T) {
			addr := freeAddr(t)
			dsn := scheme + "://switchboard@" + freeAddr(t) + "/switchboard?sslmode=disable&connect_timeout=5"
			_, _, err := runOnce(t, nil, "serve", "--db", dsn, "--addr", addr)
			wantClear(t, err)
			if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
				t.Errorf("something listens on --addr %s after serve failed", addr)
			}
		})
	}
	t.Run("FailsNamingTheDatabaseFromTheEnvironment", func(t *testing.T) {
		dsn := "postgres://switchboard@" + freeAddr(t) + "/switchboard?sslmode=disable&connect_timeout=5"
		_, _, err := runOnce(t, map[string]string{"SWITCHBOARD_DB": dsn}, "serve", "--addr", freeAddr(t))
		wantClear(t, err)
	})
}

func TestAccountsCreate(t *testing.T) {
	t.Run("CreatesAccountAndPrintsAccessToken", func(t *testing.T) {
		path, dsn := tempDB(t)
		stdout, _, err := runOnce(t, nil, "accounts", "create", "--db", dsn,
			"--name", "Acme", "--admin-email", "boss@example.com", "--admin-password", "password123")
		if err != nil {
			t.Fatalf("accounts create: %v", err)
		}
		m := regexp.MustCompile(`access token (\S+)`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("no access token in %q", stdout)
		}
		if n := countAccounts(t, path); n != 1 {
			t.Errorf("%d accounts, want 1", n)
		}
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		u, err := db.UserByAccessToken(context.Background(), m[1])
		if err != nil {
			t.Fatalf("the printed token %q authenticates nobody: %v", m[1], err)
		}
		if u.Email != "boss@example.com" || len(u.Accounts) != 1 || u.Accounts[0].AccountName != "Acme" || u.Accounts[0].Role != "administrator" {
			t.Errorf("the token's user is %+v, want the administrator boss@example.com of Acme", u)
		}
		if _, _, err := db.SignIn(context.Background(), "boss@example.com", "password123"); err != nil {
			t.Errorf("the administrator cannot sign in with the given password: %v", err)
		}
	})
	t.Run("RefusesBadEmailAndCreatesNothing", func(t *testing.T) {
		path, dsn := tempDB(t)
		stdout, _, err := runOnce(t, nil, "accounts", "create", "--db", dsn,
			"--name", "Acme", "--admin-email", "not-an-address", "--admin-password", "password123")
		if err == nil {
			t.Fatalf("accounts create with a bad e-mail succeeded: %q", stdout)
		}
		if !strings.Contains(err.Error(), "email") {
			t.Errorf("error %q does not name the email", err)
		}
		if strings.Contains(stdout, "access token") {
			t.Errorf("a token was printed: %q", stdout)
		}
		if n := countAccounts(t, path); n != 0 {
			t.Errorf("%d accounts after a refused create, want 0", n)
		}
	})
	t.Run("ReadsTheDatabaseFromTheEnvironment", func(t *testing.T) {
		path, dsn := tempDB(t)
		_, _, err := runOnce(t, map[string]string{"SWITCHBOARD_DB": dsn}, "accounts", "create",
			"--name", "Acme", "--admin-email", "boss@example.com", "--admin-password", "password123")
		if err != nil {
			t.Fatalf("accounts create: %v", err)
		}
		if n := countAccounts(t, path); n != 1 {
			t.Errorf("%d accounts in SWITCHBOARD_DB, want 1", n)
		}
	})
}

func TestServeBootstrap(t *testing.T) {
	path, dsn := tempDB(t)
	var password string

	t.Run("FirstStartLogsAGeneratedPasswordOnce", func(t *testing.T) {
		addr := freeAddr(t)
		s := startServe(t, addr, nil, "--db", dsn, "--addr", addr)
		logged := generatedPassword.FindAllStringSubmatch(s.stdout.String(), -1)
		if len(logged) != 1 {
			t.Fatalf("the password was logged %d times, want once; stdout:\n%s", len(logged), s.stdout)
		}
		password = logged[0][1]
		if !strings.Contains(s.stdout.String(), "admin@localhost") {
			t.Errorf("the log does not name the administrator admin@localhost:\n%s", s.stdout)
		}
		token := s.signIn(t, "admin@localhost", password)
		if emails := s.agents(t, token); len(emails) != 1 || emails[0] != "admin@localhost" {
			t.Errorf("account 1 has users %v, want [admin@localhost]", emails)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v after its context was cancelled, want nil", err)
		}
		if strings.Count(s.stdout.String(), password) != 1 {
			t.Errorf("the password appears %d times in the log, want once", strings.Count(s.stdout.String(), password))
		}
	})
	if password == "" {
		t.Fatal("no password from the first start")
	}

	t.Run("SecondStartCreatesNothingAndLogsNoPassword", func(t *testing.T) {
		addr := freeAddr(t)
		s := startServe(t, addr, nil, "--db", dsn, "--addr", addr)
		if m := generatedPassword.FindString(s.stdout.String()); m != "" {
			t.Errorf("the second start logged %q", m)
		}
		if strings.Contains(s.stdout.String(), "created the first administrator") {
			t.Errorf("the second start created an administrator:\n%s", s.stdout)
		}
		token := s.signIn(t, "admin@localhost", password)
		if emails := s.agents(t, token); len(emails) != 1 {
			t.Errorf("account 1 has users %v after a restart, want only admin@localhost", emails)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v after its context was cancelled, want nil", err)
		}
		if n := countAccounts(t, path); n != 1 {
			t.Errorf("%d accounts after two starts, want 1", n)
		}
	})

	t.Run("GivenAdminCredentialsAreUsedAndNotLogged", func(t *testing.T) {
		_, dsn := tempDB(t)
		addr := freeAddr(t)
		s := startServe(t, addr, map[string]string{
			"SWITCHBOARD_ADMIN_EMAIL": "root@example.com", "SWITCHBOARD_ADMIN_PASSWORD": "s3cret-password",
		}, "--db", dsn, "--addr", addr)
		if strings.Contains(s.stdout.String(), "s3cret-password") || generatedPassword.MatchString(s.stdout.String()) {
			t.Errorf("a password was logged:\n%s", s.stdout)
		}
		s.signIn(t, "root@example.com", "s3cret-password")
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	})
}

func TestServeAddress(t *testing.T) {
	t.Run("EnvironmentAddressUsedWithoutFlag", func(t *testing.T) {
		_, dsn := tempDB(t)
		addr := freeAddr(t)
		s := startServe(t, addr, map[string]string{"SWITCHBOARD_ADDR": addr, "SWITCHBOARD_DB": dsn})
		if !strings.Contains(s.stdout.String(), "addr="+addr) {
			t.Errorf("the log does not say it listens on %s:\n%s", addr, s.stdout)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	})
	t.Run("FlagWinsOverEnvironment", func(t *testing.T) {
		_, dsn := tempDB(t)
		flagAddr, envAddr := freeAddr(t), freeAddr(t)
		for envAddr == flagAddr {
			envAddr = freeAddr(t)
		}
		s := startServe(t, flagAddr, map[string]string{"SWITCHBOARD_ADDR": envAddr, "SWITCHBOARD_DB": dsn}, "--addr", flagAddr)
		if strings.Contains(s.stdout.String(), "addr="+envAddr) {
			t.Errorf("serve listened on the environment's %s despite --addr %s:\n%s", envAddr, flagAddr, s.stdout)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	})
}

func TestServeDebugAddress(t *testing.T) {
	t.Run("ProfilerOnItsOwnAddressOnly", func(t *testing.T) {
		_, dsn := tempDB(t)
		addr, debug := freeAddr(t), freeAddr(t)
		for debug == addr {
			debug = freeAddr(t)
		}
		s := startServe(t, addr, map[string]string{"SWITCHBOARD_DB": dsn}, "--addr", addr, "--debug-addr", debug)
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get("http://" + debug + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatalf("profiler on --debug-addr %s: %v", debug, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET /debug/pprof/cmdline on %s = %d %q, want 200 and the command line", debug, resp.StatusCode, body)
		}
		resp, err = client.Get(s.base + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /debug/pprof/cmdline on the API's address = %d, want 404", resp.StatusCode)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	})
	t.Run("OffByDefault", func(t *testing.T) {
		_, dsn := tempDB(t)
		addr := freeAddr(t)
		s := startServe(t, addr, map[string]string{"SWITCHBOARD_DB": dsn}, "--addr", addr)
		if strings.Contains(s.stdout.String(), "profiler listening") {
			t.Errorf("a profiler started without --debug-addr:\n%s", s.stdout)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	})
}

func TestAdvertiseURL(t *testing.T) {
	host := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 3000}
	all := &net.TCPAddr{IP: net.IPv4zero, Port: 3000}
	tests := []struct {
		advertise string
		addr      net.Addr
		want      string // "" with ok false: refused
		ok        bool
	}{
		{"", all, "", true},
		{"auto", host, "http://10.0.0.5:3000", true},
		{"auto", all, "", false},
		{"http://10.0.0.5:3000", all, "http://10.0.0.5:3000", true},
		{"https://sb-1.internal:3000/", all, "https://sb-1.internal:3000", true},
		{"10.0.0.5:3000", all, "", false},
		{"ftp://10.0.0.5", all, "", false},
		{"http://10.0.0.5:3000/switchboard", all, "", false},
		{"http://10.0.0.5:3000?x=1", all, "", false},
		{"http://10.0.0.5:3000#x", all, "", false},
		{"http://user:pw@10.0.0.5:3000", all, "", false},
		{"http://", all, "", false},
	}
	for _, tt := range tests {
		got, err := advertiseURL(tt.advertise, tt.addr)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("advertiseURL(%q, %s) = %q, %v; want %q, ok %v", tt.advertise, tt.addr, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--advertise") {
			t.Errorf("advertiseURL(%q): error %q does not name --advertise", tt.advertise, err)
		}
	}
}
