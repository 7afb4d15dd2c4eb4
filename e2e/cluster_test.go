package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

type agentReply struct {
	ID int64 `json:"id"`
}

type convReply struct {
	ID   int64 `json:"id"`
	Meta struct {
		Assignee *agentReply `json:"assignee"`
	} `json:"meta"`
}

// TestThreeProcessesOnePostgres starts three switchboard processes on one
// PostgreSQL database together, drives concurrent creates, availability flips
// and manual assignments through all three, kills one with SIGKILL in the
// middle, and then checks ROUTING.md's promises in the database.
func TestThreeProcessesOnePostgres(t *testing.T) {
	dsn := storetest.Postgres(t)(t)
	procs := make([]*process, 3)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() { procs[i] = startProcess(t, dsn) })
	}
	wg.Wait()

	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.CountAccounts(context.Background()); err != nil || n != 1 {
		t.Fatalf("three processes starting together made %d accounts (%v), want 1", n, err)
	}

	admin := signIn(t, procs[0].url, adminEmail, adminPassword)
	var agents []int64
	for i := range 6 {
		var a agentReply
		admin.must(t, "POST", "/api/v1/accounts/1/agents", map[string]any{
			"name": fmt.Sprintf("Agent %d", i), "email": fmt.Sprintf("agent%d@example.com", i),
			"role": "agent", "availability": "online",
		}, &a)
		agents = append(agents, a.ID)
	}
	newInbox := func(members []int64) int64 {
		var in agentReply
		admin.must(t, "POST", "/api/v1/accounts/1/inboxes", map[string]any{"name": "Inbox"}, &in)
		admin.must(t, "POST", "/api/v1/accounts/1/inbox_members", map[string]any{"inbox_id": in.ID, "user_ids": members}, nil)
		return in.ID
	}
	fair, busy := newInbox(agents[:4]), newInbox(agents[2:])

	t.Run("FairAcrossProcesses", func(t *testing.T) {
		counts := map[int64]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range 9 {
			client := admin.on(procs[w%3])
			wg.Go(func() {
				for range 12 {
					var c convReply
					status, err := client.call(context.Background(), "POST", "/api/v1/accounts/1/conversations", map[string]any{"inbox_id": fair}, &c)
					if err != nil || status != 200 || c.Meta.Assignee == nil {
						t.Errorf("create: status %d, err %v, assignee %v", status, err, c.Meta.Assignee)
						return
					}
					mu.Lock()
					counts[c.Meta.Assignee.ID]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		lo, hi := 1<<30, 0
		for _, a := range agents[:4] {
			lo, hi = min(lo, counts[a]), max(hi, counts[a])
		}
		if hi-lo > 1 {
			t.Errorf("auto-assigned counts %v differ by more than one", counts)
		}
	})

	t.Run("ChaosWithAKill", func(t *testing.T) {
		var acked sync.Map // conversation id -> true
		var ops, fiveHundreds, unanswered atomic.Int64
		var killOnce sync.Once
		var wg sync.WaitGroup
		availabilities := []string{"online", "busy", "offline"}
		for w := range 12 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 42))
				for i := range 40 {
					if w == 0 && i == 15 {
						killOnce.Do(func() { procs[2].kill() })
					}
					client := admin.on(procs[rng.IntN(3)])
					var status int
					var err error
					switch op := rng.IntN(10); {
					case op < 5:
						var c convReply
						status, err = client.call(context.Background(), "POST", "/api/v1/accounts/1/conversations",
							map[string]any{"inbox_id": []int64{fair, busy}[rng.IntN(2)]}, &c)
						if err == nil && status == 200 {
							acked.Store(c.ID, true)
						}
					case op < 8:
						status, err = client.call(context.Background(), "PATCH",
							fmt.Sprintf("/api/v1/accounts/1/agents/%d", agents[rng.IntN(len(agents))]),
							map[string]any{"availability": availabilities[rng.IntN(3)]}, nil)
					default:
						status, err = client.call(context.Background(), "POST",
							fmt.Sprintf("/api/v1/accounts/1/conversations/%d/assignments", 1+rng.IntN(150)),
							map[string]any{"assignee_id": agents[rng.IntN(len(agents))]}, nil)
					}
					ops.Add(1)
					if err != nil {
						unanswered.Add(1) // the killed process: not acknowledged
					} else if status >= 500 {
						fiveHundreds.Add(1)
					}
				}
			})
		}
		wg.Wait()
		t.Logf("%d operations, %d unanswered (killed process), %d 5xx", ops.Load(), unanswered.Load(), fiveHundreds.Load())
		if fiveHundreds.Load() > 0 {
			t.Errorf("%d requests got a 5xx", fiveHundreds.Load())
		}
		for _, p := range procs[:2] {
			if status, err := admin.on(p).call(context.Background(), "GET", "/readyz", nil, nil); err != nil || status != 200 {
				t.Errorf("a surviving process does not serve: %d %v", status, err)
			}
		}
		acked.Range(func(id, _ any) bool {
			if status, err := admin.on(procs[0]).call(context.Background(), "GET",
				fmt.Sprintf("/api/v1/accounts/1/conversations/%d", id), nil, nil); err != nil || status != 200 {
				t.Errorf("acknowledged conversation %d: status %d, err %v", id, status, err)
			}
			return true
		})
	})

	owner := switchboard.Caller{UserID: 1, AccountID: 1, Role: switchboard.RoleAdministrator}
	storetest.CheckInvariants(t, db, owner)
}
