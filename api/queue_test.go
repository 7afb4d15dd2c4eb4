package api_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/storetest"
)

// Capacity, the waiting queue, balanced mode and the reopen rule, through the
// API on both databases.

// eachDB runs fn on a fresh server on SQLite and on PostgreSQL.
func eachDB(t *testing.T, fn func(t *testing.T, s *testServer)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			newDSN := b.DSN(t)
			dsn := newDSN(t)
			path := ""
			if b.Name == "SQLite" {
				path = dsn[len("sqlite:"):]
			}
			s := newServerOn(t, dsn, path)
			fn(t, s)
			storetest.CheckInvariants(t, s.db, switchboard.Caller{UserID: s.admin.id, AccountID: 1, Role: switchboard.RoleAdministrator})
		})
	}
}

type queueReply struct {
	Payload []struct {
		ID            int64  `json:"id"`
		QueuePosition *int   `json:"queue_position"`
		WaitingSince  *int64 `json:"waiting_since"`
	} `json:"payload"`
}

func (s *testServer) queue(inbox int64) []int64 {
	s.t.Helper()
	var q queueReply
	s.admin.must(200, "GET", acct("/inboxes/%d/queue", inbox), nil, &q)
	ids := []int64{}
	for i, c := range q.Payload {
		if c.QueuePosition == nil || *c.QueuePosition != i+1 || c.WaitingSince == nil {
			s.t.Errorf("queue entry %d: position %v, waiting_since %v", i, c.QueuePosition, c.WaitingSince)
		}
		ids = append(ids, c.ID)
	}
	return ids
}

func limited(limit any, extra ...any) map[string]any {
	m := map[string]any{"auto_assignment_config": map[string]any{"max_assignment_limit": limit}}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// held returns the ids of the conversations each user holds, by user.
func (s *testServer) held(ids []int64) map[int64][]int64 {
	out := map[int64][]int64{}
	for _, id := range ids {
		a := s.admin.conversation(id).assignee()
		out[a] = append(out[a], id)
	}
	return out
}

func TestCapacity(t *testing.T) {
	t.Run("FullAgentsAreNotCandidatesAndTheRestWaits", func(t *testing.T) {
		eachDB(t, func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(limited(2), a, b)
			var ids []int64
			for range 5 {
				ids = append(ids, s.admin.create(inbox, nil).ID)
			}
			got := s.held(ids)
			if len(got[a.id]) != 2 || len(got[b.id]) != 2 || !slices.Equal(got[0], ids[4:]) {
				t.Errorf("held %v; want two each and the fifth waiting", got)
			}
			if q := s.queue(inbox); !slices.Equal(q, ids[4:]) {
				t.Errorf("queue %v, want %v", q, ids[4:])
			}
			var in struct {
				Config map[string]int `json:"auto_assignment_config"`
			}
			s.admin.must(200, "GET", acct("/inboxes/%d", inbox), nil, &in)
			if in.Config["max_assignment_limit"] != 2 {
				t.Errorf("inbox payload config %v", in.Config)
			}
		})
	})
	t.Run("LimitAppliesToTheAllOfflineFallback", func(t *testing.T) {
		eachDB(t, func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "offline"), s.newAgent("agent", "offline")
			inbox := s.newInbox(limited(1), a, b)
			var ids []int64
			for range 3 {
				ids = append(ids, s.admin.create(inbox, nil).ID)
			}
			if got := s.held(ids); len(got[a.id]) != 1 || len(got[b.id]) != 1 || len(got[0]) != 1 {
				t.Errorf("held %v; want one each and one waiting", got)
			}
		})
	})
	t.Run("RoomAppearsOnResolveOnRaiseOnNewMember", func(t *testing.T) {
		eachDB(t, func(t *testing.T, s *testServer) {
			a := s.newAgent("agent", "online")
			inbox := s.newInbox(limited(1), a)
			first := s.admin.create(inbox, nil)
			second, third, fourth := s.admin.create(inbox, nil), s.admin.create(inbox, nil), s.admin.create(inbox, nil)
			if first.assignee() != a.id || second.assignee() != 0 {
				t.Fatalf("setup: %d, %d", first.assignee(), second.assignee())
			}
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", first.ID), map[string]string{"status": "resolved"}, nil)
			if got := s.admin.conversation(second.ID).assignee(); got != a.id {
				t.Errorf("after a resolve the oldest waiting went to %d, want %d", got, a.id)
			}
			s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox), limited(2), nil)
			if got := s.admin.conversation(third.ID).assignee(); got != a.id {
				t.Errorf("after raising the limit the next waiting went to %d, want %d", got, a.id)
			}
			b := s.newAgent("agent", "online")
			s.admin.must(200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{b.id}}, nil)
			if got := s.admin.conversation(fourth.ID).assignee(); got != b.id {
				t.Errorf("after adding a member the last waiting went to %d, want %d", got, b.id)
			}
			if q := s.queue(inbox); len(q) != 0 {
				t.Errorf("queue %v, want empty", q)
			}
		})
	})
	t.Run("BadLimitRefused", func(t *testing.T) {
		s := newServer(t)
		inbox := s.newInbox(nil)
		for _, bad := range []any{0, -3, "many", 1.5} {
			status, body := s.admin.do("PATCH", acct("/inboxes/%d", inbox), limited(bad))
			if status != 422 {
				t.Errorf("limit %v: %d %s, want 422", bad, status, body)
			}
		}
		s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox), limited(nil), nil)
	})
}

