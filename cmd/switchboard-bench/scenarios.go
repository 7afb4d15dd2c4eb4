package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// mainPostgres is the PostgreSQL server the ordinary scenarios start
// switchboard on, or empty for SQLite.
func (e *env) mainPostgres() string {
	if e.opts.url == "" && isPostgres(e.opts.db) {
		return e.opts.db
	}
	return ""
}

func backendName(dsn string) string {
	switch {
	case dsn == "":
		return "server"
	case isPostgres(dsn):
		return "postgres"
	}
	return "sqlite"
}

// finish stops the target, printing its logs first when asked or when the
// scenario failed.
func (e *env) finish(t *target, err *error) {
	if *err != nil || e.opts.keepLogs {
		fmt.Fprint(e.log, t.logs())
	}
	t.stop()
}

// setupInbox signs the administrator in on the target's first process and
// creates an inbox with agents online agents as its members.
func (e *env) setupInbox(ctx context.Context, t *target, agents int) (*client, int64, []int64, error) {
	admin, err := e.signIn(ctx, t.urls[0])
	if err != nil {
		return nil, 0, nil, err
	}
	tag := runTag()
	inbox, err := admin.createInbox(ctx, "Bench "+tag)
	if err != nil {
		return nil, 0, nil, err
	}
	ids, err := admin.createAgents(ctx, agents, tag)
	if err != nil {
		return nil, 0, nil, err
	}
	if err := admin.addMembers(ctx, inbox, ids); err != nil {
		return nil, 0, nil, err
	}
	return admin, inbox, ids, nil
}

// createOp creates an open conversation in inbox through one of clients
// (round robin) and fails unless it came back auto-assigned.
func createOp(clients []*client, inbox int64) op {
	return func(ctx context.Context, k int) error {
		i := (k%len(clients) + len(clients)) % len(clients) // warm-ups have k < 0
		conv, err := clients[i].createConversation(ctx, inbox, k, nil)
		if err != nil {
			return err
		}
		if conv.Meta.Assignee == nil {
			return fmt.Errorf("conversation %d came back unassigned", conv.ID)
		}
		return nil
	}
}

