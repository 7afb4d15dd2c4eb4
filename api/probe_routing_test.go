package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// An independent, black-box probe of ROUTING.md's "Auto-assignment (round
// robin)", "Auto-reassignment" and "Promises that hold everywhere", through
// the HTTP API only, on SQLite and on PostgreSQL. Users made one after the
// other get increasing ids, so the order of creation is the rotation's order.

// rpEachBackend runs fn on a fresh server on each storage backend.
func rpEachBackend(t *testing.T, fn func(t *testing.T, s *testServer)) {
	t.Helper()
	eachDB(t, func(t *testing.T, s *testServer) {
		fn(t, s)
		rpAudit(t, s)
	})
}

// rpCase is one scenario run on each backend.
type rpCase struct {
	name string
	run  func(t *testing.T, s *testServer)
}

func rpRun(t *testing.T, cases []rpCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { rpEachBackend(t, tc.run) })
	}
}

func rpID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// rpToggle sets the status of conversation id as c; an empty status sends
// no status (open <-> resolved). It returns the reported current status.
func rpToggle(c client, id int64, status string) string {
	c.s.t.Helper()
	body := map[string]any{}
	if status != "" {
		body["status"] = status
	}
	var reply struct {
		Payload struct {
			Success       bool   `json:"success"`
			CurrentStatus string `json:"current_status"`
		} `json:"payload"`
	}
	c.must(200, "POST", acct("/conversations/%d/toggle_status", id), body, &reply)
	if !reply.Payload.Success {
		c.s.t.Errorf("toggle_status of %d: success false", id)
	}
	return reply.Payload.CurrentStatus
}

func rpAssign(c client, id int64, assignee any) {
	c.s.t.Helper()
	c.must(200, "POST", acct("/conversations/%d/assignments", id), map[string]any{"assignee_id": assignee}, nil)
}

func rpRemoveMembers(s *testServer, inbox int64, users ...client) {
	s.t.Helper()
	ids := make([]int64, 0, len(users))
	for _, u := range users {
		ids = append(ids, u.id)
	}
	s.admin.must(200, "DELETE", acct("/inbox_members/%d", inbox), map[string]any{"inbox_id": inbox, "user_ids": ids}, nil)
}

// rpWantAssignee fails unless conversation id is held by want (0: nobody).
func rpWantAssignee(t *testing.T, s *testServer, id, want int64, why string) {
	t.Helper()
	if got := s.admin.conversation(id).assignee(); got != want {
		t.Errorf("conversation %d: assignee %d, want %d (%s)", id, got, want, why)
	}
}

// rpLastEvent fails unless the last assignment event of conversation id
// has the given reason, from, to and (when actor is not -1) actor.
func rpLastEvent(t *testing.T, s *testServer, id int64, reason string, from, to, actor int64) {
	t.Helper()
	ev := s.admin.events(id)
	if len(ev) == 0 {
		t.Errorf("conversation %d: no assignment event, want %s %d->%d", id, reason, from, to)
		return
	}
	last := ev[len(ev)-1]
	if last.Reason != reason || rpID(last.From) != from || rpID(last.To) != to || (actor != -1 && rpID(last.ActorID) != actor) {
		t.Errorf("conversation %d: last event %s %d->%d by %d, want %s %d->%d by %d",
			id, last.Reason, rpID(last.From), rpID(last.To), rpID(last.ActorID), reason, from, to, actor)
	}
}

// rpAllConversations pages through the administrator's list of every
// conversation of the account, and checks it against the meta count.
func rpAllConversations(t *testing.T, s *testServer) []conversationReply {
	t.Helper()
	seen := map[int64]bool{}
	var all []conversationReply
	var total int
	for page := 1; page < 1000; page++ {
		var reply struct {
			Data struct {
				Meta struct {
					AllCount int `json:"all_count"`
				} `json:"meta"`
				Payload []conversationReply `json:"payload"`
			} `json:"data"`
		}
		s.admin.must(200, "GET", acct("/conversations?status=all&assignee_type=all&page=%d", page), nil, &reply)
		total = reply.Data.Meta.AllCount
		if len(reply.Data.Payload) == 0 {
			break
		}
		for _, c := range reply.Data.Payload {
			if !seen[c.ID] {
				seen[c.ID] = true
				all = append(all, c)
			}
		}
	}
	if len(all) != total {
		t.Errorf("the list pages hold %d distinct conversations, meta all_count says %d", len(all), total)
	}
	return all
}