// The backlog case: 20 waiting conversations, three agents come online one
// after another; each ends with the fair share up to the limit, placed in
// arrival order, and never the whole backlog to the first.
func TestBacklogPlacedFairly(t *testing.T) {
	eachDB(t, func(t *testing.T, s *testServer) {
		agents := []client{s.newAgent("agent", "offline"), s.newAgent("agent", "offline"), s.newAgent("agent", "offline")}
		inbox := s.newInbox(limited(5, "enable_auto_assignment", false), agents...)
		var ids []int64
		for range 20 {
			ids = append(ids, s.admin.create(inbox, nil).ID)
		}
		// Switched on with nobody online: all 20 wait, in arrival order.
		s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox), map[string]any{"enable_auto_assignment": true}, nil)
		if q := s.queue(inbox); !slices.Equal(q, ids) {
			t.Fatalf("queue %v, want all 20 in arrival order", q)
		}
		for i, a := range agents {
			a.setAvailability("online")
			got := s.held(ids)
			if want := ids[i*5 : i*5+5]; !slices.Equal(got[a.id], want) {
				t.Errorf("agent %d came online and holds %v, want %v", i+1, got[a.id], want)
			}
		}
		if q := s.queue(inbox); !slices.Equal(q, ids[15:]) {
			t.Errorf("queue %v, want the last five", q)
		}
	})
}

func TestBalancedMode(t *testing.T) {
	eachDB(t, func(t *testing.T, s *testServer) {
		a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(map[string]any{"assignment_mode": "balanced"}, a, b, c)
		for _, who := range []client{a, a, a, c} {
			s.admin.create(inbox, map[string]any{"assignee_id": who.id})
		}
		// Loads a=3, b=0, c=1: b has fewest; then b and c tie at 1 and the
		// rotation (last pick b) gives c; then b (1) has fewest.
		var got []int64
		for range 3 {
			got = append(got, s.admin.create(inbox, nil).assignee())
		}
		if want := []int64{b.id, c.id, b.id}; !slices.Equal(got, want) {
			t.Errorf("balanced picks %v, want %v", got, want)
		}
		status, _ := s.admin.do("PATCH", acct("/inboxes/%d", inbox), map[string]any{"assignment_mode": "random"})
		if status != 422 {
			t.Errorf("unknown mode: %d, want 422", status)
		}
	})
}

func TestReopenWhileAssigneeOffline(t *testing.T) {
	eachDB(t, func(t *testing.T, s *testServer) {
		a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(nil, a, b)
		away := s.admin.create(inbox, nil)  // a
		stays := s.admin.create(inbox, nil) // b
		for _, id := range []int64{away.ID, stays.ID} {
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", id), map[string]string{"status": "resolved"}, nil)
		}
		a.setAvailability("offline")
		for _, id := range []int64{away.ID, stays.ID} {
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", id), map[string]string{"status": "open"}, nil)
		}
		if got := s.admin.conversation(away.ID).assignee(); got != b.id {
			t.Errorf("reopened while its assignee is offline: with %d, want %d", got, b.id)
		}
		if got := s.admin.conversation(stays.ID).assignee(); got != b.id {
			t.Errorf("reopened with its assignee online: moved to %d", got)
		}
		ev := s.admin.events(away.ID)
		if last := ev[len(ev)-1]; last.Reason != "auto" || last.From == nil || *last.From != a.id {
			t.Errorf("last event %+v, want auto from %d", last, a.id)
		}
	})
}

func TestNewConversationsWaitBehindTheQueue(t *testing.T) {
	eachDB(t, func(t *testing.T, s *testServer) {
		a, b := s.newAgent("agent", "online"), s.newAgent("agent", "offline")
		inbox := s.newInbox(nil, a, b)
		first := s.admin.create(inbox, nil) // a
		a.setAvailability("offline")        // nobody online: first waits
		second := s.admin.create(inbox, nil)
		if got := s.queue(inbox); !slices.Equal(got, []int64{first.ID, second.ID}) {
			t.Fatalf("queue %v; a new conversation should wait behind the older one", got)
		}
		b.setAvailability("online")
		if got := fmt.Sprint(s.admin.conversation(first.ID).assignee(), s.admin.conversation(second.ID).assignee()); got != fmt.Sprint(b.id, b.id) {
			t.Errorf("after b came online: %s, want both with b", got)
		}
	})
}
