package api_test

// An independent probe of the promise "bad input always gets a clear error
// (status code and a JSON message naming the field) and changes nothing",
// over the real HTTP API. Every write endpoint, and the query of the list
// endpoints, is sent input that is wrong in ways errors_test.go and
// fuzz_test.go do not already try; each reply must have the status API.md
// gives, a JSON body whose attributes (422) or message name the field, and
// the state read back through the API (and the row counts of every table)
// must be as before.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// probeFixture is account 1 (administrator, an agent who is a member of
// inbox, an outsider who is a member of otherInbox, a conversation in each,
// a webhook) and account 2 (the stranger, its administrator, with an inbox,
// two conversations and a webhook).
type probeFixture struct {
	s                  *testServer
	member, outsider   client
	inbox, otherInbox  int64
	conv, otherConv    int64
	hook               int64
	stranger           client
	account2           int64
	strangerInbox      int64
	strangerHook       int64
	strangerConvs      []int64
	platform, anon     client
	badToken           client
	strangerAccountURL string
}

func newProbeFixture(t *testing.T, s *testServer) *probeFixture {
	t.Helper()
	f := &probeFixture{s: s}
	f.member = s.newAgent("agent", "online")
	f.outsider = s.newAgent("agent", "online")
	f.inbox = s.newInbox(nil, f.member)
	f.otherInbox = s.newInbox(nil, f.outsider)
	f.conv = s.admin.create(f.inbox, nil).ID
	f.otherConv = s.admin.create(f.otherInbox, nil).ID
	var hook struct {
		Payload struct {
			Webhook struct {
				ID int64 `json:"id"`
			} `json:"webhook"`
		} `json:"payload"`
	}
	s.admin.must(200, "POST", acct("/webhooks"), map[string]any{"url": "https://example.com/hook"}, &hook)
	f.hook = hook.Payload.Webhook.ID

	f.platform = client{s: s, token: platformToken}
	f.anon = client{s: s}
	f.badToken = client{s: s, token: "not-a-token"}
	var account, user struct {
		ID          int64  `json:"id"`
		AccessToken string `json:"access_token"`
	}
	f.platform.must(200, "POST", "/platform/api/v1/accounts", map[string]any{"name": "Elsewhere"}, &account)
	f.platform.must(200, "POST", "/platform/api/v1/users", map[string]any{"name": "Stranger", "email": "probe-stranger@example.com", "password": "password123"}, &user)
	f.platform.must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", account.ID), map[string]any{"user_id": user.ID, "role": "administrator"}, nil)
	f.account2 = account.ID
	f.stranger = client{s: s, token: user.AccessToken, id: user.ID}
	f.strangerAccountURL = fmt.Sprintf("/api/v1/accounts/%d", account.ID)
	var in struct {
		ID int64 `json:"id"`
	}
	f.stranger.must(200, "POST", f.strangerAccountURL+"/inboxes", map[string]any{"name": "Theirs", "channel": map[string]string{"type": "api"}}, &in)
	f.strangerInbox = in.ID
	// Three conversations there, so that account 2 has a conversation
	// number that account 1 has not.
	for range 3 {
		var conv conversationReply
		f.stranger.must(200, "POST", f.strangerAccountURL+"/conversations", map[string]any{"inbox_id": in.ID}, &conv)
		f.strangerConvs = append(f.strangerConvs, conv.ID)
	}
	f.stranger.must(200, "POST", f.strangerAccountURL+"/webhooks", map[string]any{"url": "https://example.com/theirs"}, &hook)
	f.strangerHook = hook.Payload.Webhook.ID
	return f
}

// probeCanonical re-encodes a JSON document with sorted keys.
func probeCanonical(t *testing.T, data []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %v in %q", err, data)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// state reads back, through the API, everything a bad request could have
// changed: the agents, inboxes, members, conversations (with their
// assignees, statuses and events), counts and webhooks of both accounts,
// and the member's profile.
func (f *probeFixture) state(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	get := func(c client, path string) []byte {
		t.Helper()
		status, data := c.do("GET", path, nil)
		if status != 200 {
			t.Fatalf("reading state: GET %s: status %d; body %s", path, status, data)
		}
		fmt.Fprintf(&b, "%s %s\n", path, probeCanonical(t, data))
		return data
	}
	type side struct {
		c       client
		base    string
		inboxes []int64
	}
	for _, sd := range []side{
		{f.s.admin, "/api/v1/accounts/1", []int64{f.inbox, f.otherInbox}},
		{f.stranger, f.strangerAccountURL, []int64{f.strangerInbox}},
	} {
		get(sd.c, sd.base+"/agents")
		get(sd.c, sd.base+"/inboxes")
		for _, in := range sd.inboxes {
			get(sd.c, fmt.Sprintf("%s/inboxes/%d", sd.base, in))
			get(sd.c, fmt.Sprintf("%s/inbox_members/%d", sd.base, in))
		}
		get(sd.c, sd.base+"/webhooks")
		get(sd.c, sd.base+"/conversations/meta?status=all")
		var list struct {
			Data struct {
				Payload []conversationReply `json:"payload"`
			} `json:"data"`
		}
		if err := json.Unmarshal(get(sd.c, sd.base+"/conversations?status=all"), &list); err != nil {
			t.Fatal(err)
		}
		for _, conv := range list.Data.Payload {
			get(sd.c, fmt.Sprintf("%s/conversations/%d/assignment_events", sd.base, conv.ID))
		}
	}
	get(f.member, "/api/v1/profile")
	get(f.stranger, "/api/v1/profile")
	b.WriteString(probeRowCounts(t, f.s))
	return b.String()
}

// probeRowCounts counts the rows of every table, read straight from the
// database (users, sessions and accounts have no list endpoint).
func probeRowCounts(t *testing.T, s *testServer) string {
	t.Helper()
	var db *sql.DB
	var err error
	var tablesQuery string
	if s.path != "" {
		db, err = sql.Open("sqlite", "file:"+s.path+"?_pragma=query_only(1)")
		tablesQuery = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	} else {
		db, err = sql.Open("pgx", s.dsn)
		tablesQuery = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(tablesQuery)
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
		t.Fatal("no tables found")
	}
	var b strings.Builder
	for _, table := range tables {
		if table == "console_connections" {
			continue // presence of consoles, not of requests
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + table + `"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "rows %s: %d\n", table, n)
	}
	return b.String()
}

// probeSend sends body (a string as is, anything else as JSON) as c and
// returns the reply's status, content type and body.
func probeSend(t *testing.T, c client, method, path string, body any) (int, string, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.s.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header["api_access_token"] = []string{c.token}
	}
	resp, err := c.s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: no reply: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reply cut short: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

type probeCase struct {
	name         string
	who          client
	method, path string
	body         any // a string is sent as is
	// status is the status wanted; 0 accepts any 4xx.
	status int
	// field is the field the error must name: in attributes for a 422,
	// else in the message. Empty: the error must only say something.
	field string
}

// probeCheck sends tc and fails unless the reply is the refusal wanted, in
// JSON, naming the field, and the state is unchanged.
func probeCheck(t *testing.T, f *probeFixture, tc probeCase) {
	t.Helper()
	before := f.state(t)
	status, ctype, data := probeSend(t, tc.who, tc.method, tc.path, tc.body)
	shown := fmt.Sprint(tc.body)
	if len(shown) > 200 {
		shown = shown[:200] + "..."
	}
	what := fmt.Sprintf("%s %s %s", tc.method, tc.path, shown)
	switch {
	case status >= 500:
		t.Errorf("%s: server error %d; body %s", what, status, data)
	case tc.status != 0 && status != tc.status:
		t.Errorf("%s: status %d, want %d; body %s", what, status, tc.status, data)
	case tc.status == 0 && (status < 400 || status >= 500):
		t.Errorf("%s: status %d, want a 4xx; body %s", what, status, data)
	}
	if after := f.state(t); after != before {
		t.Errorf("%s: answered %d but changed:\n%s", what, status, authzDiff(strings.Split(before, "\n"), strings.Split(after, "\n")))
	}
	if status < 400 {
		return // accepted: the status error above says it all
	}
	if !strings.HasPrefix(ctype, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json; body %q", what, ctype, data)
	}
	var reply struct {
		Error      *string  `json:"error"`
		Message    *string  `json:"message"`
		Attributes []string `json:"attributes"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		t.Errorf("%s: reply is not a JSON object: %v in %q", what, err, data)
	}
	msg := ""
	if reply.Message != nil {
		msg = *reply.Message
	} else if reply.Error != nil {
		msg = *reply.Error
	}
	if strings.TrimSpace(msg) == "" {
		t.Errorf("%s: reply %s has no message", what, data)
	}
	if status == 422 {
		if reply.Message == nil || len(reply.Attributes) == 0 {
			t.Errorf("%s: a 422 without message and attributes: %s", what, data)
		}
		if tc.field != "" && !slices.Equal(reply.Attributes, []string{tc.field}) {
			t.Errorf("%s: attributes %q, want [%q]; body %s", what, reply.Attributes, tc.field, data)
		}
	} else if tc.field != "" && !strings.Contains(msg, tc.field) {
		t.Errorf("%s: status %d, message %q does not name %q", what, status, msg, tc.field)
	}
}

// probeOnEachDB runs fn on a fresh fixture on SQLite and, when
// SWITCHBOARD_TEST_POSTGRES is set, on PostgreSQL.
func probeOnEachDB(t *testing.T, fn func(t *testing.T, f *probeFixture)) {
	eachDB(t, func(t *testing.T, s *testServer) { fn(t, newProbeFixture(t, s)) })
}

func probeRun(t *testing.T, f *probeFixture, cases []probeCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases named %s", tc.name)
		}
		seen[tc.name] = true
		if tc.who.s == nil {
			tc.who = f.s.admin
		}
		t.Run(tc.name, func(t *testing.T) { probeCheck(t, f, tc) })
	}
}

