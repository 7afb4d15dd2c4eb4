package api_test

// What real Chatwoot clients send and expect (API.md "Conventions"): header
// spellings, trailing slashes, string ids, Rails-wrapped bodies, the reply
// envelopes, the conversation list's paging and counts, the session cookie
// and the Platform API.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// compatSend sends a request with exactly the headers and cookies given.
// Header names are used verbatim, so "api_access_token" keeps its underscores.
func compatSend(t testing.TB, s *testServer, method, path, body string, header http.Header, cookies ...*http.Cookie) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// compatJSON decodes a JSON object reply.
func compatJSON(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		t.Fatalf("reply is not a JSON object: %v in %s", err, data)
	}
	return m
}

// compatHasKeys fails the test for every key that m lacks.
func compatHasKeys(t testing.TB, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: no %q in %v", what, k, m)
		}
	}
}

// compatObject returns m[key] as an object, failing the test otherwise.
func compatObject(t testing.TB, m map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%q is not an object in %v", key, m)
	}
	return o
}

// compatList returns m[key] as an array, failing the test otherwise.
func compatList(t testing.TB, m map[string]any, key string) []any {
	t.Helper()
	l, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%q is not an array in %v", key, m)
	}
	return l
}

var (
	compatAgentKeys = []string{"id", "account_id", "name", "available_name", "email", "role",
		"availability_status", "auto_offline", "confirmed", "thumbnail"}
	compatUserKeys = []string{"id", "name", "email", "access_token", "account_id", "role",
		"availability_status", "accounts"}
	compatUserAccountKeys = []string{"id", "name", "role", "availability", "availability_status", "auto_offline"}
	compatInboxKeys       = []string{"id", "name", "channel_type", "enable_auto_assignment",
		"enable_auto_reassignment", "auto_assignment_config"}
	compatCountKeys = []string{"mine_count", "unassigned_count", "assigned_count", "all_count"}
)

// compatIDs returns the ids of a list of records.
func compatIDs(t testing.TB, list []any) []int64 {
	t.Helper()
	ids := make([]int64, 0, len(list))
	for _, item := range list {
		o, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("list item is not an object: %v", item)
		}
		id, ok := o["id"].(float64)
		if !ok {
			t.Fatalf("list item has no numeric id: %v", o)
		}
		ids = append(ids, int64(id))
	}
	return ids
}

// compatMemberIDs returns the ids of an inbox's members, sorted.
func compatMemberIDs(c client, inbox int64) []int64 {
	c.s.t.Helper()
	var reply struct {
		Payload []agentReply `json:"payload"`
	}
	c.must(200, "GET", acct("/inbox_members/%d", inbox), nil, &reply)
	ids := []int64{}
	for _, a := range reply.Payload {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}

// compatInboxCount returns how many inboxes c sees.
func compatInboxCount(c client) int {
	c.s.t.Helper()
	var reply struct {
		Payload []json.RawMessage `json:"payload"`
	}
	c.must(200, "GET", acct("/inboxes"), nil, &reply)
	return len(reply.Payload)
}

func sortedIDs(ids ...int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func TestCompatTokenHeaderSpellings(t *testing.T) {
	s := newServer(t)
	agent := s.newAgent("agent", "online")
	for _, tc := range []struct {
		name   string
		header string // the client's header field; "" is api_access_token
	}{
		{"UnderscoreHeaderAccepted", ""},
		{"DashedHeaderOfN8nAccepted", "Api-Access-Token"},
		{"BearerAuthorizationAccepted", "Authorization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin, ag := s.admin, agent
			admin.header, ag.header = tc.header, tc.header

			var me agentReply
			ag.must(200, "GET", "/api/v1/profile", nil, &me)
			if me.ID != agent.id {
				t.Errorf("profile is user %d, want the token's owner %d", me.ID, agent.id)
			}
			admin.must(200, "GET", "/api/v1/profile", nil, &me)
			if me.ID != s.admin.id {
				t.Errorf("profile is user %d, want the token's owner %d", me.ID, s.admin.id)
			}

			before := compatInboxCount(s.admin)
			admin.must(200, "POST", acct("/inboxes"), map[string]any{"name": "Via " + tc.name, "channel": map[string]string{"type": "api"}}, nil)
			if after := compatInboxCount(s.admin); after != before+1 {
				t.Errorf("inboxes: %d after a create, want %d", after, before+1)
			}
		})
	}
	t.Run("BearerSchemeInAnyCase", func(t *testing.T) {
		for _, scheme := range []string{"bearer", "BEARER"} {
			resp, data := compatSend(t, s, "GET", "/api/v1/profile", "", http.Header{"Authorization": {scheme + " " + agent.token}})
			if resp.StatusCode != 200 {
				t.Errorf("%s: status %d, want 200; body %s", scheme, resp.StatusCode, data)
			}
		}
	})
	t.Run("SDKBothHeadersAccepted", func(t *testing.T) {
		// The JavaScript SDK sends the token twice.
		resp, data := compatSend(t, s, "GET", acct("/agents"), "", http.Header{
			"api_access_token": {agent.token}, "Authorization": {"Bearer " + agent.token},
		})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200; body %s", resp.StatusCode, data)
		}
	})
}

