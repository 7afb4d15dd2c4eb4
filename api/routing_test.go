package api_test

import (
	"fmt"
	"testing"
)

// Tests of ROUTING.md through the real HTTP stack and a real SQLite file.

func counts(convs []conversationReply) map[int64]int {
	m := map[int64]int{}
	for _, c := range convs {
		m[c.assignee()]++
	}
	return m
}

func TestAutoAssignmentRoundRobin(t *testing.T) {
	t.Run("EqualSplitAmongOnlineMembersInIDOrder", func(t *testing.T) {
		s := newServer(t)
		a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(nil, c, a, b)
		var convs []conversationReply
		for range 10 {
			convs = append(convs, s.admin.create(inbox, nil))
		}
		// Fresh inbox: smallest id first, then the fixed cycle a, b, c.
		cycle := []int64{a.id, b.id, c.id}
		for i, conv := range convs {
			if conv.assignee() != cycle[i%3] {
				t.Fatalf("conversation %d went to %d, want %d", i, conv.assignee(), cycle[i%3])
			}
		}
		got := counts(convs)
		if got[a.id] != 4 || got[b.id] != 3 || got[c.id] != 3 {
			t.Errorf("counts %v, want 4/3/3", got)
		}
	})
	t.Run("OfflineAndBusyMembersSkippedWhileSomeoneOnline", func(t *testing.T) {
		s := newServer(t)
		online := s.newAgent("agent", "online")
		busy := s.newAgent("agent", "busy")
		offline := s.newAgent("agent", "offline")
		inbox := s.newInbox(nil, online, busy, offline)
		for range 5 {
			if got := s.admin.create(inbox, nil).assignee(); got != online.id {
				t.Fatalf("assigned to %d, want the online member %d", got, online.id)
			}
		}
	})
	t.Run("AllMembersWhenNoneOnline", func(t *testing.T) {
		s := newServer(t)
		a, b, c := s.newAgent("agent", "offline"), s.newAgent("agent", "busy"), s.newAgent("agent", "offline")
		inbox := s.newInbox(nil, a, b, c)
		var convs []conversationReply
		for range 9 {
			convs = append(convs, s.admin.create(inbox, nil))
		}
		got := counts(convs)
		if got[a.id] != 3 || got[b.id] != 3 || got[c.id] != 3 {
			t.Errorf("counts %v, want 3 each", got)
		}
	})
	t.Run("NoMembersLeavesUnassigned", func(t *testing.T) {
		s := newServer(t)
		inbox := s.newInbox(nil)
		if got := s.admin.create(inbox, nil).assignee(); got != 0 {
			t.Errorf("assigned to %d in an inbox without members", got)
		}
	})
	t.Run("ToggleOffLeavesUnassigned", func(t *testing.T) {
		s := newServer(t)
		a := s.newAgent("agent", "online")
		inbox := s.newInbox(nil, a)
		s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox), map[string]any{"enable_auto_assignment": false}, nil)
		conv := s.admin.create(inbox, nil)
		if conv.assignee() != 0 {
			t.Errorf("assigned to %d with auto-assignment off", conv.assignee())
		}
		if ev := s.admin.events(conv.ID); len(ev) != 0 {
			t.Errorf("events %v for an unassigned conversation", ev)
		}
		s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox), map[string]any{"enable_auto_assignment": true}, nil)
		if got := s.admin.create(inbox, nil).assignee(); got != a.id {
			t.Errorf("assigned to %d after turning it back on, want %d", got, a.id)
		}
	})
	t.Run("OffAtCreationLeavesUnassigned", func(t *testing.T) {
		s := newServer(t)
		a := s.newAgent("agent", "online")
		inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, a)
		if got := s.admin.create(inbox, nil).assignee(); got != 0 {
			t.Errorf("assigned to %d with auto-assignment off", got)
		}
	})
	t.Run("AutoEventRecorded", func(t *testing.T) {
		s := newServer(t)
		a := s.newAgent("agent", "online")
		inbox := s.newInbox(nil, a)
		conv := s.admin.create(inbox, nil)
		ev := s.admin.events(conv.ID)
		if len(ev) != 1 || ev[0].Reason != "auto" || ev[0].From != nil || ev[0].To == nil || *ev[0].To != a.id || ev[0].ActorID != nil {
			t.Errorf("events %+v, want one auto event to %d with no actor", ev, a.id)
		}
	})
}