// rpAudit checks, through the API, the promises that hold at rest: every
// assignee is a member of the conversation's inbox or an administrator of the
// account, and each conversation's events form one chain from nobody to its
// current assignee, one event per change, each with a known reason.
func rpAudit(t *testing.T, s *testServer) {
	t.Helper()
	var agents []agentReply
	s.admin.must(200, "GET", acct("/agents"), nil, &agents)
	roles := map[int64]string{}
	for _, a := range agents {
		roles[a.ID] = a.Role
	}
	var inboxes struct {
		Payload []struct {
			ID int64 `json:"id"`
		} `json:"payload"`
	}
	s.admin.must(200, "GET", acct("/inboxes"), nil, &inboxes)
	members := map[[2]int64]bool{}
	for _, in := range inboxes.Payload {
		var ms struct {
			Payload []agentReply `json:"payload"`
		}
		s.admin.must(200, "GET", acct("/inbox_members/%d", in.ID), nil, &ms)
		for _, m := range ms.Payload {
			members[[2]int64{in.ID, m.ID}] = true
		}
	}
	for _, c := range rpAllConversations(t, s) {
		a := c.assignee()
		if a != 0 && roles[a] != "administrator" && !members[[2]int64{c.InboxID, a}] {
			t.Errorf("rule 2: conversation %d of inbox %d is assigned to %d (role %q), neither a member nor an administrator", c.ID, c.InboxID, a, roles[a])
		}
		var holder int64
		for i, e := range s.admin.events(c.ID) {
			if !slices.Contains([]string{"manual", "auto", "reassign"}, e.Reason) {
				t.Errorf("conversation %d event %d: reason %q", c.ID, i, e.Reason)
			}
			if rpID(e.From) != holder {
				t.Errorf("conversation %d event %d: from %d, but the previous event left it with %d", c.ID, i, rpID(e.From), holder)
			}
			if rpID(e.From) == rpID(e.To) {
				t.Errorf("conversation %d event %d: from %d to itself", c.ID, i, rpID(e.From))
			}
			if e.Reason == "manual" && e.ActorID == nil {
				t.Errorf("conversation %d event %d: manual change without an actor", c.ID, i)
			}
			holder = rpID(e.To)
		}
		if holder != a {
			t.Errorf("conversation %d: events end with %d but the assignee is %d", c.ID, holder, a)
		}
	}
}

// TestProbeRoutingRotation checks rule 3 (the rotation by user id) and rules
// 1, 2 and 5 around it.
func TestProbeRoutingRotation(t *testing.T) {
	rpRun(t, []rpCase{
		{"NextAfterLastPickThatLeftTheInbox", func(t *testing.T, s *testServer) {
			a, b, c, d := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b, c, d)
			first, second := s.admin.create(inbox, nil), s.admin.create(inbox, nil)
			if first.assignee() != a.id || second.assignee() != b.id {
				t.Fatalf("fresh picks %d, %d, want %d, %d", first.assignee(), second.assignee(), a.id, b.id)
			}
			// b, the last pick, hands its conversation over by hand (which
			// does not move the rotation) and leaves the inbox.
			rpAssign(s.admin, second.ID, a.id)
			rpRemoveMembers(s, inbox, b)
			want := []int64{c.id, d.id, a.id, c.id}
			for i, w := range want {
				if got := s.admin.create(inbox, nil).assignee(); got != w {
					t.Errorf("pick %d after the last pick left: %d, want %d", i, got, w)
				}
			}
		}},
		{"WrapsWhenTheLargestIDLastPickLeft", func(t *testing.T, s *testServer) {
			a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b, c)
			var last conversationReply
			for range 3 {
				last = s.admin.create(inbox, nil)
			}
			if last.assignee() != c.id {
				t.Fatalf("third pick %d, want %d", last.assignee(), c.id)
			}
			rpAssign(s.admin, last.ID, b.id)
			rpRemoveMembers(s, inbox, c)
			for i, w := range []int64{a.id, b.id, a.id} {
				if got := s.admin.create(inbox, nil).assignee(); got != w {
					t.Errorf("pick %d after the largest id left: %d, want %d", i, got, w)
				}
			}
		}},
		{"SkipsMembersWhoAreNotOnlineAfterTheLastPick", func(t *testing.T, s *testServer) {
			a, b, c, d := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b, c, d)
			if got := s.admin.create(inbox, nil).assignee(); got != a.id {
				t.Fatalf("fresh pick %d, want %d", got, a.id)
			}
			b.setAvailability("busy")
			c.setAvailability("offline")
			for i, w := range []int64{d.id, a.id} {
				if got := s.admin.create(inbox, nil).assignee(); got != w {
					t.Errorf("pick %d with b busy and c offline: %d, want %d", i, got, w)
				}
			}
			c.setAvailability("online") // last pick a: c is next, then d.
			for i, w := range []int64{c.id, d.id, a.id} {
				if got := s.admin.create(inbox, nil).assignee(); got != w {
					t.Errorf("pick %d after c came back: %d, want %d", i, got, w)
				}
			}
		}},
		{"NobodyOnlineFallsBackToAllMembersContinuingTheRotation", func(t *testing.T, s *testServer) {
			a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b, c)
			s.admin.create(inbox, nil) // a
			s.admin.create(inbox, nil) // b
			// c holds nothing, so its going offline moves nothing.
			a.setAvailability("busy")
			b.setAvailability("busy")
			c.setAvailability("offline")
			for i, w := range []int64{c.id, a.id, b.id, c.id} {
				if got := s.admin.create(inbox, nil).assignee(); got != w {
					t.Errorf("pick %d with nobody online: %d, want %d (all members, in rotation)", i, got, w)
				}
			}
		}},
		{"OnlineAdministratorOutsideTheInboxIsNoCandidate", func(t *testing.T, s *testServer) {
			boss := s.newAgent("administrator", "online")
			a, b := s.newAgent("agent", "offline"), s.newAgent("agent", "busy")
			inbox := s.newInbox(nil, a, b)
			for i, w := range []int64{a.id, b.id, a.id} {
				if got := s.admin.create(inbox, nil).assignee(); got != w {
					t.Errorf("pick %d: %d, want %d (the online administrator %d is not a member)", i, got, w, boss.id)
				}
			}
		}},
		{"InboxEmptiedOfMembersLeavesUnassigned", func(t *testing.T, s *testServer) {
			a := s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a)
			rpRemoveMembers(s, inbox, a)
			conv := s.admin.create(inbox, nil)
			if conv.assignee() != 0 {
				t.Errorf("rule 5: assigned to %d in an inbox without members", conv.assignee())
			}
			if ev := s.admin.events(conv.ID); len(ev) != 0 {
				t.Errorf("events %+v for a conversation nobody was given", ev)
			}
		}},
		{"ExplicitAdministratorAssigneeKeptAndRotationUnmoved", func(t *testing.T, s *testServer) {
			boss := s.newAgent("administrator", "offline")
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b)
			conv := a.create(inbox, map[string]any{"assignee_id": boss.id})
			if conv.assignee() != boss.id {
				t.Fatalf("explicit administrator assignee replaced by %d", conv.assignee())
			}
			rpLastEvent(t, s, conv.ID, "manual", 0, boss.id, a.id)
			if got := s.admin.create(inbox, nil).assignee(); got != a.id {
				t.Errorf("first auto pick %d, want %d: the explicit create moved the rotation", got, a.id)
			}
		}},
		{"AutoAssignmentSwitchedOffThenOn", func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b)
			s.admin.create(inbox, nil) // a
			s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox), map[string]any{"enable_auto_assignment": false}, nil)
			pending := s.admin.create(inbox, map[string]any{"status": "pending"})
			off := s.admin.create(inbox, nil)
			if off.assignee() != 0 {
				t.Errorf("assigned to %d with auto-assignment off", off.assignee())
			}
			rpAssign(s.admin, off.ID, b.id) // by hand, so no queue is involved
			if rpToggle(s.admin, pending.ID, "open") != "open" {
				t.Fatalf("pending conversation not reopened")
			}
			rpWantAssignee(t, s, pending.ID, 0, "reopened while auto-assignment is off")
			rpAssign(s.admin, pending.ID, a.id)
			s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox), map[string]any{"enable_auto_assignment": true}, nil)
			// The rotation kept a as its last pick through the pause.
			for i, w := range []int64{b.id, a.id} {
				if got := s.admin.create(inbox, nil).assignee(); got != w {
					t.Errorf("pick %d after switching back on: %d, want %d", i, got, w)
				}
			}
		}},
	})
}

