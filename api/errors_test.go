package api_test

// Bad input: every refusal has the status API.md gives it, a JSON body that
// says what is wrong, and changes nothing in the database.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// errsDump returns the whole content of the database file, one line per row,
// so that two dumps are equal exactly when nothing changed.
func errsDump(t testing.TB, path string) string {
	t.Helper()
	return strings.Join(dumpRows(t, errsReader(t, path)), "\n")
}

// dumpRows returns every row of every table of db, one line a row prefixed
// with its table, sorted.
func dumpRows(t testing.TB, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatal("the database has no tables")
	}
	var lines []string
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			values := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range values {
				ptrs[i] = &values[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var line strings.Builder
			line.WriteString(table + ":")
			for i, v := range values {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&line, " %s=%v", cols[i], v)
			}
			lines = append(lines, line.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	slices.Sort(lines)
	return lines
}

// errsReaders holds one read-only connection pool per database file, so that
// a test that dumps the database after every request does not reopen it.
var errsReaders sync.Map // path -> *sql.DB

func errsReader(t testing.TB, path string) *sql.DB {
	t.Helper()
	if db, ok := errsReaders.Load(path); ok {
		return db.(*sql.DB)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	if prev, loaded := errsReaders.LoadOrStore(path, db); loaded {
		db.Close()
		return prev.(*sql.DB)
	}
	t.Cleanup(func() {
		errsReaders.Delete(path)
		db.Close()
	})
	return db
}

// errsDiff lists the rows that only one of two dumps has.
func errsDiff(before, after string) string {
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	var out strings.Builder
	for _, l := range b {
		if !slices.Contains(a, l) {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// errsFixture is an account with some of everything: an administrator, an
// agent who is a member of inbox, an outsider who is a member of otherInbox
// only, a conversation in each inbox, and a stranger, who is a user of
// account 2 only.
type errsFixture struct {
	s                 *testServer
	member, outsider  client
	inbox, otherInbox int64
	conv, otherConv   int64
	stranger          client
}

func newErrsFixture(t *testing.T) *errsFixture {
	f := &errsFixture{s: newServer(t)}
	s := f.s
	f.member = s.newAgent("agent", "online")
	f.outsider = s.newAgent("agent", "online")
	f.inbox = s.newInbox(nil, f.member)
	f.otherInbox = s.newInbox(nil, f.outsider)
	f.conv = s.admin.create(f.inbox, nil).ID
	f.otherConv = s.admin.create(f.otherInbox, nil).ID

	platform := client{s: s, token: platformToken}
	var account, user struct {
		ID          int64  `json:"id"`
		AccessToken string `json:"access_token"`
	}
	platform.must(200, "POST", "/platform/api/v1/accounts", map[string]any{"name": "Elsewhere"}, &account)
	platform.must(200, "POST", "/platform/api/v1/users", map[string]any{"name": "Stranger", "email": "stranger@example.com", "password": "password123"}, &user)
	platform.must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", account.ID), map[string]any{"user_id": user.ID, "role": "administrator"}, nil)
	f.stranger = client{s: s, token: user.AccessToken, id: user.ID}
	return f
}

// errsCheckRefused fails the test unless the reply has status want and a JSON
// body with a non-empty message, and the database is as before.
func errsCheckRefused(t *testing.T, path, before string, want, status int, data []byte) map[string]any {
	t.Helper()
	if status != want {
		t.Errorf("status %d, want %d; body %s", status, want, data)
	}
	var reply map[string]any
	if err := json.Unmarshal(data, &reply); err != nil {
		t.Errorf("reply is not a JSON object: %v in %q", err, data)
	}
	msg, _ := reply["error"].(string)
	if m, ok := reply["message"].(string); ok && msg == "" {
		msg = m
	}
	if msg == "" {
		t.Errorf("reply %s says nothing about what is wrong", data)
	}
	if after := errsDump(t, path); after != before {
		t.Errorf("a refused request changed the database:\n%s", errsDiff(before, after))
	}
	return reply
}

type errsCase struct {
	name         string
	who          func(f *errsFixture) client // the administrator when nil
	method, path string
	body         any // a string is sent as is
}

func (tc errsCase) run(t *testing.T, f *errsFixture, want int) map[string]any {
	t.Helper()
	who := f.s.admin
	if tc.who != nil {
		who = tc.who(f)
	}
	before := errsDump(t, f.s.path)
	status, data := who.do(tc.method, tc.path, tc.body)
	return errsCheckRefused(t, f.s.path, before, want, status, data)
}

func asMember(f *errsFixture) client   { return f.member }
func asOutsider(f *errsFixture) client { return f.outsider }
func asPlatform(f *errsFixture) client { return client{s: f.s, token: platformToken} }

func TestErrorsMalformedJSONBadRequest(t *testing.T) {
	f := newErrsFixture(t)
	huge := `{"name": "` + strings.Repeat("a", 2<<20) + `", "channel": {"type": "api"}}`
	for _, tc := range []errsCase{
		{name: "CreateAgentTruncated", method: "POST", path: acct("/agents"), body: `{"name": "X", "email": "x@example.com"`},
		{name: "UpdateAgentTruncated", method: "PATCH", path: acct("/agents/%d", f.member.id), body: `{"name": `},
		{name: "CreateInboxFormEncoded", method: "POST", path: acct("/inboxes"), body: `name=X&channel[type]=api`},
		{name: "CreateInboxArray", method: "POST", path: acct("/inboxes"), body: `[{"name": "X"}]`},
		{name: "CreateInboxOversized", method: "POST", path: acct("/inboxes"), body: huge},
		{name: "UpdateInboxTruncated", method: "PATCH", path: acct("/inboxes/%d", f.inbox), body: `{"name": "Y"`},
		{name: "AddMembersTrailingComma", method: "POST", path: acct("/inbox_members"), body: fmt.Sprintf(`{"inbox_id": %d, "user_ids": [%d],}`, f.inbox, f.outsider.id)},
		{name: "ReplaceMembersSingleQuotes", method: "PATCH", path: acct("/inbox_members"), body: fmt.Sprintf(`{'inbox_id': %d, 'user_ids': []}`, f.inbox)},
		{name: "RemoveMembersTruncated", method: "DELETE", path: acct("/inbox_members"), body: fmt.Sprintf(`{"inbox_id": %d, "user_ids": [%d]`, f.inbox, f.member.id)},
		{name: "CreateConversationNull", method: "POST", path: acct("/conversations"), body: `null`},
		{name: "CreateConversationString", method: "POST", path: acct("/conversations"), body: `"inbox_id"`},
		{name: "CreateConversationTwoObjects", method: "POST", path: acct("/conversations"), body: fmt.Sprintf(`{"inbox_id": %d} {}`, f.inbox)},
		{name: "AssignTruncated", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: `{"assignee_id": `},
		{name: "ToggleStatusGarbage", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: `resolved`},
		{name: "SignInTruncated", method: "POST", path: "/auth/sign_in", body: `{"email": "` + adminEmail + `"`},
		{name: "AvailabilityTruncated", who: asMember, method: "POST", path: "/api/v1/profile/availability", body: `{"profile": {"availability": "offline"}`},
		{name: "PlatformAccountTruncated", who: asPlatform, method: "POST", path: "/platform/api/v1/accounts", body: `{"name": "Z"`},
		{name: "PlatformUserTruncated", who: asPlatform, method: "POST", path: "/platform/api/v1/users", body: `{`},
	} {
		t.Run(tc.name+"BadRequest", func(t *testing.T) { tc.run(t, f, 400) })
	}
	checkInvariants(t, f.s.path)
}

func TestErrorsUnknownIDsNotFound(t *testing.T) {
	f := newErrsFixture(t)
	const unknown = 999999
	for _, tc := range []errsCase{
		{name: "UnknownAccount", method: "GET", path: fmt.Sprintf("/api/v1/accounts/%d/agents", unknown)},
		{name: "NonNumericAccount", method: "GET", path: "/api/v1/accounts/one/agents"},
		{name: "UnknownAgentUpdate", method: "PATCH", path: acct("/agents/%d", unknown), body: map[string]any{"name": "X"}},
		{name: "UnknownAgentDelete", method: "DELETE", path: acct("/agents/%d", unknown)},
		{name: "UnknownInbox", method: "GET", path: acct("/inboxes/%d", unknown)},
		{name: "NonNumericInbox", method: "GET", path: acct("/inboxes/abc")},
		{name: "UnknownInboxUpdate", method: "PATCH", path: acct("/inboxes/%d", unknown), body: map[string]any{"name": "X"}},
		{name: "UnknownInboxMembers", method: "GET", path: acct("/inbox_members/%d", unknown)},
		{name: "UnknownInboxAddMembers", method: "POST", path: acct("/inbox_members"), body: map[string]any{"inbox_id": unknown, "user_ids": []int64{f.member.id}}},
		{name: "UnknownInboxReplaceMembers", method: "PATCH", path: acct("/inbox_members"), body: map[string]any{"inbox_id": unknown, "user_ids": []int64{f.member.id}}},
		{name: "UnknownInboxRemoveMembers", method: "DELETE", path: acct("/inbox_members/%d", unknown), body: map[string]any{"user_ids": []int64{f.member.id}}},
		{name: "UnknownInboxCreateConversation", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": unknown}},
		{name: "UnknownConversation", method: "GET", path: acct("/conversations/%d", unknown)},
		{name: "OverflowingConversation", method: "GET", path: acct("/conversations/99999999999999999999999")},
		{name: "UnknownConversationAssign", method: "POST", path: acct("/conversations/%d/assignments", unknown), body: map[string]any{"assignee_id": f.s.admin.id}},
		{name: "UnknownConversationToggle", method: "POST", path: acct("/conversations/%d/toggle_status", unknown), body: map[string]any{"status": "resolved"}},
		{name: "UnknownConversationEvents", method: "GET", path: acct("/conversations/%d/assignment_events", unknown)},
		{name: "UnknownRoute", method: "GET", path: acct("/teams")},
		{name: "PlatformUnknownAccount", who: asPlatform, method: "POST", path: fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", unknown), body: map[string]any{"user_id": f.member.id, "role": "agent"}},
		{name: "PlatformRemoveNonUser", who: asPlatform, method: "DELETE", path: "/platform/api/v1/accounts/1/account_users", body: map[string]any{"user_id": f.stranger.id}},
	} {
		t.Run(tc.name+"NotFound", func(t *testing.T) { tc.run(t, f, 404) })
	}
	checkInvariants(t, f.s.path)
}

func TestErrorsInvalidValuesUnprocessable(t *testing.T) {
	f := newErrsFixture(t)
	api := map[string]string{"type": "api"}
	agent := func(kv ...any) map[string]any {
		b := map[string]any{"name": "New", "email": "new@example.com"}
		for i := 0; i < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	for _, tc := range []struct {
		errsCase
		field string
	}{
		{errsCase{name: "AgentRole", method: "POST", path: acct("/agents"), body: agent("role", "boss")}, "role"},
		{errsCase{name: "AgentEmptyName", method: "POST", path: acct("/agents"), body: agent("name", "  ")}, "name"},
		{errsCase{name: "AgentNumericName", method: "POST", path: acct("/agents"), body: agent("name", 5)}, "name"},
		{errsCase{name: "AgentEmail", method: "POST", path: acct("/agents"), body: agent("email", "not an address")}, "email"},
		{errsCase{name: "AgentEmailTaken", method: "POST", path: acct("/agents"), body: agent("email", adminEmail)}, "email"},
		{errsCase{name: "AgentAvailability", method: "POST", path: acct("/agents"), body: agent("availability", "sleepy")}, "availability"},
		{errsCase{name: "AgentAutoOffline", method: "POST", path: acct("/agents"), body: agent("auto_offline", "maybe")}, "auto_offline"},
		{errsCase{name: "AgentShortPassword", method: "POST", path: acct("/agents"), body: agent("password", "short")}, "password"},
		{errsCase{name: "AgentUpdateRole", method: "PATCH", path: acct("/agents/%d", f.member.id), body: map[string]any{"role": "owner"}}, "role"},
		{errsCase{name: "AgentUpdateEmptyName", method: "PATCH", path: acct("/agents/%d", f.member.id), body: map[string]any{"name": ""}}, "name"},
		{errsCase{name: "AgentUpdateAvailability", method: "PATCH", path: acct("/agents/%d", f.member.id), body: map[string]any{"availability": "away"}}, "availability"},
		{errsCase{name: "LastAdministratorDemotion", method: "PATCH", path: acct("/agents/%d", f.s.admin.id), body: map[string]any{"role": "agent"}}, "role"},
		{errsCase{name: "InboxEmptyName", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": "", "channel": api}}, "name"},
		{errsCase{name: "InboxChannelType", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": "X", "channel": map[string]string{"type": "email"}}}, "channel.type"},
		{errsCase{name: "InboxChannelWebhookURL", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": "X", "channel": map[string]string{"type": "api", "webhook_url": "not a url"}}}, "channel.webhook_url"},
		{errsCase{name: "InboxChannelNotObject", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": "X", "channel": "api"}}, "channel"},
		{errsCase{name: "InboxAutoAssignment", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": "X", "channel": api, "enable_auto_assignment": "yes"}}, "enable_auto_assignment"},
		{errsCase{name: "InboxUpdateEmptyName", method: "PATCH", path: acct("/inboxes/%d", f.inbox), body: map[string]any{"name": " "}}, "name"},
		{errsCase{name: "InboxUpdateAutoReassignment", method: "PATCH", path: acct("/inboxes/%d", f.inbox), body: map[string]any{"enable_auto_reassignment": 1}}, "enable_auto_reassignment"},
		{errsCase{name: "MembersNoInbox", method: "POST", path: acct("/inbox_members"), body: map[string]any{"user_ids": []int64{f.outsider.id}}}, "inbox_id"},
		{errsCase{name: "MembersInboxNotID", method: "POST", path: acct("/inbox_members"), body: map[string]any{"inbox_id": "first", "user_ids": []int64{f.outsider.id}}}, "inbox_id"},
		{errsCase{name: "MembersNoUserIDs", method: "POST", path: acct("/inbox_members"), body: map[string]any{"inbox_id": f.inbox}}, "user_ids"},
		{errsCase{name: "MembersUserIDsNotList", method: "PATCH", path: acct("/inbox_members"), body: map[string]any{"inbox_id": f.inbox, "user_ids": fmt.Sprint(f.outsider.id)}}, "user_ids"},
		{errsCase{name: "MembersUserIDNotID", method: "DELETE", path: acct("/inbox_members"), body: map[string]any{"inbox_id": f.inbox, "user_ids": []any{f.member.id, "x"}}}, "user_ids"},
		{errsCase{name: "MembersPathAndBodyDiffer", method: "DELETE", path: acct("/inbox_members/%d", f.otherInbox), body: map[string]any{"inbox_id": f.inbox, "user_ids": []int64{f.member.id}}}, "inbox_id"},
		{errsCase{name: "ConversationNoInbox", method: "POST", path: acct("/conversations"), body: map[string]any{}}, "inbox_id"},
		{errsCase{name: "ConversationInboxWord", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": "abc"}}, "inbox_id"},
		{errsCase{name: "ConversationInboxFraction", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": 1.5}}, "inbox_id"},
		{errsCase{name: "ConversationInboxNegative", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": -1}}, "inbox_id"},
		{errsCase{name: "ConversationInboxBoolean", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": true}}, "inbox_id"},
		{errsCase{name: "ConversationInboxOverflow", method: "POST", path: acct("/conversations"), body: `{"inbox_id": 99999999999999999999}`}, "inbox_id"},
		{errsCase{name: "ConversationStatus", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "status": "closed"}}, "status"},
		{errsCase{name: "ConversationAssigneeWord", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "assignee_id": "me"}}, "assignee_id"},
		{errsCase{name: "ConversationAssigneeNotMember", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "assignee_id": f.outsider.id}}, "assignee_id"},
		{errsCase{name: "ConversationAssigneeUnknown", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "assignee_id": 999999}}, "assignee_id"},
		{errsCase{name: "ConversationAssigneeOtherAccount", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "assignee_id": f.stranger.id}}, "assignee_id"},
		{errsCase{name: "ConversationContact", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "contact_id": "x"}}, "contact_id"},
		{errsCase{name: "ConversationSource", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "source_id": 5}}, "source_id"},
		{errsCase{name: "ConversationMessageNotObject", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "message": "hi"}}, "message"},
		{errsCase{name: "ConversationMessageContent", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "message": map[string]any{"content": 5}}}, "message.content"},
		{errsCase{name: "ConversationMessageNUL", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "message": map[string]any{"content": "a\x00b"}}}, "message.content"},
		{errsCase{name: "ConversationSourceNUL", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "source_id": "\x00"}}, "source_id"},
		{errsCase{name: "AgentNameNUL", method: "POST", path: acct("/agents"), body: agent("name", "a\x00b")}, "name"},
		{errsCase{name: "AgentNameTooLong", method: "POST", path: acct("/agents"), body: agent("name", strings.Repeat("é", 256))}, "name"},
		{errsCase{name: "AgentNameInvisible", method: "POST", path: acct("/agents"), body: agent("name", "\u200b")}, "name"},
		{errsCase{name: "AgentNameLineBreak", method: "POST", path: acct("/agents"), body: agent("name", "Ann\nSmith")}, "name"},
		{errsCase{name: "AgentNameLineSeparator", method: "POST", path: acct("/agents"), body: agent("name", "Ann\u2028Smith")}, "name"},
		{errsCase{name: "AgentNameRightToLeftOverride", method: "POST", path: acct("/agents"), body: agent("name", "Ann\u202eSmith")}, "name"},
		{errsCase{name: "AgentUpdateNameTooLong", method: "PATCH", path: acct("/agents/%d", f.member.id), body: map[string]any{"name": strings.Repeat("x", 256)}}, "name"},
		{errsCase{name: "InboxNameTooLong", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": strings.Repeat("x", 256), "channel": api}}, "name"},
		{errsCase{name: "InboxUpdateNameTooLong", method: "PATCH", path: acct("/inboxes/%d", f.inbox), body: map[string]any{"name": strings.Repeat("x", 256)}}, "name"},
		{errsCase{name: "ConversationSourceTooLong", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "source_id": strings.Repeat("x", 256)}}, "source_id"},
		{errsCase{name: "ConversationMessageTooLong", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox, "message": map[string]any{"content": strings.Repeat("x", 150_001)}}}, "message.content"},
		{errsCase{name: "PlatformAccountNameTooLong", who: asPlatform, method: "POST", path: "/platform/api/v1/accounts", body: map[string]any{"name": strings.Repeat("x", 256)}}, "name"},
		{errsCase{name: "InboxNameNUL", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": "a\x00b", "channel": api}}, "name"},
		{errsCase{name: "SignInEmailNUL", method: "POST", path: "/auth/sign_in", body: map[string]any{"email": "a\x00@example.com", "password": adminPassword}}, "email"},
		{errsCase{name: "PlatformAccountNameNUL", who: asPlatform, method: "POST", path: "/platform/api/v1/accounts", body: map[string]any{"name": "\x00"}}, "name"},
		{errsCase{name: "AssignWithoutAssigneeID", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{}}, "assignee_id"},
		{errsCase{name: "AssignEmptyBody", method: "POST", path: acct("/conversations/%d/assignments", f.conv)}, "assignee_id"},
		{errsCase{name: "AssignWord", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": "abc"}}, "assignee_id"},
		{errsCase{name: "AssignZero", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": 0}}, "assignee_id"},
		{errsCase{name: "AssignNeitherMemberNorAdministrator", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": f.outsider.id}}, "assignee_id"},
		{errsCase{name: "AssignNeitherMemberNorAdministratorByMember", who: asMember, method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": f.outsider.id}}, "assignee_id"},
		{errsCase{name: "AssignUserOfOtherAccount", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": f.stranger.id}}, "assignee_id"},
		{errsCase{name: "AssignUnknownUser", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": 999999}}, "assignee_id"},
		{errsCase{name: "ToggleStatusWord", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: map[string]any{"status": "closed"}}, "status"},
		{errsCase{name: "ToggleStatusNumber", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: map[string]any{"status": 1}}, "status"},
		{errsCase{name: "ToggleSnoozedUntil", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: map[string]any{"status": "snoozed", "snoozed_until": "tomorrow"}}, "snoozed_until"},
		{errsCase{name: "ToggleSnoozedUntilPast", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: map[string]any{"status": "snoozed", "snoozed_until": 1700000000}}, "snoozed_until"},
		{errsCase{name: "ToggleSnoozedUntilAfterYear9999", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: `{"status": "snoozed", "snoozed_until": 9223372036854775807}`}, "snoozed_until"},
		{errsCase{name: "ToggleSnoozedUntilOverflowsMilliseconds", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: `{"status": "snoozed", "snoozed_until": 1000000000000000000}`}, "snoozed_until"},
		{errsCase{name: "ListStatus", method: "GET", path: acct("/conversations?status=closed")}, "status"},
		{errsCase{name: "ListAssigneeType", method: "GET", path: acct("/conversations?assignee_type=mine")}, "assignee_type"},
		{errsCase{name: "ListInbox", method: "GET", path: acct("/conversations?inbox_id=x")}, "inbox_id"},
		{errsCase{name: "ListPageZero", method: "GET", path: acct("/conversations?page=0")}, "page"},
		{errsCase{name: "ListPageWord", method: "GET", path: acct("/conversations?page=two")}, "page"},
		{errsCase{name: "MetaStatus", method: "GET", path: acct("/conversations/meta?status=bogus")}, "status"},
		{errsCase{name: "ProfileAvailability", who: asMember, method: "POST", path: "/api/v1/profile/availability", body: map[string]any{"profile": map[string]any{"availability": "away", "account_id": 1}}}, "availability"},
		{errsCase{name: "ProfileNoAvailability", who: asMember, method: "POST", path: "/api/v1/profile/availability", body: map[string]any{"profile": map[string]any{"account_id": 1}}}, "availability"},
		{errsCase{name: "ProfileAccountWord", who: asMember, method: "POST", path: "/api/v1/profile/availability", body: map[string]any{"profile": map[string]any{"availability": "offline", "account_id": "first"}}}, "account_id"},
		{errsCase{name: "SignInNoEmail", method: "POST", path: "/auth/sign_in", body: map[string]any{"password": adminPassword}}, "email"},
		{errsCase{name: "SignInNoPassword", method: "POST", path: "/auth/sign_in", body: map[string]any{"email": adminEmail}}, "password"},
		{errsCase{name: "PlatformAccountName", who: asPlatform, method: "POST", path: "/platform/api/v1/accounts", body: map[string]any{"name": ""}}, "name"},
		{errsCase{name: "PlatformUserPassword", who: asPlatform, method: "POST", path: "/platform/api/v1/users", body: map[string]any{"name": "P", "email": "p@example.com", "password": "short"}}, "password"},
		{errsCase{name: "PlatformUserEmail", who: asPlatform, method: "POST", path: "/platform/api/v1/users", body: map[string]any{"name": "P", "email": "p at example", "password": "password123"}}, "email"},
		{errsCase{name: "PlatformUserEmailTaken", who: asPlatform, method: "POST", path: "/platform/api/v1/users", body: map[string]any{"name": "P", "email": adminEmail, "password": "password123"}}, "email"},
		{errsCase{name: "PlatformAccountUserRole", who: asPlatform, method: "POST", path: "/platform/api/v1/accounts/1/account_users", body: map[string]any{"user_id": f.stranger.id, "role": "boss"}}, "role"},
		{errsCase{name: "PlatformAccountUserNoUser", who: asPlatform, method: "POST", path: "/platform/api/v1/accounts/1/account_users", body: map[string]any{"role": "agent"}}, "user_id"},
		{errsCase{name: "PlatformAccountUserUnknownUser", who: asPlatform, method: "POST", path: "/platform/api/v1/accounts/1/account_users", body: map[string]any{"user_id": 999999, "role": "agent"}}, "user_id"},
	} {
		t.Run(tc.name+"Unprocessable", func(t *testing.T) {
			reply := tc.run(t, f, 422)
			if m, _ := reply["message"].(string); m == "" {
				t.Errorf("no message in %v", reply)
			}
			var attrs []string
			if list, ok := reply["attributes"].([]any); ok {
				for _, a := range list {
					s, _ := a.(string)
					attrs = append(attrs, s)
				}
			}
			if !slices.Equal(attrs, []string{tc.field}) {
				t.Errorf("attributes %v, want [%q]; reply %v", reply["attributes"], tc.field, reply)
			}
		})
	}
	checkInvariants(t, f.s.path)
}

func TestErrorsInvalidUserIDs(t *testing.T) {
	f := newErrsFixture(t)
	const unknown = 999999
	for _, how := range []struct{ name, method, path string }{
		{"Add", "POST", acct("/inbox_members")},
		{"Replace", "PATCH", acct("/inbox_members")},
		{"Remove", "DELETE", acct("/inbox_members")},
		{"RemoveSDKPath", "DELETE", acct("/inbox_members/%d", f.inbox)},
	} {
		for _, ids := range []struct {
			name string
			ids  []any
		}{
			{"UnknownUser", []any{unknown}},
			{"UserOfOtherAccount", []any{f.stranger.id}},
			{"ValidBesideUnknown", []any{f.outsider.id, unknown}},
			{"MemberBesideOtherAccount", []any{fmt.Sprint(f.member.id), fmt.Sprint(f.stranger.id)}},
		} {
			t.Run(how.name+ids.name+"Refused", func(t *testing.T) {
				membersBefore := compatMemberIDs(f.s.admin, f.inbox)
				tc := errsCase{method: how.method, path: how.path, body: map[string]any{"inbox_id": f.inbox, "user_ids": ids.ids}}
				reply := tc.run(t, f, 422)
				if reply["error"] != "Invalid User IDs" {
					t.Errorf("error %v, want \"Invalid User IDs\"", reply["error"])
				}
				if got := compatMemberIDs(f.s.admin, f.inbox); !slices.Equal(got, membersBefore) {
					t.Errorf("members %v, want unchanged %v", got, membersBefore)
				}
			})
		}
	}
	checkInvariants(t, f.s.path)
}

func TestErrorsUnauthorized(t *testing.T) {
	f := newErrsFixture(t)
	s := f.s
	createBody := fmt.Sprintf(`{"inbox_id": %d}`, f.inbox)
	for _, tc := range []struct {
		name         string
		method, path string
		header       http.Header
		cookie       *http.Cookie
		body         string
	}{
		{name: "ProfileNoCredentials", method: "GET", path: "/api/v1/profile"},
		{name: "AgentsNoCredentials", method: "GET", path: acct("/agents")},
		{name: "ConversationNoCredentials", method: "GET", path: acct("/conversations/%d", f.conv)},
		{name: "CreateConversationNoCredentials", method: "POST", path: acct("/conversations"), body: createBody},
		{name: "AssignNoCredentials", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: `{"assignee_id": null}`},
		{name: "AvailabilityNoCredentials", method: "POST", path: "/api/v1/profile/availability", body: `{"profile": {"availability": "offline", "account_id": 1}}`},
		{name: "SignOutNoCredentials", method: "DELETE", path: "/auth/sign_out"},
		{name: "BadUnderscoreToken", method: "POST", path: acct("/conversations"), body: createBody, header: http.Header{"api_access_token": {"not-a-token"}}},
		{name: "BadDashedToken", method: "POST", path: acct("/conversations"), body: createBody, header: http.Header{"Api-Access-Token": {"not-a-token"}}},
		{name: "BadBearerToken", method: "POST", path: acct("/conversations"), body: createBody, header: http.Header{"Authorization": {"Bearer not-a-token"}}},
		{name: "EmptyBearer", method: "GET", path: acct("/agents"), header: http.Header{"Authorization": {"Bearer "}}},
		{name: "BasicAuthorization", method: "GET", path: acct("/agents"), header: http.Header{"Authorization": {"Basic " + s.admin.token}}},
		{name: "BadTokenBesideGoodCookieless", method: "DELETE", path: "/auth/sign_out", header: http.Header{"api_access_token": {s.admin.token + "x"}}},
		{name: "ForgedCookie", method: "GET", path: acct("/agents"), cookie: &http.Cookie{Name: "switchboard_session", Value: "forged"}},
		{name: "ForgedCookieWrite", method: "POST", path: acct("/conversations"), body: createBody, cookie: &http.Cookie{Name: "switchboard_session", Value: "forged"}},
		{name: "PlatformTokenOnAccountPath", method: "GET", path: acct("/agents"), header: http.Header{"api_access_token": {platformToken}}},
		{name: "WrongPassword", method: "POST", path: "/auth/sign_in", body: `{"email": "` + adminEmail + `", "password": "wrong password"}`},
		{name: "UnknownEmail", method: "POST", path: "/auth/sign_in", body: `{"email": "nobody@example.com", "password": "` + adminPassword + `"}`},
		{name: "PlatformNoToken", method: "POST", path: "/platform/api/v1/accounts", body: `{"name": "Z"}`},
		{name: "PlatformUserToken", method: "POST", path: "/platform/api/v1/accounts", body: `{"name": "Z"}`, header: http.Header{"api_access_token": {s.admin.token}}},
		{name: "PlatformWrongToken", method: "POST", path: "/platform/api/v1/users", body: `{"name": "Z", "email": "z@example.com", "password": "password123"}`, header: http.Header{"api_access_token": {platformToken + "x"}}},
	} {
		t.Run(tc.name+"Unauthorized", func(t *testing.T) {
			before := errsDump(t, s.path)
			var cookies []*http.Cookie
			if tc.cookie != nil {
				cookies = append(cookies, tc.cookie)
			}
			resp, data := compatSend(t, s, tc.method, tc.path, tc.body, tc.header, cookies...)
			errsCheckRefused(t, s.path, before, 401, resp.StatusCode, data)
		})
	}
}

func TestErrorsWrongRoleForbidden(t *testing.T) {
	f := newErrsFixture(t)
	for _, tc := range []errsCase{
		{name: "AgentCreatesInbox", method: "POST", path: acct("/inboxes"), body: map[string]any{"name": "Mine", "channel": map[string]string{"type": "api"}}},
		{name: "AgentUpdatesOwnInbox", method: "PATCH", path: acct("/inboxes/%d", f.inbox), body: map[string]any{"enable_auto_assignment": false}},
		{name: "AgentCreatesAgent", method: "POST", path: acct("/agents"), body: map[string]any{"name": "Friend", "email": "friend@example.com"}},
		{name: "AgentPromotesThemselves", method: "PATCH", path: acct("/agents/%d", f.member.id), body: map[string]any{"role": "administrator"}},
		{name: "AgentChangesOthersAvailability", method: "PATCH", path: acct("/agents/%d", f.outsider.id), body: map[string]any{"availability": "offline"}},
		{name: "AgentRemovesAgent", method: "DELETE", path: acct("/agents/%d", f.outsider.id)},
		{name: "AgentAddsMember", method: "POST", path: acct("/inbox_members"), body: map[string]any{"inbox_id": f.inbox, "user_ids": []int64{f.outsider.id}}},
		{name: "AgentReplacesMembers", method: "PATCH", path: acct("/inbox_members"), body: map[string]any{"inbox_id": f.inbox, "user_ids": []int64{f.member.id, f.outsider.id}}},
		{name: "AgentRemovesMember", method: "DELETE", path: acct("/inbox_members"), body: map[string]any{"inbox_id": f.inbox, "user_ids": []int64{f.member.id}}},
		{name: "AgentRemovesMemberSDKPath", method: "DELETE", path: acct("/inbox_members/%d", f.inbox), body: map[string]any{"user_ids": []int64{f.member.id}}},
	} {
		tc.who = asMember
		t.Run(tc.name+"Forbidden", func(t *testing.T) { tc.run(t, f, 403) })
	}
	checkInvariants(t, f.s.path)
}

func TestErrorsNonMemberNotFound(t *testing.T) {
	f := newErrsFixture(t)
	reads := func(inbox, conv int64) []errsCase {
		return []errsCase{
			{name: "Inbox", method: "GET", path: acct("/inboxes/%d", inbox)},
			{name: "InboxMembers", method: "GET", path: acct("/inbox_members/%d", inbox)},
			{name: "Conversation", method: "GET", path: acct("/conversations/%d", conv)},
			{name: "AssignmentEvents", method: "GET", path: acct("/conversations/%d/assignment_events", conv)},
		}
	}
	writes := []errsCase{
		{name: "AssignToThemselves", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": f.outsider.id}},
		{name: "Unassign", method: "POST", path: acct("/conversations/%d/assignments", f.conv), body: map[string]any{"assignee_id": nil}},
		{name: "ToggleStatus", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: map[string]any{"status": "resolved"}},
		{name: "CreateConversation", method: "POST", path: acct("/conversations"), body: map[string]any{"inbox_id": f.inbox}},
	}
	for _, tc := range append(reads(f.inbox, f.conv), writes...) {
		tc.who = asOutsider
		t.Run(tc.name+"NotFound", func(t *testing.T) { tc.run(t, f, 404) })
	}
	// The same reads work for a member, and for the outsider in their own
	// inbox: the 404 is about membership, not a broken path.
	for i, tc := range reads(f.inbox, f.conv) {
		own := reads(f.otherInbox, f.otherConv)[i]
		t.Run(tc.name+"VisibleToMember", func(t *testing.T) {
			if status, data := f.member.do(tc.method, tc.path, nil); status != 200 {
				t.Errorf("member: %s: status %d, want 200; body %s", tc.path, status, data)
			}
			if status, data := f.outsider.do(own.method, own.path, nil); status != 200 {
				t.Errorf("outsider, own inbox: %s: status %d, want 200; body %s", own.path, status, data)
			}
		})
	}
	t.Run("ListsHideTheInbox", func(t *testing.T) {
		var inboxes struct {
			Payload []struct {
				ID int64 `json:"id"`
			} `json:"payload"`
		}
		f.outsider.must(200, "GET", acct("/inboxes"), nil, &inboxes)
		if len(inboxes.Payload) != 1 || inboxes.Payload[0].ID != f.otherInbox {
			t.Errorf("inboxes %+v, want only %d", inboxes.Payload, f.otherInbox)
		}
		ids, _ := compatListIDs(f.outsider, "?status=all")
		if !slices.Equal(ids, []int64{f.otherConv}) {
			t.Errorf("conversations %v, want only %d", ids, f.otherConv)
		}
		// Filtering by the hidden inbox may be refused or come back empty;
		// either way nothing of it shows, not even in the counts.
		status, data := f.outsider.do("GET", acct("/conversations?status=all&inbox_id=%d", f.inbox), nil)
		switch status {
		case 404:
		case 200:
			var reply struct {
				Data struct {
					Meta    map[string]int    `json:"meta"`
					Payload []json.RawMessage `json:"payload"`
				} `json:"data"`
			}
			if err := json.Unmarshal(data, &reply); err != nil {
				t.Fatal(err)
			}
			if len(reply.Data.Payload) != 0 || reply.Data.Meta["all_count"] != 0 || reply.Data.Meta["assigned_count"] != 0 {
				t.Errorf("the hidden inbox's conversations show: %s", data)
			}
		default:
			t.Errorf("status %d, want 200 or 404; body %s", status, data)
		}
	})
	checkInvariants(t, f.s.path)
}

// TestErrorsNeverServerError sends every write a body in which one field has
// a value of the wrong kind: whatever the answer, it is not a 5xx, it is
// JSON, and a refusal changes nothing.
func TestErrorsNeverServerError(t *testing.T) {
	f := newErrsFixture(t)
	s := f.s
	values := []string{`{}`, `[{}]`, `""`, `-1`, `1.5`, `1e400`, `true`, `"99999999999999999999"`}
	type endpoint struct {
		who          client
		method, path string
		base         map[string]any // a valid body, before one field is spoiled
		fields       []string
	}
	api := map[string]string{"type": "api"}
	endpoints := []endpoint{
		{s.admin, "POST", acct("/agents"), map[string]any{"name": "N", "email": "n@example.com"}, []string{"name", "email", "role", "availability", "auto_offline", "password", "agent"}},
		{s.admin, "PATCH", acct("/agents/%d", f.outsider.id), map[string]any{}, []string{"name", "role", "availability", "auto_offline", "agent"}},
		{s.admin, "POST", acct("/inboxes"), map[string]any{"name": "N", "channel": api}, []string{"name", "channel", "enable_auto_assignment", "enable_auto_reassignment", "auto_assignment_config", "inbox"}},
		{s.admin, "PATCH", acct("/inboxes/%d", f.otherInbox), map[string]any{}, []string{"name", "enable_auto_assignment", "enable_auto_reassignment", "auto_assignment_config", "inbox"}},
		{s.admin, "POST", acct("/inbox_members"), map[string]any{"inbox_id": f.otherInbox, "user_ids": []int64{f.outsider.id}}, []string{"inbox_id", "user_ids", "inbox_member"}},
		{s.admin, "PATCH", acct("/inbox_members"), map[string]any{"inbox_id": f.otherInbox, "user_ids": []int64{f.outsider.id}}, []string{"inbox_id", "user_ids"}},
		{s.admin, "DELETE", acct("/inbox_members"), map[string]any{"inbox_id": f.otherInbox, "user_ids": []int64{}}, []string{"inbox_id", "user_ids"}},
		{s.admin, "POST", acct("/conversations"), map[string]any{"inbox_id": f.otherInbox}, []string{"inbox_id", "status", "assignee_id", "contact_id", "source_id", "message", "conversation"}},
		{s.admin, "POST", acct("/conversations/%d/assignments", f.otherConv), map[string]any{"assignee_id": f.outsider.id}, []string{"assignee_id"}},
		{s.admin, "POST", acct("/conversations/%d/toggle_status", f.otherConv), map[string]any{"status": "open"}, []string{"status", "snoozed_until"}},
		{f.member, "POST", "/api/v1/profile/availability", map[string]any{"availability": "online", "account_id": 1}, []string{"availability", "account_id", "profile"}},
		{client{s: s}, "POST", "/auth/sign_in", map[string]any{"email": "nobody@example.com", "password": "password123"}, []string{"email", "password", "user"}},
		{client{s: s, token: platformToken}, "POST", "/platform/api/v1/users", map[string]any{"name": "N", "email": "n2@example.com", "password": "password123"}, []string{"name", "email", "password", "user"}},
		{client{s: s, token: platformToken}, "POST", "/platform/api/v1/accounts/1/account_users", map[string]any{"user_id": f.stranger.id, "role": "agent"}, []string{"user_id", "role", "account_user"}},
	}
	// Only these requests touch the database, so each dump after a request
	// is the dump before the next.
	before := errsDump(t, s.path)
	for _, e := range endpoints {
		for _, field := range e.fields {
			for _, v := range values {
				body := map[string]json.RawMessage{}
				for k, x := range e.base {
					raw, _ := json.Marshal(x)
					body[k] = raw
				}
				body[field] = json.RawMessage(v)
				data, _ := json.Marshal(body)
				status, reply := e.who.do(e.method, e.path, string(data))
				after := errsDump(t, s.path)
				what := fmt.Sprintf("%s %s %s", e.method, e.path, data)
				if status >= 500 {
					t.Errorf("%s: status %d; body %s", what, status, reply)
				} else if status >= 400 {
					var m map[string]any
					if json.Unmarshal(reply, &m) != nil || (m["error"] == nil && m["message"] == nil) {
						t.Errorf("%s: status %d with body %q, want a JSON error", what, status, reply)
					}
					if after != before {
						t.Errorf("%s: refused with %d but changed the database:\n%s", what, status, errsDiff(before, after))
					}
				}
				before = after
			}
		}
	}
	for _, q := range []string{"status=", "status=%00", "assignee_type=ALL", "inbox_id=-1", "inbox_id=99999999999999999999",
		"page=-1", "page=99999999999999999999", "page=1.5", "status=all&status=open", "inbox_id=%20"} {
		for _, p := range []string{acct("/conversations?%s", q), acct("/conversations/meta?%s", q)} {
			if status, reply := s.admin.do("GET", p, nil); status >= 500 {
				t.Errorf("GET %s: status %d; body %s", p, status, reply)
			}
		}
	}
	checkInvariants(t, s.path)
}
