package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// TestTwoProcessesHammerInboxes: two handles on one database stand for two
// server processes of one deployment. Many goroutines, split between them,
// create conversations in two inboxes (so that each process batches the
// creates of an inbox) while others change the inboxes' settings, the
// agents' availability, the members and the assignees. Afterwards every
// acknowledged create is stored once, with the assignee it was
// acknowledged with, and ROUTING.md's invariants hold. Then, with the
// settings, members and availability frozen (round robin, no limit, every
// member online), creates from both processes at once continue each
// inbox's rotation exactly: the first pick follows the last one before the
// phase and the picks come in a fixed cycle, fair to one (rule 3, and rule
// 4: two processes never pick from stale copies of the rotation).
//
// What it asserts does not depend on how the goroutines interleave.
func TestTwoProcessesHammerInboxes(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)(t)
			var dbs [2]*store.DB
			var observers [2]*batchObserver
			for i := range dbs {
				db, err := store.Open(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				observers[i] = &batchObserver{}
				db.Observer = observers[i]
				db.ReassignStep = 2 // going offline moves in steps, between the others' writes
				dbs[i] = db
			}
			h := newHammer(t, dbs)
			h.chaos()
			storetest.CheckInvariants(t, dbs[1], h.admin)
			h.freeze()
			last := h.checkStored()
			h.steadyRotation(last)
			for i, o := range observers {
				commits, largest := o.largest(0)
				t.Logf("process %d: %d commits, at most %d writes in one", i, commits, largest)
			}
		})
	}
}

// hammer is the shared state of TestTwoProcessesHammerInboxes.
type hammer struct {
	t       *testing.T
	ctx     context.Context
	dbs     [2]*store.DB
	admin   switchboard.Caller
	agents  []int64 // in id order
	inboxes [2]int64

	mu    sync.Mutex
	acked map[int64]switchboard.Conversation // by conversation id
	order []int64                            // acknowledged ids, for manual assignments
}

func newHammer(t *testing.T, dbs [2]*store.DB) *hammer {
	h := &hammer{t: t, ctx: context.Background(), dbs: dbs, acked: map[int64]switchboard.Conversation{}}
	db := dbs[0]
	acc, u, err := db.CreateAccountWithAdministrator(h.ctx, "Processes", "Admin", "admin@example.com", "password123")
	h.must(err)
	h.admin = switchboard.Caller{UserID: u.ID, AccountID: acc.ID, Role: switchboard.RoleAdministrator}
	for i := range 5 {
		a, err := db.CreateAgent(h.ctx, h.admin, switchboard.NewAgent{Name: "Agent", Email: fmt.Sprintf("agent%d@example.com", i),
			Role: switchboard.RoleAgent, Availability: switchboard.Online})
		h.must(err)
		h.agents = append(h.agents, a.ID)
	}
	slices.Sort(h.agents)
	for i, members := range [][]int64{h.agents[:4], h.agents[1:]} {
		in, err := db.CreateInbox(h.ctx, h.admin, switchboard.NewInbox{Name: fmt.Sprint("Inbox ", i),
			EnableAutoAssignment: true, EnableAutoReassignment: true})
		h.must(err)
		_, err = db.ChangeMembers(h.ctx, h.admin, in.ID, members, store.AddMembers)
		h.must(err)
		h.inboxes[i] = in.ID
	}
	return h
}