func TestCompatTrailingSlashIgnored(t *testing.T) {
	s := newServer(t)
	agent := s.newAgent("agent", "online")
	inbox := s.newInbox(nil, agent)
	conv := s.admin.create(inbox, nil)

	t.Run("ReadsAnswerAsWithoutSlash", func(t *testing.T) {
		for _, path := range []string{
			"/api/v1/profile",
			acct("/agents"),
			acct("/inboxes"),
			acct("/inboxes/%d", inbox),
			acct("/inbox_members/%d", inbox),
			acct("/conversations"),
			acct("/conversations/meta"),
			acct("/conversations/%d", conv.ID),
			acct("/conversations/%d/assignment_events", conv.ID),
		} {
			status, plain := s.admin.do("GET", path, nil)
			if status != 200 {
				t.Fatalf("GET %s: status %d; body %s", path, status, plain)
			}
			status, slashed := s.admin.do("GET", path+"/", nil)
			if status != 200 || !bytes.Equal(plain, slashed) {
				t.Errorf("GET %s/: status %d, body %s; want 200, body %s", path, status, slashed, plain)
			}
		}
	})
	t.Run("CreateInboxWithSlash", func(t *testing.T) {
		before := compatInboxCount(s.admin)
		var in struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		}
		s.admin.must(200, "POST", acct("/inboxes/"), map[string]any{"name": "Slashed", "channel": map[string]string{"type": "api"}}, &in)
		if in.ID == 0 || in.Name != "Slashed" {
			t.Errorf("reply %+v, want the new inbox", in)
		}
		if after := compatInboxCount(s.admin); after != before+1 {
			t.Errorf("inboxes: %d, want %d", after, before+1)
		}
	})
	t.Run("CreateConversationWithSlash", func(t *testing.T) {
		var c conversationReply
		s.admin.must(200, "POST", acct("/conversations/"), map[string]any{"inbox_id": inbox}, &c)
		if c.InboxID != inbox || c.assignee() != agent.id {
			t.Errorf("reply %+v, want a conversation of inbox %d assigned to %d", c, inbox, agent.id)
		}
	})
	t.Run("AssignWithSlash", func(t *testing.T) {
		s.admin.must(200, "POST", acct("/conversations/%d/assignments/", conv.ID), map[string]any{"assignee_id": s.admin.id}, nil)
		if got := s.admin.conversation(conv.ID).assignee(); got != s.admin.id {
			t.Errorf("assignee %d, want %d", got, s.admin.id)
		}
	})
	t.Run("MembersWithSlash", func(t *testing.T) {
		other := s.newAgent("agent", "offline")
		s.admin.must(200, "POST", acct("/inbox_members/"), map[string]any{"inbox_id": inbox, "user_ids": []int64{other.id}}, nil)
		if got, want := compatMemberIDs(s.admin, inbox), sortedIDs(agent.id, other.id); !slices.Equal(got, want) {
			t.Errorf("members %v after add, want %v", got, want)
		}
		// The JavaScript SDK names the inbox in the path of its DELETE.
		s.admin.must(200, "DELETE", acct("/inbox_members/%d/", inbox), map[string]any{"user_ids": []int64{other.id}}, nil)
		if got, want := compatMemberIDs(s.admin, inbox), []int64{agent.id}; !slices.Equal(got, want) {
			t.Errorf("members %v after remove, want %v", got, want)
		}
	})
	checkInvariants(t, s.path)
}

func TestCompatStringIDsAccepted(t *testing.T) {
	s := newServer(t)
	a1 := s.newAgent("agent", "online")
	a2 := s.newAgent("agent", "online")
	inbox := s.newInbox(nil)
	str := func(id int64) string { return fmt.Sprint(id) }

	t.Run("AddMembersWithStringIDs", func(t *testing.T) {
		var reply struct {
			Payload []agentReply `json:"payload"`
		}
		s.admin.must(200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": str(inbox), "user_ids": []string{str(a1.id)}}, &reply)
		if len(reply.Payload) != 1 || reply.Payload[0].ID != a1.id {
			t.Errorf("payload %+v, want member %d", reply.Payload, a1.id)
		}
	})
	t.Run("CreateConversationWithStringIDs", func(t *testing.T) {
		var c struct {
			conversationReply
			Meta struct {
				Sender map[string]any `json:"sender"`
			} `json:"meta"`
		}
		s.admin.must(200, "POST", acct("/conversations"), map[string]any{"inbox_id": str(inbox), "contact_id": "7"}, &c)
		if c.InboxID != inbox {
			t.Errorf("inbox %d, want %d", c.InboxID, inbox)
		}
		if c.Meta.Sender["id"] != float64(7) {
			t.Errorf("sender %v, want contact 7", c.Meta.Sender)
		}
		if got := s.admin.conversation(c.ID).assignee(); got != a1.id {
			t.Errorf("auto-assigned to %d, want the only member %d", got, a1.id)
		}
	})
	t.Run("CreateWithStringAssignee", func(t *testing.T) {
		c := s.admin.create(inbox, map[string]any{"assignee_id": str(s.admin.id)})
		if c.assignee() != s.admin.id {
			t.Errorf("assignee %d, want %d", c.assignee(), s.admin.id)
		}
	})
	t.Run("AssignWithStringID", func(t *testing.T) {
		c := s.admin.create(inbox, nil)
		var a agentReply
		s.admin.must(200, "POST", acct("/conversations/%d/assignments", c.ID), map[string]any{"assignee_id": str(s.admin.id)}, &a)
		if a.ID != s.admin.id || s.admin.conversation(c.ID).assignee() != s.admin.id {
			t.Errorf("reply %+v; want conversation %d assigned to %d", a, c.ID, s.admin.id)
		}
	})
	t.Run("ReplaceMembersWithStringIDs", func(t *testing.T) {
		s.admin.must(200, "PATCH", acct("/inbox_members"), map[string]any{"inbox_id": str(inbox), "user_ids": []string{str(a2.id)}}, nil)
		if got := compatMemberIDs(s.admin, inbox); !slices.Equal(got, []int64{a2.id}) {
			t.Errorf("members %v, want [%d]", got, a2.id)
		}
	})
	t.Run("RemoveMembersWithStringIDs", func(t *testing.T) {
		s.admin.must(200, "DELETE", acct("/inbox_members"), map[string]any{"inbox_id": str(inbox), "user_ids": []string{str(a2.id)}}, nil)
		if got := compatMemberIDs(s.admin, inbox); len(got) != 0 {
			t.Errorf("members %v, want none", got)
		}
	})
	t.Run("OnlyDigits", func(t *testing.T) {
		// "strings of digits" (API.md): a sign or a space is no id.
		for _, id := range []string{"+" + str(inbox), " " + str(inbox), str(inbox) + " ", "0x1", ""} {
			status, body := s.admin.do("POST", acct("/conversations"), map[string]any{"inbox_id": id})
			if status != 422 || !strings.Contains(string(body), `"inbox_id"`) {
				t.Errorf("inbox_id %q: %d %s, want 422 naming inbox_id", id, status, body)
			}
		}
		if status, body := s.admin.do("PATCH", acct("/agents/+%d", a1.id), map[string]any{"name": "Signed"}); status != 404 {
			t.Errorf("an agent's path with a sign: %d %s, want 404", status, body)
		}
		if status, _ := s.admin.do("GET", acct("/conversations/0%d", s.admin.create(inbox, nil).ID), nil); status != 200 {
			t.Errorf("a conversation's path with a leading zero: %d, want 200 (digits)", status)
		}
	})
	t.Run("AvailabilityWithStringAccountID", func(t *testing.T) {
		var u agentReply
		a1.must(200, "POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": "busy", "account_id": "1"}}, &u)
		if u.AvailabilityStatus != "busy" {
			t.Errorf("availability %q, want busy", u.AvailabilityStatus)
		}
	})
	checkInvariants(t, s.path)
}

