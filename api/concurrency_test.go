package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// The tests of this file run many requests at once against the real HTTP
// stack on a real SQLite file, and check the promises of ROUTING.md that must
// hold "whatever runs concurrently". Workers run a fixed number of operations
// each (not a time budget), chosen by a generator seeded with the worker's
// number, so a run is as repeatable as the scheduler allows.

// concCaller sends requests from many goroutines. Unlike client.do it never
// calls t.Fatal (which must not run outside the test's goroutine): it returns
// transport errors to the caller.
type concCaller struct {
	base string
	http *http.Client
}

func newConcCaller(s *testServer, workers int) *concCaller {
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	s.t.Cleanup(tr.CloseIdleConnections)
	return &concCaller{base: s.srv.URL, http: &http.Client{Transport: tr}}
}

// call sends a request as the user whose access token is token.
func (cc *concCaller) call(token, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, cc.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header["api_access_token"] = []string{token}
	resp, err := cc.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// concLog collects what the workers saw, safe for concurrent use.
type concLog struct {
	mu       sync.Mutex
	created  []int64          // ids of the conversations whose create was acknowledged
	problems []string         // replies that break a promise, and transport errors
	statuses map[string][]int // statuses seen, by operation
}

func (l *concLog) acknowledged(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.created = append(l.created, id)
}

// someConversation returns an acknowledged conversation id, or 0 when there
// is none yet.
func (l *concLog) someConversation(rng *rand.Rand) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.created) == 0 {
		return 0
	}
	return l.created[rng.IntN(len(l.created))]
}

// record notes the outcome of one request. allowed are the statuses the
// operation may answer in a race (a 404 for a conversation of an inbox the
// caller just left, a 422 for an assignee who just left the inbox); anything
// else, and every 5xx, is a problem.
func (l *concLog) record(op, method, path string, status int, body []byte, err error, allowed ...int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.statuses == nil {
		l.statuses = map[string][]int{}
	}
	switch {
	case err != nil:
		l.problems = append(l.problems, fmt.Sprintf("%s: %s %s: %v", op, method, path, err))
	case status >= 500 || !slices.Contains(allowed, status):
		l.problems = append(l.problems, fmt.Sprintf("%s: %s %s: status %d, allowed %v; body %s", op, method, path, status, allowed, bytes.TrimSpace(body)))
	}
	l.statuses[op] = append(l.statuses[op], status)
}

