package api_test

// An independent black-box check of ROUTING.md's "Words", "Who may see and
// assign what" and "Edges decided" (the sign-in limit and the cross-origin
// check aside), through the HTTP API, on SQLite and on PostgreSQL. Every case
// is derived from a sentence of ROUTING.md or API.md, named in its comment.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard/switchboard"
)

// probeEachDB runs fn on a fresh server on each backend, then checks the
// promises that hold at rest.
func probeEachDB(t *testing.T, fn func(t *testing.T, s *testServer)) {
	t.Helper()
	eachDB(t, func(t *testing.T, s *testServer) {
		fn(t, s)
		if s.path != "" {
			checkInvariants(t, s.path)
		}
	})
}

// probeIn is acct for any account.
func probeIn(account int64, path string, args ...any) string {
	return fmt.Sprintf("/api/v1/accounts/%d", account) + fmt.Sprintf(path, args...)
}

// probePlatform is the caller with the platform token.
func probePlatform(s *testServer) client {
	return client{s: s, token: platformToken}
}

// probeAccount creates an account through the Platform API.
func probeAccount(s *testServer, name string) int64 {
	s.t.Helper()
	var a struct {
		ID int64 `json:"id"`
	}
	probePlatform(s).must(200, "POST", "/platform/api/v1/accounts", map[string]any{"name": name}, &a)
	return a.ID
}

// probeUser creates a user through the Platform API and makes them a user of
// each account given, with the role given: account, role, account, role...
// It returns a client with their own token, and their e-mail address.
func probeUser(s *testServer, accountRoles ...any) (client, string) {
	s.t.Helper()
	email := fmt.Sprintf("probe%d@example.com", emailSeq.Add(1))
	var u struct {
		ID          int64  `json:"id"`
		AccessToken string `json:"access_token"`
	}
	probePlatform(s).must(200, "POST", "/platform/api/v1/users", map[string]any{"name": "Probe " + email, "email": email, "password": "password123"}, &u)
	for i := 0; i+1 < len(accountRoles); i += 2 {
		probePlatform(s).must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", accountRoles[i].(int64)),
			map[string]any{"user_id": u.ID, "role": accountRoles[i+1]}, nil)
	}
	return client{s: s, token: u.AccessToken, id: u.ID}, email
}

// probeAssign posts an assignment and returns the status and body.
func probeAssign(c client, account, conv int64, assignee any) (int, []byte) {
	c.s.t.Helper()
	return c.do("POST", probeIn(account, "/conversations/%d/assignments", conv), map[string]any{"assignee_id": assignee})
}

