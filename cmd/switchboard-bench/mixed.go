package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The mixed scenario: the writes of a support team's day at once, on three
// processes sharing one PostgreSQL database: creates, assignments by hand,
// agents going offline and coming back, inbox members added and removed,
// roles changed, conversations resolved and reopened. The writes that take
// several inboxes' routing locks (going offline, member and role changes)
// meet each other and the creates there; what it measures is the latency of
// all of them, and how many deadlocks PostgreSQL had to break (each costs
// its deadlock_timeout, a second, before one side is failed and retried).
// Without PostgreSQL it runs on one SQLite process.

// mixedShare is each kind of write's share of the requests, in percent.
var mixedShare = []struct {
	kind  string
	share int
}{
	{"create", 55}, {"assign", 10}, {"availability", 12}, {"members", 12}, {"role", 5}, {"status", 6},
}

func scenarioMixed(ctx context.Context, e *env, rep *report) (err error) {
	pg, processes := e.opts.postgres, 3
	if e.opts.db != "" && isPostgres(e.opts.db) {
		pg = e.opts.db
	}
	if pg == "" {
		processes = 1
	}
	t, err := e.startTarget(ctx, "mixed", processes, pg)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			e.finish(t, &err)
		}
	}()
	admin, err := e.signIn(ctx, t.urls[0])
	if err != nil {
		return err
	}
	tag := runTag()
	agents, err := admin.createAgents(ctx, 8, tag)
	if err != nil {
		return err
	}
	var inboxes []int64
	for i := range 4 {
		id, err := admin.createInbox(ctx, fmt.Sprintf("Mixed %s %d", tag, i))
		if err != nil {
			return err
		}
		// Each inbox starts with five of the eight agents.
		if err := admin.addMembers(ctx, id, []int64{agents[i], agents[i+1], agents[i+2], agents[i+3], agents[(i+4)%len(agents)]}); err != nil {
			return err
		}
		inboxes = append(inboxes, id)
	}
	var clients []*client
	for _, u := range t.urls {
		clients = append(clients, admin.on(u))
	}
	var mu sync.Mutex
	var convs []int64 // created so far, for the writes that need one
	pickConv := func(r *rand.Rand) (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(convs) == 0 {
			return 0, false
		}
		return convs[r.IntN(len(convs))], true
	}
	byKind := map[string][]time.Duration{}
	write := func(ctx context.Context, k int) (err error) {
		r := rand.New(rand.NewPCG(uint64(k), 7))
		c := clients[(k%len(clients)+len(clients))%len(clients)]
		agent := agents[r.IntN(len(agents))]
		inbox := inboxes[r.IntN(len(inboxes))]
		kind, roll := "", r.IntN(100)
		for _, s := range mixedShare {
			if roll < s.share {
				kind = s.kind
				break
			}
			roll -= s.share
		}
		conv, haveConv := pickConv(r)
		if kind != "create" && kind != "availability" && kind != "members" && kind != "role" && !haveConv {
			kind = "create"
		}
		start := time.Now()
		defer func() {
			if err == nil {
				mu.Lock()
				byKind[kind] = append(byKind[kind], time.Since(start))
				mu.Unlock()
			}
		}()
		switch kind {
		case "create":
			var reply conversationReply
			if reply, err = c.createConversation(ctx, inbox, k, nil); err == nil {
				mu.Lock()
				convs = append(convs, reply.ID)
				mu.Unlock()
			}
		case "assign":
			err = c.call(ctx, "POST", c.accountPath("/conversations/%d/assignments", conv), map[string]any{"assignee_id": agent}, nil)
		case "availability":
			err = c.call(ctx, "PATCH", c.accountPath("/agents/%d", agent), map[string]any{"availability": []string{"online", "offline", "busy"}[r.IntN(3)]}, nil)
		case "members":
			method := []string{"POST", "DELETE"}[r.IntN(2)]
			err = c.call(ctx, method, c.accountPath("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{agent}}, nil)
		case "role":
			err = c.call(ctx, "PATCH", c.accountPath("/agents/%d", agent), map[string]any{"role": []string{"agent", "administrator"}[r.IntN(2)]}, nil)
		case "status":
			err = c.call(ctx, "POST", c.accountPath("/conversations/%d/toggle_status", conv), map[string]any{"status": []string{"resolved", "open", "pending"}[r.IntN(3)]}, nil)
		}
		// Refusals are answers too: an assignee who is not a member, a
		// member already there or already gone.
		if se, ok := errors.AsType[*statusError](err); ok && se.status == http.StatusUnprocessableEntity {
			err = nil
		}
		return err
	}
	deadlocks := func() (int64, bool) {
		if pg == "" {
			return 0, false
		}
		db, err := sql.Open("pgx", pg)
		if err != nil {
			return 0, false
		}
		defer db.Close()
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			return 0, false
		}
		return n, true
	}
	before, counted := deadlocks()
	st := drive(ctx, e.opts.load, write)
	name := fmt.Sprintf("%d process(es), %s", processes, backendName(t.db))
	rep.add(result{Scenario: "mixed", Name: name, Load: e.opts.load.String(), stats: st})
	for _, s := range mixedShare {
		lats := byKind[s.kind]
		if len(lats) == 0 {
			continue
		}
		kst := summarize(lats, 0, nil, st.Elapsed)
		fmt.Fprintf(rep.out, "      %-13s %6d   p50 %9s  p90 %9s  p99 %9s  max %9s\n", s.kind, kst.Count, ms(kst.P50), ms(kst.P90), ms(kst.P99), ms(kst.Max))
	}
	rep.check("mixed", "every write answered (200, or 422 for a refusal)", st.Count > 0 && st.Errors == 0, "%d ok, %d errors", st.Count, st.Errors)
	if retries, err := writeRetries(ctx, e, t.urls); err == nil {
		fmt.Fprintf(rep.out, "  mixed        write transactions run again (the servers' metrics): %s\n", retries)
	}
	// A backend reports its deadlocks to the statistics when it ends: stop
	// the processes first.
	stopped = true
	e.finish(t, &err)
	if counted {
		after, _ := deadlocks()
		fmt.Fprintf(rep.out, "  mixed        deadlocks broken by PostgreSQL meanwhile: %d (pg_stat_database, the whole database)\n", after-before)
	}
	return nil
}

// writeRetries sums switchboard_write_retries_total over the processes, by
// reason: since they started (with -url, a running server's whole life).
func writeRetries(ctx context.Context, e *env, urls []string) (string, error) {
	sums := map[string]float64{}
	for _, u := range urls {
		series, err := scrape(ctx, e, u)
		if err != nil {
			return "", err
		}
		for name, v := range series {
			if rest, ok := strings.CutPrefix(name, `switchboard_write_retries_total{reason="`); ok {
				sums[strings.TrimSuffix(rest, `"}`)] += v
			}
		}
	}
	var parts []string
	for _, reason := range slices.Sorted(maps.Keys(sums)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", reason, sums[reason]))
	}
	return strings.Join(parts, ", "), nil
}

// scrape returns the series of a process's /metrics, by name with labels.
func scrape(ctx context.Context, e *env, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: status %d", url, resp.StatusCode)
	}
	series := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("GET %s/metrics: %q: %w", url, line, err)
		}
		series[line[:i]] = v
	}
	return series, nil
}