// TestConcurrentTraffic runs creates, availability changes, manual
// assignments, member changes, role changes and status changes at once.
func TestConcurrentTraffic(t *testing.T) {
	const (
		workers      = 24
		opsPerWorker = 16
	)
	s := newServer(t)

	// Seven agents in mixed availability and a second administrator, whose
	// role flips to agent and back, over three inboxes with overlapping
	// members; the third inbox has auto-reassignment off.
	var agents []client
	for _, a := range []string{"online", "online", "busy", "offline", "online", "offline", "busy"} {
		agents = append(agents, s.newAgent("agent", a))
	}
	admin2 := s.newAgent("administrator", "online")
	users := append(slices.Clone(agents), admin2, s.admin)
	inboxes := []int64{
		s.newInbox(nil, agents[0], agents[1], agents[2], agents[3]),
		s.newInbox(nil, agents[2], agents[3], agents[4], agents[5], admin2),
		s.newInbox(map[string]any{"enable_auto_reassignment": false}, agents[0], agents[4], agents[6]),
	}
	availabilities := []string{"online", "busy", "offline"}
	// The leaver is removed from the account and joins it again, again and
	// again; the other operations leave them alone, so that only their own
	// operations see them come and go.
	leaver := s.newAgent("agent", "online")
	var leaverEmail string
	var list []agentReply
	s.admin.must(200, "GET", acct("/agents"), nil, &list)
	for _, a := range list {
		if a.ID == leaver.id {
			leaverEmail = a.Email
		}
	}
	s.admin.must(200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": inboxes[0], "user_ids": []int64{leaver.id}}, nil)

	cc := newConcCaller(s, workers)
	var log concLog
	admin := s.admin.token
	var explicitMu sync.Mutex
	explicit := map[int64]int64{} // conversation id -> the assignee it was created with

	// Each operation draws its arguments from rng and records its outcome.
	ops := []struct {
		name   string
		weight int
		run    func(rng *rand.Rand)
	}{
		{"CreateAuto", 6, func(rng *rand.Rand) {
			// As the administrator or as any user: an agent who is not (or
			// no longer) a member of the inbox gets 404.
			caller := users[rng.IntN(len(users))]
			body := map[string]any{"inbox_id": inboxes[rng.IntN(len(inboxes))], "message": map[string]any{"content": "hello"}}
			if rng.IntN(5) == 0 {
				body["status"] = "pending"
			}
			path := acct("/conversations")
			status, data, err := cc.call(caller.token, "POST", path, body)
			log.record("CreateAuto", "POST", path, status, data, err, 200, 404)
			if err == nil && status == 200 {
				var conv conversationReply
				if err := json.Unmarshal(data, &conv); err != nil || conv.ID == 0 {
					log.record("CreateAuto", "POST", path, status, data, fmt.Errorf("reply has no conversation id: %v", err))
					return
				}
				log.acknowledged(conv.ID)
			}
		}},
		{"CreateAssigned", 4, func(rng *rand.Rand) {
			assignee := users[rng.IntN(len(users))].id
			body := map[string]any{"inbox_id": inboxes[rng.IntN(len(inboxes))], "assignee_id": assignee}
			path := acct("/conversations")
			status, data, err := cc.call(admin, "POST", path, body)
			// 422 when the assignee is not (or no longer) a member.
			log.record("CreateAssigned", "POST", path, status, data, err, 200, 422)
			if err == nil && status == 200 {
				var conv conversationReply
				if err := json.Unmarshal(data, &conv); err != nil || conv.ID == 0 {
					log.record("CreateAssigned", "POST", path, status, data, fmt.Errorf("reply has no conversation id: %v", err))
					return
				}
				// The reply is read after the commit, so a concurrent
				// reassignment may already show in it; the history is
				// checked once the traffic is over.
				log.acknowledged(conv.ID)
				explicitMu.Lock()
				explicit[conv.ID] = assignee
				explicitMu.Unlock()
			}
		}},
		{"OwnAvailability", 4, func(rng *rand.Rand) {
			u := users[rng.IntN(len(users))]
			path := "/api/v1/profile/availability"
			body := map[string]any{"profile": map[string]any{"availability": availabilities[rng.IntN(3)], "account_id": 1}}
			status, data, err := cc.call(u.token, "POST", path, body)
			log.record("OwnAvailability", "POST", path, status, data, err, 200)
		}},
		{"AdminSetsAvailability", 3, func(rng *rand.Rand) {
			u := users[rng.IntN(len(users))]
			path := acct("/agents/%d", u.id)
			status, data, err := cc.call(admin, "PATCH", path, map[string]any{"availability": availabilities[rng.IntN(3)]})
			log.record("AdminSetsAvailability", "PATCH", path, status, data, err, 200)
		}},
		{"SignOut", 1, func(rng *rand.Rand) {
			u := agents[rng.IntN(len(agents))]
			status, data, err := cc.call(u.token, "DELETE", "/auth/sign_out", nil)
			log.record("SignOut", "DELETE", "/auth/sign_out", status, data, err, 200)
		}},
		{"Assign", 5, func(rng *rand.Rand) {
			id := log.someConversation(rng)
			if id == 0 {
				return
			}
			caller := admin
			if rng.IntN(2) == 0 {
				caller = users[rng.IntN(len(users))].token
			}
			var assignee any // nil unassigns
			if rng.IntN(4) != 0 {
				assignee = users[rng.IntN(len(users))].id
			}
			path := acct("/conversations/%d/assignments", id)
			status, data, err := cc.call(caller, "POST", path, map[string]any{"assignee_id": assignee})
			log.record("Assign", "POST", path, status, data, err, 200, 404, 422)
		}},
		{"ToggleStatus", 4, func(rng *rand.Rand) {
			id := log.someConversation(rng)
			if id == 0 {
				return
			}
			body := map[string]any{}
			if rng.IntN(2) == 0 {
				body["status"] = []string{"open", "pending", "resolved", "snoozed"}[rng.IntN(4)]
			}
			path := acct("/conversations/%d/toggle_status", id)
			status, data, err := cc.call(admin, "POST", path, body)
			log.record("ToggleStatus", "POST", path, status, data, err, 200)
		}},
		{"ReplaceMembers", 2, func(rng *rand.Rand) {
			var ids []int64
			for _, u := range users[:len(users)-1] { // every user but the first administrator
				if rng.IntN(2) == 0 {
					ids = append(ids, u.id)
				}
			}
			if ids == nil {
				ids = []int64{}
			}
			path := acct("/inbox_members")
			status, data, err := cc.call(admin, "PATCH", path, map[string]any{"inbox_id": inboxes[rng.IntN(len(inboxes))], "user_ids": ids})
			log.record("ReplaceMembers", "PATCH", path, status, data, err, 200)
		}},
		{"AddMembers", 2, func(rng *rand.Rand) {
			ids := []int64{users[rng.IntN(len(users))].id, users[rng.IntN(len(users))].id}
			path := acct("/inbox_members")
			status, data, err := cc.call(admin, "POST", path, map[string]any{"inbox_id": inboxes[rng.IntN(len(inboxes))], "user_ids": ids})
			log.record("AddMembers", "POST", path, status, data, err, 200)
		}},
		{"RemoveMembers", 2, func(rng *rand.Rand) {
			ids := []int64{users[rng.IntN(len(users))].id}
			path := acct("/inbox_members")
			status, data, err := cc.call(admin, "DELETE", path, map[string]any{"inbox_id": inboxes[rng.IntN(len(inboxes))], "user_ids": ids})
			log.record("RemoveMembers", "DELETE", path, status, data, err, 200)
		}},
		{"CreateForLeaver", 3, func(rng *rand.Rand) {
			body := map[string]any{"inbox_id": inboxes[rng.IntN(len(inboxes))], "assignee_id": leaver.id}
			path := acct("/conversations")
			status, data, err := cc.call(admin, "POST", path, body)
			// 422 while the leaver is out of the account or the inbox.
			log.record("CreateForLeaver", "POST", path, status, data, err, 200, 422)
			if err == nil && status == 200 {
				var conv conversationReply
				if err := json.Unmarshal(data, &conv); err != nil || conv.ID == 0 {
					log.record("CreateForLeaver", "POST", path, status, data, fmt.Errorf("reply has no conversation id: %v", err))
					return
				}
				log.acknowledged(conv.ID)
			}
		}},
		{"LeaverLeaves", 1, func(rng *rand.Rand) {
			path := acct("/agents/%d", leaver.id)
			status, data, err := cc.call(admin, "DELETE", path, nil)
			// 404 when another worker removed them first.
			log.record("LeaverLeaves", "DELETE", path, status, data, err, 200, 404)
		}},
		{"LeaverRejoins", 2, func(rng *rand.Rand) {
			path := acct("/agents")
			status, data, err := cc.call(admin, "POST", path, map[string]any{
				"name": "Leaver", "email": leaverEmail, "role": "agent", "availability": "online"})
			// 422 when they are in the account already.
			log.record("LeaverRejoins", "POST", path, status, data, err, 200, 422)
			for _, inbox := range inboxes {
				path = acct("/inbox_members")
				status, data, err = cc.call(admin, "POST", path, map[string]any{"inbox_id": inbox, "user_ids": []int64{leaver.id}})
				// 422 (Invalid User IDs) when they left again meanwhile.
				log.record("LeaverJoinsInbox", "POST", path, status, data, err, 200, 422)
			}
		}},
		{"FlipRole", 1, func(rng *rand.Rand) {
			role := []string{"agent", "administrator"}[rng.IntN(2)]
			path := acct("/agents/%d", admin2.id)
			status, data, err := cc.call(admin, "PATCH", path, map[string]any{"role": role})
			log.record("FlipRole", "PATCH", path, status, data, err, 200)
		}},
	}
	var deck []int // operation indexes, each as often as its weight
	for i, op := range ops {
		for range op.weight {
			deck = append(deck, i)
		}
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0x5b1d))
			for range opsPerWorker {
				ops[deck[rng.IntN(len(deck))]].run(rng)
			}
		})
	}
	wg.Wait()

	t.Run("NoRequestFailed", func(t *testing.T) {
		for _, p := range log.problems {
			t.Error(p)
		}
	})

	t.Run("EveryOperationRan", func(t *testing.T) {
		// A test whose operations all bounce off proves nothing.
		for _, op := range ops {
			ok := slices.Contains(log.statuses[op.name], 200)
			if !ok {
				t.Errorf("%s never succeeded; statuses %v", op.name, log.statuses[op.name])
			}
		}
	})

	t.Run("AcknowledgedConversationsExist", func(t *testing.T) {
		if len(log.created) == 0 {
			t.Fatal("no create was acknowledged")
		}
		seen := map[int64]bool{}
		for _, id := range log.created {
			if seen[id] {
				t.Errorf("conversation id %d was acknowledged twice", id)
			}
			seen[id] = true
			if status, data := s.admin.do("GET", acct("/conversations/%d", id), nil); status != 200 {
				t.Errorf("conversation %d was acknowledged but GET answers %d: %s", id, status, data)
			}
		}
	})

	t.Run("RefusedCreatesLeftNothing", func(t *testing.T) {
		var meta struct {
			Meta struct {
				All int `json:"all_count"`
			} `json:"meta"`
		}
		s.admin.must(200, "GET", acct("/conversations/meta?status=all"), nil, &meta)
		if meta.Meta.All != len(log.created) {
			t.Errorf("the account holds %d conversations, but %d creates were acknowledged", meta.Meta.All, len(log.created))
		}
	})

	t.Run("ExplicitAssigneesRecordedAsManual", func(t *testing.T) {
		for id, assignee := range explicit {
			events := s.admin.events(id)
			if len(events) == 0 {
				t.Errorf("conversation %d was created for %d but has no events", id, assignee)
				continue
			}
			e := events[0]
			if e.Reason != "manual" || e.From != nil || e.To == nil || *e.To != assignee || e.ActorID == nil || *e.ActorID != s.admin.id {
				t.Errorf("conversation %d was created for %d by %d; its first event is %+v", id, assignee, s.admin.id, e)
			}
		}
	})

	t.Run("AssigneesValidAndHistoriesChain", func(t *testing.T) {
		checkInvariants(t, s.path)
	})
}