func TestCompatRailsWrappedBodies(t *testing.T) {
	s := newServer(t)
	var agent agentReply
	t.Run("CreateAgentWrapped", func(t *testing.T) {
		s.admin.must(200, "POST", acct("/agents"), map[string]any{"agent": map[string]any{
			"name": "Wrapped", "email": "wrapped@example.com", "role": "administrator", "availability": "busy",
		}}, &agent)
		if agent.Name != "Wrapped" || agent.Email != "wrapped@example.com" || agent.Role != "administrator" || agent.AvailabilityStatus != "busy" {
			t.Errorf("reply %+v, want the wrapped fields", agent)
		}
	})
	t.Run("UpdateAgentWrapped", func(t *testing.T) {
		var a agentReply
		s.admin.must(200, "PATCH", acct("/agents/%d", agent.ID), map[string]any{"agent": map[string]any{"name": "Renamed", "role": "agent"}}, &a)
		if a.Name != "Renamed" || a.Role != "agent" {
			t.Errorf("reply %+v, want name Renamed, role agent", a)
		}
		var list []agentReply
		s.admin.must(200, "GET", acct("/agents"), nil, &list)
		i := slices.IndexFunc(list, func(x agentReply) bool { return x.ID == agent.ID })
		if i < 0 || list[i].Name != "Renamed" || list[i].Role != "agent" {
			t.Errorf("agents %+v: the change was not stored", list)
		}
	})
	var inbox struct {
		ID                     int64  `json:"id"`
		Name                   string `json:"name"`
		EnableAutoAssignment   bool   `json:"enable_auto_assignment"`
		EnableAutoReassignment bool   `json:"enable_auto_reassignment"`
	}
	t.Run("CreateInboxWrapped", func(t *testing.T) {
		s.admin.must(200, "POST", acct("/inboxes"), map[string]any{"inbox": map[string]any{
			"name": "Wrapped inbox", "channel": map[string]string{"type": "api"}, "enable_auto_assignment": false,
		}}, &inbox)
		if inbox.Name != "Wrapped inbox" || inbox.EnableAutoAssignment || !inbox.EnableAutoReassignment {
			t.Errorf("reply %+v, want the wrapped name, auto-assignment off, reassignment on", inbox)
		}
	})
	t.Run("UpdateInboxWrapped", func(t *testing.T) {
		s.admin.must(200, "PATCH", acct("/inboxes/%d", inbox.ID), map[string]any{"inbox": map[string]any{
			"name": "Renamed inbox", "enable_auto_reassignment": false,
		}}, nil)
		s.admin.must(200, "GET", acct("/inboxes/%d", inbox.ID), nil, &inbox)
		if inbox.Name != "Renamed inbox" || inbox.EnableAutoReassignment || inbox.EnableAutoAssignment {
			t.Errorf("inbox %+v, want renamed, reassignment off, assignment still off", inbox)
		}
	})
}

