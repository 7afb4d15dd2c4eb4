// Command switchboard-bench is Switchboard's load generator. It starts
// `switchboard serve` itself (on a fresh SQLite file, or a fresh schema of a
// PostgreSQL server) or targets a running server, sets up accounts, inboxes
// and agents through the API, drives it over HTTP on loopback with a fixed
// concurrency or a fixed request rate, and prints throughput and latency
// percentiles. Beside it, in the same run, it drives a baseline: a bare
// net/http handler that inserts one row into SQLite with the same durability.
//
// Scenarios (-scenario, comma-separated, or "all"):
//
//	create      create + auto-assign, and the baseline; Switchboard/baseline ratio
//	assign      manual assignment of existing conversations
//	offline     an agent holding -offline-conversations goes offline: time until
//	            all are reassigned, and the latency of other requests meanwhile
//	pick-scale  cost of one create+pick as stored conversations grow 10^3..10^6
//	            and as inbox members grow 10..10^4
//	processes   1 vs 3 processes on PostgreSQL, then the +-1 fairness check
//	mixed       creates, assignments, availability, member and role changes at
//	            once on 3 processes sharing PostgreSQL (or 1 on SQLite): their
//	            latency, and the deadlocks PostgreSQL broke meanwhile
//
// -smoke runs every scenario tiny, in seconds, for CI.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if to := os.Getenv(relayEnv); to != "" {
		if err := runRelay(to); err != nil {
			fmt.Fprintln(os.Stderr, "switchboard-bench relay:", err)
			os.Exit(1)
		}
		return
	}
	// The load generator measures latency, so its own garbage collections
	// should not show in the figures: it collects less often than Go's
	// default unless GOGC says otherwise. (The servers it starts keep the
	// default; the in-process baseline shares this setting.)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-bench:", err)
		os.Exit(1)
	}
	if rep.failed() {
		os.Exit(1)
	}
}

var allScenarios = []string{"create", "assign", "offline", "pick-scale", "processes", "mixed"}

