// Command switchboard runs the Switchboard server and its administration
// commands.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/api"
	"github.com/switchboard/switchboard/cluster"
	"github.com/switchboard/switchboard/observe"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/throttle"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

const usage = `usage: switchboard <command> [flags]

commands:
  serve            run the server (switchboard serve -h for its flags)
  accounts create  create an account and its first administrator
  version          print the version
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "accounts":
		if len(args) < 2 || args[1] != "create" {
			return errors.New("usage: switchboard accounts create --name N --admin-email E --admin-password P")
		}
		return createAccount(ctx, args[2:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "switchboard", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// config is the server's configuration, from flags, each of which may also be
// set by the environment variable SWITCHBOARD_<FLAG>.
type config struct {
	Addr          string
	DB            string
	PlatformToken string
	LogFormat     string
	PresenceGrace time.Duration
	PresenceCheck time.Duration
	Demo          bool
	DemoInterval  time.Duration
	AdminEmail    string
	AdminPassword string
	DebugAddr     string
	Advertise     string
}

// envDefault returns the environment's value for a flag, or def.
func envDefault(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", envDefault(getenv, "SWITCHBOARD_ADDR", "127.0.0.1:3000"), "address to listen on (SWITCHBOARD_ADDR)")
	fs.StringVar(&c.DB, "db", envDefault(getenv, "SWITCHBOARD_DB", "sqlite:switchboard.db"), "database: sqlite:PATH or postgres://USER@HOST:PORT/DB (SWITCHBOARD_DB)")
	fs.StringVar(&c.PlatformToken, "platform-token", getenv("SWITCHBOARD_PLATFORM_TOKEN"), "token of the Platform API; empty turns it off (SWITCHBOARD_PLATFORM_TOKEN)")
	fs.StringVar(&c.LogFormat, "log-format", envDefault(getenv, "SWITCHBOARD_LOG_FORMAT", "text"), "log format: text or json (SWITCHBOARD_LOG_FORMAT)")
	fs.StringVar(&c.DebugAddr, "debug-addr", getenv("SWITCHBOARD_DEBUG_ADDR"), "address of the profiler (/debug/pprof/), e.g. 127.0.0.1:6060; empty turns it off (SWITCHBOARD_DEBUG_ADDR)")
	fs.StringVar(&c.Advertise, "advertise", getenv("SWITCHBOARD_ADVERTISE"), "PostgreSQL: the URL at which the other processes reach this one, to send it the creates of the inboxes it leads; auto for http://ADDR (a host, not all interfaces); empty leads none, off neither leads nor sends (SWITCHBOARD_ADVERTISE)")
	fs.BoolVar(&c.Demo, "demo", false, "fill an empty database with demo agents and inboxes, and simulate traffic")
	fs.DurationVar(&c.DemoInterval, "demo-interval", 3*time.Second, "how often the demo simulates something")
	grace := envDefault(getenv, "SWITCHBOARD_PRESENCE_GRACE", "5m")
	fs.DurationVar(&c.PresenceCheck, "presence-check", store.HeartbeatEvery, "how often presence is checked (tests shorten it)")
	fs.Func("presence-grace", "how long after a user's last console closes they become offline, if auto-offline is on (SWITCHBOARD_PRESENCE_GRACE; default 5m)", func(v string) error {
		grace = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	d, err := time.ParseDuration(grace)
	if err != nil || d <= 0 {
		return c, fmt.Errorf("--presence-grace must be a positive duration such as 5m, not %q", grace)
	}
	c.PresenceGrace = d
	if c.PresenceCheck <= 0 || c.PresenceCheck > store.HeartbeatEvery {
		return c, fmt.Errorf("--presence-check must be positive and at most %s", store.HeartbeatEvery)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	c.AdminEmail = envDefault(getenv, "SWITCHBOARD_ADMIN_EMAIL", "admin@localhost")
	c.AdminPassword = getenv("SWITCHBOARD_ADMIN_PASSWORD")
	return c, nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(c.LogFormat, stdout)
	db, err := store.Open(ctx, c.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	// Listening before the demo's data, which names the address: with a
	// port of 0 the kernel's choice.
	listener, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer listener.Close() // once served, already closed
	var demoAdmin switchboard.Caller
	if c.Demo {
		if c.DemoInterval <= 0 {
			return errors.New("--demo-interval must be positive")
		}
		if demoAdmin, err = seedDemo(ctx, db, browserURL(listener.Addr()), stdout); err != nil {
			return err
		}
	} else if err := bootstrap(ctx, db, c, log); err != nil {
		return err
	}
	workers, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	router, err := shareInboxes(workers, db, c.Advertise, listener.Addr(), log)
	if err != nil {
		return err
	}
	handler, console, err := newHandler(db, router, log, c)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	srv.RegisterOnShutdown(console.Close)
	go db.KeepPresence(workers, c.PresenceGrace, c.PresenceCheck, log)
	sending := make(chan struct{})
	go func() { webhook.New(db, log).Run(workers); close(sending) }()
	// The sender puts back what it had not sent before the database closes.
	defer func() { stopWorkers(); <-sending }()
	if c.Demo {
		go runDemo(workers, db, demoAdmin, c.DemoInterval, log)
	}
	if c.DebugAddr != "" {
		debug, err := net.Listen("tcp", c.DebugAddr)
		if err != nil {
			return fmt.Errorf("--debug-addr: %w", err)
		}
		defer debug.Close()
		go http.Serve(debug, debugHandler())
		log.Info("profiler listening", "addr", debug.Addr().String())
	}
	log.Info("switchboard listening", "addr", listener.Addr().String(), "db", c.DB, "version", version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(listener) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// newHandler serves the console under /app/ and /static/ and the API
// everywhere else.
// With a router (PostgreSQL), the API's creates go where their inbox is led,
// and the router takes the creates that other processes send here.
func newHandler(db *store.DB, router *cluster.Router, log *slog.Logger, c config) (http.Handler, *web.Console, error) {
	metrics := observe.New(func(ctx context.Context) ([]observe.QueueLength, error) {
		lengths, err := db.QueueLengths(ctx)
		out := make([]observe.QueueLength, len(lengths))
		for i, q := range lengths {
			out[i] = observe.QueueLength(q)
		}
		return out, err
	})
	db.Observer = metrics
	signIns := throttle.New()
	console, err := web.New(db, log, signIns)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/app/", console)
	mux.Handle("/app", console)
	mux.Handle("/static/", console)
	mux.Handle("GET /{$}", console)
	mux.Handle("GET /metrics", metrics.Handler())
	var st api.Store = db
	if router != nil {
		st = routed{db, router}
		mux.Handle(cluster.Path, router.Handler())
	}
	mux.Handle("/", api.New(st, log, api.Config{PlatformToken: c.PlatformToken, SignIns: signIns}))
	return oneSlash(metrics.Requests(log, mux)), console, nil
}

// oneSlash serves an API path with slashes repeated ("//api/v1/..." from a
// client whose base URL ends in a slash) as the path with one slash each,
// as Chatwoot does. Go's ServeMux would answer 307 with the cleaned path,
// which a client of a POST may not follow. Only the slashes of the path as
// sent count ("%2F" is a character of a segment), and only the API's
// paths: another path keeps the redirect, back through whatever proxy
// guards it (/metrics, the console).
func oneSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent := r.URL.EscapedPath()
		if !strings.Contains(sent, "//") {
			next.ServeHTTP(w, r)
			return
		}
		squeezed := squeezeSlashes(sent)
		path, err := url.PathUnescape(squeezed)
		if err != nil || !apiPath(squeezed) {
			next.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = path, squeezed
		r2.URL = &u
		next.ServeHTTP(w, r2)
	})
}

// apiPath says whether p is a path of the API that Chatwoot's clients use.
func apiPath(p string) bool {
	for _, prefix := range []string{"/api/", "/auth/", "/platform/"} {
		if strings.HasPrefix(p, prefix) || p == strings.TrimSuffix(prefix, "/") {
			return true
		}
	}
	return false
}

// squeezeSlashes replaces each run of slashes in p with one.
func squeezeSlashes(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// routed is the store with its creates made where their inbox is led.
type routed struct {
	*store.DB
	router *cluster.Router
}

func (r routed) CreateConversation(ctx context.Context, c switchboard.Caller, n switchboard.NewConversation) (switchboard.Conversation, error) {
	return r.router.CreateConversation(ctx, c, n)
}

// advertiseURL returns the address at which the other processes reach this
// one, from --advertise: "" for none, "auto" for the listening address
// (which must name a host), or an http(s) URL of a host and port.
func advertiseURL(advertise string, addr net.Addr) (string, error) {
	switch advertise {
	case "":
		return "", nil
	case "auto":
		a, ok := addr.(*net.TCPAddr)
		if !ok || a.IP.IsUnspecified() {
			return "", fmt.Errorf("--advertise auto needs --addr with a host others reach this process at, not %s: give --advertise a URL", addr)
		}
		return "http://" + a.String(), nil
	}
	u, err := url.Parse(advertise)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" && u.Path != "/" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("--advertise must be a URL such as http://10.0.0.5:3000, auto or off, not %q", advertise)
	}
	return strings.TrimSuffix(advertise, "/"), nil
}

// shareInboxes returns the router of a process on PostgreSQL, which leads
// the inboxes whose creates reach it first if others can reach it: at
// advertise, or at its listening address with "auto". It returns nil on
// SQLite, which one process uses, and with "off".
func shareInboxes(ctx context.Context, db *store.DB, advertise string, addr net.Addr, log *slog.Logger) (*cluster.Router, error) {
	if !db.Shared() || advertise == "off" {
		return nil, nil
	}
	advertise, err := advertiseURL(advertise, addr)
	if err != nil {
		return nil, err
	}
	token := rand.Text()
	leads, err := db.OpenLeads(ctx, advertise, token)
	if err != nil {
		return nil, err
	}
	router := cluster.New(db, leads, token, log)
	go router.Keep(ctx, 10*time.Second)
	go func() {
		leads.Keep(ctx, 5*time.Second)
		leads.Close()
	}()
	if advertise == "" {
		log.Info("PostgreSQL: this process leads no inbox; --advertise says where others reach it to let it lead")
	}
	return router, nil
}

// debugHandler serves the Go profiler, on its own listener so that it is
// never reachable through the API's address.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// bootstrap gives an empty database account 1 and its first administrator.
// A later start changes nothing.
func bootstrap(ctx context.Context, db *store.DB, c config, log *slog.Logger) error {
	password, generated := c.AdminPassword, false
	if password == "" {
		password, generated = rand.Text(), true
	}
	account, user, created, err := db.Bootstrap(ctx, "Switchboard", "Administrator", c.AdminEmail, password)
	if err != nil {
		return fmt.Errorf("create the first administrator: %w", err)
	}
	if !created {
		return nil
	}
	if generated {
		log.Info("created the first administrator; this password is shown once",
			"account_id", account.ID, "email", user.Email, "password", password)
	} else {
		log.Info("created the first administrator", "account_id", account.ID, "email", user.Email)
	}
	return nil
}

func createAccount(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("accounts create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", envDefault(getenv, "SWITCHBOARD_DB", "sqlite:switchboard.db"), "database: sqlite:PATH or postgres://USER@HOST:PORT/DB (SWITCHBOARD_DB)")
	name := fs.String("name", "", "account name")
	email := fs.String("admin-email", "", "e-mail of the account's first administrator")
	password := fs.String("admin-password", "", "password of the account's first administrator")
	adminName := fs.String("admin-name", "Administrator", "name of the account's first administrator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := store.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	account, user, err := st.CreateAccountWithAdministrator(ctx, *name, *adminName, *email, *password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "account %d %q created; administrator %s (user %d), access token %s\n",
		account.ID, account.Name, user.Email, user.ID, user.AccessToken)
	return nil
}

// browserURL is where a browser on this machine reaches a listener on addr.
func browserURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