// TestProbeRoutingReopen checks that conversations are auto-assigned when
// created open or when their status becomes open, and only then.
func TestProbeRoutingReopen(t *testing.T) {
	for _, initial := range []string{"pending", "snoozed", "resolved"} {
		for _, how := range []string{"open", ""} {
			if how == "" && initial != "resolved" {
				continue // a toggle without status only reopens resolved ones
			}
			name := "Created" + initial + "ThenStatusOpen"
			if how == "" {
				name = "Created" + initial + "ThenToggledWithoutStatus"
			}
			t.Run(name, func(t *testing.T) {
				rpEachBackend(t, func(t *testing.T, s *testServer) {
					a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
					inbox := s.newInbox(nil, a, b)
					s.admin.create(inbox, nil) // a
					conv := s.admin.create(inbox, map[string]any{"status": initial})
					if conv.Status != initial || conv.assignee() != 0 {
						t.Fatalf("created %s: status %q, assignee %d; want %s and unassigned", initial, conv.Status, conv.assignee(), initial)
					}
					if ev := s.admin.events(conv.ID); len(ev) != 0 {
						t.Errorf("events %+v before the conversation was opened", ev)
					}
					if got := rpToggle(s.admin, conv.ID, how); got != "open" {
						t.Fatalf("toggle_status answered %q, want open", got)
					}
					// The assignee is there by the time the reply came.
					rpWantAssignee(t, s, conv.ID, b.id, "next in rotation on reopening")
					rpLastEvent(t, s, conv.ID, "auto", 0, b.id, -1)
				})
			})
		}
	}
	rpRun(t, []rpCase{
		{"StatusChangesBetweenOtherStatusesAssignNobody", func(t *testing.T, s *testServer) {
			a := s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a)
			conv := s.admin.create(inbox, map[string]any{"status": "pending"})
			for _, st := range []string{"snoozed", "resolved", "pending"} {
				rpToggle(s.admin, conv.ID, st)
				rpWantAssignee(t, s, conv.ID, 0, "not open, so not auto-assigned: "+st)
			}
		}},
		{"ReopenKeepsAnOnlineAssignee", func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b)
			conv := s.admin.create(inbox, nil) // a
			rpToggle(s.admin, conv.ID, "resolved")
			before := len(s.admin.events(conv.ID))
			rpToggle(s.admin, conv.ID, "open")
			rpWantAssignee(t, s, conv.ID, a.id, "a reopened conversation with an assignee keeps them")
			if n := len(s.admin.events(conv.ID)); n != before {
				t.Errorf("%d new events on reopening, want none", n-before)
			}
			if got := s.admin.create(inbox, nil).assignee(); got != b.id {
				t.Errorf("next pick %d, want %d: the reopening moved the rotation", got, b.id)
			}
		}},
		{"OpenToOpenIsNoReopening", func(t *testing.T, s *testServer) {
			a := s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a)
			conv := s.admin.create(inbox, nil)
			rpAssign(s.admin, conv.ID, nil)
			rpToggle(s.admin, conv.ID, "open")
			rpWantAssignee(t, s, conv.ID, 0, "its status did not become open from another status")
		}},
		{"CreatedPendingWithExplicitAssigneeKeepsIt", func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b)
			conv := s.admin.create(inbox, map[string]any{"status": "pending", "assignee_id": b.id})
			if conv.assignee() != b.id {
				t.Fatalf("explicit assignee replaced by %d", conv.assignee())
			}
			rpToggle(s.admin, conv.ID, "open")
			rpWantAssignee(t, s, conv.ID, b.id, "explicit assignee, online, on reopening")
			if got := s.admin.create(inbox, nil).assignee(); got != a.id {
				t.Errorf("first auto pick %d, want %d", got, a.id)
			}
		}},
	})
}