const (
	probeOverflow = "9223372036854775808" // one past the largest int64
	probeMaxInt64 = "9223372036854775807"
)

func TestProbeInputsAgents(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		agents := acct("/agents")
		member := acct("/agents/%d", f.member.id)
		valid := func(k string, v any) map[string]any {
			b := map[string]any{"name": "Probe", "email": "probe-new@example.com"}
			b[k] = v
			return b
		}
		probeRun(t, f, []probeCase{
			{name: "CreateNameNull", method: "POST", path: agents, body: valid("name", nil), status: 422, field: "name"},
			{name: "CreateNameArray", method: "POST", path: agents, body: valid("name", []string{"Probe"}), status: 422, field: "name"},
			{name: "CreateNameObject", method: "POST", path: agents, body: valid("name", map[string]any{"first": "P"}), status: 422, field: "name"},
			{name: "CreateNameMissing", method: "POST", path: agents, body: map[string]any{"email": "probe-new@example.com"}, status: 422, field: "name"},
			{name: "CreateEmailMissing", method: "POST", path: agents, body: map[string]any{"name": "Probe"}, status: 422, field: "email"},
			{name: "CreateEmailEmpty", method: "POST", path: agents, body: valid("email", ""), status: 422, field: "email"},
			{name: "CreateEmailNumber", method: "POST", path: agents, body: valid("email", 5), status: 422, field: "email"},
			{name: "CreateEmailNull", method: "POST", path: agents, body: valid("email", nil), status: 422, field: "email"},
			{name: "CreateEmailTwoAddresses", method: "POST", path: agents, body: valid("email", "a@example.com, b@example.com"), status: 422, field: "email"},
			{name: "CreateEmailDisplayName", method: "POST", path: agents, body: valid("email", "Ann <ann@example.com>"), status: 422, field: "email"},
			{name: "CreateRoleEmpty", method: "POST", path: agents, body: valid("role", ""), status: 422, field: "role"},
			{name: "CreateRoleNumber", method: "POST", path: agents, body: valid("role", 1), status: 422, field: "role"},
			{name: "CreateRoleCapitalised", method: "POST", path: agents, body: valid("role", "Administrator"), status: 422, field: "role"},
			{name: "CreateRoleArray", method: "POST", path: agents, body: valid("role", []string{"agent"}), status: 422, field: "role"},
			{name: "CreateAvailabilityEmpty", method: "POST", path: agents, body: valid("availability", ""), status: 422, field: "availability"},
			{name: "CreateAvailabilityArray", method: "POST", path: agents, body: valid("availability", []string{"online"}), status: 422, field: "availability"},
			{name: "CreateAvailabilityBool", method: "POST", path: agents, body: valid("availability", true), status: 422, field: "availability"},
			{name: "CreateAutoOfflineNumber", method: "POST", path: agents, body: valid("auto_offline", 1), status: 422, field: "auto_offline"},
			{name: "CreateAutoOfflineObject", method: "POST", path: agents, body: valid("auto_offline", map[string]any{}), status: 422, field: "auto_offline"},
			{name: "CreatePasswordNumber", method: "POST", path: agents, body: valid("password", 12345678), status: 422, field: "password"},
			{name: "CreatePasswordTooLong", method: "POST", path: agents, body: valid("password", strings.Repeat("p", 73)), status: 422, field: "password"},
			{name: "CreateWrappedBadRole", method: "POST", path: agents, body: map[string]any{"agent": valid("role", "boss")}, status: 422, field: "role"},
			{name: "CreateWrappedRoleBesideValid", method: "POST", path: agents, body: map[string]any{"agent": map[string]any{"role": "boss"}, "name": "P", "email": "probe-new@example.com", "role": "agent"}, status: 422, field: "role"},
			{name: "CreateEmptyBody", method: "POST", path: agents, body: "", status: 422, field: "name"},
			{name: "CreateEmptyObject", method: "POST", path: agents, body: `{}`, status: 422, field: "name"},
			{name: "CreateTrailingGarbage", method: "POST", path: agents, body: `{"name": "Probe", "email": "probe-new@example.com"} trailing`, status: 400},
			{name: "CreateTrailingBracket", method: "POST", path: agents, body: `{"name": "Probe", "email": "probe-new@example.com"}]`, status: 400},
			{name: "CreateNumberBody", method: "POST", path: agents, body: `42`, status: 400},
			{name: "CreateDuplicateKeyLastBad", method: "POST", path: agents, body: `{"name": "Probe", "email": "probe-new@example.com", "role": "agent", "role": "boss"}`, status: 0, field: "role"},
			{name: "CreateDeeplyNested", method: "POST", path: agents, body: `{"name": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, status: 0},
			{name: "CreateOversized", method: "POST", path: agents, body: `{"name": "Probe", "email": "probe-new@example.com", "password": "` + strings.Repeat("p", 1<<20) + `"}`, status: 400},
			{name: "CreateOtherAccountPath", method: "POST", path: f.strangerAccountURL + "/agents", body: valid("role", "agent"), status: 404},
			{name: "CreateAccountZeroPath", method: "POST", path: "/api/v1/accounts/0/agents", body: valid("role", "agent"), status: 404},
			{name: "CreateAccountOverflowPath", method: "POST", path: "/api/v1/accounts/" + probeOverflow + "/agents", body: valid("role", "agent"), status: 404},

			{name: "UpdateNameNumber", method: "PATCH", path: member, body: `{"name": 7}`, status: 422, field: "name"},
			{name: "UpdateRoleEmpty", method: "PATCH", path: member, body: `{"role": ""}`, status: 422, field: "role"},
			{name: "UpdateRoleBool", method: "PATCH", path: member, body: `{"role": true}`, status: 422, field: "role"},
			{name: "UpdateAvailabilityNumber", method: "PATCH", path: member, body: `{"availability": 0}`, status: 422, field: "availability"},
			{name: "UpdateAvailabilityEmpty", method: "PATCH", path: member, body: `{"availability": ""}`, status: 422, field: "availability"},
			{name: "UpdateAutoOfflineWord", method: "PATCH", path: member, body: `{"auto_offline": "yes"}`, status: 422, field: "auto_offline"},
			{name: "UpdateGoodNameBadRole", method: "PATCH", path: member, body: `{"name": "Renamed", "role": "owner"}`, status: 422, field: "role"},
			{name: "UpdateGoodAvailabilityBadAutoOffline", method: "PATCH", path: member, body: `{"availability": "offline", "auto_offline": 2}`, status: 422, field: "auto_offline"},
			{name: "UpdateTrailingGarbage", method: "PATCH", path: member, body: `{"availability": "offline"}{}`, status: 400},
			{name: "UpdateArrayBody", method: "PATCH", path: member, body: `[{"availability": "offline"}]`, status: 400},
			{name: "UpdateOtherAccountAgent", method: "PATCH", path: acct("/agents/%d", f.stranger.id), body: `{"availability": "offline"}`, status: 404},
			{name: "UpdateOtherAccountPath", method: "PATCH", path: fmt.Sprintf("%s/agents/%d", f.strangerAccountURL, f.stranger.id), body: `{"availability": "offline"}`, status: 404},
			{name: "UpdateIDZero", method: "PATCH", path: acct("/agents/0"), body: `{"name": "X"}`, status: 404},
			{name: "UpdateIDNegative", method: "PATCH", path: acct("/agents/-1"), body: `{"name": "X"}`, status: 404},
			{name: "UpdateIDExponent", method: "PATCH", path: acct("/agents/1e3"), body: `{"name": "X"}`, status: 404},
			{name: "UpdateIDOverflow", method: "PATCH", path: acct("/agents/" + probeOverflow), body: `{"name": "X"}`, status: 404},
			{name: "UpdateIDMaxInt64", method: "PATCH", path: acct("/agents/" + probeMaxInt64), body: `{"name": "X"}`, status: 404},
			{name: "PutBadRole", method: "PUT", path: member, body: `{"role": "root"}`, status: 422, field: "role"},

			{name: "DeleteOtherAccountAgent", method: "DELETE", path: acct("/agents/%d", f.stranger.id), status: 404},
			{name: "DeleteIDWord", method: "DELETE", path: acct("/agents/abc"), status: 404},
			{name: "DeleteIDZero", method: "DELETE", path: acct("/agents/0"), status: 404},
			{name: "DeleteIDMaxInt64", method: "DELETE", path: acct("/agents/" + probeMaxInt64), status: 404},
			{name: "DeleteLastAdministrator", method: "DELETE", path: acct("/agents/%d", f.s.admin.id), status: 422},
		})
	})
}

func TestProbeInputsInboxes(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		inboxes := acct("/inboxes")
		inbox := acct("/inboxes/%d", f.inbox)
		api := map[string]any{"type": "api"}
		valid := func(k string, v any) map[string]any {
			b := map[string]any{"name": "Probe", "channel": api}
			b[k] = v
			return b
		}
		limit := func(v any) map[string]any {
			return map[string]any{"max_assignment_limit": v}
		}
		const limitField = "auto_assignment_config.max_assignment_limit"
		probeRun(t, f, []probeCase{
			{name: "CreateNameMissing", method: "POST", path: inboxes, body: map[string]any{"channel": api}, status: 422, field: "name"},
			{name: "CreateNameNull", method: "POST", path: inboxes, body: valid("name", nil), status: 422, field: "name"},
			{name: "CreateNameNumber", method: "POST", path: inboxes, body: valid("name", 12), status: 422, field: "name"},
			{name: "CreateNameArray", method: "POST", path: inboxes, body: valid("name", []any{}), status: 422, field: "name"},
			{name: "CreateChannelArray", method: "POST", path: inboxes, body: valid("channel", []any{api}), status: 422, field: "channel"},
			{name: "CreateChannelNumber", method: "POST", path: inboxes, body: valid("channel", 1), status: 422, field: "channel"},
			{name: "CreateChannelTypeEmpty", method: "POST", path: inboxes, body: valid("channel", map[string]any{"type": ""}), status: 422, field: "channel.type"},
			{name: "CreateChannelTypeNumber", method: "POST", path: inboxes, body: valid("channel", map[string]any{"type": 5}), status: 422, field: "channel.type"},
			{name: "CreateChannelTypeCapitalised", method: "POST", path: inboxes, body: valid("channel", map[string]any{"type": "API"}), status: 422, field: "channel.type"},
			{name: "CreateWebhookURLNumber", method: "POST", path: inboxes, body: valid("channel", map[string]any{"type": "api", "webhook_url": 5}), status: 422, field: "channel.webhook_url"},
			{name: "CreateWebhookURLScheme", method: "POST", path: inboxes, body: valid("channel", map[string]any{"type": "api", "webhook_url": "ftp://example.com/x"}), status: 422, field: "channel.webhook_url"},
			{name: "CreateAutoAssignmentNumber", method: "POST", path: inboxes, body: valid("enable_auto_assignment", 0), status: 422, field: "enable_auto_assignment"},
			{name: "CreateAutoReassignmentWord", method: "POST", path: inboxes, body: valid("enable_auto_reassignment", "on"), status: 422, field: "enable_auto_reassignment"},
			{name: "CreateConfigArray", method: "POST", path: inboxes, body: valid("auto_assignment_config", []any{limit(5)}), status: 422, field: "auto_assignment_config"},
			{name: "CreateConfigString", method: "POST", path: inboxes, body: valid("auto_assignment_config", "5"), status: 422, field: "auto_assignment_config"},
			{name: "CreateLimitWord", method: "POST", path: inboxes, body: valid("auto_assignment_config", limit("ten")), status: 422, field: limitField},
			{name: "CreateLimitZero", method: "POST", path: inboxes, body: valid("auto_assignment_config", limit(0)), status: 422, field: limitField},
			{name: "CreateLimitNegative", method: "POST", path: inboxes, body: valid("auto_assignment_config", limit(-1)), status: 422, field: limitField},
			{name: "CreateLimitTooLarge", method: "POST", path: inboxes, body: valid("auto_assignment_config", limit(100001)), status: 422, field: limitField},
			{name: "CreateLimitOverflow", method: "POST", path: inboxes, body: `{"name": "Probe", "channel": {"type": "api"}, "auto_assignment_config": {"max_assignment_limit": ` + probeOverflow + `}}`, status: 422, field: limitField},
			{name: "CreateLimitExponent", method: "POST", path: inboxes, body: `{"name": "Probe", "channel": {"type": "api"}, "auto_assignment_config": {"max_assignment_limit": 1e3}}`, status: 422, field: limitField},
			{name: "CreateLimitBool", method: "POST", path: inboxes, body: valid("auto_assignment_config", limit(true)), status: 422, field: limitField},
			{name: "CreateAssignmentModeBogus", method: "POST", path: inboxes, body: valid("assignment_mode", "random"), status: 422, field: "assignment_mode"},
			{name: "CreateAssignmentModeNumber", method: "POST", path: inboxes, body: valid("assignment_mode", 1), status: 422, field: "assignment_mode"},
			{name: "CreateWrappedBadName", method: "POST", path: inboxes, body: map[string]any{"inbox": valid("name", "   ")}, status: 422, field: "name"},
			{name: "CreateTrailingGarbage", method: "POST", path: inboxes, body: `{"name": "Probe", "channel": {"type": "api"}},`, status: 400},
			{name: "CreateOtherAccountPath", method: "POST", path: f.strangerAccountURL + "/inboxes", body: valid("name", "Probe"), status: 404},

			// RFC 8259 section 8.1: JSON text MUST be UTF-8; these bytes are
			// not, and would be stored as U+FFFD, not as sent.
			{name: "UpdateNameInvalidUTF8", method: "PATCH", path: inbox, body: "{\"name\": \"Bad \xff\xfe name\"}", status: 0},
			{name: "CreateNameInvalidUTF8", method: "POST", path: inboxes, body: "{\"name\": \"\xc3\x28\", \"channel\": {\"type\": \"api\"}}", status: 0},
			{name: "UpdateNameObject", method: "PATCH", path: inbox, body: `{"name": {"en": "X"}}`, status: 422, field: "name"},
			{name: "UpdateAutoAssignmentWord", method: "PATCH", path: inbox, body: `{"enable_auto_assignment": "nope"}`, status: 422, field: "enable_auto_assignment"},
			{name: "UpdateGoodNameBadLimit", method: "PATCH", path: inbox, body: `{"name": "Renamed", "auto_assignment_config": {"max_assignment_limit": "ten"}}`, status: 422, field: limitField},
			{name: "UpdateGoodFlagBadMode", method: "PATCH", path: inbox, body: `{"enable_auto_assignment": false, "assignment_mode": "fastest"}`, status: 422, field: "assignment_mode"},
			{name: "UpdateConfigNumber", method: "PATCH", path: inbox, body: `{"auto_assignment_config": 3}`, status: 422, field: "auto_assignment_config"},
			{name: "UpdateLimitFraction", method: "PATCH", path: inbox, body: `{"auto_assignment_config": {"max_assignment_limit": 2.5}}`, status: 422, field: limitField},
			{name: "UpdateWrappedBad", method: "PATCH", path: inbox, body: `{"inbox": {"enable_auto_reassignment": "nope"}}`, status: 422, field: "enable_auto_reassignment"},
			{name: "UpdateTrailingGarbage", method: "PATCH", path: inbox, body: `{"enable_auto_assignment": false} x`, status: 400},
			{name: "UpdateOtherAccountInbox", method: "PATCH", path: acct("/inboxes/%d", f.strangerInbox), body: `{"enable_auto_assignment": false}`, status: 404},
			{name: "UpdateIDZero", method: "PATCH", path: acct("/inboxes/0"), body: `{"name": "X"}`, status: 404},
			{name: "UpdateIDNegative", method: "PATCH", path: acct("/inboxes/-5"), body: `{"name": "X"}`, status: 404},
			{name: "UpdateIDOverflow", method: "PATCH", path: acct("/inboxes/" + probeOverflow), body: `{"name": "X"}`, status: 404},
			{name: "UpdateIDMaxInt64", method: "PATCH", path: acct("/inboxes/" + probeMaxInt64), body: `{"name": "X"}`, status: 404},
			{name: "PutBadLimit", method: "PUT", path: inbox, body: `{"auto_assignment_config": {"max_assignment_limit": -3}}`, status: 422, field: limitField},
		})
	})
}

func TestProbeInputsInboxMembers(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		members := acct("/inbox_members")
		raw := func(inbox, users string) string {
			return fmt.Sprintf(`{"inbox_id": %s, "user_ids": %s}`, inbox, users)
		}
		in := fmt.Sprint(f.inbox)
		out := fmt.Sprintf("[%d]", f.outsider.id)
		var cases []probeCase
		for _, m := range []string{"POST", "PATCH", "DELETE"} {
			cases = append(cases,
				probeCase{name: m + "InboxIDNull", method: m, path: members, body: raw("null", out), status: 422, field: "inbox_id"},
				probeCase{name: m + "InboxIDExponent", method: m, path: members, body: raw("1e3", out), status: 422, field: "inbox_id"},
				probeCase{name: m + "InboxIDOverflow", method: m, path: members, body: raw(probeOverflow, out), status: 422, field: "inbox_id"},
				probeCase{name: m + "InboxIDArray", method: m, path: members, body: raw("["+in+"]", out), status: 422, field: "inbox_id"},
				probeCase{name: m + "InboxIDObject", method: m, path: members, body: raw(`{"id": `+in+`}`, out), status: 422, field: "inbox_id"},
				probeCase{name: m + "InboxIDEmptyString", method: m, path: members, body: raw(`""`, out), status: 422, field: "inbox_id"},
				probeCase{name: m + "InboxIDStringNegative", method: m, path: members, body: raw(`"-1"`, out), status: 422, field: "inbox_id"},
				probeCase{name: m + "InboxIDOtherAccount", method: m, path: members, body: raw(fmt.Sprint(f.strangerInbox), out), status: 404},
				probeCase{name: m + "InboxIDMaxInt64", method: m, path: members, body: raw(probeMaxInt64, out), status: 404},
				probeCase{name: m + "UserIDsNull", method: m, path: members, body: raw(in, "null"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsObject", method: m, path: members, body: raw(in, fmt.Sprintf(`{"0": %d}`, f.outsider.id)), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsNumber", method: m, path: members, body: raw(in, fmt.Sprint(f.outsider.id)), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsNested", method: m, path: members, body: raw(in, "["+out+"]"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsNullElement", method: m, path: members, body: raw(in, "[null]"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsZero", method: m, path: members, body: raw(in, "[0]"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsNegative", method: m, path: members, body: raw(in, "[-1]"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsExponent", method: m, path: members, body: raw(in, "[1e1]"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsOverflow", method: m, path: members, body: raw(in, "["+probeOverflow+"]"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsMaxInt64", method: m, path: members, body: raw(in, "["+probeMaxInt64+"]"), status: 422, field: "user_ids"},
				probeCase{name: m + "UserIDsValidThenBad", method: m, path: members, body: raw(in, fmt.Sprintf(`[%d, "x"]`, f.outsider.id)), status: 422, field: "user_ids"},
				probeCase{name: m + "TrailingGarbage", method: m, path: members, body: raw(in, out) + ` garbage`, status: 400},
				probeCase{name: m + "EmptyBody", method: m, path: members, body: "", status: 422, field: "inbox_id"},
				probeCase{name: m + "WrappedBadUserIDs", method: m, path: members, body: fmt.Sprintf(`{"inbox_member": {"inbox_id": %d, "user_ids": "all"}}`, f.inbox), status: 422, field: "user_ids"},
				probeCase{name: m + "DuplicateKeyLastBad", method: m, path: members, body: fmt.Sprintf(`{"inbox_id": %d, "user_ids": %s, "user_ids": "x"}`, f.inbox, out), status: 0, field: "user_ids"},
				probeCase{name: m + "OtherAccountPath", method: m, path: f.strangerAccountURL + "/inbox_members", body: raw(fmt.Sprint(f.strangerInbox), fmt.Sprintf("[%d]", f.stranger.id)), status: 404},
			)
		}
		cases = append(cases,
			probeCase{name: "DeletePathWord", method: "DELETE", path: acct("/inbox_members/abc"), body: `{"user_ids": []}`, status: 404},
			probeCase{name: "DeletePathZero", method: "DELETE", path: acct("/inbox_members/0"), body: `{"user_ids": []}`, status: 404},
			probeCase{name: "DeletePathOtherAccount", method: "DELETE", path: acct("/inbox_members/%d", f.strangerInbox), body: fmt.Sprintf(`{"user_ids": [%d]}`, f.stranger.id), status: 404},
			probeCase{name: "DeletePathBodyInboxWord", method: "DELETE", path: acct("/inbox_members/%d", f.inbox), body: fmt.Sprintf(`{"inbox_id": "abc", "user_ids": [%d]}`, f.member.id), status: 422, field: "inbox_id"},
			probeCase{name: "DeletePathNoUserIDs", method: "DELETE", path: acct("/inbox_members/%d", f.inbox), body: ``, status: 422, field: "user_ids"},
			probeCase{name: "DeletePathUserIDsWord", method: "DELETE", path: acct("/inbox_members/%d", f.inbox), body: `{"user_ids": ["me"]}`, status: 422, field: "user_ids"},
		)
		probeRun(t, f, cases)
	})
}

func TestProbeInputsConversations(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		convs := acct("/conversations")
		in := fmt.Sprint(f.inbox)
		with := func(extra string) string { return `{"inbox_id": ` + in + `, ` + extra + `}` }
		assign := acct("/conversations/%d/assignments", f.conv)
		toggle := acct("/conversations/%d/toggle_status", f.conv)
		// A conversation number account 2 has and account 1 has not.
		foreign := f.strangerConvs[len(f.strangerConvs)-1]
		probeRun(t, f, []probeCase{
			{name: "CreateInboxIDNull", method: "POST", path: convs, body: `{"inbox_id": null}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDArray", method: "POST", path: convs, body: `{"inbox_id": [` + in + `]}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDObject", method: "POST", path: convs, body: `{"inbox_id": {"id": ` + in + `}}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDExponent", method: "POST", path: convs, body: `{"inbox_id": 1e3}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDZero", method: "POST", path: convs, body: `{"inbox_id": 0}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDStringNegative", method: "POST", path: convs, body: `{"inbox_id": "-1"}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDStringSpaces", method: "POST", path: convs, body: `{"inbox_id": " ` + in + ` "}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDStringHex", method: "POST", path: convs, body: `{"inbox_id": "0x1"}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDEmptyString", method: "POST", path: convs, body: `{"inbox_id": ""}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDOverflow", method: "POST", path: convs, body: `{"inbox_id": "` + probeOverflow + `"}`, status: 422, field: "inbox_id"},
			{name: "CreateInboxIDMaxInt64", method: "POST", path: convs, body: `{"inbox_id": ` + probeMaxInt64 + `}`, status: 404},
			{name: "CreateInboxIDOtherAccount", method: "POST", path: convs, body: fmt.Sprintf(`{"inbox_id": %d}`, f.strangerInbox), status: 404},
			{name: "CreateStatusEmpty", method: "POST", path: convs, body: with(`"status": ""`), status: 422, field: "status"},
			{name: "CreateStatusCapitalised", method: "POST", path: convs, body: with(`"status": "Open"`), status: 422, field: "status"},
			{name: "CreateStatusAll", method: "POST", path: convs, body: with(`"status": "all"`), status: 422, field: "status"},
			{name: "CreateStatusArray", method: "POST", path: convs, body: with(`"status": ["open"]`), status: 422, field: "status"},
			{name: "CreateAssigneeExponent", method: "POST", path: convs, body: with(`"assignee_id": 1e0`), status: 422, field: "assignee_id"},
			{name: "CreateAssigneeArray", method: "POST", path: convs, body: with(fmt.Sprintf(`"assignee_id": [%d]`, f.member.id)), status: 422, field: "assignee_id"},
			{name: "CreateAssigneeNegative", method: "POST", path: convs, body: with(`"assignee_id": -1`), status: 422, field: "assignee_id"},
			{name: "CreateAssigneeOverflow", method: "POST", path: convs, body: with(`"assignee_id": ` + probeOverflow), status: 422, field: "assignee_id"},
			{name: "CreateAssigneeMaxInt64", method: "POST", path: convs, body: with(`"assignee_id": ` + probeMaxInt64), status: 422, field: "assignee_id"},
			{name: "CreateContactNegative", method: "POST", path: convs, body: with(`"contact_id": -1`), status: 422, field: "contact_id"},
			{name: "CreateContactObject", method: "POST", path: convs, body: with(`"contact_id": {}`), status: 422, field: "contact_id"},
			{name: "CreateSourceIDArray", method: "POST", path: convs, body: with(`"source_id": ["a"]`), status: 422, field: "source_id"},
			{name: "CreateSourceIDBool", method: "POST", path: convs, body: with(`"source_id": false`), status: 422, field: "source_id"},
			{name: "CreateMessageArray", method: "POST", path: convs, body: with(`"message": [{"content": "hi"}]`), status: 422, field: "message"},
			{name: "CreateMessageNumber", method: "POST", path: convs, body: with(`"message": 1`), status: 422, field: "message"},
			{name: "CreateMessageContentArray", method: "POST", path: convs, body: with(`"message": {"content": ["hi"]}`), status: 422, field: "message.content"},
			{name: "CreateMessageContentObject", method: "POST", path: convs, body: with(`"message": {"content": {"text": "hi"}}`), status: 422, field: "message.content"},
			{name: "CreateGoodAssigneeBadStatus", method: "POST", path: convs, body: with(fmt.Sprintf(`"assignee_id": %d, "status": "closed"`, f.member.id)), status: 422, field: "status"},
			{name: "CreateWrappedBadStatus", method: "POST", path: convs, body: `{"conversation": ` + with(`"status": "closed"`) + `}`, status: 422, field: "status"},
			{name: "CreateWrappedNoInbox", method: "POST", path: convs, body: `{"conversation": {"status": "open"}}`, status: 422, field: "inbox_id"},
			{name: "CreateTrailingGarbage", method: "POST", path: convs, body: `{"inbox_id": ` + in + `}]`, status: 400},
			{name: "CreateTrailingWord", method: "POST", path: convs, body: `{"inbox_id": ` + in + `} null`, status: 400},
			{name: "CreateDuplicateKeyLastBad", method: "POST", path: convs, body: with(`"status": "open", "status": "closed"`), status: 0, field: "status"},
			{name: "CreateOversized", method: "POST", path: convs, body: with(`"message": {"content": "` + strings.Repeat("x", 1<<20) + `"}`), status: 400},
			{name: "CreateOtherAccountPath", method: "POST", path: f.strangerAccountURL + "/conversations", body: fmt.Sprintf(`{"inbox_id": %d}`, f.strangerInbox), status: 404},
			{name: "CreateAsMemberInOtherInbox", who: f.member, method: "POST", path: convs, body: fmt.Sprintf(`{"inbox_id": %d}`, f.otherInbox), status: 404},

			{name: "AssignNegative", method: "POST", path: assign, body: `{"assignee_id": -1}`, status: 422, field: "assignee_id"},
			{name: "AssignExponent", method: "POST", path: assign, body: `{"assignee_id": 1e3}`, status: 422, field: "assignee_id"},
			{name: "AssignFraction", method: "POST", path: assign, body: fmt.Sprintf(`{"assignee_id": %d.0}`, f.member.id), status: 422, field: "assignee_id"},
			{name: "AssignOverflow", method: "POST", path: assign, body: `{"assignee_id": ` + probeOverflow + `}`, status: 422, field: "assignee_id"},
			{name: "AssignMaxInt64", method: "POST", path: assign, body: `{"assignee_id": ` + probeMaxInt64 + `}`, status: 422, field: "assignee_id"},
			{name: "AssignArray", method: "POST", path: assign, body: fmt.Sprintf(`{"assignee_id": [%d]}`, f.member.id), status: 422, field: "assignee_id"},
			{name: "AssignObject", method: "POST", path: assign, body: fmt.Sprintf(`{"assignee_id": {"id": %d}}`, f.member.id), status: 422, field: "assignee_id"},
			{name: "AssignEmptyString", method: "POST", path: assign, body: `{"assignee_id": ""}`, status: 422, field: "assignee_id"},
			{name: "AssignFalse", method: "POST", path: assign, body: `{"assignee_id": false}`, status: 422, field: "assignee_id"},
			{name: "AssignWrappedWord", method: "POST", path: assign, body: `{"assignment": {"assignee_id": "nobody"}}`, status: 422, field: "assignee_id"},
			{name: "AssignNullWithTrailingGarbage", method: "POST", path: assign, body: `{"assignee_id": null} x`, status: 400},
			{name: "AssignDuplicateKeyLastBad", method: "POST", path: assign, body: fmt.Sprintf(`{"assignee_id": null, "assignee_id": "x%d"}`, f.s.admin.id), status: 0, field: "assignee_id"},
			{name: "AssignPathZero", method: "POST", path: acct("/conversations/0/assignments"), body: `{"assignee_id": null}`, status: 404},
			{name: "AssignPathNegative", method: "POST", path: acct("/conversations/-1/assignments"), body: `{"assignee_id": null}`, status: 404},
			{name: "AssignPathExponent", method: "POST", path: acct("/conversations/1e0/assignments"), body: `{"assignee_id": null}`, status: 404},
			{name: "AssignPathOverflow", method: "POST", path: acct("/conversations/" + probeOverflow + "/assignments"), body: `{"assignee_id": null}`, status: 404},
			{name: "AssignPathMaxInt64", method: "POST", path: acct("/conversations/" + probeMaxInt64 + "/assignments"), body: `{"assignee_id": null}`, status: 404},
			{name: "AssignPathNumberOnlyInOtherAccount", method: "POST", path: acct("/conversations/%d/assignments", foreign), body: `{"assignee_id": null}`, status: 404},
			{name: "AssignOtherAccountPath", method: "POST", path: fmt.Sprintf("%s/conversations/%d/assignments", f.strangerAccountURL, f.strangerConvs[0]), body: `{"assignee_id": null}`, status: 404},

			{name: "ToggleStatusEmpty", method: "POST", path: toggle, body: `{"status": ""}`, status: 422, field: "status"},
			{name: "ToggleStatusCapitalised", method: "POST", path: toggle, body: `{"status": "RESOLVED"}`, status: 422, field: "status"},
			{name: "ToggleStatusAll", method: "POST", path: toggle, body: `{"status": "all"}`, status: 422, field: "status"},
			{name: "ToggleStatusArray", method: "POST", path: toggle, body: `{"status": ["resolved"]}`, status: 422, field: "status"},
			{name: "ToggleStatusObject", method: "POST", path: toggle, body: `{"status": {}}`, status: 422, field: "status"},
			{name: "ToggleSnoozedUntilNegative", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": -5}`, status: 422, field: "snoozed_until"},
			{name: "ToggleSnoozedUntilZero", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": 0}`, status: 422, field: "snoozed_until"},
			{name: "ToggleSnoozedUntilFraction", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": 1.7e9}`, status: 422, field: "snoozed_until"},
			{name: "ToggleSnoozedUntilBool", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": true}`, status: 422, field: "snoozed_until"},
			{name: "ToggleSnoozedUntilObject", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": {}}`, status: 422, field: "snoozed_until"},
			{name: "ToggleSnoozedUntilOverflow", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": ` + probeOverflow + `}`, status: 422, field: "snoozed_until"},
			{name: "ToggleSnoozedUntilISODate", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": "2030-01-01T00:00:00Z"}`, status: 422, field: "snoozed_until"},
			{name: "ToggleSnoozedUntilInThePast", method: "POST", path: toggle, body: `{"status": "snoozed", "snoozed_until": 1}`, status: 422, field: "snoozed_until"},
			{name: "ToggleGoodStatusBadSnooze", method: "POST", path: toggle, body: `{"status": "resolved", "snoozed_until": "soon"}`, status: 422, field: "snoozed_until"},
			{name: "ToggleWrappedBad", method: "POST", path: toggle, body: `{"conversation": {"status": "done"}}`, status: 422, field: "status"},
			{name: "ToggleTrailingGarbage", method: "POST", path: toggle, body: `{"status": "resolved"}}`, status: 400},
			{name: "ToggleStringBody", method: "POST", path: toggle, body: `"resolved"`, status: 400},
			{name: "TogglePathZero", method: "POST", path: acct("/conversations/0/toggle_status"), body: `{"status": "resolved"}`, status: 404},
			{name: "TogglePathWord", method: "POST", path: acct("/conversations/abc/toggle_status"), body: `{"status": "resolved"}`, status: 404},
			{name: "TogglePathNumberOnlyInOtherAccount", method: "POST", path: acct("/conversations/%d/toggle_status", foreign), body: `{"status": "resolved"}`, status: 404},
			{name: "ToggleOtherAccountPath", method: "POST", path: fmt.Sprintf("%s/conversations/%d/toggle_status", f.strangerAccountURL, f.strangerConvs[0]), body: `{"status": "resolved"}`, status: 404},
		})
	})
}

func TestProbeInputsWebhooks(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		hooks := acct("/webhooks")
		hook := acct("/webhooks/%d", f.hook)
		probeRun(t, f, []probeCase{
			{name: "CreateURLMissing", method: "POST", path: hooks, body: `{}`, status: 422, field: "url"},
			{name: "CreateURLNull", method: "POST", path: hooks, body: `{"url": null}`, status: 422, field: "url"},
			{name: "CreateURLNumber", method: "POST", path: hooks, body: `{"url": 80}`, status: 422, field: "url"},
			{name: "CreateURLEmpty", method: "POST", path: hooks, body: `{"url": ""}`, status: 422, field: "url"},
			{name: "CreateURLRelative", method: "POST", path: hooks, body: `{"url": "/hook"}`, status: 422, field: "url"},
			{name: "CreateURLScheme", method: "POST", path: hooks, body: `{"url": "javascript:alert(1)"}`, status: 422, field: "url"},
			{name: "CreateSubscriptionsString", method: "POST", path: hooks, body: `{"url": "https://example.com/x", "subscriptions": "conversation_created"}`, status: 422, field: "subscriptions"},
			{name: "CreateSubscriptionsNumbers", method: "POST", path: hooks, body: `{"url": "https://example.com/x", "subscriptions": [1]}`, status: 422, field: "subscriptions"},
			{name: "CreateSubscriptionsUnknown", method: "POST", path: hooks, body: `{"url": "https://example.com/x", "subscriptions": ["bogus_event"]}`, status: 422, field: "subscriptions"},
			{name: "CreateSubscriptionsNullElement", method: "POST", path: hooks, body: `{"url": "https://example.com/x", "subscriptions": [null]}`, status: 422, field: "subscriptions"},
			{name: "CreateSubscriptionsObject", method: "POST", path: hooks, body: `{"url": "https://example.com/x", "subscriptions": {}}`, status: 422, field: "subscriptions"},
			{name: "CreateWrappedBadURL", method: "POST", path: hooks, body: `{"webhook": {"url": "nope"}}`, status: 422, field: "url"},
			{name: "CreateTrailingGarbage", method: "POST", path: hooks, body: `{"url": "https://example.com/x"} x`, status: 400},
			{name: "CreateAsAgent", who: f.member, method: "POST", path: hooks, body: `{"url": "https://example.com/x"}`, status: 403},
			{name: "CreateOtherAccountPath", method: "POST", path: f.strangerAccountURL + "/webhooks", body: `{"url": "https://example.com/x"}`, status: 404},
			{name: "UpdateURLBad", method: "PATCH", path: hook, body: `{"url": "not a url"}`, status: 422, field: "url"},
			{name: "UpdateURLNumber", method: "PATCH", path: hook, body: `{"url": 1}`, status: 422, field: "url"},
			{name: "UpdateSubscriptionsObject", method: "PATCH", path: hook, body: `{"subscriptions": {"a": 1}}`, status: 422, field: "subscriptions"},
			{name: "UpdateGoodURLBadSubscriptions", method: "PATCH", path: hook, body: `{"url": "https://example.com/new", "subscriptions": ["nope"]}`, status: 422, field: "subscriptions"},
			{name: "UpdateTrailingGarbage", method: "PATCH", path: hook, body: `{"url": "https://example.com/new"}]`, status: 400},
			{name: "UpdateOtherAccountHook", method: "PATCH", path: acct("/webhooks/%d", f.strangerHook), body: `{"url": "https://example.com/new"}`, status: 404},
			{name: "UpdateIDZero", method: "PATCH", path: acct("/webhooks/0"), body: `{"url": "https://example.com/new"}`, status: 404},
			{name: "UpdateIDOverflow", method: "PATCH", path: acct("/webhooks/" + probeOverflow), body: `{"url": "https://example.com/new"}`, status: 404},
			{name: "DeleteOtherAccountHook", method: "DELETE", path: acct("/webhooks/%d", f.strangerHook), status: 404},
			{name: "DeleteIDWord", method: "DELETE", path: acct("/webhooks/abc"), status: 404},
			{name: "DeleteIDMaxInt64", method: "DELETE", path: acct("/webhooks/" + probeMaxInt64), status: 404},
			{name: "DeleteAsAgent", who: f.member, method: "DELETE", path: hook, status: 403},
		})
	})
}

func TestProbeInputsProfileAndSignIn(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		avail := "/api/v1/profile/availability"
		profile := func(inner string) string { return `{"profile": {` + inner + `}}` }
		probeRun(t, f, []probeCase{
			{name: "AvailabilityEmpty", who: f.member, method: "POST", path: avail, body: profile(`"availability": "", "account_id": 1`), status: 422, field: "availability"},
			{name: "AvailabilityNull", who: f.member, method: "POST", path: avail, body: profile(`"availability": null, "account_id": 1`), status: 422, field: "availability"},
			{name: "AvailabilityNumber", who: f.member, method: "POST", path: avail, body: profile(`"availability": 0, "account_id": 1`), status: 422, field: "availability"},
			{name: "AvailabilityArray", who: f.member, method: "POST", path: avail, body: profile(`"availability": ["offline"], "account_id": 1`), status: 422, field: "availability"},
			{name: "AvailabilityBare", who: f.member, method: "POST", path: avail, body: `{"availability": "gone", "account_id": 1}`, status: 422, field: "availability"},
			{name: "AccountIDZero", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": 0`), status: 422, field: "account_id"},
			{name: "AccountIDNegative", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": -1`), status: 422, field: "account_id"},
			{name: "AccountIDExponent", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": 1e0`), status: 422, field: "account_id"},
			{name: "AccountIDOverflow", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": ` + probeOverflow), status: 422, field: "account_id"},
			{name: "AccountIDArray", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": [1]`), status: 422, field: "account_id"},
			{name: "AccountIDOfOtherAccount", who: f.member, method: "POST", path: avail, body: profile(fmt.Sprintf(`"availability": "offline", "account_id": %d`, f.account2)), status: 404},
			{name: "AccountIDUnknown", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": 999999`), status: 404},
			{name: "AccountIDMaxInt64", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": ` + probeMaxInt64), status: 404},
			{name: "AvailabilityTrailingGarbage", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": 1`) + `x`, status: 400},
			{name: "AvailabilityProfileArray", who: f.member, method: "POST", path: avail, body: `{"profile": [{"availability": "offline"}]}`, status: 422, field: "availability"},
			{name: "AvailabilityDuplicateKeyLastBad", who: f.member, method: "POST", path: avail, body: profile(`"availability": "offline", "availability": "away", "account_id": 1`), status: 0, field: "availability"},
			{name: "AvailabilityNoToken", who: f.anon, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": 1`), status: 401},
			{name: "AvailabilityWrongToken", who: f.badToken, method: "POST", path: avail, body: profile(`"availability": "offline", "account_id": 1`), status: 401},

			{name: "SignInEmailNumber", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": 1, "password": "password123"}`, status: 422, field: "email"},
			{name: "SignInEmailArray", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": ["` + adminEmail + `"], "password": "` + adminPassword + `"}`, status: 422, field: "email"},
			{name: "SignInEmailEmpty", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": "", "password": "` + adminPassword + `"}`, status: 422, field: "email"},
			{name: "SignInPasswordNumber", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": "` + adminEmail + `", "password": 12345678}`, status: 422, field: "password"},
			{name: "SignInPasswordNull", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": "` + adminEmail + `", "password": null}`, status: 422, field: "password"},
			{name: "SignInPasswordObject", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": "` + adminEmail + `", "password": {}}`, status: 422, field: "password"},
			{name: "SignInGoodCredentialsTrailingGarbage", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": "` + adminEmail + `", "password": "` + adminPassword + `"} x`, status: 400},
			{name: "SignInGoodCredentialsWrappedBadPassword", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"user": {"password": 5}, "email": "` + adminEmail + `", "password": "` + adminPassword + `"}`, status: 422, field: "password"},
			{name: "SignInPasswordTooLongForBcrypt", who: f.anon, method: "POST", path: "/auth/sign_in", body: `{"email": "` + adminEmail + `", "password": "` + strings.Repeat("p", 100) + `"}`, status: 401},
		})
	})
}

func TestProbeInputsPlatform(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		p := f.platform
		users := fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", f.account2)
		probeRun(t, f, []probeCase{
			{name: "AccountNameMissing", who: p, method: "POST", path: "/platform/api/v1/accounts", body: `{}`, status: 422, field: "name"},
			{name: "AccountNameNull", who: p, method: "POST", path: "/platform/api/v1/accounts", body: `{"name": null}`, status: 422, field: "name"},
			{name: "AccountNameNumber", who: p, method: "POST", path: "/platform/api/v1/accounts", body: `{"name": 5}`, status: 422, field: "name"},
			{name: "AccountNameLineBreak", who: p, method: "POST", path: "/platform/api/v1/accounts", body: `{"name": "A\nB"}`, status: 422, field: "name"},
			{name: "AccountTrailingGarbage", who: p, method: "POST", path: "/platform/api/v1/accounts", body: `{"name": "A"}x`, status: 400},
			{name: "AccountWrongToken", who: f.badToken, method: "POST", path: "/platform/api/v1/accounts", body: `{"name": "A"}`, status: 401},
			{name: "AccountUserToken", who: f.s.admin, method: "POST", path: "/platform/api/v1/accounts", body: `{"name": "A"}`, status: 401},

			{name: "UserNameMissing", who: p, method: "POST", path: "/platform/api/v1/users", body: `{"email": "probe-p@example.com", "password": "password123"}`, status: 422, field: "name"},
			{name: "UserNameNumber", who: p, method: "POST", path: "/platform/api/v1/users", body: `{"name": 1, "email": "probe-p@example.com", "password": "password123"}`, status: 422, field: "name"},
			{name: "UserEmailMissing", who: p, method: "POST", path: "/platform/api/v1/users", body: `{"name": "P", "password": "password123"}`, status: 422, field: "email"},
			{name: "UserEmailArray", who: p, method: "POST", path: "/platform/api/v1/users", body: `{"name": "P", "email": ["probe-p@example.com"], "password": "password123"}`, status: 422, field: "email"},
			{name: "UserPasswordMissing", who: p, method: "POST", path: "/platform/api/v1/users", body: `{"name": "P", "email": "probe-p@example.com"}`, status: 422, field: "password"},
			{name: "UserPasswordTooLong", who: p, method: "POST", path: "/platform/api/v1/users", body: `{"name": "P", "email": "probe-p@example.com", "password": "` + strings.Repeat("p", 73) + `"}`, status: 422, field: "password"},
			{name: "UserWrappedBadEmail", who: p, method: "POST", path: "/platform/api/v1/users", body: `{"user": {"name": "P", "email": "nope", "password": "password123"}}`, status: 422, field: "email"},
			{name: "UserNoToken", who: f.anon, method: "POST", path: "/platform/api/v1/users", body: `{"name": "P", "email": "probe-p@example.com", "password": "password123"}`, status: 401},

			{name: "AddUserIDWord", who: p, method: "POST", path: users, body: `{"user_id": "abc", "role": "agent"}`, status: 422, field: "user_id"},
			{name: "AddUserIDNull", who: p, method: "POST", path: users, body: `{"user_id": null, "role": "agent"}`, status: 422, field: "user_id"},
			{name: "AddUserIDOverflow", who: p, method: "POST", path: users, body: `{"user_id": ` + probeOverflow + `, "role": "agent"}`, status: 422, field: "user_id"},
			{name: "AddUserIDMaxInt64", who: p, method: "POST", path: users, body: `{"user_id": ` + probeMaxInt64 + `, "role": "agent"}`, status: 422, field: "user_id"},
			{name: "AddRoleMissing", who: p, method: "POST", path: users, body: fmt.Sprintf(`{"user_id": %d}`, f.member.id), status: 422, field: "role"},
			{name: "AddRoleNull", who: p, method: "POST", path: users, body: fmt.Sprintf(`{"user_id": %d, "role": null}`, f.member.id), status: 422, field: "role"},
			{name: "AddRoleNumber", who: p, method: "POST", path: users, body: fmt.Sprintf(`{"user_id": %d, "role": 1}`, f.member.id), status: 422, field: "role"},
			{name: "AddAccountZero", who: p, method: "POST", path: "/platform/api/v1/accounts/0/account_users", body: fmt.Sprintf(`{"user_id": %d, "role": "agent"}`, f.member.id), status: 404},
			{name: "AddAccountWord", who: p, method: "POST", path: "/platform/api/v1/accounts/two/account_users", body: fmt.Sprintf(`{"user_id": %d, "role": "agent"}`, f.member.id), status: 404},
			{name: "AddAccountMaxInt64", who: p, method: "POST", path: "/platform/api/v1/accounts/" + probeMaxInt64 + "/account_users", body: fmt.Sprintf(`{"user_id": %d, "role": "agent"}`, f.member.id), status: 404},
			{name: "AddTrailingGarbage", who: p, method: "POST", path: users, body: fmt.Sprintf(`{"user_id": %d, "role": "agent"}]`, f.member.id), status: 400},
			{name: "AddDemotesLastAdministrator", who: p, method: "POST", path: users, body: fmt.Sprintf(`{"user_id": %d, "role": "agent"}`, f.stranger.id), status: 422, field: "role"},

			{name: "RemoveUserIDMissing", who: p, method: "DELETE", path: users, body: `{}`, status: 422, field: "user_id"},
			{name: "RemoveUserIDNegative", who: p, method: "DELETE", path: users, body: `{"user_id": -1}`, status: 422, field: "user_id"},
			{name: "RemoveUserIDArray", who: p, method: "DELETE", path: users, body: fmt.Sprintf(`{"user_id": [%d]}`, f.stranger.id), status: 422, field: "user_id"},
			{name: "RemoveLastAdministrator", who: p, method: "DELETE", path: users, body: fmt.Sprintf(`{"user_id": %d}`, f.stranger.id), status: 422},
			{name: "RemoveAccountWord", who: p, method: "DELETE", path: "/platform/api/v1/accounts/x/account_users", body: fmt.Sprintf(`{"user_id": %d}`, f.stranger.id), status: 404},
			{name: "RemoveTrailingGarbage", who: p, method: "DELETE", path: users, body: fmt.Sprintf(`{"user_id": %d} {}`, f.stranger.id), status: 400},
		})
	})
}

// TestProbeInputsListQueries sends bad query parameters to the lists; each
// is a 422 naming the parameter (lists change nothing, but the state is
// still read back).
func TestProbeInputsListQueries(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		var cases []probeCase
		for _, q := range []struct{ name, query, field string }{
			{"PageNegative", "page=-1", "page"},
			{"PageFraction", "page=1.5", "page"},
			{"PageExponent", "page=1e3", "page"},
			{"PageOverflow", "page=" + probeOverflow, "page"},
			{"PageSpace", "page=%20", "page"},
			{"PageWord", "page=abc", "page"},
			{"StatusBogus", "status=bogus", "status"},
			{"StatusCapitalised", "status=Open", "status"},
			{"StatusAllCapitals", "status=ALL", "status"},
			{"StatusNUL", "status=%00", "status"},
			{"StatusList", "status=open,resolved", "status"},
			{"InboxIDWord", "inbox_id=abc", "inbox_id"},
			{"InboxIDZero", "inbox_id=0", "inbox_id"},
			{"InboxIDNegative", "inbox_id=-1", "inbox_id"},
			{"InboxIDExponent", "inbox_id=1e3", "inbox_id"},
			{"InboxIDOverflow", "inbox_id=" + probeOverflow, "inbox_id"},
			{"InboxIDList", fmt.Sprintf("inbox_id=%d,%d", f.inbox, f.otherInbox), "inbox_id"},
			{"AssigneeTypeBogus", "assignee_type=everyone", "assignee_type"},
			{"AssigneeTypeCapitalised", "assignee_type=Me", "assignee_type"},
			{"GoodStatusBadPage", "status=all&page=0", "page"},
		} {
			cases = append(cases,
				probeCase{name: "List" + q.name, method: "GET", path: acct("/conversations?%s", q.query), status: 422, field: q.field},
				probeCase{name: "Meta" + q.name, method: "GET", path: acct("/conversations/meta?%s", q.query), status: 422, field: q.field},
			)
		}
		cases = append(cases,
			probeCase{name: "ReportSinceWord", method: "GET", path: acct("/reports/routing?since=yesterday"), status: 422, field: "since"},
			probeCase{name: "ReportSinceNegative", method: "GET", path: acct("/reports/routing?since=-1"), status: 422, field: "since"},
			probeCase{name: "ReportUntilFraction", method: "GET", path: acct("/reports/routing?until=1.5"), status: 422, field: "until"},
			probeCase{name: "ReportUntilOverflow", method: "GET", path: acct("/reports/routing?until=" + probeOverflow), status: 422, field: "until"},
			probeCase{name: "ReportSinceAfterUntil", method: "GET", path: acct("/reports/routing?since=2000&until=1000"), status: 422, field: "since"},
			probeCase{name: "ReportSinceInTheFarFuture", method: "GET", path: acct("/reports/routing?since=253402300799"), status: 422, field: "since"},
			probeCase{name: "ListNoToken", who: f.anon, method: "GET", path: acct("/conversations"), status: 401},
			probeCase{name: "ListWrongToken", who: f.badToken, method: "GET", path: acct("/conversations?status=all"), status: 401},
			probeCase{name: "ListOtherAccount", method: "GET", path: f.strangerAccountURL + "/conversations?status=all", status: 404},
			probeCase{name: "UnknownMethodOnList", method: "PUT", path: acct("/conversations"), body: `{}`, status: 0},
		)
		probeRun(t, f, cases)

		// A well-formed filter by another account's inbox is no error, but
		// shows nothing of it.
		t.Run("ListInboxOfOtherAccountShowsNothing", func(t *testing.T) {
			status, data := f.s.admin.do("GET", acct("/conversations?status=all&inbox_id=%d", f.strangerInbox), nil)
			if status == 404 {
				return
			}
			var reply struct {
				Data struct {
					Meta    map[string]int    `json:"meta"`
					Payload []json.RawMessage `json:"payload"`
				} `json:"data"`
			}
			if status != 200 || json.Unmarshal(data, &reply) != nil {
				t.Fatalf("status %d, want 200 or 404; body %s", status, data)
			}
			if len(reply.Data.Payload) != 0 || reply.Data.Meta["all_count"] != 0 {
				t.Errorf("another account's conversations show: %s", data)
			}
		})
	})
}

// TestProbeInputsUnauthenticatedWrites sends a valid body to every write
// endpoint with no token and with a wrong one: 401 in JSON, nothing changed.
func TestProbeInputsUnauthenticatedWrites(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		writes := []struct {
			name, method, path, body string
		}{
			{"CreateAgent", "POST", acct("/agents"), `{"name": "P", "email": "probe-auth@example.com"}`},
			{"UpdateAgent", "PATCH", acct("/agents/%d", f.member.id), `{"availability": "offline"}`},
			{"PutAgent", "PUT", acct("/agents/%d", f.member.id), `{"name": "Renamed"}`},
			{"DeleteAgent", "DELETE", acct("/agents/%d", f.outsider.id), ``},
			{"CreateInbox", "POST", acct("/inboxes"), `{"name": "P", "channel": {"type": "api"}}`},
			{"UpdateInbox", "PATCH", acct("/inboxes/%d", f.inbox), `{"enable_auto_assignment": false}`},
			{"PutInbox", "PUT", acct("/inboxes/%d", f.inbox), `{"name": "Renamed"}`},
			{"AddMembers", "POST", acct("/inbox_members"), fmt.Sprintf(`{"inbox_id": %d, "user_ids": [%d]}`, f.inbox, f.outsider.id)},
			{"ReplaceMembers", "PATCH", acct("/inbox_members"), fmt.Sprintf(`{"inbox_id": %d, "user_ids": []}`, f.inbox)},
			{"RemoveMembers", "DELETE", acct("/inbox_members"), fmt.Sprintf(`{"inbox_id": %d, "user_ids": [%d]}`, f.inbox, f.member.id)},
			{"RemoveMembersSDKPath", "DELETE", acct("/inbox_members/%d", f.inbox), fmt.Sprintf(`{"user_ids": [%d]}`, f.member.id)},
			{"CreateConversation", "POST", acct("/conversations"), fmt.Sprintf(`{"inbox_id": %d}`, f.inbox)},
			{"Assign", "POST", acct("/conversations/%d/assignments", f.conv), `{"assignee_id": null}`},
			{"ToggleStatus", "POST", acct("/conversations/%d/toggle_status", f.conv), `{"status": "resolved"}`},
			{"CreateWebhook", "POST", acct("/webhooks"), `{"url": "https://example.com/x"}`},
			{"UpdateWebhook", "PATCH", acct("/webhooks/%d", f.hook), `{"url": "https://example.com/y"}`},
			{"DeleteWebhook", "DELETE", acct("/webhooks/%d", f.hook), ``},
			{"SetAvailability", "POST", "/api/v1/profile/availability", `{"profile": {"availability": "offline", "account_id": 1}}`},
			{"SignOut", "DELETE", "/auth/sign_out", ``},
			{"PlatformAddAccountUser", "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", f.account2), fmt.Sprintf(`{"user_id": %d, "role": "agent"}`, f.member.id)},
			{"PlatformRemoveAccountUser", "DELETE", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", f.account2), fmt.Sprintf(`{"user_id": %d}`, f.stranger.id)},
		}
		var cases []probeCase
		for _, w := range writes {
			cases = append(cases,
				probeCase{name: w.name + "NoToken", who: f.anon, method: w.method, path: w.path, body: w.body, status: 401},
				probeCase{name: w.name + "WrongToken", who: f.badToken, method: w.method, path: w.path, body: w.body, status: 401},
			)
		}
		probeRun(t, f, cases)
	})
}

// TestProbeInputsLenient sends input whose right answer API.md and README
// leave open (accepted the Rails way, or refused): whatever the answer, it
// is not a 5xx, it is JSON, and a refusal changes nothing. The answers are
// logged (go test -v) for whoever decides.
func TestProbeInputsLenient(t *testing.T) {
	probeOnEachDB(t, func(t *testing.T, f *probeFixture) {
		for _, tc := range []probeCase{
			{name: "DuplicateKeyFirstBadLastGood", method: "POST", path: acct("/conversations/%d/toggle_status", f.conv), body: `{"status": "bogus", "status": "pending"}`},
			{name: "InboxIDStringWithPlus", method: "POST", path: acct("/conversations"), body: fmt.Sprintf(`{"inbox_id": "+%d", "status": "resolved"}`, f.inbox)},
			{name: "InboxIDStringLeadingZeros", method: "POST", path: acct("/conversations"), body: fmt.Sprintf(`{"inbox_id": "000%d", "status": "resolved"}`, f.inbox)},
			// null in an update leaves the field as it is (as the webhook
			// update says of its own fields); refusing it would do too.
			{name: "UpdateAgentNameNull", method: "PATCH", path: acct("/agents/%d", f.member.id), body: `{"name": null}`},
			{name: "UpdateAgentRoleNull", method: "PATCH", path: acct("/agents/%d", f.member.id), body: `{"role": null}`},
			{name: "UpdateInboxNameNull", method: "PATCH", path: acct("/inboxes/%d", f.inbox), body: `{"name": null}`},
			{name: "UpdateInboxAutoAssignmentNull", method: "PATCH", path: acct("/inboxes/%d", f.inbox), body: `{"enable_auto_assignment": null}`},
			{name: "AgentPathWithPlus", method: "PATCH", path: acct("/agents/+%d", f.member.id), body: `{"auto_offline": false}`},
			{name: "WrapperNotAnObject", method: "PATCH", path: acct("/agents/%d", f.member.id), body: `{"agent": "administrator"}`},
			{name: "BadFieldBesideWrapper", method: "PATCH", path: acct("/agents/%d", f.outsider.id), body: `{"agent": {"auto_offline": false}, "role": "boss"}`},
			{name: "AvailabilityUpperCase", method: "PATCH", path: acct("/agents/%d", f.outsider.id), body: `{"availability": "ONLINE"}`},
			{name: "SnoozedUntilWithOpen", method: "POST", path: acct("/conversations/%d/toggle_status", f.otherConv), body: `{"status": "open", "snoozed_until": 4102444800}`},
			{name: "ContactIDUnknown", method: "POST", path: acct("/conversations"), body: fmt.Sprintf(`{"inbox_id": %d, "status": "resolved", "contact_id": 999999}`, f.inbox)},
			{name: "StatusNullToggles", method: "POST", path: acct("/conversations/%d/toggle_status", f.otherConv), body: `{"status": null}`},
			{name: "ListRepeatedStatus", method: "GET", path: acct("/conversations?status=open&status=bogus")},
			{name: "ListUnknownParam", method: "GET", path: acct("/conversations?sort=bogus")},
			{name: "ListPageMaxInt64", method: "GET", path: acct("/conversations?page=" + probeMaxInt64)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.who.s == nil {
					tc.who = f.s.admin
				}
				before := f.state(t)
				status, _, data := probeSend(t, tc.who, tc.method, tc.path, tc.body)
				after := f.state(t)
				t.Logf("%s %s %s -> %d %s", tc.method, tc.path, tc.body, status, bytes.TrimSpace(data))
				if status >= 500 {
					t.Errorf("server error %d", status)
				}
				if len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
					t.Errorf("reply is not JSON: %q", data)
				}
				if status >= 400 && after != before {
					t.Errorf("refused with %d but changed:\n%s", status, authzDiff(strings.Split(before, "\n"), strings.Split(after, "\n")))
				}
			})
		}
	})
}