func TestCompatReplyEnvelopes(t *testing.T) {
	s := newServer(t)
	agent := s.newAgent("agent", "online")
	inbox := s.newInbox(nil, agent)
	empty := s.newInbox(nil) // no members: its conversations stay unassigned

	t.Run("AgentsBareArray", func(t *testing.T) {
		status, data := s.admin.do("GET", acct("/agents"), nil)
		var list []map[string]any
		if err := json.Unmarshal(data, &list); status != 200 || err != nil {
			t.Fatalf("status %d, %v: want a bare array, got %s", status, err, data)
		}
		if len(list) != 2 {
			t.Fatalf("%d agents, want 2", len(list))
		}
		for _, a := range list {
			compatHasKeys(t, "agent", a, compatAgentKeys...)
		}
	})
	t.Run("InboxesInPayload", func(t *testing.T) {
		_, data := s.admin.do("GET", acct("/inboxes"), nil)
		list := compatList(t, compatJSON(t, data), "payload")
		if len(list) != 2 {
			t.Fatalf("%d inboxes, want 2", len(list))
		}
		in := list[0].(map[string]any)
		compatHasKeys(t, "inbox", in, compatInboxKeys...)
		if in["channel_type"] != "Channel::Api" {
			t.Errorf("channel_type %v, want Channel::Api", in["channel_type"])
		}
		compatObject(t, in, "auto_assignment_config")
	})
	t.Run("InboxShownBare", func(t *testing.T) {
		_, data := s.admin.do("GET", acct("/inboxes/%d", inbox), nil)
		in := compatJSON(t, data)
		compatHasKeys(t, "inbox", in, compatInboxKeys...)
		if in["id"] != float64(inbox) {
			t.Errorf("id %v, want %d", in["id"], inbox)
		}
	})
	t.Run("InboxMembersInPayload", func(t *testing.T) {
		_, data := s.admin.do("GET", acct("/inbox_members/%d", inbox), nil)
		list := compatList(t, compatJSON(t, data), "payload")
		if ids := compatIDs(t, list); !slices.Equal(ids, []int64{agent.id}) {
			t.Fatalf("members %v, want [%d]", ids, agent.id)
		}
		compatHasKeys(t, "member", list[0].(map[string]any), compatAgentKeys...)
	})
	t.Run("AddMembersRepliesAllMembers", func(t *testing.T) {
		other := s.newAgent("agent", "offline")
		_, data := s.admin.do("POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{other.id}})
		ids := compatIDs(t, compatList(t, compatJSON(t, data), "payload"))
		slices.Sort(ids)
		if want := sortedIDs(agent.id, other.id); !slices.Equal(ids, want) {
			t.Errorf("payload %v, want every member %v", ids, want)
		}
		_, data = s.admin.do("PATCH", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{agent.id}})
		ids = compatIDs(t, compatList(t, compatJSON(t, data), "payload"))
		if !slices.Equal(ids, []int64{agent.id}) {
			t.Errorf("payload after replace %v, want [%d]", ids, agent.id)
		}
	})
	t.Run("RemoveMembersEmptyBody", func(t *testing.T) {
		other := s.newAgent("agent", "offline")
		s.admin.must(200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{other.id}}, nil)
		status, data := s.admin.do("DELETE", acct("/inbox_members"), map[string]any{"inbox_id": inbox, "user_ids": []int64{other.id}})
		if status != 200 || len(bytes.TrimSpace(data)) != 0 {
			t.Errorf("status %d, body %q; want 200 and an empty body", status, data)
		}
	})
	t.Run("ConversationListInDataWithMeta", func(t *testing.T) {
		s.admin.create(inbox, nil)
		_, data := s.admin.do("GET", acct("/conversations"), nil)
		top := compatJSON(t, data)
		if len(top) != 1 {
			t.Errorf("top-level keys %v, want only data", top)
		}
		d := compatObject(t, top, "data")
		meta := compatObject(t, d, "meta")
		compatHasKeys(t, "meta", meta, compatCountKeys...)
		list := compatList(t, d, "payload")
		if len(list) != 1 {
			t.Fatalf("%d conversations, want 1", len(list))
		}
		compatHasKeys(t, "conversation", list[0].(map[string]any), "id", "account_id", "inbox_id", "status", "created_at", "timestamp", "meta")
	})
	t.Run("ConversationMetaInMeta", func(t *testing.T) {
		_, data := s.admin.do("GET", acct("/conversations/meta"), nil)
		top := compatJSON(t, data)
		if len(top) != 1 {
			t.Errorf("top-level keys %v, want only meta", top)
		}
		compatHasKeys(t, "meta", compatObject(t, top, "meta"), compatCountKeys...)
	})
	t.Run("ConversationTimesInUnixSeconds", func(t *testing.T) {
		c := s.admin.create(inbox, nil)
		_, data := s.admin.do("GET", acct("/conversations/%d", c.ID), nil)
		conv := compatJSON(t, data)
		for _, k := range []string{"created_at", "timestamp"} {
			v, ok := conv[k].(float64)
			// Seconds since 1970 are about 1.7e9 today; milliseconds would be 1e12.
			if !ok || v < 1e9 || v >= 1e11 {
				t.Errorf("%s = %v, want Unix seconds", k, conv[k])
			}
		}
	})
	t.Run("UnassignedConversationHasNoAssigneeKey", func(t *testing.T) {
		c := s.admin.create(empty, nil)
		for _, path := range []string{acct("/conversations/%d", c.ID), acct("/conversations?inbox_id=%d", empty)} {
			_, data := s.admin.do("GET", path, nil)
			if bytes.Contains(data, []byte(`"assignee"`)) {
				t.Errorf("GET %s: meta.assignee present for an unassigned conversation: %s", path, data)
			}
		}
		s.admin.must(200, "POST", acct("/conversations/%d/assignments", c.ID), map[string]any{"assignee_id": s.admin.id}, nil)
		if got := s.admin.conversation(c.ID).assignee(); got != s.admin.id {
			t.Errorf("meta.assignee %d after assignment, want %d", got, s.admin.id)
		}
	})
	t.Run("AssignRepliesAgentOrNull", func(t *testing.T) {
		c := s.admin.create(empty, nil)
		_, data := s.admin.do("POST", acct("/conversations/%d/assignments", c.ID), map[string]any{"assignee_id": s.admin.id})
		a := compatJSON(t, data)
		compatHasKeys(t, "assignee", a, compatAgentKeys...)
		if a["id"] != float64(s.admin.id) {
			t.Errorf("assignee %v, want %d", a["id"], s.admin.id)
		}
		status, data := s.admin.do("POST", acct("/conversations/%d/assignments", c.ID), map[string]any{"assignee_id": nil})
		if status != 200 || string(bytes.TrimSpace(data)) != "null" {
			t.Errorf("unassign: status %d, body %q; want 200 null", status, data)
		}
	})
	t.Run("ToggleStatusReply", func(t *testing.T) {
		c := s.admin.create(inbox, nil)
		check := func(body any, status string, snoozed any) {
			t.Helper()
			_, data := s.admin.do("POST", acct("/conversations/%d/toggle_status", c.ID), body)
			top := compatJSON(t, data)
			if meta := compatObject(t, top, "meta"); len(meta) != 0 {
				t.Errorf("meta %v, want {}", meta)
			}
			p := compatObject(t, top, "payload")
			want := map[string]any{"success": true, "current_status": status, "conversation_id": float64(c.ID), "snoozed_until": snoozed}
			for k, v := range want {
				if got, ok := p[k]; !ok || got != v {
					t.Errorf("toggle %v: payload[%q] = %v, want %v (payload %v)", body, k, got, v, p)
				}
			}
		}
		check(map[string]any{}, "resolved", nil) // no status toggles open -> resolved
		check(nil, "open", nil)                  // ... and back
		check(map[string]any{"status": "pending"}, "pending", nil)
		check(map[string]any{"status": "snoozed", "snoozed_until": 1900000000}, "snoozed", float64(1900000000))
	})
	t.Run("AssignmentEventsInPayload", func(t *testing.T) {
		c := s.admin.create(inbox, nil)
		_, data := s.admin.do("GET", acct("/conversations/%d/assignment_events", c.ID), nil)
		list := compatList(t, compatJSON(t, data), "payload")
		if len(list) != 1 {
			t.Fatalf("%d events, want the auto-assignment", len(list))
		}
		e := list[0].(map[string]any)
		compatHasKeys(t, "event", e, "id", "from_assignee_id", "to_assignee_id", "reason", "actor_id", "created_at")
		if e["reason"] != "auto" || e["to_assignee_id"] != float64(agent.id) || e["from_assignee_id"] != nil {
			t.Errorf("event %v, want auto from nobody to %d", e, agent.id)
		}
	})
	t.Run("SignInWrapsUserInData", func(t *testing.T) {
		resp, data := compatSend(t, s, "POST", "/auth/sign_in", `{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d; body %s", resp.StatusCode, data)
		}
		top := compatJSON(t, data)
		u := compatObject(t, top, "data")
		compatHasKeys(t, "user", u, compatUserKeys...)
		if u["id"] != float64(s.admin.id) || u["access_token"] != s.admin.token || u["account_id"] != float64(1) || u["role"] != "administrator" {
			t.Errorf("user %v, want the administrator of account 1 with their token", u)
		}
		accounts := compatList(t, u, "accounts")
		if len(accounts) != 1 {
			t.Fatalf("accounts %v, want one", accounts)
		}
		compatHasKeys(t, "user account", accounts[0].(map[string]any), compatUserAccountKeys...)
	})
	t.Run("ProfileBare", func(t *testing.T) {
		_, data := s.admin.do("GET", "/api/v1/profile", nil)
		u := compatJSON(t, data)
		if _, wrapped := u["data"]; wrapped {
			t.Errorf("profile wrapped in data: %s", data)
		}
		compatHasKeys(t, "profile", u, compatUserKeys...)
		if u["id"] != float64(s.admin.id) {
			t.Errorf("id %v, want %d", u["id"], s.admin.id)
		}
	})
	t.Run("AvailabilityRepliesBareUser", func(t *testing.T) {
		_, data := agent.do("POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": "available", "account_id": 1}})
		u := compatJSON(t, data)
		compatHasKeys(t, "user", u, compatUserKeys...)
		if u["availability_status"] != "online" {
			t.Errorf("availability_status %v, want online (\"available\" means online)", u["availability_status"])
		}
	})
	t.Run("DeleteAgentEmptyBody", func(t *testing.T) {
		gone := s.newAgent("agent", "online")
		status, data := s.admin.do("DELETE", acct("/agents/%d", gone.id), nil)
		if status != 200 || len(bytes.TrimSpace(data)) != 0 {
			t.Errorf("status %d, body %q; want 200 and an empty body", status, data)
		}
	})
	checkInvariants(t, s.path)
}

// compatListIDs returns the conversation ids of one list reply, and its meta.
func compatListIDs(c client, query string) ([]int64, map[string]int) {
	c.s.t.Helper()
	var reply struct {
		Data struct {
			Meta    map[string]int      `json:"meta"`
			Payload []conversationReply `json:"payload"`
		} `json:"data"`
	}
	c.must(200, "GET", acct("/conversations%s", query), nil, &reply)
	ids := []int64{}
	for _, conv := range reply.Data.Payload {
		ids = append(ids, conv.ID)
	}
	return ids, reply.Data.Meta
}

// compatRange returns from, from-1, ..., to (from >= to).
func compatRange(from, to int64) []int64 {
	out := []int64{}
	for i := from; i >= to; i-- {
		out = append(out, i)
	}
	return out
}

func TestCompatConversationListPaging(t *testing.T) {
	s := newServer(t)
	// Every write is one second after the one before, so that "newest
	// activity" never depends on two writes falling in different milliseconds.
	var clock atomic.Int64
	clock.Store(1_700_000_000)
	s.db.Now = func() time.Time { return time.Unix(clock.Add(1), 0) }

	inbox := s.newInbox(nil) // no members: nothing is assigned behind our back
	for range 30 {
		s.admin.create(inbox, nil)
	}

	t.Run("FirstPageHas25NewestFirst", func(t *testing.T) {
		ids, meta := compatListIDs(s.admin, "")
		if want := compatRange(30, 6); !slices.Equal(ids, want) {
			t.Errorf("page 1 %v, want %v", ids, want)
		}
		if meta["all_count"] != 30 {
			t.Errorf("all_count %d, want 30 (the count is of all pages)", meta["all_count"])
		}
	})
	t.Run("SecondPageHasTheRest", func(t *testing.T) {
		ids, meta := compatListIDs(s.admin, "?page=2")
		if want := compatRange(5, 1); !slices.Equal(ids, want) {
			t.Errorf("page 2 %v, want %v", ids, want)
		}
		if meta["all_count"] != 30 {
			t.Errorf("all_count %d, want 30", meta["all_count"])
		}
	})
	t.Run("PageAfterTheLastEmpty", func(t *testing.T) {
		// 737869762948382066 is the page whose offset, (page-1)*25, wraps round
		// int64 to 9.
		for _, page := range []int64{3, 1000, math.MaxInt64 / 25, 737869762948382066, math.MaxInt64} {
			if ids, _ := compatListIDs(s.admin, fmt.Sprintf("?page=%d", page)); len(ids) != 0 {
				t.Errorf("page %d: %v, want no conversations", page, ids)
			}
		}
	})
	t.Run("RecentActivityComesFirst", func(t *testing.T) {
		// An assignment is activity: conversation 3 moves to the top.
		s.admin.must(200, "POST", acct("/conversations/3/assignments"), map[string]any{"assignee_id": s.admin.id}, nil)
		ids, _ := compatListIDs(s.admin, "")
		if want := append([]int64{3}, compatRange(30, 7)...); !slices.Equal(ids, want) {
			t.Errorf("page 1 %v, want %v", ids, want)
		}
		ids, _ = compatListIDs(s.admin, "?page=2")
		if want := []int64{6, 5, 4, 2, 1}; !slices.Equal(ids, want) {
			t.Errorf("page 2 %v, want %v", ids, want)
		}
	})
	t.Run("OpenByDefault", func(t *testing.T) {
		resolved := s.admin.create(inbox, map[string]any{"status": "resolved"})
		pending := s.admin.create(inbox, map[string]any{"status": "pending"})
		all := []int64{}
		for page := 1; page <= 2; page++ {
			ids, meta := compatListIDs(s.admin, fmt.Sprintf("?page=%d", page))
			all = append(all, ids...)
			if meta["all_count"] != 30 {
				t.Errorf("all_count %d by default, want the 30 open ones", meta["all_count"])
			}
		}
		if slices.Contains(all, resolved.ID) || slices.Contains(all, pending.ID) || len(all) != 30 {
			t.Errorf("default list %v, want the 30 open conversations only", all)
		}
		if ids, _ := compatListIDs(s.admin, "?status=resolved"); !slices.Equal(ids, []int64{resolved.ID}) {
			t.Errorf("status=resolved: %v, want [%d]", ids, resolved.ID)
		}
		if ids, meta := compatListIDs(s.admin, "?status=all"); meta["all_count"] != 32 || ids[0] != pending.ID || ids[1] != resolved.ID {
			t.Errorf("status=all: %v, all_count %d; want 32, newest first", ids, meta["all_count"])
		}
	})
}

// Chatwoot's list shows each conversation with its last message, for the
// preview under the contact's name.
func TestCompatConversationListShowsLastMessage(t *testing.T) {
	eachDB(t, func(t *testing.T, s *testServer) {
		inbox := s.newInbox(nil)
		with := s.admin.create(inbox, map[string]any{"message": map[string]string{"content": "Where is my parcel?"}})
		without := s.admin.create(inbox, nil)
		var reply struct {
			Data struct {
				Payload []struct {
					ID       int64 `json:"id"`
					Messages []struct {
						ID      int64  `json:"id"`
						Content string `json:"content"`
					} `json:"messages"`
				} `json:"payload"`
			} `json:"data"`
		}
		s.admin.must(200, "GET", acct("/conversations"), nil, &reply)
		got := map[int64]string{}
		for _, c := range reply.Data.Payload {
			if len(c.Messages) > 1 {
				t.Errorf("conversation %d lists %d messages, want the last one", c.ID, len(c.Messages))
			}
			for _, m := range c.Messages {
				got[c.ID] = m.Content
			}
		}
		if got[with.ID] != "Where is my parcel?" {
			t.Errorf("conversation %d listed with %q, want its message", with.ID, got[with.ID])
		}
		if _, ok := got[without.ID]; ok {
			t.Errorf("conversation %d has no message, listed with %q", without.ID, got[without.ID])
		}
	})
}

func TestCompatConversationCounts(t *testing.T) {
	s := newServer(t)
	agent := s.newAgent("agent", "online")
	x := s.newInbox(nil, agent)
	y := s.newInbox(nil) // no members: unassigned unless given
	// X: two open (auto-assigned to the agent), one resolved.
	s.admin.create(x, nil)
	s.admin.create(x, nil)
	s.admin.create(x, map[string]any{"status": "resolved"})
	// Y: three open unassigned, one pending, one open given to the administrator.
	for range 3 {
		s.admin.create(y, nil)
	}
	s.admin.create(y, map[string]any{"status": "pending"})
	s.admin.create(y, map[string]any{"assignee_id": s.admin.id})

	type counts struct{ mine, unassigned, assigned, all int }
	for _, tc := range []struct {
		name  string
		who   client
		query string
		meta  counts
		list  int
	}{
		{"OpenByDefault", s.admin, "", counts{1, 3, 3, 6}, 6},
		{"MineListedCountsUnchanged", s.admin, "assignee_type=me", counts{1, 3, 3, 6}, 1},
		{"UnassignedListedCountsUnchanged", s.admin, "assignee_type=unassigned", counts{1, 3, 3, 6}, 3},
		{"AssignedListedCountsUnchanged", s.admin, "assignee_type=assigned", counts{1, 3, 3, 6}, 3},
		{"AllListed", s.admin, "assignee_type=all", counts{1, 3, 3, 6}, 6},
		{"ResolvedCounted", s.admin, "status=resolved", counts{0, 1, 0, 1}, 1},
		{"PendingCounted", s.admin, "status=pending", counts{0, 1, 0, 1}, 1},
		{"EveryStatusCounted", s.admin, "status=all", counts{1, 5, 3, 8}, 8},
		{"EveryStatusMineListed", s.admin, "status=all&assignee_type=me", counts{1, 5, 3, 8}, 1},
		{"InboxXCounted", s.admin, fmt.Sprintf("inbox_id=%d", x), counts{0, 0, 2, 2}, 2},
		{"InboxYCounted", s.admin, fmt.Sprintf("inbox_id=%d", y), counts{1, 3, 1, 4}, 4},
		{"InboxYUnassignedListed", s.admin, fmt.Sprintf("inbox_id=%d&assignee_type=unassigned", y), counts{1, 3, 1, 4}, 3},
		{"InboxXEveryStatus", s.admin, fmt.Sprintf("inbox_id=%d&status=all", x), counts{0, 1, 2, 3}, 3},
		{"AgentCountsOnlyTheirInboxes", agent, "", counts{2, 0, 2, 2}, 2},
		{"AgentEveryStatus", agent, "status=all", counts{2, 1, 2, 3}, 3},
		{"AgentUnassignedListed", agent, "status=all&assignee_type=unassigned", counts{2, 1, 2, 3}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]int{"mine_count": tc.meta.mine, "unassigned_count": tc.meta.unassigned,
				"assigned_count": tc.meta.assigned, "all_count": tc.meta.all}
			ids, meta := compatListIDs(tc.who, "?"+tc.query)
			if len(ids) != tc.list {
				t.Errorf("list: %d conversations %v, want %d", len(ids), ids, tc.list)
			}
			if !maps.Equal(meta, want) {
				t.Errorf("list meta %v, want %v", meta, want)
			}
			var reply struct {
				Meta map[string]int `json:"meta"`
			}
			tc.who.must(200, "GET", acct("/conversations/meta?%s", tc.query), nil, &reply)
			if !maps.Equal(reply.Meta, want) {
				t.Errorf("conversations/meta %v, want %v", reply.Meta, want)
			}
		})
	}
}

// compatSessionCookie returns the session cookie of a sign-in reply.
func compatSessionCookie(t testing.TB, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "switchboard_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

func TestCompatSessionCookie(t *testing.T) {
	s := newServer(t)
	signIn := func() *http.Cookie {
		t.Helper()
		resp, data := compatSend(t, s, "POST", "/auth/sign_in", `{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("sign in: status %d; body %s", resp.StatusCode, data)
		}
		return compatSessionCookie(t, resp)
	}
	profileStatus := func(h http.Header, cookies ...*http.Cookie) (int, map[string]any) {
		t.Helper()
		resp, data := compatSend(t, s, "GET", "/api/v1/profile", "", h, cookies...)
		if resp.StatusCode != 200 {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, compatJSON(t, data)
	}
	newInbox := func(h http.Header, cookies ...*http.Cookie) (int, []byte) {
		t.Helper()
		resp, data := compatSend(t, s, "POST", acct("/inboxes"), `{"name":"By cookie","channel":{"type":"api"}}`, h, cookies...)
		return resp.StatusCode, data
	}
	token := http.Header{"api_access_token": {s.admin.token}}

	cookie := signIn()
	t.Run("CookieHttpOnlySameSiteLax", func(t *testing.T) {
		if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Value == "" {
			t.Errorf("cookie %+v, want a value, HttpOnly and SameSite=Lax", cookie)
		}
	})
	t.Run("CookieAuthenticatesReads", func(t *testing.T) {
		status, u := profileStatus(nil, cookie)
		if status != 200 || u["id"] != float64(s.admin.id) {
			t.Fatalf("profile by cookie: status %d, %v; want the administrator", status, u)
		}
		resp, data := compatSend(t, s, "GET", acct("/agents"), "", nil, cookie)
		if resp.StatusCode != 200 {
			t.Errorf("agents by cookie: status %d; body %s", resp.StatusCode, data)
		}
	})
	t.Run("CookieSameOriginWriteAccepted", func(t *testing.T) {
		before := compatInboxCount(s.admin)
		if status, data := newInbox(http.Header{"Sec-Fetch-Site": {"same-origin"}}, cookie); status != 200 {
			t.Fatalf("status %d, want 200; body %s", status, data)
		}
		if after := compatInboxCount(s.admin); after != before+1 {
			t.Errorf("inboxes %d, want %d", after, before+1)
		}
	})
	t.Run("CookieCrossSiteWriteRefused", func(t *testing.T) {
		before := compatInboxCount(s.admin)
		for _, h := range []http.Header{
			{"Sec-Fetch-Site": {"cross-site"}},
			{"Origin": {"https://evil.example"}},
		} {
			if status, data := newInbox(h, cookie); status != 403 {
				t.Errorf("%v: status %d, want 403; body %s", h, status, data)
			}
		}
		if after := compatInboxCount(s.admin); after != before {
			t.Errorf("inboxes %d after refused writes, want %d", after, before)
		}
	})
	t.Run("TokenCrossSiteWriteAccepted", func(t *testing.T) {
		//lint:ignore SA1008 the header goes out spelled as Chatwoot's clients spell it
		h := http.Header{"Sec-Fetch-Site": {"cross-site"}, "api_access_token": token["api_access_token"]}
		if status, data := newInbox(h, cookie); status != 200 {
			t.Errorf("status %d, want 200; body %s", status, data)
		}
	})
	t.Run("CrossSiteSignOutRefused", func(t *testing.T) {
		resp, data := compatSend(t, s, "DELETE", "/auth/sign_out", "", http.Header{"Sec-Fetch-Site": {"cross-site"}}, cookie)
		if resp.StatusCode != 403 {
			t.Errorf("status %d, want 403; body %s", resp.StatusCode, data)
		}
		if status, _ := profileStatus(nil, cookie); status != 200 {
			t.Errorf("cookie after a refused sign-out: status %d, want 200", status)
		}
	})
	other := signIn()
	t.Run("SignOutEndsSession", func(t *testing.T) {
		resp, data := compatSend(t, s, "DELETE", "/auth/sign_out", "", nil, cookie)
		if resp.StatusCode != 200 {
			t.Fatalf("sign out: status %d; body %s", resp.StatusCode, data)
		}
		if status, _ := profileStatus(nil, cookie); status != 401 {
			t.Errorf("profile by the signed-out cookie: status %d, want 401", status)
		}
		if status, data := newInbox(nil, cookie); status != 401 {
			t.Errorf("write by the signed-out cookie: status %d, want 401; body %s", status, data)
		}
	})
	t.Run("TokenSurvivesSignOut", func(t *testing.T) {
		status, u := profileStatus(token)
		if status != 200 || u["id"] != float64(s.admin.id) {
			t.Fatalf("profile by token: status %d, %v; want 200", status, u)
		}
		if u["availability_status"] != "offline" {
			t.Errorf("availability %v after sign-out, want offline", u["availability_status"])
		}
	})
	t.Run("OtherSessionSurvives", func(t *testing.T) {
		if status, _ := profileStatus(nil, other); status != 200 {
			t.Errorf("the other session's cookie: status %d, want 200", status)
		}
	})
	t.Run("GarbageCookieUnauthorized", func(t *testing.T) {
		if status, _ := profileStatus(nil, &http.Cookie{Name: "switchboard_session", Value: "forged"}); status != 401 {
			t.Errorf("status %d, want 401", status)
		}
	})
}

func TestCompatPlatformAPI(t *testing.T) {
	s := newServer(t)
	agent := s.newAgent("agent", "online")
	inbox1 := s.newInbox(nil, agent)
	conv1 := s.admin.create(inbox1, nil)
	platform := client{s: s, token: platformToken}

	var account struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	var user struct {
		ID          int64  `json:"id"`
		Name        string `json:"name"`
		Email       string `json:"email"`
		AccessToken string `json:"access_token"`
	}
	t.Run("CreatesAccount", func(t *testing.T) {
		platform.must(200, "POST", "/platform/api/v1/accounts", map[string]any{"name": "Beta"}, &account)
		if account.ID == 0 || account.ID == 1 || account.Name != "Beta" {
			t.Fatalf("account %+v, want a new account named Beta", account)
		}
	})
	t.Run("CreatesUser", func(t *testing.T) {
		platform.must(200, "POST", "/platform/api/v1/users", map[string]any{"name": "Bea", "email": "bea@example.com", "password": "password123"}, &user)
		if user.ID == 0 || user.Name != "Bea" || user.Email != "bea@example.com" || user.AccessToken == "" {
			t.Fatalf("user %+v, want Bea with a token", user)
		}
	})
	t.Run("CreatesAccountUser", func(t *testing.T) {
		var au struct {
			AccountID int64  `json:"account_id"`
			UserID    int64  `json:"user_id"`
			Role      string `json:"role"`
		}
		platform.must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", account.ID), map[string]any{"user_id": user.ID, "role": "administrator"}, &au)
		if au.AccountID != account.ID || au.UserID != user.ID || au.Role != "administrator" {
			t.Fatalf("account user %+v, want %d in %d as administrator", au, user.ID, account.ID)
		}
	})
	bea := client{s: s, token: user.AccessToken, id: user.ID}
	beta := func(path string, args ...any) string {
		return fmt.Sprintf("/api/v1/accounts/%d", account.ID) + fmt.Sprintf(path, args...)
	}
	t.Run("PlatformTokenAsBearer", func(t *testing.T) {
		p := platform
		p.header = "Authorization"
		var a struct {
			ID int64 `json:"id"`
		}
		p.must(200, "POST", "/platform/api/v1/accounts", map[string]any{"name": "Gamma"}, &a)
		if a.ID == 0 {
			t.Errorf("no account id")
		}
	})
	t.Run("NewUserWorksInTheirAccount", func(t *testing.T) {
		var agents []agentReply
		bea.must(200, "GET", beta("/agents"), nil, &agents)
		if len(agents) != 1 || agents[0].ID != user.ID || agents[0].Role != "administrator" {
			t.Errorf("agents %+v, want Bea alone as administrator", agents)
		}
		var in struct {
			ID int64 `json:"id"`
		}
		bea.must(200, "POST", beta("/inboxes"), map[string]any{"name": "Beta inbox", "channel": map[string]string{"type": "api"}}, &in)
		var c conversationReply
		bea.must(200, "POST", beta("/conversations"), map[string]any{"inbox_id": in.ID}, &c)
		// Conversation ids are numbered per account from 1.
		if c.ID != 1 || c.InboxID != in.ID {
			t.Errorf("conversation %+v, want id 1 in inbox %d", c, in.ID)
		}
		resp, data := compatSend(t, s, "POST", "/auth/sign_in", `{"email":"bea@example.com","password":"password123"}`, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("sign in: status %d; body %s", resp.StatusCode, data)
		}
		u := compatObject(t, compatJSON(t, data), "data")
		if u["account_id"] != float64(account.ID) {
			t.Errorf("signed-in account_id %v, want %d", u["account_id"], account.ID)
		}
	})
	t.Run("OtherAccountPathsNotFound", func(t *testing.T) {
		before := errsDump(t, s.path)
		for _, tc := range []struct {
			who          client
			method, path string
			body         any
		}{
			{bea, "GET", acct("/agents"), nil},
			{bea, "GET", acct("/inboxes"), nil},
			{bea, "GET", acct("/inboxes/%d", inbox1), nil},
			{bea, "GET", acct("/inbox_members/%d", inbox1), nil},
			{bea, "GET", acct("/conversations"), nil},
			{bea, "GET", acct("/conversations/meta"), nil},
			{bea, "GET", acct("/conversations/%d", conv1.ID), nil},
			{bea, "GET", acct("/conversations/%d/assignment_events", conv1.ID), nil},
			{bea, "POST", acct("/conversations"), map[string]any{"inbox_id": inbox1}},
			{bea, "POST", acct("/conversations/%d/assignments", conv1.ID), map[string]any{"assignee_id": user.ID}},
			{bea, "POST", acct("/conversations/%d/toggle_status", conv1.ID), map[string]any{"status": "resolved"}},
			{bea, "POST", acct("/inboxes"), map[string]any{"name": "Intruder", "channel": map[string]string{"type": "api"}}},
			{bea, "POST", acct("/agents"), map[string]any{"name": "Intruder", "email": "intruder@example.com"}},
			{bea, "PATCH", acct("/agents/%d", agent.id), map[string]any{"availability": "offline"}},
			{bea, "POST", acct("/inbox_members"), map[string]any{"inbox_id": inbox1, "user_ids": []int64{user.ID}}},
			// Account 1's records named in account 2's paths.
			{bea, "GET", beta("/inboxes/%d", inbox1), nil},
			{bea, "GET", beta("/inbox_members/%d", inbox1), nil},
			{bea, "POST", beta("/conversations"), map[string]any{"inbox_id": inbox1}},
			{bea, "POST", beta("/inbox_members"), map[string]any{"inbox_id": inbox1, "user_ids": []int64{user.ID}}},
			{bea, "PATCH", beta("/agents/%d", agent.id), map[string]any{"availability": "offline"}},
			{bea, "DELETE", beta("/agents/%d", agent.id), nil},
			// And the other way round.
			{s.admin, "GET", beta("/agents"), nil},
			{s.admin, "GET", beta("/conversations/1"), nil},
			{s.admin, "POST", beta("/conversations/1/assignments"), map[string]any{"assignee_id": s.admin.id}},
		} {
			if status, data := tc.who.do(tc.method, tc.path, tc.body); status != 404 {
				t.Errorf("user %d: %s %s: status %d, want 404; body %s", tc.who.id, tc.method, tc.path, status, data)
			}
		}
		if after := errsDump(t, s.path); after != before {
			t.Errorf("refused requests changed the database:\n%s", errsDiff(before, after))
		}
	})
	t.Run("RemovedAccountUserLosesAccess", func(t *testing.T) {
		var other struct {
			ID          int64  `json:"id"`
			AccessToken string `json:"access_token"`
		}
		platform.must(200, "POST", "/platform/api/v1/users", map[string]any{"name": "Otto", "email": "otto@example.com", "password": "password123"}, &other)
		platform.must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", account.ID), map[string]any{"user_id": other.ID, "role": "agent"}, nil)
		otto := client{s: s, token: other.AccessToken, id: other.ID}
		otto.must(200, "GET", beta("/agents"), nil, nil)
		platform.must(200, "DELETE", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", account.ID), map[string]any{"user_id": other.ID}, nil)
		otto.must(404, "GET", beta("/agents"), nil, nil)
		var agents []agentReply
		bea.must(200, "GET", beta("/agents"), nil, &agents)
		if slices.ContainsFunc(agents, func(a agentReply) bool { return a.ID == other.ID }) {
			t.Errorf("agents %+v still list the removed user", agents)
		}
	})
	checkInvariants(t, s.path)
}

// Rails wraps the bodies of assignments and toggle_status too.
func TestCompatWrappedAssignmentAndStatus(t *testing.T) {
	s := newServer(t)
	a := s.newAgent("agent", "online")
	inbox := s.newInbox(map[string]any{"enable_auto_assignment": false}, a)
	conv := s.admin.create(inbox, nil)
	s.admin.must(200, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignment": map[string]any{"assignee_id": a.id}}, nil)
	if got := s.admin.conversation(conv.ID).assignee(); got != a.id {
		t.Errorf("wrapped assignment: assignee %d, want %d", got, a.id)
	}
	s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]any{"conversation": map[string]any{"status": "pending"}}, nil)
	if got := s.admin.conversation(conv.ID).Status; got != "pending" {
		t.Errorf("wrapped toggle_status: status %q, want pending", got)
	}
}