type options struct {
	scenarios []string
	smoke     bool

	binary   string // switchboard binary; built when empty
	url      string // a running server instead of starting one
	db       string // postgres URL to run on, or (with -url) the running server's database
	postgres string // PostgreSQL server of the processes scenario
	email    string
	password string
	account  int64

	load                 load
	agents               int
	inboxes              int
	rounds               int
	direct               bool
	relay                string
	shareCores           bool
	advertise            string
	offlineConversations int
	offlineClients       []string
	pickMaxConversations int
	pickMaxMembers       int
	pickN                int
	baseline             bool
	consoles             int
	agentConsoles        int
	webhooks             int
	webhookLatency       time.Duration
	deadWebhooks         int
	timeout              time.Duration
	cpuprofile           string
	jsonOut              string
	keepLogs             bool
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("switchboard-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenario", "create", "scenarios to run, comma-separated: "+strings.Join(allScenarios, ", ")+", or all")
	fs.BoolVar(&o.smoke, "smoke", false, "run every scenario tiny (seconds), for CI; overrides the sizes")
	fs.StringVar(&o.binary, "switchboard", "", "path of the switchboard binary; empty builds it with go build (run inside the module)")
	fs.StringVar(&o.url, "url", "", "drive this running server (e.g. http://127.0.0.1:3000) instead of starting one")
	fs.StringVar(&o.db, "db", "", "without -url: a postgres:// URL to start switchboard on (a fresh schema per scenario); empty is a fresh SQLite file. With -url: the running server's database (sqlite:PATH or postgres://...), needed by offline and pick-scale to seed and check")
	fs.StringVar(&o.postgres, "postgres", os.Getenv("SWITCHBOARD_TEST_POSTGRES"), "PostgreSQL server of the processes scenario (default $SWITCHBOARD_TEST_POSTGRES); empty skips it")
	fs.StringVar(&o.email, "email", envOr("SWITCHBOARD_ADMIN_EMAIL", "bench-admin@example.com"), "administrator e-mail (SWITCHBOARD_ADMIN_EMAIL); given to the servers the bench starts")
	fs.StringVar(&o.password, "password", envOr("SWITCHBOARD_ADMIN_PASSWORD", "bench-admin-password"), "administrator password (SWITCHBOARD_ADMIN_PASSWORD)")
	fs.Int64Var(&o.account, "account", 0, "account id to work in (default: the administrator's first account)")
	fs.IntVar(&o.load.Concurrency, "c", 16, "concurrency: closed-loop workers, or the in-flight cap with -rate")
	fs.Float64Var(&o.load.Rate, "rate", 0, "fixed request rate per second (open loop); 0 is a closed loop")
	fs.IntVar(&o.load.N, "n", 20000, "at most this many requests per measurement")
	fs.DurationVar(&o.load.Duration, "duration", 15*time.Second, "at most this long per measurement")
	fs.IntVar(&o.agents, "agents", 5, "online agents in the inbox of create, assign and processes")
	fs.IntVar(&o.rounds, "rounds", 6, "processes: slices each measurement is cut into, taken in turn (1 process, 3, 3, 1, 1, 3, ...) so that the machine's drift weighs on both alike; even numbers balance the order")
	fs.StringVar(&o.advertise, "advertise", "auto", "the --advertise of the servers the bench starts: auto (each may lead inboxes, the others forward to it), or off (each makes its own creates)")
	fs.BoolVar(&o.shareCores, "share-cores", true, "processes, mixed: run each of the n servers that share this machine with GOMAXPROCS = cores / n (at least 1), as one sizes processes that share a machine; false leaves Go's default, every server scheduling on every core")
	fs.BoolVar(&o.direct, "direct", false, "processes: send every create to the first process, which then leads every inbox, instead of spreading them (a control: three processes without a create forwarded)")
	fs.StringVar(&o.relay, "relay", "", "processes: send the creates meant for the other processes to the first one through a relay that copies their bytes (process: a relay process each, with the servers' GOMAXPROCS; bench: goroutines of the bench), so that the first makes them all: the cheapest hop, the floor of any design where a create is made by another process than the one it reached")
	fs.IntVar(&o.inboxes, "inboxes", 1, "processes: inboxes the creates are spread over, round robin, each with the same agents (1 is the worst case: every create takes the same routing lock)")
	fs.IntVar(&o.offlineConversations, "offline-conversations", 10000, "open conversations the agent holds when going offline")
	offlineClients := fs.String("offline-clients", strings.Join(offlineClientKinds, ","), "offline: the sequential clients that run while the agent goes offline, comma-separated: "+strings.Join(offlineClientKinds, ", ")+", or none (each keeps a request in flight, so together they take the cores' time from the reassignment)")
	fs.IntVar(&o.pickMaxConversations, "pick-max-conversations", 1_000_000, "largest stored-conversation count of pick-scale (powers of 10 from 1000)")
	fs.IntVar(&o.pickMaxMembers, "pick-max-members", 10000, "largest inbox of pick-scale (powers of 10 from 10)")
	fs.IntVar(&o.pickN, "pick-n", 300, "sequential creates measured at each pick-scale point")
	fs.BoolVar(&o.baseline, "baseline", true, "also drive the bare net/http+SQLite baseline in the create scenario")
	fs.IntVar(&o.agentConsoles, "agent-consoles", 0, "create: keep a console open for each of this many agents, members of another inbox only: each checks every create's change and must hear none")
	fs.IntVar(&o.consoles, "consoles", 0, "create: keep this many live-update streams of the web console open while measuring, as a team's open browser tabs: each rereads its page of conversations after the events it hears, as the console does")
	fs.IntVar(&o.webhooks, "webhooks", 0, "create: subscribe this many webhooks of the account to every event, posting to a receiver in the bench, as an account with integrations; the report gives how long the deliveries took to arrive after the last create")
	fs.DurationVar(&o.webhookLatency, "webhook-latency", 0, "with -webhooks: the receiver answers each delivery after this long, as one across a network would")
	fs.IntVar(&o.deadWebhooks, "dead-webhooks", 0, "with -webhooks: subscribe this many more webhooks to every event, posting to a receiver that takes each delivery and never answers (an integration gone dark); the deliveries of -webhooks must still all arrive")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write the bench process's CPU profile here (covers the client and the in-process baseline, not the server)")
	fs.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.BoolVar(&o.keepLogs, "server-logs", false, "print the tail of each server's log after its scenario")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *scenarios == "all" {
		o.scenarios = allScenarios
	} else {
		for s := range strings.SplitSeq(*scenarios, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allScenarios, s) {
				return nil, fmt.Errorf("unknown scenario %q (want %s or all)", s, strings.Join(allScenarios, ", "))
			}
			o.scenarios = append(o.scenarios, s)
		}
	}
	if *offlineClients != "none" {
		for c := range strings.SplitSeq(*offlineClients, ",") {
			c = strings.TrimSpace(c)
			if !slices.Contains(offlineClientKinds, c) {
				return nil, fmt.Errorf("-offline-clients: unknown client %q (want %s, or none)", c, strings.Join(offlineClientKinds, ", "))
			}
			o.offlineClients = append(o.offlineClients, c)
		}
	}
	if o.url != "" && !strings.HasPrefix(o.url, "http://127.0.0.1") && !strings.HasPrefix(o.url, "http://localhost") && !strings.HasPrefix(o.url, "http://[::1]") {
		return nil, fmt.Errorf("-url %s: the bench drives loopback servers only", o.url)
	}
	if o.url == "" && o.db != "" && !isPostgres(o.db) {
		return nil, errors.New("-db without -url must be a postgres:// URL (SQLite files are made fresh per scenario)")
	}
	if o.smoke {
		o.load = load{Concurrency: 4, N: 40, Duration: 5 * time.Second}
		o.agents = 3
		o.offlineConversations = 200
		o.pickMaxConversations = 10_000
		o.pickMaxMembers = 100
		o.pickN = 10
		o.rounds = 2
	}
	if o.consoles < 0 || o.agentConsoles < 0 || o.webhooks < 0 || o.webhookLatency < 0 || o.deadWebhooks < 0 {
		return nil, errors.New("-consoles, -agent-consoles, -webhooks, -webhook-latency and -dead-webhooks must not be negative")
	}
	if o.deadWebhooks > 0 && o.webhooks == 0 {
		return nil, errors.New("-dead-webhooks needs -webhooks: the report measures the live ones beside the dead")
	}
	if o.load.N < 1 || o.load.Duration <= 0 || o.load.Concurrency < 1 {
		return nil, errors.New("-n, -duration and -c must be positive")
	}
	if o.rounds < 1 || o.rounds > o.load.N {
		return nil, errors.New("-rounds must be positive and at most -n")
	}
	if o.agents < 2 {
		return nil, errors.New("-agents must be at least 2")
	}
	if o.relay != "" && o.relay != relayProcess && o.relay != relayInBench {
		return nil, fmt.Errorf("-relay %q: want %s or %s", o.relay, relayProcess, relayInBench)
	}
	if (o.relay != "" || o.direct) && !slices.Contains(o.scenarios, "processes") {
		return nil, errors.New("-relay and -direct are controls of the processes scenario: give -scenario processes")
	}
	if o.relay != "" && o.direct {
		return nil, errors.New("-relay and -direct are two controls: give one")
	}
	if o.advertise != "auto" && o.advertise != "off" {
		return nil, fmt.Errorf("-advertise %q: want auto or off", o.advertise)
	}
	return o, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// result is one measurement.