// TestProbeRoutingReassignOnOffline checks "Auto-reassignment" for each way a
// user can become offline.
func TestProbeRoutingReassignOnOffline(t *testing.T) {
	ways := []struct {
		name  string
		goOff func(s *testServer, leaving client)
		actor func(s *testServer, leaving client) int64
	}{
		{"ProfileOffline", func(_ *testServer, l client) { l.setAvailability("offline") },
			func(_ *testServer, l client) int64 { return l.id }},
		{"BusyThenOffline", func(_ *testServer, l client) { l.setAvailability("busy"); l.setAvailability("offline") },
			func(_ *testServer, l client) int64 { return l.id }},
		{"AdministratorPatchesAgent", func(s *testServer, l client) {
			s.admin.must(200, "PATCH", acct("/agents/%d", l.id), map[string]any{"availability": "offline"}, nil)
		}, func(s *testServer, _ client) int64 { return s.admin.id }},
		{"SignOut", func(_ *testServer, l client) { l.must(200, "DELETE", "/auth/sign_out", nil, nil) },
			func(_ *testServer, l client) int64 { return l.id }},
		// Signing out sets the user offline, busy or not.
		{"SignOutWhileBusy", func(_ *testServer, l client) {
			l.setAvailability("busy")
			l.must(200, "DELETE", "/auth/sign_out", nil, nil)
		},
			func(_ *testServer, l client) int64 { return l.id }},
	}
	for _, way := range ways {
		t.Run(way.name, func(t *testing.T) {
			rpEachBackend(t, func(t *testing.T, s *testServer) {
				leaving := s.newAgent("agent", "online")
				busy, online, offline := s.newAgent("agent", "busy"), s.newAgent("agent", "online"), s.newAgent("agent", "offline")
				reassigns := s.newInbox(nil, leaving, busy, online, offline)
				keeps := s.newInbox(map[string]any{"enable_auto_reassignment": false}, leaving, online)
				nobody := s.newInbox(nil, leaving, busy, offline)
				held := map[string]int64{}
				for _, st := range []string{"open", "pending", "snoozed", "resolved"} {
					held[st] = s.admin.create(reassigns, map[string]any{"status": st, "assignee_id": leaving.id}).ID
				}
				inKeeps := s.admin.create(keeps, map[string]any{"assignee_id": leaving.id}).ID
				inNobody := s.admin.create(nobody, map[string]any{"assignee_id": leaving.id}).ID
				busyHeld := s.admin.create(reassigns, map[string]any{"assignee_id": busy.id}).ID

				way.goOff(s, leaving)
				actor := way.actor(s, leaving)

				for _, st := range []string{"open", "pending", "snoozed"} {
					rpWantAssignee(t, s, held[st], online.id, st+": the only online member; busy and offline ones are no candidates")
					rpLastEvent(t, s, held[st], "reassign", leaving.id, online.id, actor)
				}
				rpWantAssignee(t, s, held["resolved"], leaving.id, "resolved conversations are not reassigned")
				rpWantAssignee(t, s, inKeeps, leaving.id, "the inbox has auto-reassignment off")
				rpWantAssignee(t, s, inNobody, 0, "nobody online: unassigned, no all-members fallback")
				rpLastEvent(t, s, inNobody, "reassign", leaving.id, 0, actor)
				rpWantAssignee(t, s, busyHeld, busy.id, "busy is not offline")
			})
		})
	}
	rpRun(t, []rpCase{
		{"ReassignmentFollowsAndMovesTheRotation", func(t *testing.T, s *testServer) {
			a, b, c, d := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b, c, d)
			s.admin.create(inbox, nil) // a
			second := s.admin.create(inbox, nil)
			s.admin.create(inbox, nil) // c, the last pick
			extra := s.admin.create(inbox, map[string]any{"assignee_id": b.id})
			b.setAvailability("offline")
			// Candidates a, c, d; after c come d, then a.
			got := []int64{s.admin.conversation(second.ID).assignee(), s.admin.conversation(extra.ID).assignee()}
			slices.Sort(got)
			if want := []int64{a.id, d.id}; !slices.Equal(got, want) {
				t.Errorf("b's two conversations went to %v, want %v", got, want)
			}
			if got := s.admin.create(inbox, nil).assignee(); got != c.id {
				t.Errorf("next pick %d, want %d (after the reassignment's picks d and a)", got, c.id)
			}
		}},
		{"AdministratorHolderOutsideTheInboxReassigned", func(t *testing.T, s *testServer) {
			boss := s.newAgent("administrator", "online")
			a := s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a)
			conv := s.admin.create(inbox, map[string]any{"assignee_id": boss.id})
			boss.setAvailability("offline")
			rpWantAssignee(t, s, conv.ID, a.id, "the inbox's online member")
			rpLastEvent(t, s, conv.ID, "reassign", boss.id, a.id, boss.id)
		}},
		{"OfflineAgainMovesNothingSignOutDoes", func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "offline"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b)
			conv := s.admin.create(inbox, map[string]any{"assignee_id": a.id})
			rpWantAssignee(t, s, conv.ID, a.id, "manual assignment ignores availability")
			a.setAvailability("offline")
			rpWantAssignee(t, s, conv.ID, a.id, "setting offline when already offline reassigns nothing (README)")
			a.must(200, "DELETE", "/auth/sign_out", nil, nil)
			rpWantAssignee(t, s, conv.ID, b.id, "signing out always reassigns")
			rpLastEvent(t, s, conv.ID, "reassign", a.id, b.id, a.id)
		}},
	})
}

