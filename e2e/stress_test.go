package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

const (
	stressClients   = 64
	stressDuration  = 5 * time.Second
	stressPerClient = 80 // operations per client at most
)

type stressUser struct {
	id       int64
	email    string
	password string
	client   api // their token, on the first process
}

type stressConv struct {
	ID      int64 `json:"id"`
	InboxID int64 `json:"inbox_id"`
	Meta    struct {
		Assignee *struct {
			ID int64 `json:"id"`
		} `json:"assignee"`
	} `json:"meta"`
}

func (c stressConv) assignee() int64 {
	if c.Meta.Assignee == nil {
		return 0
	}
	return c.Meta.Assignee.ID
}

// stressWorld is what the clients share: who there is, which inboxes, what
// has been acknowledged and what went wrong.
type stressWorld struct {
	procs    []*process
	admin    api
	users    []*stressUser // admin2 and the agents, not the first administrator
	flippers []*stressUser // those whose availability, session and memberships change
	inboxes  []int64
	home     map[int64][]int64 // inbox -> its members at the start
	anchored map[int64]bool    // inboxes with a member who stays online all along

	mu     sync.Mutex
	acked  []int64           // conversation ids whose create got a 200
	asked  map[int64]int64   // conversation created with an explicit assignee -> that assignee
	errors []string          // unexpected replies
	ops    map[string]*int64 // per operation, how many ran

	manualOK, fiveHundreds, unexpected atomic.Int64
}

func (w *stressWorld) someConversation(rng *rand.Rand) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.acked) == 0 {
		return 0
	}
	return w.acked[rng.IntN(len(w.acked))]
}

// record counts one reply; a status outside want, or no reply at all, is a
// violation, and a 5xx is counted apart as well.
func (w *stressWorld) record(op, method, path string, status int, err error, want ...int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.ops[op]++
	if status >= 500 {
		w.fiveHundreds.Add(1)
	}
	if err != nil || !slices.Contains(want, status) {
		w.unexpected.Add(1)
		if len(w.errors) < 20 {
			w.errors = append(w.errors, fmt.Sprintf("%s: %s %s: status %d (want %v), err %v", op, method, path, status, want, err))
		}
		return false
	}
	return status == 200
}

// TestStress runs 64 concurrent clients for a bounded time against the real
// binary, on SQLite with one process and on PostgreSQL with two, doing
// creates, manual assignments, availability flips, sign-outs, member removals
// and re-adds and resolves, and then checks ROUTING.md's promises over the
// whole database.
func TestStress(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		stressRun(t, storetest.SQLite(t), 1)
	})
	t.Run("Postgres", func(t *testing.T) {
		stressRun(t, storetest.Postgres(t)(t), 2)
	})
}