// TestConcurrentCreatesShareFairly creates conversations at once in one inbox
// whose online members do not change: the rotation must spread them so the
// counts differ by at most one, each by an "auto" event, in the rotation's
// fixed cycle.
func TestConcurrentCreatesShareFairly(t *testing.T) {
	const (
		workers          = 16
		createsPerWorker = 4
		n                = workers * createsPerWorker
	)
	s := newServer(t)
	var members []client
	for range 5 {
		members = append(members, s.newAgent("agent", "online"))
	}
	// An offline member is not a candidate while others are online.
	offline := s.newAgent("agent", "offline")
	inbox := s.newInbox(nil, append(slices.Clone(members), offline)...)

	cc := newConcCaller(s, workers)
	var log concLog
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range createsPerWorker {
				path := acct("/conversations")
				status, data, err := cc.call(members[w%len(members)].token, "POST", path, map[string]any{"inbox_id": inbox})
				log.record("Create", "POST", path, status, data, err, 200)
				if err == nil && status == 200 {
					var conv conversationReply
					if err := json.Unmarshal(data, &conv); err != nil {
						log.record("Create", "POST", path, status, data, err)
						continue
					}
					log.acknowledged(conv.ID)
				}
			}
		})
	}
	wg.Wait()
	for _, p := range log.problems {
		t.Error(p)
	}
	if len(log.created) != n {
		t.Fatalf("%d creates acknowledged, want %d", len(log.created), n)
	}

	assigneeOf := map[int64]int64{} // conversation id -> assignee
	counts := map[int64]int{}
	autoEvents := 0
	for _, id := range log.created {
		conv := s.admin.conversation(id)
		assigneeOf[id] = conv.assignee()
		counts[conv.assignee()]++
		for _, e := range s.admin.events(id) {
			if e.Reason == "auto" {
				autoEvents++
				if e.To == nil || *e.To != conv.assignee() {
					t.Errorf("conversation %d: auto event to %v, but the assignee is %d", id, e.To, conv.assignee())
				}
			}
		}
	}

	t.Run("CountsDifferByAtMostOne", func(t *testing.T) {
		lo, hi := n, 0
		for _, m := range members {
			lo, hi = min(lo, counts[m.id]), max(hi, counts[m.id])
		}
		if hi-lo > 1 {
			t.Errorf("auto-assigned counts per online member range from %d to %d: %v", lo, hi, counts)
		}
		if counts[offline.id] != 0 || counts[0] != 0 {
			t.Errorf("%d went to the offline member and %d stayed unassigned, want none: %v", counts[offline.id], counts[0], counts)
		}
	})

	t.Run("EveryCreateHasOneAutoEvent", func(t *testing.T) {
		if autoEvents != n {
			t.Errorf("%d events with reason auto, want %d", autoEvents, n)
		}
	})

	t.Run("PicksFollowTheCycleInCreationOrder", func(t *testing.T) {
		// Conversation ids are numbered in the transaction that picks the
		// assignee, so in id order the picks cycle through the online members
		// by user id, starting with the smallest in this fresh inbox.
		cycle := make([]int64, 0, len(members))
		for _, m := range members {
			cycle = append(cycle, m.id)
		}
		slices.Sort(cycle)
		ids := slices.Sorted(maps.Keys(assigneeOf))
		for i, id := range ids {
			if want := cycle[i%len(cycle)]; assigneeOf[id] != want {
				t.Errorf("conversation %d (creation %d) went to %d, want %d", id, i+1, assigneeOf[id], want)
			}
		}
	})

	t.Run("AssigneesValidAndHistoriesChain", func(t *testing.T) {
		checkInvariants(t, s.path)
	})
}