type result struct {
	Scenario string `json:"scenario"`
	Name     string `json:"name"`
	Load     string `json:"load"`
	stats
	Extra map[string]float64 `json:"extra,omitempty"`
}

// check is a correctness condition a scenario verified afterwards; a failed
// check fails the run.
type check struct {
	Scenario string `json:"scenario"`
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail"`
}

// goal is a performance target of the issue, met or not; it never fails
// the run.
type goal struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Met      bool   `json:"met"`
	Measured string `json:"measured"`
}

type report struct {
	Date    time.Time `json:"date"`
	Machine string    `json:"machine"`
	Disk    stats     `json:"disk_fsync"` // probeDisk
	Args    []string  `json:"args"`
	Results []result  `json:"results"`
	Checks  []check   `json:"checks"`
	Goals   []goal    `json:"goals"`
	Skipped []string  `json:"skipped"`
	Errors  []string  `json:"errors"`

	out io.Writer
}

func (r *report) add(res result) {
	r.Results = append(r.Results, res)
	fmt.Fprintf(r.out, "  %-12s %-30s %8d ok %5d err %10.1f/s  p50 %9s  p90 %9s  p99 %9s  max %9s  [%s]\n",
		res.Scenario, res.Name, res.Count, res.Errors, res.Throughput, ms(res.P50), ms(res.P90), ms(res.P99), ms(res.Max), res.Load)
	if res.FirstError != "" {
		fmt.Fprintf(r.out, "      first error: %s\n", res.FirstError)
	}
	for _, k := range sortedKeys(res.Extra) {
		fmt.Fprintf(r.out, "      %s = %.3f\n", k, res.Extra[k])
	}
}