// rpIn is acct for any account.
func rpIn(account int64, path string, args ...any) string {
	return fmt.Sprintf("/api/v1/accounts/%d", account) + fmt.Sprintf(path, args...)
}

// TestProbeRoutingSignOutReassignsInEveryAccount checks that signing out,
// which sets the user offline in each of their accounts, reassigns what they
// hold in each.
func TestProbeRoutingSignOutReassignsInEveryAccount(t *testing.T) {
	rpEachBackend(t, func(t *testing.T, s *testServer) {
		platform := client{s: s, token: platformToken}
		var acc struct {
			ID int64 `json:"id"`
		}
		platform.must(200, "POST", "/platform/api/v1/accounts", map[string]any{"name": "Second"}, &acc)
		user := func(role string) client {
			t.Helper()
			email := fmt.Sprintf("rp%d@example.com", emailSeq.Add(1))
			var u struct {
				ID          int64  `json:"id"`
				AccessToken string `json:"access_token"`
			}
			platform.must(200, "POST", "/platform/api/v1/users", map[string]any{"name": "RP", "email": email, "password": "password123"}, &u)
			platform.must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", acc.ID), map[string]any{"user_id": u.ID, "role": role}, nil)
			return client{s: s, token: u.AccessToken, id: u.ID}
		}
		online := func(c client, account int64) {
			t.Helper()
			c.must(200, "POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": "online", "account_id": account}}, nil)
		}
		boss2, other2 := user("administrator"), user("agent")
		online(other2, acc.ID)
		both, other1 := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		platform.must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", acc.ID), map[string]any{"user_id": both.id, "role": "agent"}, nil)
		online(both, acc.ID)

		conv1 := s.admin.create(s.newInbox(nil, both, other1), map[string]any{"assignee_id": both.id})
		var inbox2 struct {
			ID int64 `json:"id"`
		}
		boss2.must(200, "POST", rpIn(acc.ID, "/inboxes"), map[string]any{"name": "Two", "channel": map[string]string{"type": "api"}}, &inbox2)
		boss2.must(200, "POST", rpIn(acc.ID, "/inbox_members"), map[string]any{"inbox_id": inbox2.ID, "user_ids": []int64{both.id, other2.id}}, nil)
		var conv2 conversationReply
		boss2.must(200, "POST", rpIn(acc.ID, "/conversations"), map[string]any{"inbox_id": inbox2.ID, "assignee_id": both.id}, &conv2)

		both.must(200, "DELETE", "/auth/sign_out", nil, nil)
		rpWantAssignee(t, s, conv1.ID, other1.id, "account 1's other online member")
		var got conversationReply
		boss2.must(200, "GET", rpIn(acc.ID, "/conversations/%d", conv2.ID), nil, &got)
		if got.assignee() != other2.id {
			t.Errorf("account %d conversation %d: assignee %d after sign-out, want %d", acc.ID, conv2.ID, got.assignee(), other2.id)
		}
	})
}

