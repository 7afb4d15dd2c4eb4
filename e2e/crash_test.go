package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"

	_ "github.com/jackc/pgx/v5/stdlib" // crashSettle asks PostgreSQL
)

// crashSeedEnv names the variable that replays a run of the randomised e2e
// tests with the seed it logged.
const crashSeedEnv = "SWITCHBOARD_TEST_SEED"

// crashSeed returns the seed of a randomised test, from crashSeedEnv when it
// is set, and logs it so that a failure can be replayed.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	return seed
}

type crashAgent struct {
	ID int64 `json:"id"`
}

type crashConv struct {
	ID      int64 `json:"id"`
	InboxID int64 `json:"inbox_id"`
	Meta    struct {
		Assignee *crashAgent `json:"assignee"`
	} `json:"meta"`
}

// crashNext is ROUTING.md's rotation: the first member whose id is greater
// than last, wrapping round to the smallest. members is sorted.
func crashNext(members []int64, last int64) int64 {
	for _, m := range members {
		if m > last {
			return m
		}
	}
	return members[0]
}

// crashAck is what a create's 200 reply said.
type crashAck struct {
	inbox, assignee int64
}

var crashOwner = switchboard.Caller{UserID: 1, AccountID: 1, Role: switchboard.RoleAdministrator}

// TestCrashSafety runs the real binary on SQLite and on PostgreSQL, drives
// concurrent creates, kills the process with SIGKILL at a random moment,
// restarts it on the same database and checks that every acknowledged
// conversation is there with the assignee its reply named, that every
// assignment event chains to the current assignee, and that the rotation of
// each inbox goes on from the last auto pick, in one unbroken cycle across all
// the crashes.
func TestCrashSafety(t *testing.T) {
	for _, backend := range storetest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			dsn := backend.DSN(t)(t) // SQLite: a file in the test's temporary directory
			if backend.Name == "Postgres" {
				// The killed process's connections are known by their name
				// (crashSettle).
				dsn += "&application_name=crash_" + strconv.FormatUint(rand.Uint64(), 36)
			}
			crashRun(t, dsn, crashSeed(t))
		})
	}
}

func crashRun(t *testing.T, dsn string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xc4a5))
	p := startProcess(t, dsn)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	admin := signIn(t, p.url, adminEmail, adminPassword)
	admin.http = client

	// Five agents online all along; two inboxes whose member sets overlap.
	// Only creates run, so the online set is stable and every auto pick
	// must follow the cycle.
	var agents []int64
	for i := range 5 {
		var a crashAgent
		admin.must(t, "POST", "/api/v1/accounts/1/agents", map[string]any{
			"name": fmt.Sprintf("Crash %d", i), "email": fmt.Sprintf("crash%d@example.com", i),
			"role": "agent", "availability": "online",
		}, &a)
		agents = append(agents, a.ID)
	}
	members := map[int64][]int64{}
	for _, set := range [][]int64{agents[:4], agents[1:]} {
		var in crashAgent
		admin.must(t, "POST", "/api/v1/accounts/1/inboxes", map[string]any{"name": "Crash", "channel": map[string]any{"type": "api"}}, &in)
		admin.must(t, "POST", "/api/v1/accounts/1/inbox_members", map[string]any{"inbox_id": in.ID, "user_ids": set}, nil)
		members[in.ID] = slices.Sorted(slices.Values(set))
	}
	inboxes := slices.Sorted(func(yield func(int64) bool) {
		for id := range members {
			if !yield(id) {
				return
			}
		}
	})

	acked := map[int64]crashAck{} // conversation id -> its reply
	const rounds, workers, perWorker = 3, 6, 150
	for round := range rounds {
		killAfter := int64(5 + rng.IntN(60)) // acknowledged creates before the kill
		killDelay := rng.IntN(2000)          // and microseconds after that
		var mu sync.Mutex
		var acks, unanswered atomic.Int64
		var killing atomic.Bool
		var wg sync.WaitGroup
		proc := p
		for w := range workers {
			wrng := rand.New(rand.NewPCG(seed, uint64(round*workers+w)))
			client := admin.on(proc)
			wg.Go(func() {
				for range perWorker {
					inbox := inboxes[wrng.IntN(len(inboxes))]
					var c crashConv
					status, err := client.call(context.Background(), "POST", "/api/v1/accounts/1/conversations",
						map[string]any{"inbox_id": inbox, "message": map[string]any{"content": "help"}}, &c)
					if err != nil {
						if killing.Load() {
							unanswered.Add(1) // killed: this create was not acknowledged
						} else {
							t.Errorf("create before the kill: %v", err)
						}
						return
					}
					if status != 200 {
						t.Errorf("create in inbox %d: status %d", inbox, status)
						return
					}
					var assignee int64
					if c.Meta.Assignee != nil {
						assignee = c.Meta.Assignee.ID
					}
					mu.Lock()
					acked[c.ID] = crashAck{inbox: inbox, assignee: assignee}
					mu.Unlock()
					if acks.Add(1) == killAfter {
						// A moment later still, while the other workers'
						// creates are in flight.
						time.Sleep(time.Duration(killDelay) * time.Microsecond)
						killing.Store(true)
						proc.kill()
						return
					}
				}
			})
		}
		wg.Wait()
		select {
		case <-proc.done:
		default:
			t.Fatalf("round %d: the process was never killed (%d acknowledged creates, kill after %d)", round, acks.Load(), killAfter)
		}
		t.Logf("round %d: SIGKILL %dµs after acknowledged create #%d; %d requests in flight got no reply; %d acknowledged in all",
			round, killDelay, killAfter, unanswered.Load(), len(acked))

		crashSettle(t, dsn)
		last := crashCheck(t, dsn, acked, members)
		if t.Failed() {
			return
		}

		// Restart on the same database: the rotation goes on where the
		// database says it stopped.
		p = startProcess(t, dsn)
		admin = admin.on(p)
		for _, inbox := range inboxes {
			for range 2 {
				var c crashConv
				admin.must(t, "POST", "/api/v1/accounts/1/conversations", map[string]any{"inbox_id": inbox}, &c)
				want := crashNext(members[inbox], last[inbox])
				var got int64
				if c.Meta.Assignee != nil {
					got = c.Meta.Assignee.ID
				}
				if got != want {
					t.Errorf("round %d, after restart: conversation %d in inbox %d went to %d, want %d (last auto pick %d, members %v)",
						round, c.ID, inbox, got, want, last[inbox], members[inbox])
				}
				acked[c.ID] = crashAck{inbox: inbox, assignee: got}
				last[inbox] = got
			}
		}
	}
	p.kill()
	crashSettle(t, dsn)
	crashCheck(t, dsn, acked, members)
}