func stressRun(t *testing.T, dsn string, processes int) {
	seed := crashSeed(t)
	procs := make([]*process, processes)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() { procs[i] = startProcess(t, dsn) })
	}
	wg.Wait()
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range procs {
				t.Logf("process %d errors and warnings:\n%s", i, p.errorLogs())
			}
		}
	})
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * stressClients}}
	admin := signIn(t, procs[0].url, adminEmail, adminPassword)
	admin.http = client

	w := &stressWorld{procs: procs, admin: admin, home: map[int64][]int64{}, anchored: map[int64]bool{},
		asked: map[int64]int64{}, ops: map[string]*int64{}}

	// admin2 (an administrator) and nine agents, each with a password.
	for i := range 10 {
		role := "agent"
		if i == 0 {
			role = "administrator"
		}
		u := &stressUser{email: fmt.Sprintf("stress%d@example.com", i), password: fmt.Sprintf("password %d", i)}
		var a struct {
			ID int64 `json:"id"`
		}
		admin.must(t, "POST", "/api/v1/accounts/1/agents", map[string]any{
			"name": fmt.Sprintf("Stress %d", i), "email": u.email, "role": role, "password": u.password,
		}, &a)
		u.id = a.ID
		// Signing in sets them online and gives their token.
		u.client = signIn(t, procs[0].url, u.email, u.password)
		u.client.http = client
		w.users = append(w.users, u)
	}
	admin2, ag := w.users[0], w.users[1:]
	anchorA, anchorB := ag[0], ag[1] // never flipped, signed out nor removed
	w.flippers = append([]*stressUser{admin2}, ag[2:]...)
	// Inboxes A and B each have an anchor; C has none, so all its members
	// may be offline at once.
	for _, set := range [][]*stressUser{
		{anchorA, ag[2], ag[3], ag[4], ag[5], admin2},
		{anchorB, ag[4], ag[5], ag[6], ag[7]},
		{ag[3], ag[6], ag[7], ag[8]},
	} {
		var in struct {
			ID int64 `json:"id"`
		}
		admin.must(t, "POST", "/api/v1/accounts/1/inboxes", map[string]any{"name": "Stress", "channel": map[string]any{"type": "api"}}, &in)
		var ids []int64
		for _, u := range set {
			ids = append(ids, u.id)
		}
		admin.must(t, "POST", "/api/v1/accounts/1/inbox_members", map[string]any{"inbox_id": in.ID, "user_ids": ids}, nil)
		w.inboxes = append(w.inboxes, in.ID)
		w.home[in.ID] = ids
		w.anchored[in.ID] = slices.Contains(set, anchorA) || slices.Contains(set, anchorB)
	}

	ops := stressOps(w)
	var deck []int
	for i, op := range ops {
		w.ops[op.name] = new(int64)
		for range op.weight {
			deck = append(deck, i)
		}
	}
	deadline := time.Now().Add(stressDuration)
	for c := range stressClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			proc := procs[c%len(procs)]
			for range stressPerClient {
				if time.Now().After(deadline) {
					return
				}
				ops[deck[rng.IntN(len(deck))]].run(rng, proc)
			}
		})
	}
	wg.Wait()

	var total int64
	for _, op := range ops {
		total += *w.ops[op.name]
	}
	t.Logf("%d operations by %d clients on %d process(es): %v; %d acknowledged creates, %d manual assignments answered 200",
		total, stressClients, processes, stressCounts(w, ops), len(w.acked), w.manualOK.Load())
	for _, e := range w.errors {
		t.Error(e)
	}
	if n := w.fiveHundreds.Load(); n > 0 {
		t.Errorf("%d requests got a 5xx", n)
	}
	if n := w.unexpected.Load(); n > 0 {
		t.Errorf("%d requests got an unexpected reply or none", n)
	}

	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checked, violations := stressCheck(t, db, w)
	t.Logf("invariants: %d conversations checked, %d violations", checked, violations)
	if violations > 0 {
		t.Errorf("%d invariant violations after the stress", violations)
	}

	t.Run("FairInAStableWindow", func(t *testing.T) { stressFairness(t, w) })
	storetest.CheckInvariants(t, db, crashOwner)
}

type stressOp struct {
	name   string
	weight int
	run    func(rng *rand.Rand, p *process)
}

func stressCounts(w *stressWorld, ops []stressOp) string {
	s := ""
	for _, op := range ops {
		s += fmt.Sprintf("%s=%d ", op.name, *w.ops[op.name])
	}
	return s
}