// TestProbeRoutingLosingAccess checks that nobody keeps a conversation they
// can no longer see, and that open ones are reassigned as on going offline.
func TestProbeRoutingLosingAccess(t *testing.T) {
	rpRun(t, []rpCase{
		{"RemovedFromInboxOpenOneFollowsTheRotation", func(t *testing.T, s *testServer) {
			a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b, c)
			open := s.admin.create(inbox, nil) // a
			s.admin.create(inbox, nil)         // b
			s.admin.create(inbox, nil)         // c, the last pick
			pending := s.admin.create(inbox, map[string]any{"status": "pending", "assignee_id": a.id})
			resolved := s.admin.create(inbox, map[string]any{"assignee_id": a.id})
			rpToggle(s.admin, resolved.ID, "resolved")
			rpRemoveMembers(s, inbox, a)
			rpWantAssignee(t, s, open.ID, b.id, "after c, among the online members left")
			rpLastEvent(t, s, open.ID, "reassign", a.id, b.id, s.admin.id)
			rpWantAssignee(t, s, resolved.ID, 0, "resolved, and a can no longer see it")
			if got := s.admin.conversation(pending.ID).assignee(); got == a.id {
				t.Errorf("pending conversation %d stays with %d, who left the inbox", pending.ID, a.id)
			}
		}},
		{"MemberListReplacedReassigns", func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a)
			conv := s.admin.create(inbox, nil) // a
			s.admin.must(200, "PATCH", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{b.id}}, nil)
			rpWantAssignee(t, s, conv.ID, b.id, "the new list's online member")
		}},
		{"RemovedFromAccountWithNobodyOnlineUnassigns", func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "busy")
			withFallback := s.newInbox(nil, a, b)
			noReassign := s.newInbox(map[string]any{"enable_auto_reassignment": false}, a, s.newAgent("agent", "online"))
			conv := s.admin.create(withFallback, nil)
			if conv.assignee() != a.id {
				t.Fatalf("pick %d, want the online %d", conv.assignee(), a.id)
			}
			other := s.admin.create(noReassign, map[string]any{"assignee_id": a.id})
			s.admin.must(200, "DELETE", acct("/agents/%d", a.id), nil, nil)
			rpWantAssignee(t, s, conv.ID, 0, "only a busy member is left: no all-members fallback")
			rpLastEvent(t, s, conv.ID, "reassign", a.id, 0, -1)
			rpWantAssignee(t, s, other.ID, 0, "a left the account; the inbox does not reassign")
		}},
		{"PlatformRemovalFromAccountReassigns", func(t *testing.T, s *testServer) {
			a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a, b)
			conv := s.admin.create(inbox, nil) // a
			platform := client{s: s, token: platformToken}
			platform.must(200, "DELETE", "/platform/api/v1/accounts/1/account_users", map[string]any{"user_id": a.id}, nil)
			rpWantAssignee(t, s, conv.ID, b.id, "the inbox's other online member")
			rpLastEvent(t, s, conv.ID, "reassign", a.id, b.id, -1)
		}},
	})
}

// TestProbeRoutingRotationSharedAndDurable checks rule 4: the rotation
// survives restarts and two processes on one database never pick from stale
// copies of it.
func TestProbeRoutingRotationSharedAndDurable(t *testing.T) {
	rpEachBackend(t, func(t *testing.T, s *testServer) {
		a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inbox := s.newInbox(nil, a, b, c)
		other := &testServer{t: t, path: s.path, dsn: s.dsn}
		other.start()
		t.Cleanup(other.stop)
		otherAdmin := client{s: other, token: s.admin.token, id: s.admin.id}
		cycle := []int64{a.id, b.id, c.id}
		pick := 0
		want := func(got conversationReply, where string) {
			t.Helper()
			if got.assignee() != cycle[pick%3] {
				t.Errorf("pick %d (%s): %d, want %d", pick, where, got.assignee(), cycle[pick%3])
			}
			pick++
		}
		for range 2 {
			want(s.admin.create(inbox, nil), "first process")
			want(otherAdmin.create(inbox, nil), "second process")
			want(otherAdmin.create(inbox, nil), "second process")
		}
		s.restart()
		want(s.admin.create(inbox, nil), "first process, restarted")
		want(otherAdmin.create(inbox, nil), "second process")
		other.stop()
		want(s.admin.create(inbox, nil), "first process, alone")
	})
}