// probeUnprocessable fails unless a reply is 422 with a message and the field
// among its attributes (ROUTING.md: "Validation errors are
// 422 {"message": "...", "attributes": ["field"]}").
func probeUnprocessable(t *testing.T, status int, data []byte, field string) {
	t.Helper()
	if status != 422 {
		t.Errorf("status %d, want 422 naming %q; body %s", status, field, data)
		return
	}
	var reply struct {
		Message    string   `json:"message"`
		Attributes []string `json:"attributes"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		t.Errorf("422 body is not the validation shape: %v in %s", err, data)
		return
	}
	if reply.Message == "" || !slices.Contains(reply.Attributes, field) {
		t.Errorf("422 body %s, want a message and attributes naming %q", data, field)
	}
}

// probeJSONError fails unless a refusal carries a JSON error body.
func probeJSONError(t *testing.T, data []byte) {
	t.Helper()
	var reply map[string]any
	if err := json.Unmarshal(data, &reply); err != nil || (reply["error"] == nil && reply["message"] == nil) {
		t.Errorf("refusal body %q is not a JSON error", data)
	}
}

type probeMeta struct {
	Mine       int `json:"mine_count"`
	Unassigned int `json:"unassigned_count"`
	Assigned   int `json:"assigned_count"`
	All        int `json:"all_count"`
}

// probeList returns the ids and the meta of one page of the list.
func probeList(c client, account int64, query string) ([]int64, probeMeta) {
	c.s.t.Helper()
	var reply struct {
		Data struct {
			Meta    probeMeta           `json:"meta"`
			Payload []conversationReply `json:"payload"`
		} `json:"data"`
	}
	c.must(200, "GET", probeIn(account, "/conversations%s", query), nil, &reply)
	ids := []int64{}
	for _, conv := range reply.Data.Payload {
		ids = append(ids, conv.ID)
	}
	return ids, reply.Data.Meta
}

// probeMetaOnly returns the counts of GET .../conversations/meta.
func probeMetaOnly(c client, account int64, query string) probeMeta {
	c.s.t.Helper()
	var reply struct {
		Meta probeMeta `json:"meta"`
	}
	c.must(200, "GET", probeIn(account, "/conversations/meta%s", query), nil, &reply)
	return reply.Meta
}

// probeState is what a refused request must leave as it was: a
// conversation's assignee, status and number of events.
type probeState struct {
	assignee int64
	status   string
	events   int
}

func probeStateOf(s *testServer, account, conv int64, admin client) probeState {
	s.t.Helper()
	var c conversationReply
	admin.must(200, "GET", probeIn(account, "/conversations/%d", conv), nil, &c)
	var ev struct {
		Payload []eventReply `json:"payload"`
	}
	admin.must(200, "GET", probeIn(account, "/conversations/%d/assignment_events", conv), nil, &ev)
	return probeState{assignee: c.assignee(), status: c.Status, events: len(ev.Payload)}
}

type probeRequest struct {
	name   string
	method string
	path   string
	body   any
}

// probeRefused sends each request as c, who is refused it: each gets want
// and a JSON error.
func probeRefused(t *testing.T, c client, who string, want int, reqs []probeRequest) {
	t.Helper()
	for _, r := range reqs {
		t.Run(r.name, func(t *testing.T) {
			status, data := c.do(r.method, r.path, r.body)
			if status != want {
				t.Errorf("%s %s by %s: status %d, want %d; body %s", r.method, r.path, who, status, want, data)
			}
			probeJSONError(t, data)
		})
	}
}

// TestProbeAccessNonMemberAgent: rule 1 and "Edges decided": an agent sees
// and acts only on conversations of their inboxes; for the others, and for
// those inboxes, they get 404, and their lists and counts leave them out.
func TestProbeAccessNonMemberAgent(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		a, b := s.newAgent("agent", "online"), s.newAgent("agent", "online")
		inboxA, inboxB := s.newInbox(nil, a), s.newInbox(nil, b)
		convA := s.admin.create(inboxA, nil)
		convB := s.admin.create(inboxB, nil) // auto-assigned to b
		pendingB := s.admin.create(inboxB, map[string]any{"status": "pending"})
		if convB.assignee() != b.id {
			t.Fatalf("setup: conversation in inbox B went to %d, want %d", convB.assignee(), b.id)
		}

		t.Run("HiddenInboxAndItsConversationsAreNotFound", func(t *testing.T) {
			before := probeStateOf(s, 1, convB.ID, s.admin)
			beforePending := probeStateOf(s, 1, pendingB.ID, s.admin)
			probeRefused(t, a, "a non-member agent", 404, []probeRequest{
				{"ShowInbox", "GET", acct("/inboxes/%d", inboxB), nil},
				{"InboxMembers", "GET", acct("/inbox_members/%d", inboxB), nil},
				{"InboxQueue", "GET", acct("/inboxes/%d/queue", inboxB), nil},
				{"ShowConversation", "GET", acct("/conversations/%d", convB.ID), nil},
				{"ShowPendingConversation", "GET", acct("/conversations/%d", pendingB.ID), nil},
				{"AssignmentEvents", "GET", acct("/conversations/%d/assignment_events", convB.ID), nil},
				{"AssignToSelf", "POST", acct("/conversations/%d/assignments", convB.ID), map[string]any{"assignee_id": a.id}},
				{"AssignToAdministrator", "POST", acct("/conversations/%d/assignments", convB.ID), map[string]any{"assignee_id": s.admin.id}},
				{"Unassign", "POST", acct("/conversations/%d/assignments", convB.ID), map[string]any{"assignee_id": nil}},
				{"ToggleWithoutStatus", "POST", acct("/conversations/%d/toggle_status", convB.ID), nil},
				{"ToggleToSnoozed", "POST", acct("/conversations/%d/toggle_status", convB.ID), map[string]any{"status": "snoozed"}},
				{"ReopenPending", "POST", acct("/conversations/%d/toggle_status", pendingB.ID), map[string]any{"status": "open"}},
				{"CreateInHiddenInbox", "POST", acct("/conversations"), map[string]any{"inbox_id": inboxB}},
				{"CreateInHiddenInboxAssignedToSelf", "POST", acct("/conversations"), map[string]any{"inbox_id": inboxB, "assignee_id": a.id}},
				{"CreateInHiddenInboxStringID", "POST", acct("/conversations"), map[string]any{"inbox_id": fmt.Sprint(inboxB)}},
			})
			if after := probeStateOf(s, 1, convB.ID, s.admin); after != before {
				t.Errorf("hidden conversation changed by refused requests: %+v -> %+v", before, after)
			}
			if after := probeStateOf(s, 1, pendingB.ID, s.admin); after != beforePending {
				t.Errorf("hidden pending conversation changed by refused requests: %+v -> %+v", beforePending, after)
			}
			if _, meta := probeList(s.admin, 1, "?status=all&inbox_id="+fmt.Sprint(inboxB)); meta.All != 2 {
				t.Errorf("inbox B holds %d conversations after refused creates, want 2", meta.All)
			}
		})

		t.Run("HiddenIsIndistinguishableFromMissing", func(t *testing.T) {
			// "what they may not see does not exist for them": the reply for
			// a hidden record is the reply for one that does not exist.
			const missing = 987654
			for _, tt := range []struct {
				name             string
				method           string
				hidden, notThere string
				body             any
			}{
				{"Conversation", "GET", acct("/conversations/%d", convB.ID), acct("/conversations/%d", missing), nil},
				{"Inbox", "GET", acct("/inboxes/%d", inboxB), acct("/inboxes/%d", missing), nil},
				{"Assign", "POST", acct("/conversations/%d/assignments", convB.ID), acct("/conversations/%d/assignments", missing), map[string]any{"assignee_id": a.id}},
			} {
				hs, hd := a.do(tt.method, tt.hidden, tt.body)
				ms, md := a.do(tt.method, tt.notThere, tt.body)
				if hs != ms || string(hd) != string(md) {
					t.Errorf("%s: hidden answers %d %s, missing answers %d %s", tt.name, hs, hd, ms, md)
				}
			}
			hs, hd := a.do("POST", acct("/conversations"), map[string]any{"inbox_id": inboxB})
			ms, md := a.do("POST", acct("/conversations"), map[string]any{"inbox_id": missing})
			if hs != ms || string(hd) != string(md) {
				t.Errorf("create: hidden inbox answers %d %s, missing inbox answers %d %s", hs, hd, ms, md)
			}
		})

		t.Run("ListsAndCountsLeaveThemOut", func(t *testing.T) {
			for _, q := range []string{"", "?status=all", "?status=all&assignee_type=all", "?status=pending", "?assignee_type=assigned"} {
				ids, meta := probeList(a, 1, q)
				if slices.Contains(ids, convB.ID) || slices.Contains(ids, pendingB.ID) {
					t.Errorf("list%s shows inbox B's conversations to a non-member: %v", q, ids)
				}
				for _, id := range ids {
					if id != convA.ID {
						t.Errorf("list%s shows conversation %d, want only %d", q, id, convA.ID)
					}
				}
				if meta.All > 1 || meta.Assigned > 1 || meta.Unassigned > 0 {
					t.Errorf("list%s counts %+v include inbox B", q, meta)
				}
				if m := probeMetaOnly(a, 1, q); m != meta {
					t.Errorf("meta%s %+v differs from the list's %+v", q, m, meta)
				}
			}
			// Filtering by the hidden inbox shows nothing of it: empty or 404.
			status, data := a.do("GET", acct("/conversations?status=all&inbox_id=%d", inboxB), nil)
			if status == 200 {
				ids, meta := probeList(a, 1, fmt.Sprintf("?status=all&inbox_id=%d", inboxB))
				if len(ids) != 0 || meta != (probeMeta{}) {
					t.Errorf("filtering by the hidden inbox shows %v, %+v", ids, meta)
				}
			} else if status != 404 {
				t.Errorf("filter by hidden inbox: status %d, want 200 (empty) or 404; body %s", status, data)
			}
			var inboxes struct {
				Payload []struct {
					ID int64 `json:"id"`
				} `json:"payload"`
			}
			a.must(200, "GET", acct("/inboxes"), nil, &inboxes)
			for _, in := range inboxes.Payload {
				if in.ID == inboxB {
					t.Errorf("inbox list shows inbox B to a non-member")
				}
			}
		})

		t.Run("AdministratorWhoIsNoMemberSeesAndActsOnAll", func(t *testing.T) {
			for _, path := range []string{
				acct("/inboxes/%d", inboxB), acct("/inbox_members/%d", inboxB),
				acct("/conversations/%d", convB.ID), acct("/conversations/%d/assignment_events", pendingB.ID),
			} {
				if status, data := s.admin.do("GET", path, nil); status != 200 {
					t.Errorf("administrator GET %s: %d, want 200; body %s", path, status, data)
				}
			}
			ids, meta := probeList(s.admin, 1, "?status=all")
			for _, id := range []int64{convA.ID, convB.ID, pendingB.ID} {
				if !slices.Contains(ids, id) {
					t.Errorf("administrator's list %v lacks %d", ids, id)
				}
			}
			if meta.All != 3 {
				t.Errorf("administrator's all_count %d, want 3", meta.All)
			}
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", pendingB.ID), map[string]any{"status": "snoozed"}, nil)
			if st := s.admin.conversation(pendingB.ID).Status; st != "snoozed" {
				t.Errorf("administrator's toggle left status %q, want snoozed", st)
			}
		})

		t.Run("AddedMemberGainsSight", func(t *testing.T) {
			s.admin.must(200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": inboxB, "user_ids": []int64{a.id}}, nil)
			a.must(200, "GET", acct("/inboxes/%d", inboxB), nil, nil)
			a.must(200, "GET", acct("/conversations/%d", convB.ID), nil, nil)
			if ids, _ := probeList(a, 1, "?status=all"); !slices.Contains(ids, convB.ID) {
				t.Errorf("new member's list %v lacks %d", ids, convB.ID)
			}
		})

		t.Run("RemovedMemberLosesSight", func(t *testing.T) {
			s.admin.must(200, "DELETE", acct("/inbox_members"), map[string]any{"inbox_id": inboxB, "user_ids": []int64{b.id}}, nil)
			for _, r := range []probeRequest{
				{"ShowInbox", "GET", acct("/inboxes/%d", inboxB), nil},
				{"ShowConversation", "GET", acct("/conversations/%d", convB.ID), nil},
				{"AssignToSelf", "POST", acct("/conversations/%d/assignments", convB.ID), map[string]any{"assignee_id": b.id}},
				{"Toggle", "POST", acct("/conversations/%d/toggle_status", convB.ID), map[string]any{"status": "resolved"}},
			} {
				if status, data := b.do(r.method, r.path, r.body); status != 404 {
					t.Errorf("%s by a removed member: status %d, want 404; body %s", r.name, status, data)
				}
			}
			if ids, _ := probeList(b, 1, "?status=all"); len(ids) != 0 {
				t.Errorf("removed member's list shows %v, want nothing", ids)
			}
			if got := s.admin.conversation(convB.ID).assignee(); got == b.id {
				t.Errorf("conversation %d still held by %d, who can no longer see it", convB.ID, b.id)
			}
		})
	})
}

// TestProbeAccessOtherAccounts: "Account ... nothing is ever visible or
// changeable across accounts"; "so does any user for any path under an
// account they do not belong to"; API.md "an id from another account is 404";
// rule 2 "(b) any administrator of the account"; roles are per account.
func TestProbeAccessOtherAccounts(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		member := s.newAgent("agent", "online")
		inbox1 := s.newInbox(nil, member)
		conv1 := s.admin.create(inbox1, nil)

		acc2 := probeAccount(s, "Beta")
		admin2, _ := probeUser(s, acc2, "administrator")
		// dual is an agent in account 1 (of no inbox) and an administrator of account 2.
		dual, _ := probeUser(s, int64(1), "agent", acc2, "administrator")
		var inbox2 struct {
			ID int64 `json:"id"`
		}
		admin2.must(200, "POST", probeIn(acc2, "/inboxes"), map[string]any{"name": "Beta inbox", "channel": map[string]string{"type": "api"}}, &inbox2)
		admin2.must(200, "POST", probeIn(acc2, "/inbox_members"), map[string]any{"inbox_id": inbox2.ID, "user_ids": []int64{admin2.id}}, nil)
		var conv2 conversationReply
		admin2.must(200, "POST", probeIn(acc2, "/conversations"), map[string]any{"inbox_id": inbox2.ID}, &conv2)

		t.Run("OutsiderGetsNotFoundUnderAccount1", func(t *testing.T) {
			before := probeStateOf(s, 1, conv1.ID, s.admin)
			var agentsBefore []agentReply
			s.admin.must(200, "GET", acct("/agents"), nil, &agentsBefore)
			probeRefused(t, admin2, "another account's administrator", 404, []probeRequest{
				{"ListAgents", "GET", acct("/agents"), nil},
				{"ListInboxes", "GET", acct("/inboxes"), nil},
				{"ShowInbox", "GET", acct("/inboxes/%d", inbox1), nil},
				{"InboxMembers", "GET", acct("/inbox_members/%d", inbox1), nil},
				{"ListConversations", "GET", acct("/conversations"), nil},
				{"ConversationMeta", "GET", acct("/conversations/meta"), nil},
				{"ShowConversation", "GET", acct("/conversations/%d", conv1.ID), nil},
				{"AssignmentEvents", "GET", acct("/conversations/%d/assignment_events", conv1.ID), nil},
				{"AssignToSelf", "POST", acct("/conversations/%d/assignments", conv1.ID), map[string]any{"assignee_id": admin2.id}},
				{"Unassign", "POST", acct("/conversations/%d/assignments", conv1.ID), map[string]any{"assignee_id": nil}},
				{"Toggle", "POST", acct("/conversations/%d/toggle_status", conv1.ID), map[string]any{"status": "resolved"}},
				{"CreateConversation", "POST", acct("/conversations"), map[string]any{"inbox_id": inbox1}},
				{"CreateInbox", "POST", acct("/inboxes"), map[string]any{"name": "Intruder", "channel": map[string]string{"type": "api"}}},
				{"UpdateInbox", "PATCH", acct("/inboxes/%d", inbox1), map[string]any{"enable_auto_assignment": false}},
				{"AddMember", "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox1, "user_ids": []int64{admin2.id}}},
				{"CreateAgent", "POST", acct("/agents"), map[string]any{"name": "Intruder", "email": "intruder@example.com", "role": "administrator"}},
				{"UpdateAgent", "PATCH", acct("/agents/%d", member.id), map[string]any{"role": "administrator"}},
				{"RemoveAgent", "DELETE", acct("/agents/%d", member.id), nil},
				{"Report", "GET", acct("/reports/routing"), nil},
				{"Webhooks", "GET", acct("/webhooks"), nil},
			})
			if after := probeStateOf(s, 1, conv1.ID, s.admin); after != before {
				t.Errorf("conversation of account 1 changed: %+v -> %+v", before, after)
			}
			var agentsAfter []agentReply
			s.admin.must(200, "GET", acct("/agents"), nil, &agentsAfter)
			if fmt.Sprint(agentsAfter) != fmt.Sprint(agentsBefore) {
				t.Errorf("account 1's agents changed: %+v -> %+v", agentsBefore, agentsAfter)
			}
			var inboxes struct {
				Payload []json.RawMessage `json:"payload"`
			}
			s.admin.must(200, "GET", acct("/inboxes"), nil, &inboxes)
			if len(inboxes.Payload) != 1 {
				t.Errorf("account 1 has %d inboxes, want 1", len(inboxes.Payload))
			}
		})

		t.Run("AccountThatDoesNotExistIsNotFound", func(t *testing.T) {
			for _, path := range []string{"/api/v1/accounts/999999/conversations", "/api/v1/accounts/999999/agents"} {
				if status, data := s.admin.do("GET", path, nil); status != 404 {
					t.Errorf("GET %s: status %d, want 404; body %s", path, status, data)
				}
			}
		})

		t.Run("IDsOfOtherAccountNotFoundUnderOwn", func(t *testing.T) {
			for _, r := range []probeRequest{
				{"ShowInbox", "GET", acct("/inboxes/%d", inbox2.ID), nil},
				{"UpdateInbox", "PATCH", acct("/inboxes/%d", inbox2.ID), map[string]any{"name": "Taken"}},
				{"InboxMembers", "GET", acct("/inbox_members/%d", inbox2.ID), nil},
				{"AddMemberToForeignInbox", "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox2.ID, "user_ids": []int64{member.id}}},
				{"CreateInForeignInbox", "POST", acct("/conversations"), map[string]any{"inbox_id": inbox2.ID}},
				{"UpdateForeignAgent", "PATCH", acct("/agents/%d", admin2.id), map[string]any{"name": "Renamed"}},
				{"RemoveForeignAgent", "DELETE", acct("/agents/%d", admin2.id), nil},
			} {
				t.Run(r.name, func(t *testing.T) {
					status, data := s.admin.do(r.method, r.path, r.body)
					if status != 404 {
						t.Errorf("%s %s: status %d, want 404; body %s", r.method, r.path, status, data)
					}
				})
			}
			if after := probeStateOf(s, acc2, conv2.ID, admin2); after.status != "open" || after.assignee != admin2.id {
				t.Errorf("account 2's conversation changed: %+v", after)
			}
			var in struct {
				Name string `json:"name"`
			}
			admin2.must(200, "GET", probeIn(acc2, "/inboxes/%d", inbox2.ID), nil, &in)
			if in.Name != "Beta inbox" {
				t.Errorf("account 2's inbox renamed to %q from account 1", in.Name)
			}
		})

		t.Run("AdministratorOfOtherAccountMayNotBeAssignee", func(t *testing.T) {
			before := probeStateOf(s, 1, conv1.ID, s.admin)
			status, data := probeAssign(s.admin, 1, conv1.ID, admin2.id)
			probeUnprocessable(t, status, data, "assignee_id")
			if after := probeStateOf(s, 1, conv1.ID, s.admin); after != before {
				t.Errorf("refused assignment changed the conversation: %+v -> %+v", before, after)
			}
			_, metaBefore := probeList(s.admin, 1, "?status=all")
			status, data = s.admin.do("POST", acct("/conversations"), map[string]any{"inbox_id": inbox1, "assignee_id": admin2.id})
			probeUnprocessable(t, status, data, "assignee_id")
			if _, meta := probeList(s.admin, 1, "?status=all"); meta.All != metaBefore.All {
				t.Errorf("refused create made a conversation: %d -> %d", metaBefore.All, meta.All)
			}
		})

		t.Run("RoleIsPerAccount", func(t *testing.T) {
			// In account 1 dual is an agent of no inbox.
			for _, r := range []probeRequest{
				{"CreateInbox", "POST", acct("/inboxes"), map[string]any{"name": "Mine", "channel": map[string]string{"type": "api"}}},
				{"UpdateInbox", "PATCH", acct("/inboxes/%d", inbox1), map[string]any{"name": "Mine"}},
				{"AddSelfAsMember", "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox1, "user_ids": []int64{dual.id}}},
				{"PromoteSelf", "PATCH", acct("/agents/%d", dual.id), map[string]any{"role": "administrator"}},
			} {
				if status, data := dual.do(r.method, r.path, r.body); status != 403 {
					t.Errorf("%s in the account where they are an agent: status %d, want 403; body %s", r.name, status, data)
				}
			}
			if status, data := dual.do("GET", acct("/conversations/%d", conv1.ID), nil); status != 404 {
				t.Errorf("agent of no inbox reads a conversation: status %d, want 404; body %s", status, data)
			}
			if ids, _ := probeList(dual, 1, "?status=all"); len(ids) != 0 {
				t.Errorf("agent of no inbox lists %v", ids)
			}
			// Being an administrator elsewhere does not make them an
			// administrator of account 1 (rule 2 (b)).
			status, data := probeAssign(s.admin, 1, conv1.ID, dual.id)
			probeUnprocessable(t, status, data, "assignee_id")
			if got := s.admin.conversation(conv1.ID).assignee(); got == dual.id {
				t.Errorf("conversation assigned to %d, an agent who is no member of its inbox", dual.id)
			}
			// In account 2 they administer.
			dual.must(200, "GET", probeIn(acc2, "/conversations/%d", conv2.ID), nil, nil)
			dual.must(200, "PATCH", probeIn(acc2, "/inboxes/%d", inbox2.ID), map[string]any{"enable_auto_reassignment": true}, nil)
			status, data = probeAssign(admin2, acc2, conv2.ID, dual.id)
			if status != 200 {
				t.Errorf("assignment to an administrator of the account who is no member: status %d, want 200; body %s", status, data)
			}
		})
	})
}

// TestProbeAccessManualAssignment: rules 2 and 3, and "Assigning a
// conversation to the user who already holds it changes nothing and writes
// no event"; "Every change of assignee is ... recorded with who ... made it".
func TestProbeAccessManualAssignment(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		online := s.newAgent("agent", "online")
		offline := s.newAgent("agent", "offline")
		busy := s.newAgent("agent", "busy")
		outsider := s.newAgent("agent", "online")
		admin2 := s.newAgent("administrator", "offline")
		inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, online, offline, busy)
		s.newInbox(nil, outsider)
		conv := s.admin.create(inbox, nil)
		if conv.assignee() != 0 {
			t.Fatalf("setup: conversation in an inbox without auto-assignment got %d", conv.assignee())
		}

		// The cases run in order; each starts from where the last left off.
		tests := []struct {
			name     string
			by       client
			assignee any
			status   int
			field    string // the attribute a 422 names
			want     int64  // the assignee afterwards
			event    bool   // whether a new manual event is written
		}{
			{"OnlineMemberAssignsOfflineMember", online, offline.id, 200, "", offline.id, true},
			{"OfflineMemberAssignsBusyMember", offline, busy.id, 200, "", busy.id, true},
			{"BusyMemberAssignsOfflineAdministratorOutsideInbox", busy, admin2.id, 200, "", admin2.id, true},
			{"SameAssigneeAgainNoEvent", online, admin2.id, 200, "", admin2.id, false},
			{"SameAssigneeAsStringNoEvent", s.admin, fmt.Sprint(admin2.id), 200, "", admin2.id, false},
			{"AgentOfOtherInboxRefused", online, outsider.id, 422, "assignee_id", admin2.id, false},
			{"AgentOfOtherInboxRefusedForAdministrator", s.admin, outsider.id, 422, "assignee_id", admin2.id, false},
			{"UnknownUserRefused", online, 987654, 422, "assignee_id", admin2.id, false},
			{"NonMemberAssigningRefused", outsider, outsider.id, 404, "", admin2.id, false},
			{"MemberAssignsSelfByString", offline, fmt.Sprint(offline.id), 200, "", offline.id, true},
			{"MemberUnassigns", busy, nil, 200, "", 0, true},
			{"UnassignUnassignedNoEvent", online, nil, 200, "", 0, false},
			{"AdministratorAssignsMember", s.admin, online.id, 200, "", online.id, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := probeStateOf(s, 1, conv.ID, s.admin)
				status, data := probeAssign(tt.by, 1, conv.ID, tt.assignee)
				if tt.status == 422 {
					probeUnprocessable(t, status, data, tt.field)
				} else if status != tt.status {
					t.Errorf("status %d, want %d; body %s", status, tt.status, data)
				}
				if status == 200 {
					// The reply is the agent, or null when unassigned.
					var reply *agentReply
					if err := json.Unmarshal(data, &reply); err != nil {
						t.Errorf("reply %s: %v", data, err)
					} else if tt.want == 0 && reply != nil {
						t.Errorf("unassign replied %s, want null", data)
					} else if tt.want != 0 && (reply == nil || reply.ID != tt.want) {
						t.Errorf("reply %s, want the agent %d", data, tt.want)
					}
				}
				after := probeStateOf(s, 1, conv.ID, s.admin)
				if after.assignee != tt.want {
					t.Errorf("assignee %d, want %d", after.assignee, tt.want)
				}
				wantEvents := before.events
				if tt.event {
					wantEvents++
				}
				if after.events != wantEvents {
					t.Fatalf("events %d -> %d, want %d", before.events, after.events, wantEvents)
				}
				if tt.event {
					ev := s.admin.events(conv.ID)
					last := ev[len(ev)-1]
					okFrom := (before.assignee == 0 && last.From == nil) || (last.From != nil && *last.From == before.assignee)
					okTo := (tt.want == 0 && last.To == nil) || (last.To != nil && *last.To == tt.want)
					if last.Reason != "manual" || last.ActorID == nil || *last.ActorID != tt.by.id || !okFrom || !okTo {
						t.Errorf("event %+v, want manual by %d from %d to %d", last, tt.by.id, before.assignee, tt.want)
					}
				}
			})
		}
		if st := s.admin.conversation(conv.ID).Status; st != "open" {
			t.Errorf("assignments changed the status to %q", st)
		}
	})
}

// TestProbeAccessExplicitAssigneeAtCreation: "A conversation created with an
// explicit assignee keeps it; auto-assignment does not touch it, the rotation
// does not move, and the event's reason is manual with the creator as actor";
// rule 2 for the assignee given at creation; rule 3 (availability ignored).
func TestProbeAccessExplicitAssigneeAtCreation(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		a, b, c := s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
		away := s.newAgent("agent", "offline")
		outsider := s.newAgent("agent", "online")
		admin2 := s.newAgent("administrator", "online")
		inbox := s.newInbox(nil, a, b, c, away)
		s.newInbox(nil, outsider)

		for _, tt := range []struct {
			name     string
			by       client
			assignee client
			extra    map[string]any
		}{
			{"MemberGivesToLastMember", a, c, nil},
			{"AdministratorGivesToOfflineMember", s.admin, away, nil},
			{"MemberGivesToAdministratorOutsideInbox", b, admin2, nil},
			{"AdministratorGivesPendingToMember", s.admin, b, map[string]any{"status": "pending"}},
			{"MemberGivesToSelfAsString", c, c, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				body := map[string]any{"assignee_id": tt.assignee.id}
				if tt.name == "MemberGivesToSelfAsString" {
					body["assignee_id"] = fmt.Sprint(tt.assignee.id)
				}
				for k, v := range tt.extra {
					body[k] = v
				}
				conv := tt.by.create(inbox, body)
				if conv.assignee() != tt.assignee.id {
					t.Errorf("created with assignee %d, got %d", tt.assignee.id, conv.assignee())
				}
				if got := s.admin.conversation(conv.ID).assignee(); got != tt.assignee.id {
					t.Errorf("stored assignee %d, want %d", got, tt.assignee.id)
				}
				ev := s.admin.events(conv.ID)
				if len(ev) != 1 || ev[0].Reason != "manual" || ev[0].From != nil || ev[0].To == nil || *ev[0].To != tt.assignee.id ||
					ev[0].ActorID == nil || *ev[0].ActorID != tt.by.id {
					t.Errorf("events %+v, want one manual event by %d to %d", ev, tt.by.id, tt.assignee.id)
				}
			})
		}

		t.Run("AssigneeWhoMayNotHoldItRefused", func(t *testing.T) {
			_, before := probeList(s.admin, 1, "?status=all")
			for _, by := range []client{a, s.admin} {
				status, data := by.do("POST", acct("/conversations"), map[string]any{"inbox_id": inbox, "assignee_id": outsider.id})
				probeUnprocessable(t, status, data, "assignee_id")
			}
			if _, after := probeList(s.admin, 1, "?status=all"); after.All != before.All {
				t.Errorf("refused creates made conversations: %d -> %d", before.All, after.All)
			}
		})

		t.Run("RotationDidNotMove", func(t *testing.T) {
			// Fresh rotation over the online members a < b < c (away is
			// offline and others are online): a, b, c, a.
			var got []int64
			for range 4 {
				got = append(got, s.admin.create(inbox, nil).assignee())
			}
			if want := []int64{a.id, b.id, c.id, a.id}; !slices.Equal(got, want) {
				t.Errorf("auto picks %v, want %v: explicit assignees moved the rotation", got, want)
			}
		})
	})
}

// TestProbeAccessAgentMayNotAdminister: rule 4, "Only administrators change
// inboxes, their members and their settings, and create, change or remove
// users"; API.md: 403 for the wrong role, and a refusal changes nothing.
func TestProbeAccessAgentMayNotAdminister(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		agent := s.newAgent("agent", "online")
		other := s.newAgent("agent", "offline")
		inbox := s.newInbox(nil, agent)
		otherInbox := s.newInbox(nil, other)

		type snapshot struct {
			inboxes string
			members string
			agents  string
		}
		take := func() snapshot {
			t.Helper()
			var sn snapshot
			_, in := s.admin.do("GET", acct("/inboxes"), nil)
			sn.inboxes = string(in)
			for _, id := range []int64{inbox, otherInbox} {
				_, m := s.admin.do("GET", acct("/inbox_members/%d", id), nil)
				sn.members += string(m)
			}
			_, ag := s.admin.do("GET", acct("/agents"), nil)
			sn.agents = string(ag)
			return sn
		}
		before := take()
		probeRefused(t, agent, "an agent", 403, []probeRequest{
			{"CreateInbox", "POST", acct("/inboxes"), map[string]any{"name": "Own", "channel": map[string]string{"type": "api"}}},
			{"RenameOwnInbox", "PATCH", acct("/inboxes/%d", inbox), map[string]any{"name": "Renamed"}},
			{"PutOwnInbox", "PUT", acct("/inboxes/%d", inbox), map[string]any{"name": "Renamed"}},
			{"TurnOffReassignment", "PATCH", acct("/inboxes/%d", inbox), map[string]any{"enable_auto_reassignment": false}},
			{"SetAssignmentLimit", "PATCH", acct("/inboxes/%d", inbox), map[string]any{"auto_assignment_config": map[string]any{"max_assignment_limit": 1}}},
			{"AddSelfToOtherInbox", "POST", acct("/inbox_members"), map[string]any{"inbox_id": otherInbox, "user_ids": []int64{agent.id}}},
			{"AddOtherToOwnInbox", "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{other.id}}},
			{"ReplaceOwnInboxMembers", "PATCH", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{other.id}}},
			{"LeaveOwnInbox", "DELETE", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{agent.id}}},
			{"LeaveOwnInboxSDKPath", "DELETE", acct("/inbox_members/%d", inbox), map[string]any{"user_ids": []int64{agent.id}}},
			{"CreateAdministrator", "POST", acct("/agents"), map[string]any{"name": "Sock", "email": "sock@example.com", "role": "administrator", "password": "password123"}},
			{"RenameSelf", "PATCH", acct("/agents/%d", agent.id), map[string]any{"name": "Me"}},
			{"PutSelfAdministrator", "PUT", acct("/agents/%d", agent.id), map[string]any{"role": "administrator"}},
			{"SetOtherOnline", "PATCH", acct("/agents/%d", other.id), map[string]any{"availability": "online"}},
			{"RemoveOther", "DELETE", acct("/agents/%d", other.id), nil},
			{"RemoveSelf", "DELETE", acct("/agents/%d", agent.id), nil},
			{"RemoveAdministrator", "DELETE", acct("/agents/%d", s.admin.id), nil},
		})
		if after := take(); after != before {
			t.Errorf("refused administration changed something:\nbefore %+v\nafter  %+v", before, after)
		}
		t.Run("AgentMayStillReadAndSetOwnAvailability", func(t *testing.T) {
			agent.must(200, "GET", acct("/agents"), nil, nil)
			agent.must(200, "GET", acct("/inboxes/%d", inbox), nil, nil)
			agent.must(200, "GET", acct("/inbox_members/%d", inbox), nil, nil)
			agent.setAvailability("busy")
			var me agentReply
			agent.must(200, "GET", "/api/v1/profile", nil, &me)
			if me.AvailabilityStatus != "busy" {
				t.Errorf("own availability %q, want busy", me.AvailabilityStatus)
			}
		})
	})
}

type probeProfile struct {
	ID                 int64  `json:"id"`
	AvailabilityStatus string `json:"availability_status"`
	Accounts           []struct {
		ID                 int64  `json:"id"`
		Availability       string `json:"availability"`
		AvailabilityStatus string `json:"availability_status"`
	} `json:"accounts"`
}

// probeAvailabilities returns the user's availability by account, from
// their profile.
func probeAvailabilities(c client) map[int64]string {
	c.s.t.Helper()
	var p probeProfile
	c.must(200, "GET", "/api/v1/profile", nil, &p)
	out := map[int64]string{}
	for _, a := range p.Accounts {
		out[a.ID] = a.AvailabilityStatus
	}
	return out
}

// probeAvailabilityIn returns a user's availability in an account as its
// administrator sees it in the agent list.
func probeAvailabilityIn(admin client, account, user int64) string {
	admin.s.t.Helper()
	var agents []agentReply
	admin.must(200, "GET", probeIn(account, "/agents"), nil, &agents)
	for _, a := range agents {
		if a.ID == user {
			return a.AvailabilityStatus
		}
	}
	admin.s.t.Fatalf("user %d is not in account %d's agents", user, account)
	return ""
}

// probeSignIn signs in and returns the session cookie.
func probeSignIn(s *testServer, email string) *http.Cookie {
	s.t.Helper()
	resp, err := s.srv.Client().Post(s.srv.URL+"/auth/sign_in", "application/json",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"password123"}`, email)))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("sign in %s: status %d", email, resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == switchboard.SessionCookie && c.Value != "" {
			return c
		}
	}
	s.t.Fatalf("sign in %s set no session cookie", email)
	return nil
}