func stressOps(w *stressWorld) []stressOp {
	ctx := context.Background()
	acct := func(format string, args ...any) string { return "/api/v1/accounts/1" + fmt.Sprintf(format, args...) }
	availabilities := []string{"online", "busy", "offline"}
	// caller returns the first administrator (as administrator: true) or a
	// random user, on process p.
	caller := func(rng *rand.Rand, p *process) (api, bool) {
		if rng.IntN(3) == 0 {
			return w.admin.on(p), true
		}
		u := w.users[rng.IntN(len(w.users))]
		return u.client.on(p), u == w.users[0] // admin2 is an administrator
	}
	anyUser := func(rng *rand.Rand) int64 {
		if rng.IntN(len(w.users)+1) == 0 {
			return 1
		}
		return w.users[rng.IntN(len(w.users))].id
	}
	return []stressOp{
		{"Create", 6, func(rng *rand.Rand, p *process) {
			c, isAdmin := caller(rng, p)
			inbox := w.inboxes[rng.IntN(len(w.inboxes))]
			var conv stressConv
			path := acct("/conversations")
			status, err := c.call(ctx, "POST", path, map[string]any{"inbox_id": inbox, "message": map[string]any{"content": "hi"}}, &conv)
			want := []int{200}
			if !isAdmin {
				want = append(want, 404) // an agent who is not (now) a member
			}
			if w.record("Create", "POST", path, status, err, want...) {
				w.mu.Lock()
				w.acked = append(w.acked, conv.ID)
				w.mu.Unlock()
			}
		}},
		{"CreateAssigned", 1, func(rng *rand.Rand, p *process) {
			assignee := anyUser(rng)
			var conv stressConv
			path := acct("/conversations")
			status, err := w.admin.on(p).call(ctx, "POST", path, map[string]any{"inbox_id": w.inboxes[rng.IntN(len(w.inboxes))], "assignee_id": assignee}, &conv)
			// 422 when the assignee is not (now) a member.
			if w.record("CreateAssigned", "POST", path, status, err, 200, 422) {
				w.manualOK.Add(1)
				w.mu.Lock()
				w.acked = append(w.acked, conv.ID)
				w.asked[conv.ID] = assignee
				w.mu.Unlock()
			}
		}},
		{"Assign", 4, func(rng *rand.Rand, p *process) {
			id := w.someConversation(rng)
			if id == 0 {
				return
			}
			c, isAdmin := caller(rng, p)
			var assignee any // nil unassigns
			if rng.IntN(5) != 0 {
				assignee = anyUser(rng)
			}
			path := acct("/conversations/%d/assignments", id)
			status, err := c.call(ctx, "POST", path, map[string]any{"assignee_id": assignee}, nil)
			want := []int{200, 422} // 422: the assignee may not hold it
			if !isAdmin {
				want = append(want, 404)
			}
			if w.record("Assign", "POST", path, status, err, want...) {
				w.manualOK.Add(1)
			}
		}},
		{"OwnAvailability", 2, func(rng *rand.Rand, p *process) {
			u := w.flippers[rng.IntN(len(w.flippers))]
			path := "/api/v1/profile/availability"
			status, err := u.client.on(p).call(ctx, "POST", path,
				map[string]any{"profile": map[string]any{"availability": availabilities[rng.IntN(3)], "account_id": 1}}, nil)
			w.record("OwnAvailability", "POST", path, status, err, 200)
		}},
		{"AdminSetsAvailability", 2, func(rng *rand.Rand, p *process) {
			u := w.flippers[rng.IntN(len(w.flippers))]
			path := acct("/agents/%d", u.id)
			status, err := w.admin.on(p).call(ctx, "PATCH", path, map[string]any{"availability": availabilities[rng.IntN(3)]}, nil)
			w.record("AdminSetsAvailability", "PATCH", path, status, err, 200)
		}},
		{"SignOut", 1, func(rng *rand.Rand, p *process) {
			// With the personal token, which stays valid afterwards.
			u := w.flippers[rng.IntN(len(w.flippers))]
			status, err := u.client.on(p).call(ctx, "DELETE", "/auth/sign_out", nil, nil)
			w.record("SignOut", "DELETE", "/auth/sign_out", status, err, 200)
		}},
		{"SignIn", 1, func(rng *rand.Rand, p *process) {
			u := w.flippers[rng.IntN(len(w.flippers))]
			c := api{base: p.url, http: u.client.http}
			status, err := c.call(ctx, "POST", "/auth/sign_in", map[string]string{"email": u.email, "password": u.password}, nil)
			w.record("SignIn", "POST", "/auth/sign_in", status, err, 200)
		}},
		{"RemoveMember", 1, func(rng *rand.Rand, p *process) {
			inbox := w.inboxes[rng.IntN(len(w.inboxes))]
			user := stressFlipperOf(w, rng, inbox)
			path := acct("/inbox_members")
			status, err := w.admin.on(p).call(ctx, "DELETE", path, map[string]any{"inbox_id": inbox, "user_ids": []int64{user}}, nil)
			w.record("RemoveMember", "DELETE", path, status, err, 200)
		}},
		{"AddMember", 1, func(rng *rand.Rand, p *process) {
			inbox := w.inboxes[rng.IntN(len(w.inboxes))]
			user := stressFlipperOf(w, rng, inbox)
			path := acct("/inbox_members")
			status, err := w.admin.on(p).call(ctx, "POST", path, map[string]any{"inbox_id": inbox, "user_ids": []int64{user}}, nil)
			w.record("AddMember", "POST", path, status, err, 200)
		}},
		{"Resolve", 2, func(rng *rand.Rand, p *process) {
			// Resolve only, never reopen: see stressCheck.
			id := w.someConversation(rng)
			if id == 0 {
				return
			}
			c, isAdmin := caller(rng, p)
			path := acct("/conversations/%d/toggle_status", id)
			status, err := c.call(ctx, "POST", path, map[string]any{"status": "resolved"}, nil)
			want := []int{200}
			if !isAdmin {
				want = append(want, 404)
			}
			w.record("Resolve", "POST", path, status, err, want...)
		}},
	}
}