func (h *hammer) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// chaos runs the mixed load: 16 workers, half on each process, released
// together, each with its own seeded sequence of operations. Most are
// creates; the rest change what routing decisions read.
func (h *hammer) chaos() {
	const workers, ops = 16, 20
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		db := h.dbs[w%2]
		wg.Go(func() {
			<-start
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range ops {
				if err := h.step(db, rng); err != nil {
					h.t.Errorf("process %d: %v", w%2, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if h.t.Failed() {
		h.t.FailNow()
	}
}

// step makes one random operation on db and returns its unexpected error.
func (h *hammer) step(db *store.DB, rng *rand.Rand) error {
	inbox := h.inboxes[rng.IntN(len(h.inboxes))]
	agent := h.agents[rng.IntN(len(h.agents))]
	switch op := rng.IntN(100); {
	case op < 70:
		c, err := db.CreateConversation(h.ctx, h.admin, switchboard.NewConversation{InboxID: inbox, Message: "hello"})
		if err != nil {
			return err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, dup := h.acked[c.ID]; dup {
			return fmt.Errorf("conversation %d acknowledged twice", c.ID)
		}
		h.acked[c.ID] = c
		h.order = append(h.order, c.ID)
		return nil
	case op < 78:
		var u switchboard.InboxUpdate
		switch rng.IntN(3) {
		case 0:
			u.EnableAutoAssignment = new(rng.IntN(3) > 0) // mostly on, so that creates route
		case 1:
			u.AssignmentMode = new([]switchboard.AssignmentMode{switchboard.RoundRobin, switchboard.Balanced}[rng.IntN(2)])
		default:
			u.MaxAssignmentLimit = new(rng.IntN(4)) // 0: no limit
		}
		_, err := db.UpdateInbox(h.ctx, h.admin, inbox, u)
		return err
	case op < 86:
		a := []switchboard.Availability{switchboard.Online, switchboard.Busy, switchboard.Offline}[rng.IntN(3)]
		return db.SetAvailability(h.ctx, h.admin, agent, a)
	case op < 92:
		how := []store.MemberChange{store.AddMembers, store.RemoveMembers}[rng.IntN(2)]
		_, err := db.ChangeMembers(h.ctx, h.admin, inbox, []int64{agent}, how)
		return err
	default:
		h.mu.Lock()
		if len(h.order) == 0 {
			h.mu.Unlock()
			return nil
		}
		id := h.order[rng.IntN(len(h.order))]
		h.mu.Unlock()
		var to *int64 // unassign
		switch n := rng.IntN(len(h.agents) + 2); {
		case n < len(h.agents):
			to = &h.agents[n]
		case n == len(h.agents):
			to = &h.admin.UserID // an administrator may hold any conversation
		}
		_, err := db.Assign(h.ctx, h.admin, id, to)
		if switchboard.ErrorCode(err) == switchboard.EINVALID {
			return nil // not a member of that inbox right now
		}
		return err
	}
}

// checkStored checks that every acknowledged create is stored once, in its
// inbox, with the assignee it was acknowledged with as its first event
// (read through the process that made fewer of the writes), and returns
// each inbox's last rotation pick: the assignee of its latest
// auto-assignment or reassignment to someone (manual assignments do not
// move the rotation). The order of events is their ids', which the events
// of one inbox take while its routing lock is held.
func (h *hammer) checkStored() map[int64]int64 {
	t := h.t
	stored := storetest.AllConversations(t, h.dbs[1], h.admin)
	if len(stored) != len(h.acked) {
		t.Errorf("%d conversations stored, %d creates acknowledged", len(stored), len(h.acked))
	}
	seen := map[int64]bool{}
	last, lastEvent := map[int64]int64{}, map[int64]int64{}
	for _, c := range stored {
		if seen[c.ID] {
			t.Errorf("conversation %d stored twice", c.ID)
		}
		seen[c.ID] = true
		ack, ok := h.acked[c.ID]
		if !ok {
			t.Errorf("conversation %d stored, never acknowledged", c.ID)
			continue
		}
		if c.InboxID != ack.InboxID {
			t.Errorf("conversation %d acknowledged in inbox %d, stored in %d", c.ID, ack.InboxID, c.InboxID)
		}
		events, err := h.dbs[1].AssignmentEvents(h.ctx, h.admin, c.ID)
		h.must(err)
		if ack.Assignee != nil {
			if len(events) == 0 || events[0].From != nil || deref(events[0].To) != ack.Assignee.ID || events[0].Reason != switchboard.ReasonAuto {
				t.Errorf("conversation %d acknowledged with assignee %d, first events %+v", c.ID, ack.Assignee.ID, events[:min(len(events), 1)])
			}
		}
		for _, e := range events {
			moved := e.Reason == switchboard.ReasonAuto || e.Reason == switchboard.ReasonReassign
			if moved && e.To != nil && e.ID > lastEvent[c.InboxID] {
				lastEvent[c.InboxID], last[c.InboxID] = e.ID, *e.To
			}
		}
	}
	for id := range h.acked {
		if !seen[id] {
			t.Errorf("conversation %d acknowledged, not stored", id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return last
}

// freeze sets what the last phase keeps unchanged: round robin, no limit,
// auto-assignment on, three members per inbox (one in both), every agent
// online.
func (h *hammer) freeze() {
	db := h.dbs[0]
	for i, in := range h.inboxes {
		_, err := db.ChangeMembers(h.ctx, h.admin, in, h.agents[2*i:2*i+3], store.ReplaceMembers)
		h.must(err)
		_, err = db.UpdateInbox(h.ctx, h.admin, in, switchboard.InboxUpdate{EnableAutoAssignment: new(true),
			AssignmentMode: new(switchboard.RoundRobin), MaxAssignmentLimit: new(0)})
		h.must(err)
	}
	for _, a := range h.agents {
		h.must(db.SetAvailability(h.ctx, h.admin, a, switchboard.Online))
	}
}

// steadyRotation creates conversations from both processes at once in the
// frozen inboxes. Each gets an assignee at once; each inbox's picks, in
// the order of their events, are its rotation's cycle over its members,
// starting after the last pick before the phase (last, by inbox).
func (h *hammer) steadyRotation(last map[int64]int64) {
	t := h.t
	members := map[int64][]int64{}
	for _, in := range h.inboxes {
		ms, err := h.dbs[0].InboxMembers(h.ctx, h.admin, in)
		h.must(err)
		for _, m := range ms {
			if m.Availability != switchboard.Online {
				t.Fatalf("member %d of inbox %d is %s after the freeze", m.ID, in, m.Availability)
			}
			members[in] = append(members[in], m.ID)
		}
		slices.Sort(members[in])
	}

	const workers, perWorker = 16, 8
	created := make([][]switchboard.Conversation, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		db := h.dbs[w%2]
		wg.Go(func() {
			<-start
			for i := range perWorker {
				in := h.inboxes[(w+i)%2]
				c, err := db.CreateConversation(h.ctx, h.admin, switchboard.NewConversation{InboxID: in, Message: "steady"})
				if err != nil {
					t.Errorf("process %d: %v", w%2, err)
					return
				}
				created[w] = append(created[w], c)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	type pick struct{ event, to int64 }
	picks := map[int64][]pick{}
	for _, cs := range created {
		for _, c := range cs {
			if c.Assignee == nil || !slices.Contains(members[c.InboxID], c.Assignee.ID) {
				t.Errorf("conversation %d in inbox %d acknowledged with assignee %+v, want one of the online members %v",
					c.ID, c.InboxID, c.Assignee, members[c.InboxID])
				continue
			}
			events, err := h.dbs[1].AssignmentEvents(h.ctx, h.admin, c.ID)
			h.must(err)
			if len(events) != 1 || events[0].From != nil || deref(events[0].To) != c.Assignee.ID || events[0].Reason != switchboard.ReasonAuto {
				t.Errorf("conversation %d acknowledged with assignee %d, events %+v", c.ID, c.Assignee.ID, events)
				continue
			}
			picks[c.InboxID] = append(picks[c.InboxID], pick{events[0].ID, c.Assignee.ID})
		}
	}
	for _, in := range h.inboxes {
		ps := picks[in]
		slices.SortFunc(ps, func(a, b pick) int { return int(a.event - b.event) })
		per := map[int64]int{}
		prev := last[in]
		var got, want []int64
		for _, p := range ps {
			prev = next(members[in], prev)
			got, want = append(got, p.to), append(want, prev)
			per[p.to]++
		}
		if !slices.Equal(got, want) {
			t.Errorf("inbox %d (members %v, last pick %d before): picks %v, want the rotation's %v", in, members[in], last[in], got, want)
		}
		lo, hi := len(ps), 0
		for _, m := range members[in] {
			lo, hi = min(lo, per[m]), max(hi, per[m])
		}
		if hi-lo > 1 {
			t.Errorf("inbox %d: picks per member %v in the steady phase, not fair to one", in, per)
		}
	}
}

// next is ROUTING.md's rule 3: the first candidate (in id order) after
// last, wrapping round to the smallest.
func next(candidates []int64, last int64) int64 {
	for _, c := range candidates {
		if c > last {
			return c
		}
	}
	return candidates[0]
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