// TestRepliesMatchCommitsUnderRace makes requests whose access, or whose
// record, another request takes away at the same moment, while readers keep
// the server busy. A request answered with an error must have changed
// nothing ("Bad input gets a clear error; it changes nothing"), and one that
// committed must say so: the client of a create that answers 404 will not
// look for the conversation it made.
func TestRepliesMatchCommitsUnderRace(t *testing.T) {
	const (
		creators         = 3
		createsPerWorker = 20
		readers          = 10
	)
	s := newServer(t)
	agent := s.newAgent("agent", "online")
	inbox := s.newInbox(nil, agent)
	leaver := s.newAgent("agent", "online")
	var leaverEmail string
	var list []agentReply
	s.admin.must(200, "GET", acct("/agents"), nil, &list)
	for _, a := range list {
		if a.ID == leaver.id {
			leaverEmail = a.Email
		}
	}

	cc := newConcCaller(s, creators+readers+4)
	var log concLog
	var stop sync.WaitGroup // the background workers
	done := make(chan struct{})
	background := func(f func()) {
		stop.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					f()
				}
			}
		})
	}
	// The agent leaves the inbox and comes back, over and over.
	background(func() {
		for _, method := range []string{"DELETE", "POST"} {
			path := acct("/inbox_members")
			status, data, err := cc.call(s.admin.token, method, path, map[string]any{"inbox_id": inbox, "user_ids": []int64{agent.id}})
			log.record("ToggleMember", method, path, status, data, err, 200)
		}
	})
	// The leaver is removed from the account, over and over.
	background(func() {
		path := acct("/agents/%d", leaver.id)
		status, data, err := cc.call(s.admin.token, "DELETE", path, nil)
		log.record("RemoveLeaver", "DELETE", path, status, data, err, 200, 404)
	})
	// Readers keep the database's read connections busy.
	for range readers {
		background(func() {
			path := acct("/conversations?status=all")
			status, data, err := cc.call(s.admin.token, "GET", path, nil)
			log.record("List", "GET", path, status, data, err, 200)
		})
	}

	var rejoinStatuses []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range creators {
		wg.Go(func() {
			for range createsPerWorker {
				path := acct("/conversations")
				status, data, err := cc.call(agent.token, "POST", path, map[string]any{"inbox_id": inbox})
				// 404 while the agent is out of the inbox.
				log.record("Create", "POST", path, status, data, err, 200, 404)
				if err == nil && status == 200 {
					var conv conversationReply
					if err := json.Unmarshal(data, &conv); err != nil || conv.ID == 0 {
						log.record("Create", "POST", path, status, data, fmt.Errorf("reply has no conversation id: %v", err))
						continue
					}
					log.acknowledged(conv.ID)
				}
				status, data, err = cc.call(s.admin.token, "POST", acct("/agents"), map[string]any{
					"name": "Leaver", "email": leaverEmail, "role": "agent"})
				if err != nil {
					log.record("Rejoin", "POST", acct("/agents"), status, data, err)
				}
				mu.Lock()
				rejoinStatuses = append(rejoinStatuses, status)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
	stop.Wait()

	t.Run("NoRequestFailed", func(t *testing.T) {
		for _, p := range log.problems {
			t.Error(p)
		}
	})

	t.Run("CreatesRefusedWithNotFoundLeftNothing", func(t *testing.T) {
		if len(log.created) == 0 {
			t.Fatal("no create was acknowledged")
		}
		var meta struct {
			Meta struct {
				All int `json:"all_count"`
			} `json:"meta"`
		}
		s.admin.must(200, "GET", acct("/conversations/meta?status=all"), nil, &meta)
		if meta.Meta.All != len(log.created) {
			t.Errorf("the account holds %d conversations, but %d creates were acknowledged and the other %d answered 404: %d conversations were made by requests that answered 404",
				meta.Meta.All, len(log.created), creators*createsPerWorker-len(log.created), meta.Meta.All-len(log.created))
		}
	})

	t.Run("AdministratorAddingAUserNeverGetsNotFound", func(t *testing.T) {
		// The leaver is either out of the account (200, they join) or in
		// it (422, already taken); a 404 answers a request that committed.
		counts := map[int]int{}
		for _, st := range rejoinStatuses {
			counts[st]++
		}
		for st, n := range counts {
			if st != 200 && st != 422 {
				t.Errorf("POST /agents for the leaver answered %d %d times (all statuses %v)", st, n, counts)
			}
		}
		if counts[200] == 0 {
			t.Errorf("the leaver never rejoined: %v", counts)
		}
	})
}