func TestExplicitAssignee(t *testing.T) {
	s := newServer(t)
	a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
	inbox := s.newInbox(nil, a, b)
	t.Run("KeptWithManualEventAndCreatorAsActor", func(t *testing.T) {
		conv := a.create(inbox, map[string]any{"assignee_id": b.id})
		if conv.assignee() != b.id {
			t.Fatalf("assignee %d, want %d", conv.assignee(), b.id)
		}
		ev := a.events(conv.ID)
		if len(ev) != 1 || ev[0].Reason != "manual" || ev[0].ActorID == nil || *ev[0].ActorID != a.id {
			t.Errorf("events %+v, want one manual event by %d", ev, a.id)
		}
	})
	t.Run("RotationDoesNotMove", func(t *testing.T) {
		// Nothing was auto-assigned yet, so the fresh rotation starts at a.
		if got := s.admin.create(inbox, nil).assignee(); got != a.id {
			t.Errorf("first auto pick %d, want %d", got, a.id)
		}
	})
	t.Run("PendingNotAutoAssignedUntilOpen", func(t *testing.T) {
		conv := s.admin.create(inbox, map[string]any{"status": "pending"})
		if conv.assignee() != 0 || conv.Status != "pending" {
			t.Fatalf("pending conversation %+v was assigned", conv)
		}
		s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]any{"status": "open"}, nil)
		if got := s.admin.conversation(conv.ID).assignee(); got != b.id {
			t.Errorf("reopened conversation went to %d, want next in rotation %d", got, b.id)
		}
	})
}

func TestReopenAutoAssigns(t *testing.T) {
	s := newServer(t)
	a := s.newAgent("agent", "online")
	inbox := s.newInbox(nil, a)
	conv := s.admin.create(inbox, nil)
	s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), nil, nil) // open -> resolved
	s.admin.must(200, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": nil}, nil)
	var reply struct {
		Payload struct {
			CurrentStatus string `json:"current_status"`
		} `json:"payload"`
	}
	s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), nil, &reply) // resolved -> open
	if reply.Payload.CurrentStatus != "open" {
		t.Fatalf("status %q after toggling a resolved conversation", reply.Payload.CurrentStatus)
	}
	if got := s.admin.conversation(conv.ID).assignee(); got != a.id {
		t.Errorf("reopened unassigned conversation went to %d, want %d", got, a.id)
	}
}