// crashSettle waits, on PostgreSQL, until the killed process's connections
// have ended: a connection whose client died after sending a transaction
// whole (a batch of creates, with its commit) goes on with it, and
// commits, before it notices; a check made meanwhile would miss what it
// commits, which the restarted process then goes on from.
func crashSettle(t *testing.T, dsn string) {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres") {
		return
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 1000 {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE application_name = current_setting('application_name') AND pid <> pg_backend_pid()`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the killed process's connections to PostgreSQL never ended")
}

// crashCheck opens the database while no process runs on it and checks it;
// it returns the last auto pick of each inbox.
func crashCheck(t *testing.T, dsn string, acked map[int64]crashAck, members map[int64][]int64) map[int64]int64 {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open the database after the crash: %v", err)
	}
	defer db.Close()

	// Assignees may hold their conversations; events chain to them.
	convs := storetest.CheckInvariants(t, db, crashOwner)

	byID := map[int64]switchboard.Conversation{}
	for _, c := range convs {
		byID[c.ID] = c
	}
	// Every acknowledged create is there, with the assignee its reply named
	// (nothing but creates ran, so nothing may have moved it).
	for id, ack := range acked {
		c, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("acknowledged conversation %d is lost", id)
		case c.InboxID != ack.inbox:
			t.Errorf("acknowledged conversation %d is in inbox %d, was created in %d", id, c.InboxID, ack.inbox)
		case c.Assignee == nil || c.Assignee.ID != ack.assignee:
			t.Errorf("acknowledged conversation %d: assignee %s in the database, %d in the reply", id, crashHolder(c.Assignee), ack.assignee)
		case !slices.Contains(members[c.InboxID], c.Assignee.ID):
			t.Errorf("acknowledged conversation %d in inbox %d is held by %d, not a member %v", id, c.InboxID, c.Assignee.ID, members[c.InboxID])
		}
	}

	// Every conversation (acknowledged or not: a create may have committed
	// just before the kill) has exactly one event, auto, from nobody to its
	// assignee; in each inbox the auto picks, in event order, are one
	// unbroken cycle from the smallest member id, across every restart.
	type pick struct{ event, to, conv int64 }
	picks := map[int64][]pick{}
	for _, c := range convs {
		events, err := db.AssignmentEvents(ctx, crashOwner, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Reason != switchboard.ReasonAuto || events[0].From != nil ||
			events[0].To == nil || c.Assignee == nil || *events[0].To != c.Assignee.ID {
			t.Errorf("conversation %d (assignee %s): events %s, want one auto event from nobody to the assignee", c.ID, crashHolder(c.Assignee), crashEvents(events))
			continue
		}
		picks[c.InboxID] = append(picks[c.InboxID], pick{event: events[0].ID, to: *events[0].To, conv: c.ID})
	}
	last := map[int64]int64{}
	for inbox, ms := range members {
		ps := picks[inbox]
		slices.SortFunc(ps, func(a, b pick) int { return int(a.event - b.event) })
		var prev int64
		broken := 0
		for _, p := range ps {
			if want := crashNext(ms, prev); p.to != want {
				if broken++; broken <= 5 {
					t.Errorf("inbox %d: conversation %d (event %d) went to %d after a pick of %d; the rotation %v says %d",
						inbox, p.conv, p.event, p.to, prev, ms, want)
				}
			}
			prev = p.to
		}
		if broken > 5 {
			t.Errorf("inbox %d: %d auto picks in all break the rotation's cycle", inbox, broken)
		}
		last[inbox] = prev
	}
	return last
}

func crashEvents(events []switchboard.AssignmentEvent) string {
	s := "["
	for i, e := range events {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d:%s %s->%s", e.ID, e.Reason, crashPtr(e.From), crashPtr(e.To))
	}
	return s + "]"
}

func crashHolder(a *switchboard.Agent) string {
	if a == nil {
		return "nobody"
	}
	return strconv.FormatInt(a.ID, 10)
}

func crashPtr(p *int64) string {
	if p == nil {
		return "nobody"
	}
	return strconv.FormatInt(*p, 10)
}