// TestProbeRoutingRotationSharedUnderConcurrency sends creates to two
// processes on one database at once: among an unchanging set of online
// candidates, the counts still differ by at most one (rules 3 and 4).
func TestProbeRoutingRotationSharedUnderConcurrency(t *testing.T) {
	const workers, each = 8, 6
	rpEachBackend(t, func(t *testing.T, s *testServer) {
		members := []client{s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")}
		inbox := s.newInbox(nil, members...)
		other := &testServer{t: t, path: s.path, dsn: s.dsn}
		other.start()
		t.Cleanup(other.stop)
		callers := []*concCaller{{base: s.srv.URL, http: s.srv.Client()}, {base: other.srv.URL, http: other.srv.Client()}}
		var (
			mu       sync.Mutex
			counts   = map[int64]int{}
			problems []string
		)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range each {
					status, data, err := callers[w%2].call(s.admin.token, "POST", acct("/conversations"), map[string]any{"inbox_id": inbox})
					var conv conversationReply
					if err == nil && status == 200 {
						err = json.Unmarshal(data, &conv)
					}
					mu.Lock()
					if err != nil || status != 200 {
						problems = append(problems, fmt.Sprintf("create on process %d: %d %s %v", w%2+1, status, data, err))
					} else {
						counts[conv.assignee()]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, p := range problems {
			t.Error(p)
		}
		lo, hi, sum := workers*each, 0, 0
		for _, m := range members {
			lo, hi, sum = min(lo, counts[m.id]), max(hi, counts[m.id]), sum+counts[m.id]
		}
		if hi-lo > 1 || sum != workers*each-len(problems) {
			t.Errorf("counts %v across two processes, want all to the members %d, %d, %d, differing by at most one",
				counts, members[0].id, members[1].id, members[2].id)
		}
	})
}

// TestProbeRoutingHammer runs creates in several inboxes, manual assignments,
// availability changes, member removals and additions and status changes at
// once, then checks the promises that hold everywhere.
func TestProbeRoutingHammer(t *testing.T) {
	const (
		workers = 16
		ops     = 20
	)
	rpEachBackend(t, func(t *testing.T, s *testServer) {
		boss := s.newAgent("administrator", "online")
		var agents []client
		for range 6 {
			agents = append(agents, s.newAgent("agent", "online"))
		}
		fair := []client{s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")}
		outsider := s.newAgent("agent", "online") // a member of nothing
		busy := []int64{
			s.newInbox(nil, agents[0], agents[1], agents[2]),
			s.newInbox(nil, agents[2], agents[3], agents[4]),
			s.newInbox(map[string]any{"enable_auto_reassignment": false}, agents[0], agents[3], agents[5]),
		}
		// The fair inbox's candidates never change: its members stay online
		// and nothing but creates touches it.
		fairInbox := s.newInbox(nil, fair...)
		assignees := append([]client{boss, outsider, fair[0]}, agents...)

		tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
		t.Cleanup(tr.CloseIdleConnections)
		pc := &concCaller{base: s.srv.URL, http: &http.Client{Transport: tr}}
		admin := s.admin.token

		var (
			mu        sync.Mutex
			acked     = map[int64]int64{} // conversation -> inbox, as acknowledged
			busyConvs []int64
			fairConvs []int64
			problems  []string
			retries   int
		)
		note := func(op string, status int, body []byte, err error, allowed ...int) bool {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s: %v", op, err))
			case status == http.StatusServiceUnavailable:
				retries++ // README: contention may be answered 503, changing nothing
			case !slices.Contains(allowed, status):
				problems = append(problems, fmt.Sprintf("%s: status %d, allowed %v; body %s", op, status, allowed, bytes.TrimSpace(body)))
			}
			return err == nil && status == 200
		}
		someConv := func(rng *rand.Rand) int64 {
			mu.Lock()
			defer mu.Unlock()
			if len(busyConvs) == 0 {
				return 0
			}
			return busyConvs[rng.IntN(len(busyConvs))]
		}
		create := func(op string, inbox int64, body map[string]any, fairOne bool) {
			status, data, err := pc.call(admin, "POST", acct("/conversations"), body)
			allowed := []int{200}
			if body["assignee_id"] != nil {
				allowed = append(allowed, 422) // the assignee may have just left
			}
			if !note(op, status, data, err, allowed...) {
				return
			}
			var conv conversationReply
			if err := json.Unmarshal(data, &conv); err != nil || conv.ID == 0 || conv.InboxID != inbox {
				note(op+" reply", 0, data, fmt.Errorf("bad reply %s (%v)", data, err))
				return
			}
			mu.Lock()
			defer mu.Unlock()
			acked[conv.ID] = inbox
			if fairOne {
				fairConvs = append(fairConvs, conv.ID)
			} else {
				busyConvs = append(busyConvs, conv.ID)
			}
			if want, ok := body["assignee_id"].(int64); ok && conv.assignee() != want {
				problems = append(problems, fmt.Sprintf("%s: explicit assignee %d replaced by %d", op, want, conv.assignee()))
			}
		}

		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 42))
				for range ops {
					inbox := busy[rng.IntN(len(busy))]
					agent := agents[rng.IntN(len(agents))]
					switch n := rng.IntN(100); {
					case n < 25:
						body := map[string]any{"inbox_id": inbox}
						if rng.IntN(4) == 0 {
							body["assignee_id"] = assignees[rng.IntN(len(assignees))].id
						}
						create("create", inbox, body, false)
					case n < 40:
						create("create in the fair inbox", fairInbox, map[string]any{"inbox_id": fairInbox}, true)
					case n < 55:
						if id := someConv(rng); id != 0 {
							var to any = assignees[rng.IntN(len(assignees))].id
							if rng.IntN(5) == 0 {
								to = nil
							}
							status, data, err := pc.call(admin, "POST", acct("/conversations/%d/assignments", id), map[string]any{"assignee_id": to})
							note("assign", status, data, err, 200, 422)
						}
					case n < 72:
						a := []string{"online", "busy", "offline"}[rng.IntN(3)]
						status, data, err := pc.call(agent.token, "POST", "/api/v1/profile/availability",
							map[string]any{"profile": map[string]any{"availability": a, "account_id": 1}})
						note("availability", status, data, err, 200)
					case n < 82:
						status, data, err := pc.call(admin, "DELETE", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{agent.id}})
						note("remove member", status, data, err, 200)
					case n < 90:
						status, data, err := pc.call(admin, "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{agent.id}})
						note("add member", status, data, err, 200)
					case n < 94:
						// The boss, a member of nothing, is demoted and
						// promoted: as an agent they may hold nothing.
						role := []string{"agent", "administrator"}[rng.IntN(2)]
						status, data, err := pc.call(admin, "PATCH", acct("/agents/%d", boss.id), map[string]any{"role": role})
						note("role", status, data, err, 200)
					default:
						if id := someConv(rng); id != 0 {
							st := []string{"open", "pending", "snoozed", "resolved"}[rng.IntN(4)]
							status, data, err := pc.call(admin, "POST", acct("/conversations/%d/toggle_status", id), map[string]any{"status": st})
							note("toggle", status, data, err, 200)
						}
					}
				}
			})
		}
		wg.Wait()
		for _, p := range problems {
			t.Error(p)
		}
		t.Logf("%d conversations acknowledged (%d in the fair inbox), %d answers 503", len(acked), len(fairConvs), retries)

		// Fairness among an unchanging set of candidates (rule 3).
		got := map[int64]int{}
		for _, id := range fairConvs {
			got[s.admin.conversation(id).assignee()]++
		}
		lo, hi := len(fairConvs), 0
		for _, f := range fair {
			lo, hi = min(lo, got[f.id]), max(hi, got[f.id])
		}
		if hi-lo > 1 || got[fair[0].id]+got[fair[1].id]+got[fair[2].id] != len(fairConvs) {
			t.Errorf("fair inbox: auto-assigned counts %v among %d, %d, %d; want all to them, differing by at most one",
				got, fair[0].id, fair[1].id, fair[2].id)
		}

		// Nothing acknowledged is lost, also across a restart.
		for _, restarted := range []bool{false, true} {
			if restarted {
				s.restart()
			}
			for id, inbox := range acked {
				status, data := s.admin.do("GET", acct("/conversations/%d", id), nil)
				var conv conversationReply
				if status != 200 || json.Unmarshal(data, &conv) != nil || conv.InboxID != inbox {
					t.Errorf("acknowledged conversation %d of inbox %d (restarted %v): status %d, body %s", id, inbox, restarted, status, data)
				}
			}
		}
		// rpEachBackend then audits assignees and event chains.
	})
}