func TestManualAssignment(t *testing.T) {
	s := newServer(t)
	member := s.newAgent("agent", "online")
	offlineMember := s.newAgent("agent", "offline")
	outsider := s.newAgent("agent", "online")
	admin2 := s.newAgent("administrator", "offline")
	inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, member, offlineMember)
	other := s.newInbox(nil, outsider)
	conv := s.admin.create(inbox, nil)

	tests := []struct {
		name     string
		by       client
		assignee any
		status   int
		want     int64
	}{
		{"MemberAssignsOfflineMember", member, offlineMember.id, 200, offlineMember.id},
		{"MemberAssignsAdministratorOutsideInbox", member, admin2.id, 200, admin2.id},
		{"NonMemberRefused", member, outsider.id, 422, admin2.id},
		{"AgentOfOtherInboxCannotSeeIt", outsider, member.id, 404, admin2.id},
		{"AdministratorAssigns", s.admin, member.id, 200, member.id},
		{"UnassignWithNull", member, nil, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.by.must(tt.status, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": tt.assignee}, nil)
			if got := s.admin.conversation(conv.ID).assignee(); got != tt.want {
				t.Errorf("assignee %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("SameAssigneeWritesNoEvent", func(t *testing.T) {
		s.admin.must(200, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": member.id}, nil)
		before := len(s.admin.events(conv.ID))
		s.admin.must(200, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": member.id}, nil)
		if after := len(s.admin.events(conv.ID)); after != before {
			t.Errorf("events %d -> %d for a no-op assignment", before, after)
		}
	})
	t.Run("ManualDoesNotMoveRotation", func(t *testing.T) {
		s.admin.must(200, "PATCH", acct("/inboxes/%d", other), map[string]any{"enable_auto_assignment": true}, nil)
		second := s.newAgent("agent", "online")
		s.admin.must(200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": other, "user_ids": []int64{second.id}}, nil)
		c1 := s.admin.create(other, nil) // outsider (smaller id)
		s.admin.must(200, "POST", acct("/conversations/%d/assignments", c1.ID), map[string]any{"assignee_id": second.id}, nil)
		if got := s.admin.create(other, nil).assignee(); got != second.id {
			t.Errorf("next auto pick %d, want %d: manual assignment moved the rotation", got, second.id)
		}
	})
	checkInvariants(t, s.path)
}

func TestAgentVisibility(t *testing.T) {
	s := newServer(t)
	a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
	inboxA, inboxB := s.newInbox(nil, a), s.newInbox(nil, b)
	convB := s.admin.create(inboxB, nil)
	t.Run("NonMemberGetsNotFound", func(t *testing.T) {
		for _, path := range []string{
			acct("/conversations/%d", convB.ID), acct("/inboxes/%d", inboxB),
			acct("/inbox_members/%d", inboxB), acct("/conversations/%d/assignment_events", convB.ID),
		} {
			if status, body := a.do("GET", path, nil); status != 404 {
				t.Errorf("GET %s: %d %s, want 404", path, status, body)
			}
		}
		if status, _ := a.do("POST", acct("/conversations"), map[string]any{"inbox_id": inboxB}); status != 404 {
			t.Errorf("create in another inbox: %d, want 404", status)
		}
	})
	t.Run("ListShowsOnlyOwnInboxes", func(t *testing.T) {
		a.create(inboxA, nil)
		var list struct {
			Data struct {
				Meta struct {
					All int `json:"all_count"`
				} `json:"meta"`
				Payload []conversationReply `json:"payload"`
			} `json:"data"`
		}
		a.must(200, "GET", acct("/conversations"), nil, &list)
		if list.Data.Meta.All != 1 || len(list.Data.Payload) != 1 || list.Data.Payload[0].InboxID != inboxA {
			t.Errorf("agent sees %+v, want only the conversation of their inbox", list.Data)
		}
		var inboxes struct {
			Payload []struct {
				ID int64 `json:"id"`
			} `json:"payload"`
		}
		a.must(200, "GET", acct("/inboxes"), nil, &inboxes)
		if len(inboxes.Payload) != 1 || inboxes.Payload[0].ID != inboxA {
			t.Errorf("agent sees inboxes %+v, want only %d", inboxes.Payload, inboxA)
		}
	})
	t.Run("AdministratorSeesAll", func(t *testing.T) {
		s.admin.must(200, "GET", acct("/conversations/%d", convB.ID), nil, nil)
		var list struct {
			Data struct {
				Meta struct {
					All int `json:"all_count"`
				} `json:"meta"`
			} `json:"data"`
		}
		s.admin.must(200, "GET", acct("/conversations"), nil, &list)
		if list.Data.Meta.All != 2 {
			t.Errorf("administrator sees %d conversations, want 2", list.Data.Meta.All)
		}
	})
}

func TestReassignment(t *testing.T) {
	type setup struct {
		s          *testServer
		a, b, c    client
		inbox      int64
		convs      []conversationReply
		heldByA    []int64
		resolvedID int64
	}
	// a, b, c online; six conversations split two each; one of a's resolved.
	prepare := func(t *testing.T, settings map[string]any) setup {
		s := newServer(t)
		a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
		st := setup{s: s, a: a, b: b, c: c, inbox: s.newInbox(settings, a, b, c)}
		for range 6 {
			conv := s.admin.create(st.inbox, nil)
			st.convs = append(st.convs, conv)
			if conv.assignee() == a.id {
				st.heldByA = append(st.heldByA, conv.ID)
			}
		}
		st.resolvedID = st.heldByA[1]
		s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", st.resolvedID), map[string]any{"status": "resolved"}, nil)
		return st
	}
	ways := []struct {
		name    string
		goOff   func(st setup)
		actorIs func(st setup) int64
	}{
		{"ProfileOffline", func(st setup) { st.a.setAvailability("offline") }, func(st setup) int64 { return st.a.id }},
		{"AdministratorSetsOffline", func(st setup) {
			st.s.admin.must(200, "PATCH", acct("/agents/%d", st.a.id), map[string]any{"availability": "offline"}, nil)
		}, func(st setup) int64 { return st.s.admin.id }},
		{"SignOut", func(st setup) { st.a.must(200, "DELETE", "/auth/sign_out", nil, nil) }, func(st setup) int64 { return st.a.id }},
	}
	for _, way := range ways {
		t.Run(way.name+"/MovesToNextOnlineMember", func(t *testing.T) {
			st := prepare(t, nil)
			way.goOff(st)
			open := st.s.admin.conversation(st.heldByA[0])
			// The rotation's last pick was c (six picks: a b c a b c), so b
			// follows a's departure... the next online after c is b, as a is offline.
			if open.assignee() != st.b.id {
				t.Errorf("open conversation went to %d, want %d", open.assignee(), st.b.id)
			}
			if got := st.s.admin.conversation(st.resolvedID).assignee(); got != st.a.id {
				t.Errorf("resolved conversation moved to %d; resolved ones stay", got)
			}
			ev := st.s.admin.events(st.heldByA[0])
			last := ev[len(ev)-1]
			if last.Reason != "reassign" || last.ActorID == nil || *last.ActorID != way.actorIs(st) {
				t.Errorf("last event %+v, want reassign by %d", last, way.actorIs(st))
			}
			checkInvariants(t, st.s.path)
		})
		t.Run(way.name+"/UnassignsWhenNoneOnline", func(t *testing.T) {
			st := prepare(t, nil)
			st.b.setAvailability("offline")
			st.c.setAvailability("busy")
			way.goOff(st)
			if got := st.s.admin.conversation(st.heldByA[0]).assignee(); got != 0 {
				t.Errorf("conversation went to %d with nobody online, want unassigned", got)
			}
			ev := st.s.admin.events(st.heldByA[0])
			if last := ev[len(ev)-1]; last.Reason != "reassign" || last.To != nil {
				t.Errorf("last event %+v, want reassign to nobody", last)
			}
			checkInvariants(t, st.s.path)
		})
	}
	t.Run("ReassignmentOffKeepsConversations", func(t *testing.T) {
		st := prepare(t, map[string]any{"enable_auto_reassignment": false})
		st.a.setAvailability("offline")
		if got := st.s.admin.conversation(st.heldByA[0]).assignee(); got != st.a.id {
			t.Errorf("conversation moved to %d with reassignment off", got)
		}
	})
	t.Run("BusyKeepsConversationsButGetsNoNewOnes", func(t *testing.T) {
		st := prepare(t, nil)
		st.a.setAvailability("busy")
		if got := st.s.admin.conversation(st.heldByA[0]).assignee(); got != st.a.id {
			t.Errorf("busy agent lost the conversation to %d", got)
		}
		for range 4 {
			if got := st.s.admin.create(st.inbox, nil).assignee(); got == st.a.id {
				t.Fatalf("busy agent got a new conversation while others are online")
			}
		}
	})
	t.Run("ReassignmentFollowsRotation", func(t *testing.T) {
		s := newServer(t)
		leaving := s.newAgent("agent", "online")
		b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, leaving, b, c)
		var held []int64
		for range 4 {
			conv := s.admin.create(inbox, map[string]any{"assignee_id": leaving.id})
			held = append(held, conv.ID)
		}
		leaving.setAvailability("offline")
		want := []int64{b.id, c.id, b.id, c.id}
		for i, id := range held {
			if got := s.admin.conversation(id).assignee(); got != want[i] {
				t.Errorf("conversation %d went to %d, want %d", id, got, want[i])
			}
		}
	})
}

func TestLosingAccess(t *testing.T) {
	t.Run("RemovedFromInboxReassigns", func(t *testing.T) {
		s := newServer(t)
		a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(nil, a, b)
		conv := s.admin.create(inbox, nil) // a
		resolved := s.admin.create(inbox, map[string]any{"assignee_id": a.id})
		s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", resolved.ID), map[string]any{"status": "resolved"}, nil)
		s.admin.must(200, "DELETE", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{a.id}}, nil)
		if got := s.admin.conversation(conv.ID).assignee(); got != b.id {
			t.Errorf("conversation of removed member went to %d, want %d", got, b.id)
		}
		if got := s.admin.conversation(resolved.ID).assignee(); got != 0 {
			t.Errorf("resolved conversation stays with %d, who can no longer see it", got)
		}
		checkInvariants(t, s.path)
	})
	t.Run("RemovedWithReassignmentOffUnassigns", func(t *testing.T) {
		s := newServer(t)
		a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(map[string]any{"enable_auto_reassignment": false}, a, b)
		conv := s.admin.create(inbox, nil)
		s.admin.must(200, "PATCH", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{b.id}}, nil)
		if got := s.admin.conversation(conv.ID).assignee(); got != 0 {
			t.Errorf("conversation stays with %d, who left the inbox", got)
		}
		checkInvariants(t, s.path)
	})
	t.Run("AdministratorRemovedFromInboxKeeps", func(t *testing.T) {
		s := newServer(t)
		boss := s.newAgent("administrator", "online")
		inbox := s.newInbox(nil, boss)
		conv := s.admin.create(inbox, nil)
		s.admin.must(200, "DELETE", acct("/inbox_members/%d", inbox), map[string]any{"user_ids": []int64{boss.id}}, nil)
		if got := s.admin.conversation(conv.ID).assignee(); got != boss.id {
			t.Errorf("administrator lost the conversation to %d; they may still hold it", got)
		}
	})
	t.Run("RemovedFromAccountReassigns", func(t *testing.T) {
		s := newServer(t)
		a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(nil, a, b)
		conv := s.admin.create(inbox, nil)
		s.admin.must(200, "DELETE", acct("/agents/%d", a.id), nil, nil)
		if got := s.admin.conversation(conv.ID).assignee(); got != b.id {
			t.Errorf("conversation of removed agent went to %d, want %d", got, b.id)
		}
		if status, _ := a.do("GET", acct("/conversations"), nil); status != 404 {
			t.Errorf("removed agent reads the account: %d, want 404", status)
		}
		checkInvariants(t, s.path)
	})
	t.Run("DemotedAdministratorLosesConversationsOutsideTheirInboxes", func(t *testing.T) {
		s := newServer(t)
		boss, b := s.newAgent("administrator", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, b)
		conv := s.admin.create(inbox, map[string]any{"assignee_id": boss.id})
		s.admin.must(200, "PATCH", acct("/agents/%d", boss.id), map[string]any{"role": "agent"}, nil)
		if got := s.admin.conversation(conv.ID).assignee(); got != b.id {
			t.Errorf("conversation went to %d after the demotion, want %d", got, b.id)
		}
		checkInvariants(t, s.path)
	})
	t.Run("LastAdministratorStays", func(t *testing.T) {
		s := newServer(t)
		s.admin.must(422, "PATCH", acct("/agents/%d", s.admin.id), map[string]any{"role": "agent"}, nil)
		s.admin.must(422, "DELETE", acct("/agents/%d", s.admin.id), nil, nil)
	})
}

func TestRotationSurvivesRestart(t *testing.T) {
	s := newServer(t)
	a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
	inbox := s.newInbox(nil, a, b, c)
	first := s.admin.create(inbox, nil)
	second := s.admin.create(inbox, nil)
	s.restart()
	third := s.admin.create(inbox, nil)
	got := fmt.Sprint(first.assignee(), second.assignee(), third.assignee())
	if want := fmt.Sprint(a.id, b.id, c.id); got != want {
		t.Errorf("picks across a restart %s, want %s", got, want)
	}
	if s.admin.conversation(first.ID).assignee() != a.id {
		t.Errorf("conversation lost its assignee across the restart")
	}
}

func TestSignInSetsOnline(t *testing.T) {
	s := newServer(t)
	a := s.newAgent("agent", "busy")
	a.must(200, "DELETE", "/auth/sign_out", nil, nil)
	var me agentReply
	a.must(200, "GET", "/api/v1/profile", nil, &me)
	if me.AvailabilityStatus != "offline" {
		t.Fatalf("after sign-out %q, want offline", me.AvailabilityStatus)
	}
	var signedIn struct {
		Data agentReply `json:"data"`
	}
	client{s: s}.must(200, "POST", "/auth/sign_in", map[string]string{"email": me.Email, "password": "password123"}, &signedIn)
	if signedIn.Data.AvailabilityStatus != "online" {
		t.Errorf("after sign-in %q, want online", signedIn.Data.AvailabilityStatus)
	}
	t.Run("BusyStaysBusy", func(t *testing.T) {
		a.setAvailability("busy")
		client{s: s}.must(200, "POST", "/auth/sign_in", map[string]string{"email": me.Email, "password": "password123"}, &signedIn)
		if signedIn.Data.AvailabilityStatus != "busy" {
			t.Errorf("busy user signed in as %q", signedIn.Data.AvailabilityStatus)
		}
	})
}