// probeWithCookie sends a request authenticated by a cookie alone, from the
// same origin.
func probeWithCookie(s *testServer, cookie *http.Cookie, method, path string) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(cookie)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestProbeAccessAvailability: "A new user starts offline; signing in sets an
// offline user online (a busy one stays busy); signing out sets it to
// offline"; "Signing in sets the user online in every account of theirs
// where they were offline. Signing out (cookie or token) ends that session;
// the personal access token stays valid".
func TestProbeAccessAvailability(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		acc2 := probeAccount(s, "Beta")
		admin2, _ := probeUser(s, acc2, "administrator")

		t.Run("NewUserStartsOffline", func(t *testing.T) {
			var a agentReply
			s.admin.must(200, "POST", acct("/agents"), map[string]any{"name": "Fresh", "email": "fresh@example.com", "role": "agent"}, &a)
			if a.AvailabilityStatus != "offline" {
				t.Errorf("created agent replied %q, want offline", a.AvailabilityStatus)
			}
			if got := probeAvailabilityIn(s.admin, 1, a.ID); got != "offline" {
				t.Errorf("created agent listed %q, want offline", got)
			}
			u, _ := probeUser(s, int64(1), "agent", acc2, "administrator")
			if got := probeAvailabilityIn(s.admin, 1, u.id); got != "offline" {
				t.Errorf("platform user in account 1: %q, want offline", got)
			}
			if got := probeAvailabilityIn(admin2, acc2, u.id); got != "offline" {
				t.Errorf("platform user in account 2: %q, want offline", got)
			}
		})

		t.Run("SignInSetsOnlineInEveryAccountWhereOffline", func(t *testing.T) {
			u, email := probeUser(s, int64(1), "agent", acc2, "agent")
			probeSignIn(s, email)
			if got := probeAvailabilities(u); got[1] != "online" || got[acc2] != "online" {
				t.Errorf("after sign-in %v, want online in both accounts", got)
			}
			if got := probeAvailabilityIn(s.admin, 1, u.id); got != "online" {
				t.Errorf("account 1 lists %q after sign-in, want online", got)
			}
			// Busy in account 1, offline in account 2: signing in again keeps
			// busy and brings account 2 online.
			u.must(200, "POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": "busy", "account_id": 1}}, nil)
			u.must(200, "POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": "offline", "account_id": acc2}}, nil)
			if got := probeAvailabilities(u); got[1] != "busy" || got[acc2] != "offline" {
				t.Fatalf("setup: %v, want busy in 1 and offline in %d", got, acc2)
			}
			probeSignIn(s, email)
			if got := probeAvailabilities(u); got[1] != "busy" || got[acc2] != "online" {
				t.Errorf("after sign-in %v, want busy in 1 (kept) and online in %d", got, acc2)
			}
			if got := probeAvailabilityIn(admin2, acc2, u.id); got != "online" {
				t.Errorf("account 2 lists %q after sign-in, want online", got)
			}
		})

		t.Run("SignOutByCookieSetsOfflineEverywhereEndsSessionKeepsToken", func(t *testing.T) {
			u, email := probeUser(s, int64(1), "agent", acc2, "agent")
			cookie := probeSignIn(s, email)
			u.must(200, "POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": "busy", "account_id": acc2}}, nil)
			if status := probeWithCookie(s, cookie, "GET", "/api/v1/profile"); status != 200 {
				t.Fatalf("profile by cookie before sign-out: %d", status)
			}
			if status := probeWithCookie(s, cookie, "DELETE", "/auth/sign_out"); status != 200 {
				t.Fatalf("sign out by cookie: status %d, want 200", status)
			}
			if got := probeAvailabilities(u); got[1] != "offline" || got[acc2] != "offline" {
				t.Errorf("after sign-out %v, want offline in both accounts (busy too)", got)
			}
			if status := probeWithCookie(s, cookie, "GET", "/api/v1/profile"); status != 401 {
				t.Errorf("profile by the signed-out cookie: status %d, want 401", status)
			}
			if status := probeWithCookie(s, cookie, "GET", acct("/conversations")); status != 401 {
				t.Errorf("list by the signed-out cookie: status %d, want 401", status)
			}
			// The token still works, for reads and writes.
			u.must(200, "GET", acct("/conversations"), nil, nil)
			u.setAvailability("online")
			if got := probeAvailabilities(u); got[1] != "online" {
				t.Errorf("availability set by token after sign-out: %v", got)
			}
		})

		t.Run("SignOutByTokenSetsOfflineKeepsToken", func(t *testing.T) {
			u, email := probeUser(s, int64(1), "agent")
			probeSignIn(s, email)
			if got := probeAvailabilities(u); got[1] != "online" {
				t.Fatalf("setup: %v, want online", got)
			}
			u.must(200, "DELETE", "/auth/sign_out", nil, nil)
			if got := probeAvailabilities(u); got[1] != "offline" {
				t.Errorf("after sign-out by token %v, want offline", got)
			}
			// A second sign-out with the same token is still authenticated.
			u.must(200, "DELETE", "/auth/sign_out", nil, nil)
			u.must(200, "GET", acct("/agents"), nil, nil)
		})
	})
}