// stressFlipperOf returns a member of inbox at the start who is not its
// anchor.
func stressFlipperOf(w *stressWorld, rng *rand.Rand, inbox int64) int64 {
	var ids []int64
	for _, u := range w.flippers {
		if slices.Contains(w.home[inbox], u.id) {
			ids = append(ids, u.id)
		}
	}
	return ids[rng.IntN(len(ids))]
}

// stressCheck checks the database after the stress and returns how many
// conversations it checked and how many violations it found (each also
// reported with t.Errorf, the first few in full).
//
// (a) Every assignee is a member of the conversation's inbox or an
// administrator.
//
// (b) No open conversation in an inbox with auto-reassignment on is held by a
// user who is offline now while an online member of that inbox other than them
// exists. Several histories make such a holder legitimate, so the check is
// restricted to the conversations where it is not:
//   - a manual assignment may give a conversation to an offline agent
//     (ROUTING.md rule 3), and the database does not say whether the agent was
//     offline then or went offline later: conversations whose last event is
//     manual are left out;
//   - auto-assignment falls back to all members, offline ones included, when
//     none is online (rule 2 of auto-assignment), and a member may come online
//     afterwards: so an auto event counts only in inboxes A and B, where an
//     anchor member stays online all along and the fallback never applies;
//   - a resolved conversation is not moved when its holder goes offline, and
//     ROUTING.md does not reroute an assigned conversation that is reopened:
//     the clients therefore resolve but never reopen, so an open conversation
//     has been open all its life.
//
// What remains is a conversation last given, by auto-assignment (A, B) or
// auto-reassignment (any inbox), to someone who was online then (those only
// pick online candidates) and who has gone offline since: their going
// offline should have moved it, since it was open and an online member
// exists. This is exactly the race of an assignment against a concurrent
// "offline" that the rotation lock must prevent.
//
// (c) Each conversation's events chain from nobody to the current assignee,
// each from the previous holder, with no no-op event; manual events are no
// more than the manual requests answered 200, and each acknowledged create
// starts its history as its request said (manual to the asked assignee, or
// auto in the anchored inboxes).
func stressCheck(t *testing.T, db *store.DB, w *stressWorld) (checked, violations int) {
	t.Helper()
	ctx := context.Background()
	violate := func(format string, args ...any) {
		t.Helper()
		violations++
		if violations <= 20 {
			t.Errorf(format, args...)
		}
	}
	agents, err := db.Agents(ctx, crashOwner)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[int64]switchboard.Role{}
	availability := map[int64]switchboard.Availability{}
	for _, a := range agents {
		roles[a.ID], availability[a.ID] = a.Role, a.Availability
	}
	inboxes, err := db.Inboxes(ctx, crashOwner)
	if err != nil {
		t.Fatal(err)
	}
	reassigns := map[int64]bool{}
	members := map[int64][]int64{}
	for _, in := range inboxes {
		reassigns[in.ID] = in.EnableAutoReassignment
		ms, err := db.InboxMembers(ctx, crashOwner, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			members[in.ID] = append(members[in.ID], m.ID)
		}
	}
	convs := storetest.AllConversations(t, db, crashOwner)
	byID := map[int64]switchboard.Conversation{}
	manualEvents, skipped := 0, 0
	for _, c := range convs {
		checked++
		byID[c.ID] = c
		var holder int64
		if c.Assignee != nil {
			holder = c.Assignee.ID
		}
		// (a)
		if holder != 0 && roles[holder] != switchboard.RoleAdministrator && !slices.Contains(members[c.InboxID], holder) {
			violate("(a) conversation %d in inbox %d is held by %d (role %q), not a member %v", c.ID, c.InboxID, holder, roles[holder], members[c.InboxID])
		}
		events, err := db.AssignmentEvents(ctx, crashOwner, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		// (c)
		var cur int64
		for _, e := range events {
			from, to := stressDeref(e.From), stressDeref(e.To)
			if from != cur || from == to {
				violate("(c) conversation %d: event %d (%s) from %d to %d, but the assignee then was %d: %s", c.ID, e.ID, e.Reason, from, to, cur, crashEvents(events))
			}
			if e.Reason == switchboard.ReasonManual {
				manualEvents++
				if e.ActorID == nil {
					violate("(c) conversation %d: manual event %d has no actor", c.ID, e.ID)
				}
			}
			cur = to
		}
		if cur != holder {
			violate("(c) conversation %d: events end at %d, assignee is %d: %s", c.ID, cur, holder, crashEvents(events))
		}
		// (b)
		if c.Status != switchboard.StatusOpen || !reassigns[c.InboxID] || holder == 0 || availability[holder] != switchboard.Offline {
			continue
		}
		var other int64
		for _, m := range members[c.InboxID] {
			if m != holder && availability[m] == switchboard.Online {
				other = m
			}
		}
		if other == 0 || len(events) == 0 {
			continue
		}
		last := events[len(events)-1]
		switch {
		case last.Reason == switchboard.ReasonReassign, last.Reason == switchboard.ReasonAuto && w.anchored[c.InboxID]:
			violate("(b) open conversation %d in inbox %d is held by %d, offline, while %d is online; last event %s (%s)",
				c.ID, c.InboxID, holder, other, last.Reason, crashEvents(events))
		default:
			skipped++
		}
	}
	t.Logf("(b) left %d conversations held by offline users out of the check (last event manual, or auto in the inbox without an anchor)", skipped)

	// (c) counts, and the acknowledged creates.
	if n := w.manualOK.Load(); int64(manualEvents) > n {
		violate("(c) %d manual events, but only %d manual assignments and assigned creates were answered 200", manualEvents, n)
	}
	for _, id := range w.acked {
		c, ok := byID[id]
		if !ok {
			violate("acknowledged conversation %d is missing", id)
			continue
		}
		events, err := db.AssignmentEvents(ctx, crashOwner, id)
		if err != nil {
			t.Fatal(err)
		}
		asked, explicit := w.asked[id]
		switch {
		case explicit && (len(events) == 0 || events[0].Reason != switchboard.ReasonManual || stressDeref(events[0].To) != asked ||
			stressDeref(events[0].ActorID) != 1):
			violate("(c) conversation %d was created for %d by user 1, but its history is %s", id, asked, crashEvents(events))
		case !explicit && w.anchored[c.InboxID] && (len(events) == 0 || events[0].Reason != switchboard.ReasonAuto || events[0].From != nil):
			violate("(c) conversation %d was created in inbox %d, which always has an online member, but its history is %s", id, c.InboxID, crashEvents(events))
		}
	}
	return checked, violations
}

func stressDeref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// stressFairness sets a fixed online set in inbox A and makes concurrent
// creates there through every process: the counts of the online members
// differ by at most one, and nobody else gets any.
func stressFairness(t *testing.T, w *stressWorld) {
	inbox := w.inboxes[0]
	home := w.home[inbox] // anchorA, ag2, ag3, ag4, ag5, admin2
	w.admin.must(t, "PATCH", "/api/v1/accounts/1/inbox_members", map[string]any{"inbox_id": inbox, "user_ids": home}, nil)
	online := []int64{home[0], home[1], home[3]}
	settings := map[int64]string{home[1]: "online", home[2]: "offline", home[3]: "online", home[4]: "busy", home[5]: "offline"}
	for id, a := range settings {
		w.admin.must(t, "PATCH", fmt.Sprintf("/api/v1/accounts/1/agents/%d", id), map[string]any{"availability": a}, nil)
	}
	const workers, each = 8, 6
	counts := map[int64]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range workers {
		client := w.admin.on(w.procs[i%len(w.procs)])
		wg.Go(func() {
			for range each {
				var c stressConv
				status, err := client.call(context.Background(), "POST", "/api/v1/accounts/1/conversations", map[string]any{"inbox_id": inbox}, &c)
				if err != nil || status != 200 {
					t.Errorf("create in the stable window: status %d, err %v", status, err)
					return
				}
				mu.Lock()
				counts[c.assignee()]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	lo, hi, sum := 1<<30, 0, 0
	for _, id := range online {
		lo, hi, sum = min(lo, counts[id]), max(hi, counts[id]), sum+counts[id]
	}
	t.Logf("%d creates with %v online: %v", workers*each, online, counts)
	if sum != workers*each {
		t.Errorf("of %d creates, %d went to the online members %v: %v", workers*each, sum, online, counts)
	}
	if hi-lo > 1 {
		t.Errorf("auto-assigned counts %v differ by more than one among the online members %v", counts, online)
	}
}