// warm sends a few requests first, so connections are open and caches warm.
func warm(ctx context.Context, n int, o op) error {
	for k := range n {
		if err := o(ctx, -1-k); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

const warmups = 10

// checkFair checks ROUTING.md's promise on an inbox whose online members did
// not change: the auto-assigned counts differ by at most one, and add up to
// want.
func checkFair(ctx context.Context, rep *report, scenario, dsn string, inbox int64, agents []int64, want int) error {
	s, err := openSeeder(dsn)
	if err != nil {
		return err
	}
	defer s.close()
	counts, err := s.autoCounts(ctx, inbox)
	if err != nil {
		return err
	}
	lo, hi, total := -1, 0, 0
	for _, a := range agents {
		n := counts[a]
		total += n
		hi = max(hi, n)
		if lo < 0 || n < lo {
			lo = n
		}
	}
	rep.check(scenario, "round robin fair to +-1", hi-lo <= 1 && total == want && len(counts) == len(agents),
		"auto-assigned per agent %v: min %d, max %d, total %d (want %d)", countsInOrder(counts, agents), lo, hi, total, want)
	return nil
}

func countsInOrder(counts map[int64]int, agents []int64) []int {
	out := make([]int, 0, len(agents))
	for _, a := range agents {
		out = append(out, counts[a])
	}
	return out
}

func scenarioCreate(ctx context.Context, e *env, rep *report) (err error) {
	l := e.opts.load
	t, err := e.startTarget(ctx, "create", 1, e.mainPostgres())
	if err != nil {
		return err
	}
	defer e.finish(t, &err)
	admin, inbox, agents, err := e.setupInbox(ctx, t, e.opts.agents)
	if err != nil {
		return err
	}
	var hooks *receiver
	if e.opts.webhooks > 0 {
		if hooks, err = startReceiver(e.opts.webhookLatency); err != nil {
			return err
		}
		defer hooks.close()
		if err := admin.createWebhooks(ctx, e.opts.webhooks, hooks.url); err != nil {
			return err
		}
	}
	if e.opts.deadWebhooks > 0 {
		dead, err := startDeadReceiver()
		if err != nil {
			return err
		}
		defer dead.close()
		if err := admin.createWebhooks(ctx, e.opts.deadWebhooks, dead.url); err != nil {
			return err
		}
	}
	o := createOp([]*client{admin}, inbox)
	if err := warm(ctx, warmups, o); err != nil {
		return err
	}
	var cs, as *consoles
	if e.opts.consoles > 0 {
		c, cctx := newConsoles(ctx)
		defer c.close()
		if err := c.open(cctx, admin.base, e.opts.email, e.opts.password, admin.account, e.opts.consoles); err != nil {
			return err
		}
		cs = c
	}
	if e.opts.agentConsoles > 0 {
		c, cctx := newConsoles(ctx)
		defer c.close()
		if err := c.openAgentConsoles(cctx, admin, e.opts.agentConsoles); err != nil {
			return err
		}
		as = c
	}
	st := drive(ctx, l, o)
	res := result{Scenario: "create", Name: "switchboard " + backendName(t.db), Load: l.String(), stats: st, Extra: map[string]float64{}}
	if cs != nil {
		cs.await(ctx, int64(cs.n), 5*time.Second) // the streams may be a moment behind
		res.Load += fmt.Sprintf(" consoles=%d", cs.n)
		per := float64(cs.n) * st.Elapsed.Seconds()
		res.Extra["console events per console per s"] = float64(cs.events.Load()) / per
		res.Extra["console rereads per console per s"] = float64(cs.rereads.Load()) / per
	}
	if as != nil {
		res.Load += fmt.Sprintf(" agent-consoles=%d", as.n)
	}
	var wantHooks, gotHooks int64
	if hooks != nil {
		// Every acknowledged create's deliveries must arrive; how long
		// after the last create they do is the sender's lag.
		wantHooks = int64(e.opts.webhooks) * deliveriesPerCreate * int64(st.Count+warmups)
		end := time.Now()
		gotHooks = hooks.await(ctx, wantHooks, 30*time.Second)
		res.Load += fmt.Sprintf(" webhooks=%d latency=%s", e.opts.webhooks, e.opts.webhookLatency)
		if e.opts.deadWebhooks > 0 {
			res.Load += fmt.Sprintf(" dead-webhooks=%d", e.opts.deadWebhooks)
		}
		res.Extra["webhook deliveries"] = float64(gotHooks)
		res.Extra["webhook deliveries done, s after the last create"] = max(0, hooks.lastAt().Sub(end).Seconds())
	}
	rep.add(res)
	if hooks != nil {
		rep.check("create", "every webhook delivery arrived", gotHooks == wantHooks, "%d of %d", gotHooks, wantHooks)
	}
	rep.check("create", "creates acknowledged and auto-assigned", st.Count > 0 && st.Errors == 0, "%d ok, %d errors", st.Count, st.Errors)
	if cs != nil {
		heard := cs.events.Load()
		rep.check("create", "open consoles heard of the creates and reread", (st.Count == 0 || heard >= int64(cs.n)) && cs.failed.Load() == 0,
			"%d events and %d rereads on %d consoles, %d rereads failed", heard, cs.rereads.Load(), cs.n, cs.failed.Load())
	}
	if as != nil {
		rep.check("create", "agents' consoles heard nothing of an inbox not theirs", as.events.Load() == 0,
			"%d events on %d consoles", as.events.Load(), as.n)
	}
	if t.db != "" {
		if err := checkFair(ctx, rep, "create", t.db, inbox, agents, st.Count+warmups); err != nil {
			return err
		}
	}
	if l.Rate > 0 {
		rep.goal("create", fmt.Sprintf("p99 < 5 ms at %.0f creates/s", l.Rate),
			st.P99 < 5*time.Millisecond && st.Throughput >= 0.95*l.Rate,
			"achieved %.0f/s, p99 %s", st.Throughput, ms(st.P99))
	}
	if !e.opts.baseline {
		return nil
	}
	b, err := startBaseline(e.tempDir)
	if err != nil {
		return err
	}
	defer b.close()
	bc := &client{base: b.url, token: b.token, account: 1, http: e.http}
	bo := func(ctx context.Context, k int) error {
		conv, err := bc.createConversation(ctx, 1, k, nil)
		if err == nil && conv.ID == 0 {
			err = errors.New("baseline reply without id")
		}
		return err
	}
	if err := warm(ctx, warmups, bo); err != nil {
		return err
	}
	bst := drive(ctx, l, bo)
	ratio := st.Throughput / bst.Throughput
	rep.add(result{Scenario: "create", Name: "baseline net/http+SQLite", Load: l.String(), stats: bst, Extra: map[string]float64{
		"switchboard/baseline throughput": ratio,
		"switchboard/baseline p99":        float64(st.P99) / float64(bst.P99),
	}})
	rows, err := b.count(ctx)
	if err != nil {
		return err
	}
	rep.check("create", "baseline stored every acknowledged row", bst.Errors == 0 && rows == bst.Count+warmups, "%d rows, %d acknowledged", rows, bst.Count+warmups)
	if l.Rate > 0 {
		rep.goal("create", fmt.Sprintf("throughput >= baseline at %.0f/s", l.Rate), st.Throughput >= 0.99*bst.Throughput,
			"%.0f/s vs %.0f/s (p99 %s vs %s)", st.Throughput, bst.Throughput, ms(st.P99), ms(bst.P99))
	} else {
		rep.goal("create", fmt.Sprintf("throughput >= baseline at concurrency %d", l.Concurrency), ratio >= 1,
			"%.0f/s vs %.0f/s = %.2fx", st.Throughput, bst.Throughput, ratio)
	}
	return nil
}

func scenarioAssign(ctx context.Context, e *env, rep *report) (err error) {
	l := e.opts.load
	t, err := e.startTarget(ctx, "assign", 1, e.mainPostgres())
	if err != nil {
		return err
	}
	defer e.finish(t, &err)
	admin, inbox, agents, err := e.setupInbox(ctx, t, e.opts.agents)
	if err != nil {
		return err
	}
	// A pool of conversations, more than can be in flight, so that two
	// requests rarely touch the same one; each assignment moves its
	// conversation to the next agent, so none is a no-op.
	pool := min(max(l.N/4, 4*l.Concurrency), 1000)
	ids := make([]int64, pool)
	current := make([]atomic.Int64, pool)
	index := map[int64]int64{}
	for i, a := range agents {
		index[a] = int64(i)
	}
	setup := drive(ctx, load{Concurrency: l.Concurrency, N: pool, Duration: 5 * time.Minute}, func(ctx context.Context, k int) error {
		conv, err := admin.createConversation(ctx, inbox, k, nil)
		if err != nil {
			return err
		}
		if conv.Meta.Assignee == nil {
			return errors.New("unassigned")
		}
		ids[k] = conv.ID
		current[k].Store(index[conv.Meta.Assignee.ID])
		return nil
	})
	if setup.Errors > 0 || setup.Count != pool {
		return fmt.Errorf("creating %d conversations: %d ok, %d errors: %s", pool, setup.Count, setup.Errors, setup.FirstError)
	}
	o := func(ctx context.Context, k int) error {
		i := k % pool
		if k < 0 {
			i = -k % pool
		}
		next := (current[i].Load() + 1) % int64(len(agents))
		var a struct {
			ID int64 `json:"id"`
		}
		err := admin.call(ctx, "POST", admin.accountPath("/conversations/%d/assignments", ids[i]), map[string]any{"assignee_id": agents[next]}, &a)
		if err != nil {
			return err
		}
		if a.ID != agents[next] {
			return fmt.Errorf("assigned %d, reply names %d", agents[next], a.ID)
		}
		current[i].Store(next)
		return nil
	}
	if err := warm(ctx, warmups, o); err != nil {
		return err
	}
	st := drive(ctx, l, o)
	rep.add(result{Scenario: "assign", Name: "switchboard " + backendName(t.db), Load: l.String(), stats: st,
		Extra: map[string]float64{"conversations in the pool": float64(pool)}})
	rep.check("assign", "assignments acknowledged", st.Count > 0 && st.Errors == 0, "%d ok, %d errors", st.Count, st.Errors)
	return nil
}

// timed is one background request of the offline scenario.
type timed struct {
	start, end time.Time
	err        error
}

// background sends o in a loop until ctx ends, recording each request.
func background(ctx context.Context, o op) []timed {
	var out []timed
	for k := 0; ctx.Err() == nil; k++ {
		start := time.Now()
		err := o(context.WithoutCancel(ctx), k)
		out = append(out, timed{start, time.Now(), err})
	}
	return out
}

// during summarizes the requests that overlapped [from, to]; with inside,
// only those that started and ended in it.
func during(reqs []timed, from, to time.Time, inside bool) stats {
	var lats []time.Duration
	var errs int
	var firstErr error
	for _, r := range reqs {
		if r.start.After(to) || r.end.Before(from) || inside && (r.start.Before(from) || r.end.After(to)) {
			continue
		}
		if r.err != nil {
			errs++
			firstErr = cmpErr(firstErr, r.err)
			continue
		}
		lats = append(lats, r.end.Sub(r.start))
	}
	return summarize(lats, errs, firstErr, to.Sub(from))
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func scenarioOffline(ctx context.Context, e *env, rep *report) (err error) {
	t, err := e.startTarget(ctx, "offline", 1, e.mainPostgres())
	if err != nil {
		return err
	}
	defer e.finish(t, &err)
	if t.db == "" {
		return skipError{"needs the server's database (-db with -url) to seed the conversations"}
	}
	n := e.opts.offlineConversations
	admin, inbox, agents, err := e.setupInbox(ctx, t, 3)
	if err != nil {
		return err
	}
	leaving, stay := agents[0], agents[1:]
	// Other traffic goes to another inbox with its own agent.
	other, err := admin.createInbox(ctx, "Bench other "+runTag())
	if err != nil {
		return err
	}
	otherAgent, err := admin.createAgents(ctx, 1, runTag())
	if err != nil {
		return err
	}
	if err := admin.addMembers(ctx, other, otherAgent); err != nil {
		return err
	}
	readConv, err := admin.createConversation(ctx, other, 0, nil)
	if err != nil {
		return err
	}
	s, err := openSeeder(t.db)
	if err != nil {
		return err
	}
	defer s.close()
	seedStart := time.Now()
	if err := s.assignTo(ctx, admin.account, inbox, n, leaving); err != nil {
		return err
	}
	held, err := s.heldBy(ctx, admin.account, leaving)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.log, "  seeded %d open conversations held by user %d in %.1fs\n", held, leaving, time.Since(seedStart).Seconds())
	if held != n {
		return fmt.Errorf("seeded %d conversations, the agent holds %d", n, held)
	}
	writeOp := func(ctx context.Context, k int) error {
		_, err := admin.createConversation(ctx, other, k, nil)
		return err
	}
	readOp := func(ctx context.Context, k int) error {
		return admin.call(ctx, "GET", admin.accountPath("/conversations/%d", readConv.ID), nil, nil)
	}
	// Creates in the leaving agent's own inbox, which take the routing lock
	// that the reassignment holds while it moves a step; given to the
	// administrator, they leave the rotation and the counts below alone.
	sameOp := func(ctx context.Context, k int) error {
		_, err := admin.createConversation(ctx, inbox, k, &admin.user)
		return err
	}
	if err := warm(ctx, warmups, writeOp); err != nil {
		return err
	}
	runs := func(kind string) bool { return slices.Contains(e.opts.offlineClients, kind) }
	bgCtx, stopBg := context.WithCancel(ctx)
	var writes, reads, same []timed
	var wg sync.WaitGroup
	if runs("creates") {
		wg.Go(func() { writes = background(bgCtx, writeOp) })
	}
	if runs("reads") {
		wg.Go(func() { reads = background(bgCtx, readOp) })
	}
	if runs("same-inbox") {
		wg.Go(func() { same = background(bgCtx, sameOp) })
	}
	settle := time.Second
	if e.opts.smoke {
		settle = 300 * time.Millisecond
	}
	time.Sleep(settle)
	cpu0, cerr := sampleCPU(ctx, e, t.urls)
	t0 := time.Now()
	perr := admin.call(ctx, "PATCH", admin.accountPath("/agents/%d", leaving), map[string]string{"availability": "offline"}, nil)
	t1 := time.Now()
	cpu1, cerr1 := sampleCPU(ctx, e, t.urls)
	time.Sleep(settle / 2)
	stopBg()
	wg.Wait()
	if perr != nil {
		return perr
	}
	if err := cmp.Or(cerr, cerr1); err != nil {
		return err
	}
	took := t1.Sub(t0)
	after, err := s.heldBy(ctx, admin.account, leaving)
	if err != nil {
		return err
	}
	var got []int
	for _, a := range stay {
		h, err := s.heldBy(ctx, admin.account, a)
		if err != nil {
			return err
		}
		got = append(got, h)
	}
	rep.add(result{Scenario: "offline", Name: fmt.Sprintf("reassign %d", n), Load: "one PATCH availability=offline",
		stats: stats{Count: n - after, Elapsed: took, Throughput: float64(n-after) / took.Seconds(), P50: took, P90: took, P99: took, Max: took, Mean: took}})
	fmt.Fprintf(rep.out, "  offline      meanwhile, %s\n", cpuDuring(cpu0, cpu1))
	rep.check("offline", "every conversation reassigned before the reply", after == 0 && got[0]+got[1] == n && absInt(got[0]-got[1]) <= 1,
		"leaving agent holds %d; the two online colleagues hold %v", after, got)
	rep.goal("offline", fmt.Sprintf("%d conversations reassigned in under 1 s", n), took < time.Second, "%s", ms(took))
	if len(e.opts.offlineClients) == 0 {
		fmt.Fprintf(rep.out, "  offline      no other client ran (-offline-clients none)\n")
		return nil
	}
	before := during(writes, t0.Add(-settle), t0, true)
	w := during(writes, t0, t1, false)
	r := during(reads, t0, t1, false)
	sw := during(same, t0, t1, false)
	if runs("creates") {
		rep.add(result{Scenario: "offline", Name: "other creates, before", Load: "1 sequential client, other inbox", stats: before})
		rep.add(result{Scenario: "offline", Name: "other creates, during", Load: "1 sequential client, other inbox", stats: w})
	}
	if runs("same-inbox") {
		rep.add(result{Scenario: "offline", Name: "same-inbox creates, during", Load: "1 sequential client, the agent's inbox", stats: sw})
	}
	if runs("reads") {
		rep.add(result{Scenario: "offline", Name: "other reads, during", Load: "1 sequential client", stats: r})
	}
	rep.check("offline", "other requests answered", w.Errors == 0 && r.Errors == 0 && sw.Errors == 0 &&
		(!runs("creates") || before.Count > 0) && (!runs("same-inbox") || sw.Count > 0) && (!runs("reads") || r.Count > 0),
		"errors: writes %d, same-inbox writes %d, reads %d; %s %s %s", w.Errors, sw.Errors, r.Errors, w.FirstError, sw.FirstError, r.FirstError)
	worst := max(w.Max, sw.Max, r.Max)
	rep.goal("offline", "other requests not blocked > 50 ms meanwhile", worst <= 50*time.Millisecond,
		"worst other write %s (same inbox %s), worst read %s", ms(w.Max), ms(sw.Max), ms(r.Max))
	return nil
}

// offlineClientKinds are the clients -offline-clients may run beside a
// reassignment: creates in another inbox, creates in the leaving agent's
// inbox (which wait for its steps' routing lock), and reads.
var offlineClientKinds = []string{"creates", "same-inbox", "reads"}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// powers returns from, 10*from, ... up to and including top.
func powers(from, top int) []int {
	var out []int
	for s := from; s <= top; s *= 10 {
		out = append(out, s)
	}
	return out
}

func scenarioPickScale(ctx context.Context, e *env, rep *report) (err error) {
	if e.opts.url != "" && e.opts.db == "" {
		return skipError{"needs the server's database (-db with -url) to seed members and conversations"}
	}
	l := load{Concurrency: 1, N: e.opts.pickN, Duration: 30 * time.Second}
	if err := pickAxis(ctx, e, rep, "members", powers(10, e.opts.pickMaxMembers), l); err != nil {
		return err
	}
	return pickAxis(ctx, e, rep, "conversations", powers(1000, e.opts.pickMaxConversations), l)
}

// pickAxis measures sequential creates in one inbox of a fresh server while
// the inbox's members (axis "members") or the stored conversations (axis
// "conversations", with 10 members) grow through sizes.
func pickAxis(ctx context.Context, e *env, rep *report, axis string, sizes []int, l load) (err error) {
	if len(sizes) == 0 {
		return nil
	}
	t, err := e.startTarget(ctx, "pick-"+axis, 1, e.mainPostgres())
	if err != nil {
		return err
	}
	defer e.finish(t, &err)
	admin, err := e.signIn(ctx, t.urls[0])
	if err != nil {
		return err
	}
	inbox, err := admin.createInbox(ctx, "Bench pick "+runTag())
	if err != nil {
		return err
	}
	s, err := openSeeder(t.db)
	if err != nil {
		return err
	}
	defer s.close()
	members := 0
	var lo, hi int64
	if axis == "conversations" {
		if lo, hi, err = s.members(ctx, admin.account, inbox, 10, runTag()); err != nil {
			return err
		}
		members = 10
	}
	o := createOp([]*client{admin}, inbox)
	var first stats
	var worst float64
	for i, size := range sizes {
		start := time.Now()
		switch axis {
		case "members":
			if _, _, err := s.members(ctx, admin.account, inbox, size-members, runTag()); err != nil {
				return err
			}
			members = size
		case "conversations":
			stored, err := s.countConversations(ctx, admin.account)
			if err != nil {
				return err
			}
			if size > stored {
				if err := s.conversations(ctx, admin.account, inbox, size-stored, lo, hi, 100); err != nil {
					return err
				}
			}
		}
		seeded := time.Since(start)
		stored, err := s.countConversations(ctx, admin.account)
		if err != nil {
			return err
		}
		if err := warm(ctx, warmups, o); err != nil {
			return err
		}
		st := drive(ctx, l, o)
		if i == 0 {
			first = st
		}
		ratio := float64(st.P50) / float64(first.P50)
		worst = max(worst, ratio)
		rep.add(result{Scenario: "pick-scale", Name: fmt.Sprintf("%s=%d", axis, size), Load: l.String(), stats: st, Extra: map[string]float64{
			"members": float64(members), "stored conversations": float64(stored), "p50 / smallest p50": ratio,
			"mean / smallest mean": float64(st.Mean) / float64(first.Mean), "seeding seconds": seeded.Seconds(),
		}})
		rep.check("pick-scale", fmt.Sprintf("%s=%d creates auto-assigned", axis, size), st.Count > 0 && st.Errors == 0, "%d ok, %d errors", st.Count, st.Errors)
	}
	rep.goal("pick-scale", fmt.Sprintf("pick flat in %s %d..%d (within 1.5x)", axis, sizes[0], sizes[len(sizes)-1]), worst <= 1.5,
		"worst p50 ratio %.2fx (sequential create over HTTP, %s)", worst, backendName(t.db))
	return nil
}

// scenarioProcesses compares one process with three on one PostgreSQL
// server. Both deployments run side by side, idle but for the one driven,
// and each measurement is cut into -rounds slices taken in turn (1, 3, 3,
// 1, 1, 3, ...): on a shared machine the speed drifts by a sixth over tens
// of seconds, and a comparison of two runs a minute apart measured the
// drift as much as the processes.
func scenarioProcesses(ctx context.Context, e *env, rep *report) (err error) {
	pg := e.opts.postgres
	if pg == "" {
		return skipError{"no PostgreSQL: set -postgres or SWITCHBOARD_TEST_POSTGRES"}
	}
	var runs []*processesRun
	for _, n := range []int{1, 3} {
		var r *processesRun
		if r, err = startProcesses(ctx, e, pg, n); err != nil {
			return err
		}
		defer e.finish(r.t, &err)
		runs = append(runs, r)
	}
	rounds := e.opts.rounds
	slice := sliceLoad(e.opts.load, rounds)
	var ratios []float64
	for i := range rounds {
		for _, k := range roundOrder(i) {
			if err := runs[k].measure(ctx, e, slice); err != nil {
				return err
			}
		}
		if one := runs[0].slices[i].Throughput; one > 0 {
			ratios = append(ratios, runs[1].slices[i].Throughput/one)
		}
	}
	var through []float64
	for _, r := range runs {
		st, err := r.report(ctx, e, rep, e.opts.load)
		if err != nil {
			return err
		}
		through = append(through, st.Throughput)
	}
	fmt.Fprintf(rep.out, "  processes    3 vs 1 process(es), slice by slice in the order measured (%s each): %s\n", slice, ratioList(ratios))
	rep.goal("processes", "3 processes on PostgreSQL not below 1", through[1] >= through[0] && through[0] > 0,
		"%.0f/s vs %.0f/s = %.2fx (slices: %s)", through[1], through[0], through[1]/through[0], ratioRange(ratios))
	return nil
}

// sliceLoad is the load of one of rounds slices of a measurement under l.
func sliceLoad(l load, rounds int) load {
	l.Duration /= time.Duration(rounds)
	l.N = max(1, l.N/rounds)
	return l
}

// roundOrder is the order in which round i measures the deployments (0:
// one process, 1: three): 0 1, 1 0, 0 1, ..., so that each is as often
// first as second over an even number of rounds.
func roundOrder(i int) []int {
	if i%2 == 1 {
		return []int{1, 0}
	}
	return []int{0, 1}
}

// ratioRange is the lowest and highest of ratios.
func ratioRange(ratios []float64) string {
	if len(ratios) == 0 {
		return "none measured"
	}
	return fmt.Sprintf("%.2f-%.2fx", slices.Min(ratios), slices.Max(ratios))
}

func ratioList(ratios []float64) string {
	var b strings.Builder
	for i, r := range ratios {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.2fx", r)
	}
	return b.String()
}

// processesRun is one deployment of the processes scenario: n processes
// on a fresh schema, with its inboxes, and what its slices measured.
type processesRun struct {
	n       int
	t       *target
	agents  []int64
	inboxes []int64
	created []atomic.Int64 // each inbox's creates
	create  op
	slices  []stats
	cpu     cpuSample // summed over the slices
}

func startProcesses(ctx context.Context, e *env, pg string, n int) (r *processesRun, err error) {
	t, err := e.startTarget(ctx, "processes", n, pg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			e.finish(t, &err)
		}
	}()
	admin, inbox, agents, err := e.setupInbox(ctx, t, e.opts.agents)
	if err != nil {
		return nil, err
	}
	r = &processesRun{n: n, t: t, agents: agents, inboxes: []int64{inbox}}
	for i := 1; i < e.opts.inboxes; i++ {
		id, err := admin.createInbox(ctx, fmt.Sprintf("Bench %s %d", runTag(), i))
		if err != nil {
			return nil, err
		}
		if err := admin.addMembers(ctx, id, agents); err != nil {
			return nil, err
		}
		r.inboxes = append(r.inboxes, id)
	}
	var clients []*client
	for _, u := range t.urls {
		clients = append(clients, admin.on(u))
	}
	if e.opts.direct {
		// The first process makes the first create of every inbox, so
		// it leads them all, and no create is forwarded.
		clients = clients[:1]
	}
	if e.opts.relay != "" {
		// The first process makes every create, as with -direct, and
		// those meant for the others reach it through relays.
		for i := 1; i < len(clients); i++ {
			u, stop, err := e.startRelay(ctx, e.opts.relay, t.urls[0], t.procs)
			if err != nil {
				return nil, err
			}
			t.onStop(func() {
				if err := stop(); err != nil {
					fmt.Fprintf(e.log, "relay: %v\n", err)
				}
			})
			clients[i] = admin.on(u)
		}
	}
	// Create k goes to process k mod processes (createOp) and to inbox
	// (k / processes) mod inboxes, so every process sees every inbox, as
	// behind a load balancer; created counts each inbox's creates.
	r.created = make([]atomic.Int64, len(r.inboxes))
	r.create = func(ctx context.Context, k int) error {
		i := (k/len(clients)%len(r.inboxes) + len(r.inboxes)) % len(r.inboxes)
		if err := createOp(clients, r.inboxes[i])(ctx, k); err != nil {
			return err
		}
		r.created[i].Add(1)
		return nil
	}
	if err := warm(ctx, warmups, r.create); err != nil {
		return nil, err
	}
	return r, nil
}

// measure drives one slice, and adds its CPU to the run's.
func (r *processesRun) measure(ctx context.Context, e *env, l load) error {
	before, err := sampleCPU(ctx, e, r.t.urls)
	if err != nil {
		return err
	}
	st := drive(ctx, l, r.create)
	after, err := sampleCPU(ctx, e, r.t.urls)
	if err != nil {
		return err
	}
	r.slices = append(r.slices, st)
	r.cpu.servers += after.servers - before.servers
	r.cpu.bench += after.bench - before.bench
	r.cpu.busy += after.busy - before.busy
	r.cpu.idle += after.idle - before.idle
	return nil
}

// report reports the run's slices as one measurement, its leaders and its
// fairness, and returns the measurement.
func (r *processesRun) report(ctx context.Context, e *env, rep *report, l load) (stats, error) {
	st := mergeStats(r.slices)
	cpu := cpuBetween(cpuSample{}, r.cpu, st.Count)
	if r.t.procs > 0 {
		fmt.Fprintf(rep.out, "  processes    %d process(es), each with GOMAXPROCS=%d (-share-cores)\n", r.n, r.t.procs)
	}
	name := fmt.Sprintf("%d process(es), postgres", r.n)
	if len(r.inboxes) > 1 {
		name += fmt.Sprintf(", %d inboxes", len(r.inboxes))
	}
	if e.opts.direct && r.n > 1 {
		name += ", all sent to one"
	}
	if e.opts.relay != "" && r.n > 1 {
		name += fmt.Sprintf(", relayed to one (%s)", e.opts.relay)
	}
	extra := map[string]float64{"switchboard CPU ms per create": cpu.servers, "bench CPU ms per create": cpu.bench, "slices": float64(len(r.slices))}
	if cpu.busy >= 0 {
		extra["other CPU ms per create"], extra["cores busy"] = cpu.rest, cpu.busy
	}
	rep.add(result{Scenario: "processes", Name: name, Load: fmt.Sprintf("%s, in %d slices", l, len(r.slices)), stats: st, Extra: extra})
	fmt.Fprintf(rep.out, "  processes    %d process(es): %s\n", r.n, cpu)
	rep.check("processes", fmt.Sprintf("%d process(es): creates acknowledged and auto-assigned", r.n), st.Count > 0 && st.Errors == 0, "%d ok, %d errors", st.Count, st.Errors)
	procs, err := reportLeaders(ctx, e, rep, r.t.urls)
	if err != nil {
		return st, err
	}
	if (e.opts.direct || e.opts.relay != "") && r.n > 1 {
		// The controls measure three processes of which one makes
		// every create, none forwarded: the others must have committed
		// nothing, nor sent the first anything.
		var commits, sent []float64
		others := 0.0
		for i, p := range procs {
			commits, sent = append(commits, p.commits), append(sent, p.sent)
			if i > 0 {
				others += p.commits + p.sent
			}
		}
		rep.check("processes", fmt.Sprintf("%d process(es): the first made every create", r.n), others == 0 && procs[0].sent == 0 && procs[0].commits > 0,
			"commits per process %v, requests from the other processes %v", commits, sent)
	}
	agents := slices.Sorted(slices.Values(r.agents))
	for i, id := range r.inboxes {
		if err := checkFair(ctx, rep, "processes", r.t.db, id, agents, int(r.created[i].Load())); err != nil {
			return st, err
		}
	}
	return st, nil
}

// reportLeaders says, for each process, how many creates shared a commit,
// how long a create's routing and insert took under the inbox's lock (the
// turns of one inbox follow each other, so this bounds its creates per
// second), and how many requests of creates other processes sent it (the
// inboxes it leads; cluster package), and returns these counts. The
// figures count the warm-up too.
func reportLeaders(ctx context.Context, e *env, rep *report, urls []string) ([]processCounts, error) {
	var all []processCounts
	for i, u := range urls {
		series, err := scrape(ctx, e, u)
		if err != nil {
			return nil, err
		}
		commits, writes := series["switchboard_writes_per_commit_count"], series["switchboard_writes_per_commit_sum"]
		perCommit := 0.0
		if commits > 0 {
			perCommit = writes / commits
		}
		var sent float64
		for name, v := range series {
			if strings.HasPrefix(name, `switchboard_http_request_seconds_count{route="/internal/v1/conversations"`) {
				sent += v
			}
		}
		picked := 0.0
		if n := series["switchboard_pick_seconds_count"]; n > 0 {
			picked = series["switchboard_pick_seconds_sum"] / n * 1000
		}
		fmt.Fprintf(rep.out, "  processes    process %d: %.0f commits, %.1f creates per commit, %.2f ms per create's routing and insert; %.0f requests from the other processes\n",
			i, commits, perCommit, picked, sent)
		all = append(all, processCounts{commits: commits, sent: sent})
	}
	return all, nil
}

// processCounts is what reportLeaders counted of one process: its commits,
// and the requests of creates the other processes sent it.
type processCounts struct {
	commits, sent float64
}