// TestProbeAccessConversationList: "The conversation list has pages of 25,
// newest activity first, status=open by default; the four meta counts follow
// the status and inbox_id filters, not assignee_type."
func TestProbeAccessConversationList(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		a := s.newAgent("agent", "online")
		b := s.newAgent("agent", "online")
		inbox1 := s.newInbox(nil, a)
		inbox2 := s.newInbox(map[string]any{"enable_auto_assignment": false}, b)

		var open, open2 []int64
		for range 27 {
			id := s.admin.create(inbox1, nil).ID // to a
			open = append(open, id)
		}
		var pending []int64
		for range 3 {
			pending = append(pending, s.admin.create(inbox1, map[string]any{"status": "pending"}).ID)
		}
		resolved := s.admin.create(inbox1, map[string]any{"status": "resolved"}).ID
		for range 4 {
			id := s.admin.create(inbox2, nil).ID // unassigned
			open, open2 = append(open, id), append(open2, id)
		}
		mine := s.admin.create(inbox2, map[string]any{"assignee_id": s.admin.id}).ID
		open, open2 = append(open, mine), append(open2, mine)

		t.Run("DefaultIsOpenInPagesOf25NewestFirst", func(t *testing.T) {
			var got []int64
			var sizes []int
			for page := 1; page <= 3; page++ {
				ids, meta := probeList(s.admin, 1, fmt.Sprintf("?page=%d", page))
				sizes = append(sizes, len(ids))
				got = append(got, ids...)
				if want := (probeMeta{Mine: 1, Unassigned: 4, Assigned: 28, All: 32}); meta != want {
					t.Errorf("page %d meta %+v, want %+v", page, meta, want)
				}
			}
			if !slices.Equal(sizes, []int{25, 7, 0}) {
				t.Errorf("page sizes %v, want [25 7 0]", sizes)
			}
			want := slices.Clone(open)
			slices.Reverse(want) // created one after the other: the last is the newest
			if !slices.Equal(got, want) {
				t.Errorf("default list %v, want the open conversations newest first %v", got, want)
			}
			for _, id := range append(slices.Clone(pending), resolved) {
				if slices.Contains(got, id) {
					t.Errorf("default list shows %d, which is not open", id)
				}
			}
			if ids, _ := probeList(s.admin, 1, "?status=open"); !slices.Equal(ids, want[:25]) {
				t.Errorf("status=open page 1 %v differs from the default %v", ids, want[:25])
			}
		})

		t.Run("CountsFollowStatusAndInbox", func(t *testing.T) {
			for _, tt := range []struct {
				query string
				want  probeMeta
			}{
				{"?status=pending", probeMeta{Unassigned: 3, All: 3}},
				{"?status=resolved", probeMeta{Unassigned: 1, All: 1}},
				{"?status=snoozed", probeMeta{}},
				{"?status=all", probeMeta{Mine: 1, Unassigned: 8, Assigned: 28, All: 36}},
				{fmt.Sprintf("?inbox_id=%d", inbox1), probeMeta{Assigned: 27, All: 27}},
				{fmt.Sprintf("?inbox_id=%d", inbox2), probeMeta{Mine: 1, Unassigned: 4, Assigned: 1, All: 5}},
				{fmt.Sprintf("?status=pending&inbox_id=%d", inbox2), probeMeta{}},
				{fmt.Sprintf("?status=all&inbox_id=%d", inbox1), probeMeta{Unassigned: 4, Assigned: 27, All: 31}},
			} {
				t.Run(strings.TrimPrefix(tt.query, "?"), func(t *testing.T) {
					for _, at := range []string{"", "&assignee_type=all", "&assignee_type=me", "&assignee_type=unassigned", "&assignee_type=assigned"} {
						if _, meta := probeList(s.admin, 1, tt.query+at); meta != tt.want {
							t.Errorf("list%s meta %+v, want %+v", tt.query+at, meta, tt.want)
						}
						if meta := probeMetaOnly(s.admin, 1, tt.query+at); meta != tt.want {
							t.Errorf("meta%s %+v, want %+v", tt.query+at, meta, tt.want)
						}
					}
				})
			}
		})

		t.Run("AssigneeTypeFiltersThePayloadOnly", func(t *testing.T) {
			q := fmt.Sprintf("?inbox_id=%d", inbox2)
			for _, tt := range []struct {
				assigneeType string
				want         []int64
			}{
				{"me", []int64{mine}},
				{"unassigned", open2[:4]},
				{"assigned", []int64{mine}},
				{"all", open2},
			} {
				ids, _ := probeList(s.admin, 1, q+"&assignee_type="+tt.assigneeType)
				slices.Sort(ids)
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(ids, want) {
					t.Errorf("assignee_type=%s: %v, want %v", tt.assigneeType, ids, want)
				}
			}
		})

		t.Run("AgentCountsOnlyWhatTheySee", func(t *testing.T) {
			ids, meta := probeList(a, 1, "?page=2")
			if want := (probeMeta{Mine: 27, Assigned: 27, All: 27}); meta != want {
				t.Errorf("agent's meta %+v, want %+v", meta, want)
			}
			if len(ids) != 2 {
				t.Errorf("agent's page 2 has %d, want 2", len(ids))
			}
			if _, meta := probeList(b, 1, "?status=all"); meta != (probeMeta{Unassigned: 4, Assigned: 1, All: 5}) {
				t.Errorf("agent b's meta %+v, want only inbox 2's five", meta)
			}
		})
	})
}