// TestProbeRoutingBadInputChangesNothing checks that refused assignments and
// status changes name the field and change nothing: no assignee, no event, no
// conversation, no move of the rotation.
func TestProbeRoutingBadInputChangesNothing(t *testing.T) {
	rpEachBackend(t, func(t *testing.T, s *testServer) {
		a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		outsider := s.newAgent("agent", "online")
		inbox := s.newInbox(nil, a, b)
		conv := s.admin.create(inbox, nil) // a
		cases := []struct {
			name, path, field string
			body              any
		}{
			{"AssignToNonMember", acct("/conversations/%d/assignments", conv.ID), "assignee_id", map[string]any{"assignee_id": outsider.id}},
			{"AssignToUnknownUser", acct("/conversations/%d/assignments", conv.ID), "assignee_id", map[string]any{"assignee_id": 999999}},
			{"AssignToGarbage", acct("/conversations/%d/assignments", conv.ID), "assignee_id", map[string]any{"assignee_id": "b"}},
			{"AssignWithoutAssignee", acct("/conversations/%d/assignments", conv.ID), "assignee_id", map[string]any{}},
			{"CreateForNonMember", acct("/conversations"), "assignee_id", map[string]any{"inbox_id": inbox, "assignee_id": outsider.id}},
			{"UnknownStatus", acct("/conversations/%d/toggle_status", conv.ID), "status", map[string]any{"status": "closed"}},
		}
		// The cases share one server, whose helpers report to t: no subtests.
		for _, tc := range cases {
			status, data := s.admin.do("POST", tc.path, tc.body)
			var reply struct {
				Message    string   `json:"message"`
				Attributes []string `json:"attributes"`
			}
			if status != 422 || json.Unmarshal(data, &reply) != nil || reply.Message == "" || !slices.Contains(reply.Attributes, tc.field) {
				t.Errorf("%s: status %d, body %s; want 422 naming %q", tc.name, status, data, tc.field)
			}
			got := s.admin.conversation(conv.ID)
			if got.assignee() != a.id || got.Status != "open" || len(s.admin.events(conv.ID)) != 1 {
				t.Errorf("%s: conversation changed: assignee %d, status %q", tc.name, got.assignee(), got.Status)
			}
			if n := len(rpAllConversations(t, s)); n != 1 {
				t.Errorf("%s: %d conversations, want 1", tc.name, n)
			}
		}
		// The rotation did not move: b is next.
		if got := s.admin.create(inbox, nil).assignee(); got != b.id {
			t.Errorf("next pick %d, want %d", got, b.id)
		}
	})
}
