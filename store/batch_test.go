package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// batchObserver records how many writes shared each commit.
type batchObserver struct {
	mu      sync.Mutex
	batches []int
}

func (o *batchObserver) Assigned(string)      {}
func (o *batchObserver) Picked(time.Duration) {}
func (o *batchObserver) DatabaseError()       {}
func (o *batchObserver) Retried(string)       {}
func (o *batchObserver) Batched(writes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, writes)
}

// largest returns the number of commits so far and the largest share of
// one among them from the from-th on.
func (o *batchObserver) largest(from int) (commits, largest int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range o.batches[from:] {
		largest = max(largest, b)
	}
	return len(o.batches), largest
}

// TestConcurrentCreatesShareCommits: creates in one inbox that arrive
// together share transactions (SQLite's group commit, PostgreSQL's inbox
// batches), and each is still a create of its own: every one acknowledged
// is stored with its own assignee, the rotation fair to one, and a create
// that fails (an agent who is not a member, another account's
// administrator) fails alone.
func TestConcurrentCreatesShareCommits(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db, admin := openWithAdministrator(t, b.DSN(t)(t))
			in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web", EnableAutoAssignment: true, EnableAutoReassignment: true})
			if err != nil {
				t.Fatal(err)
			}
			var agents []int64
			for i := range 4 {
				a, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Agent", Email: fmt.Sprintf("a%d@example.com", i),
					Role: switchboard.RoleAgent, Availability: switchboard.Online})
				if err != nil {
					t.Fatal(err)
				}
				agents = append(agents, a.ID)
			}
			outsider, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Outsider", Email: "out@example.com",
				Role: switchboard.RoleAgent, Availability: switchboard.Online})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ChangeMembers(ctx, admin, in.ID, agents, store.AddMembers); err != nil {
				t.Fatal(err)
			}
			// An administrator of another account, who must not reach this
			// account's inbox by its id, batched or not.
			acc2, u2, err := db.CreateAccountWithAdministrator(ctx, "Other", "Admin", "admin2@example.com", "password123")
			if err != nil {
				t.Fatal(err)
			}
			stranger := switchboard.Caller{UserID: u2.ID, AccountID: acc2.ID, Role: switchboard.RoleAdministrator}
			obs := &batchObserver{}
			db.Observer = obs

			// All at once: creates of the inbox, and (in two more rounds)
			// creates mixed with ones that must fail, which send their
			// batch back to a transaction each.
			const creates = 48
			results := make([]switchboard.Conversation, creates)
			errs := make([]error, creates)
			// Creates that must fail, each round by one caller: an agent
			// who is not a member, then another account's administrator.
			nonMember := switchboard.Caller{UserID: outsider.ID, AccountID: admin.AccountID, Role: switchboard.RoleAgent}
			var outsiderErrs []error
			together := func(from, to int, failing *switchboard.Caller) {
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := from; i < to; i++ {
					wg.Go(func() {
						<-start
						results[i], errs[i] = db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID, Message: fmt.Sprint("hello ", i)})
					})
				}
				var mu sync.Mutex
				for range 3 {
					if failing != nil {
						wg.Go(func() {
							<-start
							_, err := db.CreateConversation(ctx, *failing, switchboard.NewConversation{InboxID: in.ID})
							mu.Lock()
							outsiderErrs = append(outsiderErrs, err)
							mu.Unlock()
						})
					}
				}
				close(start)
				wg.Wait()
			}
			together(0, 32, nil)
			commits, largest := obs.largest(0)
			if largest < 2 {
				t.Errorf("32 creates sent together never shared a commit (%d commits)", commits)
			}
			// A refusal comes before any write, so it does not cost the
			// others their shared commit.
			for _, round := range []struct {
				from, to int
				failing  *switchboard.Caller
			}{{32, 40, &nonMember}, {40, creates, &stranger}} {
				together(round.from, round.to, round.failing)
				before := commits
				if commits, largest = obs.largest(before); largest < 2 {
					t.Errorf("8 creates sent with 3 refused ones never shared a commit (%d commits)", commits-before)
				}
			}

			for _, err := range outsiderErrs {
				if code := switchboard.ErrorCode(err); code != switchboard.ENOTFOUND && code != switchboard.EFORBIDDEN {
					t.Errorf("a create by an agent who is not a member or by another account: %v, want not found or forbidden", err)
				}
			}
			if list, _, err := db.Conversations(ctx, stranger, switchboard.ConversationFilter{AssigneeType: "all", Status: "all", Page: 1}); err != nil || len(list) != 0 {
				t.Errorf("the other account has conversations %+v (%v), want none", list, err)
			}
			per := map[int64]int{}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("create %d: %v", i, err)
				}
				c := results[i]
				if c.Assignee == nil {
					t.Fatalf("create %d came back unassigned", i)
				}
				stored, err := db.Conversation(ctx, admin, c.ID)
				if err != nil || stored.Assignee == nil || stored.Assignee.ID != c.Assignee.ID || len(stored.Messages) != 1 {
					t.Fatalf("create %d acknowledged with assignee %d, stored as %+v (%v)", i, c.Assignee.ID, stored, err)
				}
				per[c.Assignee.ID]++
			}
			lo, hi := creates, 0
			for _, a := range agents {
				lo, hi = min(lo, per[a]), max(hi, per[a])
			}
			if hi-lo > 1 || len(per) != len(agents) {
				t.Errorf("auto-assigned per agent %v: not fair to one", per)
			}
		})
	}
}

// A PostgreSQL inbox batch takes, after its last create, the creates that
// queued while it ran: one that arrives while the batch's second create
// runs shares the batch's transaction (and commit) instead of waiting for
// that commit and then a turn of its own.
func TestALateCreateJoinsTheRunningBatch(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.Postgres(t)(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const inbox = 1 // the requests below touch no row of it
	type request struct {
		txid    chan int64
		running chan struct{}
		release chan struct{}
		err     chan error
	}
	start := func() *request {
		r := &request{txid: make(chan int64, 2), running: make(chan struct{}, 2), release: make(chan struct{}), err: make(chan error, 1)}
		go func() {
			r.err <- store.InboxBatch(ctx, db, inbox, func(id int64) {
				r.txid <- id
				r.running <- struct{}{}
				<-r.release
			})
		}()
		return r
	}
	waiting := func(n int) {
		t.Helper()
		for range 1000 {
			if store.InboxWaiting(db, inbox) == n {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("never %d waiting", n)
	}
	a := start()
	<-a.running
	b := start()
	waiting(1)
	close(a.release) // the batch takes b, which runs
	<-b.running
	c := start()
	waiting(1)
	close(b.release)
	close(c.release)
	for _, r := range []*request{a, b, c} {
		if err := <-r.err; err != nil {
			t.Fatal(err)
		}
	}
	ta, tb, tc := <-a.txid, <-b.txid, <-c.txid
	if ta != tb {
		t.Fatalf("b, waiting when a's batch began, ran in transaction %d, a in %d", tb, ta)
	}
	if tc != ta {
		t.Errorf("c, which came while the batch ran b, ran in transaction %d of its own, not the batch's %d", tc, ta)
	}
}