// TestProbeAccessCreatesAndValidation: "Creates reply 200, as Chatwoot does.
// Validation errors are 422 {"message": "...", "attributes": ["field"]}";
// "Bad input ... changes nothing".
func TestProbeAccessCreatesAndValidation(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		t.Run("CreatesReply200", func(t *testing.T) {
			var acc struct {
				ID int64 `json:"id"`
			}
			for _, r := range []struct {
				name string
				by   client
				path string
				body any
				out  any
			}{
				{"PlatformAccount", probePlatform(s), "/platform/api/v1/accounts", map[string]any{"name": "Gamma"}, &acc},
				{"PlatformUser", probePlatform(s), "/platform/api/v1/users", map[string]any{"name": "Pat", "email": "pat@example.com", "password": "password123"}, nil},
				{"Agent", s.admin, acct("/agents"), map[string]any{"name": "Ann", "email": "ann@example.com", "role": "agent"}, nil},
				{"Inbox", s.admin, acct("/inboxes"), map[string]any{"name": "Web", "channel": map[string]string{"type": "api"}}, nil},
			} {
				t.Run(r.name, func(t *testing.T) {
					status, data := r.by.do("POST", r.path, r.body)
					if status != 200 {
						t.Errorf("POST %s: status %d, want 200; body %s", r.path, status, data)
					}
					if r.out != nil {
						if err := json.Unmarshal(data, r.out); err != nil {
							t.Fatal(err)
						}
					}
				})
			}
			agent := s.newAgent("agent", "online")
			inbox := s.newInbox(nil)
			for _, r := range []struct {
				name string
				by   client
				path string
				body any
			}{
				{"InboxMembers", s.admin, acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{agent.id}}},
				{"ConversationByAgent", agent, acct("/conversations"), map[string]any{"inbox_id": inbox}},
				{"ConversationByAdministrator", s.admin, acct("/conversations"), map[string]any{"inbox_id": inbox, "status": "pending"}},
				{"AccountUser", probePlatform(s), fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", acc.ID), map[string]any{"user_id": agent.id, "role": "agent"}},
			} {
				t.Run(r.name, func(t *testing.T) {
					if status, data := r.by.do("POST", r.path, r.body); status != 200 {
						t.Errorf("POST %s: status %d, want 200; body %s", r.path, status, data)
					}
				})
			}
		})

		t.Run("ValidationErrorsName422Field", func(t *testing.T) {
			member := s.newAgent("agent", "online")
			inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, member)
			conv := member.create(inbox, nil)
			before := probeStateOf(s, 1, conv.ID, s.admin)
			_, listBefore := probeList(s.admin, 1, "?status=all")
			for _, tt := range []struct {
				name  string
				by    client
				r     probeRequest
				field string
			}{
				{"AssigneeNegative", member, probeRequest{"", "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": -4}}, "assignee_id"},
				{"AssigneeFraction", member, probeRequest{"", "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": 2.5}}, "assignee_id"},
				{"AssigneeList", member, probeRequest{"", "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": []int64{member.id}}}, "assignee_id"},
				{"ToggleStatusCapitalised", member, probeRequest{"", "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]any{"status": "Resolved"}}, "status"},
				{"CreateStatusNumber", member, probeRequest{"", "POST", acct("/conversations"), map[string]any{"inbox_id": inbox, "status": 2}}, "status"},
				{"CreateAssigneeBoolean", member, probeRequest{"", "POST", acct("/conversations"), map[string]any{"inbox_id": inbox, "assignee_id": true}}, "assignee_id"},
				{"CreateInboxZero", member, probeRequest{"", "POST", acct("/conversations"), map[string]any{"inbox_id": 0}}, "inbox_id"},
				{"ListInboxNegative", member, probeRequest{"", "GET", acct("/conversations?inbox_id=-1"), nil}, "inbox_id"},
				{"MetaAssigneeType", member, probeRequest{"", "GET", acct("/conversations/meta?assignee_type=everyone"), nil}, "assignee_type"},
				{"ProfileAvailabilityNumber", member, probeRequest{"", "POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": 1, "account_id": 1}}}, "availability"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					status, data := tt.by.do(tt.r.method, tt.r.path, tt.r.body)
					probeUnprocessable(t, status, data, tt.field)
				})
			}
			if after := probeStateOf(s, 1, conv.ID, s.admin); after != before {
				t.Errorf("refused requests changed the conversation: %+v -> %+v", before, after)
			}
			if _, after := probeList(s.admin, 1, "?status=all"); after != listBefore {
				t.Errorf("refused requests changed the counts: %+v -> %+v", listBefore, after)
			}
			var me agentReply
			member.must(200, "GET", "/api/v1/profile", nil, &me)
			if me.AvailabilityStatus != "online" {
				t.Errorf("refused availability changed it to %q", me.AvailabilityStatus)
			}
		})
	})
}