func (r *report) check(scenario, name string, ok bool, format string, args ...any) {
	c := check{scenario, name, ok, fmt.Sprintf(format, args...)}
	r.Checks = append(r.Checks, c)
	verdict := "ok"
	if !ok {
		verdict = "FAILED"
	}
	fmt.Fprintf(r.out, "  check %-8s %s: %s\n", verdict, name, c.Detail)
}

func (r *report) goal(scenario, target string, met bool, format string, args ...any) {
	g := goal{scenario, target, met, fmt.Sprintf(format, args...)}
	r.Goals = append(r.Goals, g)
}

func (r *report) failed() bool {
	if len(r.Errors) > 0 {
		return true
	}
	for _, c := range r.Checks {
		if !c.OK {
			return true
		}
	}
	for _, res := range r.Results {
		if res.Errors > 0 {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func machine() string {
	mem := "?"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb float64
				fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
				mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	host, _ := os.Hostname()
	loadavg := "?"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		loadavg = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return fmt.Sprintf("%s %s/%s, %d CPUs (nproc), %s RAM, %s, load average %s at start",
		host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), mem, runtime.Version(), loadavg)
}

// run parses args, runs the scenarios and prints the report to out. err is
// set when the bench could not run at all; failures of a scenario are in the
// report (report.failed).
func run(ctx context.Context, args []string, out io.Writer) (*report, error) {
	o, err := parseOptions(args, out)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	rep := &report{Date: time.Now().UTC(), Machine: machine(), Args: args, out: out}
	fmt.Fprintf(out, "switchboard-bench %s\n%s\n%s\n", strings.Join(args, " "), rep.Date.Format(time.RFC3339), rep.Machine)

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}

	tempDir, err := os.MkdirTemp("", "switchboard-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tempDir)
	probe := 2 * time.Second
	if o.smoke {
		probe = 100 * time.Millisecond
	}
	disk, err := probeDisk(ctx, tempDir, probe)
	if err != nil {
		return nil, fmt.Errorf("probing the disk: %w", err)
	}
	rep.Disk = disk
	fmt.Fprintf(out, "%s (in %s, where the SQLite files go)\n", disk.diskLine(), os.TempDir())
	e := &env{opts: o, tempDir: tempDir, http: newHTTPClient(max(o.load.Concurrency, 16)), log: out}
	e.binary = o.binary
	if e.binary == "" && (o.url == "" || slices.Contains(o.scenarios, "processes")) {
		fmt.Fprintln(out, "building switchboard...")
		if e.binary, err = buildSwitchboard(ctx, tempDir); err != nil {
			return nil, err
		}
	}

	scenarios := map[string]func(context.Context, *env, *report) error{
		"create":     scenarioCreate,
		"assign":     scenarioAssign,
		"offline":    scenarioOffline,
		"pick-scale": scenarioPickScale,
		"processes":  scenarioProcesses,
		"mixed":      scenarioMixed,
	}
	for _, name := range o.scenarios {
		fmt.Fprintf(out, "\n== %s\n", name)
		start := time.Now()
		if err := scenarios[name](ctx, e, rep); err != nil {
			var skip skipError
			if errors.As(err, &skip) {
				rep.Skipped = append(rep.Skipped, name+": "+skip.why)
				fmt.Fprintf(out, "  skipped: %s\n", skip.why)
				continue
			}
			rep.Errors = append(rep.Errors, name+": "+err.Error())
			fmt.Fprintf(out, "  ERROR: %v\n", err)
		}
		fmt.Fprintf(out, "  (%s in %.1fs)\n", name, time.Since(start).Seconds())
	}

	if len(rep.Goals) > 0 {
		fmt.Fprintf(out, "\n== targets\n")
		for _, g := range rep.Goals {
			verdict := "MET    "
			if !g.Met {
				verdict = "NOT MET"
			}
			fmt.Fprintf(out, "  %s %-10s %s: %s\n", verdict, g.Scenario, g.Target, g.Measured)
		}
	}
	if o.jsonOut != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return rep, err
		}
		if err := os.WriteFile(o.jsonOut, data, 0o644); err != nil {
			return rep, err
		}
	}
	if rep.failed() {
		fmt.Fprintln(out, "\nFAILED: see the errors and checks above")
	}
	return rep, nil
}

// skipError says a scenario cannot run here, and why.
type skipError struct{ why string }

func (s skipError) Error() string { return "skipped: " + s.why }