// TestProbeAccessOperationsNeedNoCredentials: "/healthz, /readyz ... need no
// credentials" (/metrics is served by cmd/switchboard, outside this package).
func TestProbeAccessOperationsNeedNoCredentials(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		for _, path := range []string{"/healthz", "/readyz"} {
			for _, c := range []client{{s: s}, {s: s, token: "not-a-token"}} {
				if status, data := c.do("GET", path, nil); status != 200 {
					t.Errorf("GET %s with token %q: status %d, want 200; body %s", path, c.token, status, data)
				}
			}
		}
	})
}

// TestProbeAccessRoleAndMembershipChanges: rules 1 and 2 follow a user's
// current role and membership: a demoted administrator sees and holds only
// what an agent may (README: they lose what they may no longer hold), a
// promoted agent sees everything, and a user removed from the account gets
// 404 under it ("any user for any path under an account they do not belong
// to") and may no longer be an assignee there.
func TestProbeAccessRoleAndMembershipChanges(t *testing.T) {
	probeEachDB(t, func(t *testing.T, s *testServer) {
		member := s.newAgent("agent", "online")
		boss := s.newAgent("administrator", "online")
		climber := s.newAgent("agent", "online")
		leaver := s.newAgent("agent", "online")
		inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, member, leaver)
		conv := s.admin.create(inbox, nil)
		s.admin.must(200, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": boss.id}, nil)

		t.Run("DemotedAdministratorLosesSightAndConversation", func(t *testing.T) {
			boss.must(200, "GET", acct("/conversations/%d", conv.ID), nil, nil)
			s.admin.must(200, "PATCH", acct("/agents/%d", boss.id), map[string]any{"role": "agent"}, nil)
			if status, data := boss.do("GET", acct("/conversations/%d", conv.ID), nil); status != 404 {
				t.Errorf("demoted administrator reads a conversation of an inbox they are no member of: %d, want 404; body %s", status, data)
			}
			if status, data := boss.do("POST", acct("/inboxes"), map[string]any{"name": "X", "channel": map[string]string{"type": "api"}}); status != 403 {
				t.Errorf("demoted administrator creates an inbox: %d, want 403; body %s", status, data)
			}
			if got := s.admin.conversation(conv.ID).assignee(); got == boss.id {
				t.Errorf("conversation still held by the demoted administrator %d, who may not hold it", boss.id)
			}
			status, data := probeAssign(s.admin, 1, conv.ID, boss.id)
			probeUnprocessable(t, status, data, "assignee_id")
		})

		t.Run("PromotedAgentSeesAndMayHoldAll", func(t *testing.T) {
			if status, _ := climber.do("GET", acct("/conversations/%d", conv.ID), nil); status != 404 {
				t.Fatalf("setup: agent of no inbox reads the conversation: %d", status)
			}
			s.admin.must(200, "PATCH", acct("/agents/%d", climber.id), map[string]any{"role": "administrator"}, nil)
			climber.must(200, "GET", acct("/conversations/%d", conv.ID), nil, nil)
			climber.must(200, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": climber.id}, nil)
			if got := s.admin.conversation(conv.ID).assignee(); got != climber.id {
				t.Errorf("assignee %d, want the promoted %d", got, climber.id)
			}
		})

		t.Run("RemovedFromAccountGetsNotFound", func(t *testing.T) {
			leaver.must(200, "GET", acct("/conversations/%d", conv.ID), nil, nil)
			s.admin.must(200, "DELETE", acct("/agents/%d", leaver.id), nil, nil)
			for _, r := range []probeRequest{
				{"ListConversations", "GET", acct("/conversations"), nil},
				{"ShowConversation", "GET", acct("/conversations/%d", conv.ID), nil},
				{"ShowInbox", "GET", acct("/inboxes/%d", inbox), nil},
				{"ListAgents", "GET", acct("/agents"), nil},
				{"Assign", "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": member.id}},
			} {
				if status, data := leaver.do(r.method, r.path, r.body); status != 404 {
					t.Errorf("%s by a user removed from the account: %d, want 404; body %s", r.name, status, data)
				}
			}
			status, data := probeAssign(s.admin, 1, conv.ID, leaver.id)
			probeUnprocessable(t, status, data, "assignee_id")
			if got := s.admin.conversation(conv.ID).assignee(); got != climber.id {
				t.Errorf("assignee %d after refused assignment, want %d", got, climber.id)
			}
		})

		t.Run("PlatformRemovalKeepsOtherAccounts", func(t *testing.T) {
			acc2 := probeAccount(s, "Beta")
			both, _ := probeUser(s, int64(1), "agent", acc2, "administrator")
			both.must(200, "GET", acct("/agents"), nil, nil)
			probePlatform(s).must(200, "DELETE", "/platform/api/v1/accounts/1/account_users", map[string]any{"user_id": both.id}, nil)
			if status, data := both.do("GET", acct("/agents"), nil); status != 404 {
				t.Errorf("user removed from account 1 lists its agents: %d, want 404; body %s", status, data)
			}
			both.must(200, "GET", probeIn(acc2, "/agents"), nil, nil)
		})
	})
}
