package api_test

// Fuzz targets for every endpoint that reads a request body, and for the
// conversation list's query string. Each target starts one server on a real
// SQLite file before fuzzing and sends the fuzzed bytes through the real HTTP
// stack. Whatever the input, the server must not fail (no 5xx, no panic, which
// shows as a dropped connection), a reply with a body must be JSON, and a
// refusal must say what is wrong. Run one with
//
//	go test -run='^$' -fuzz='^FuzzSignIn$' -fuzztime=10s ./api/
//
// Seeds are added in code (with the fixture's real ids) and committed under
// testdata/fuzz/<FuzzName>/.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/api"
	"github.com/switchboard/switchboard/throttle"
)

// fuzzFixture is account 1 with its administrator, an agent who is a member
// of inbox, an agent who is a member of otherInbox, and a conversation in
// each inbox.
type fuzzFixture struct {
	s                 *testServer
	member, outsider  client
	inbox, otherInbox int64
	conv, otherConv   int64
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	x := &fuzzFixture{s: newServer(f)}
	s := x.s
	x.member = s.newAgent("agent", "online")
	x.outsider = s.newAgent("agent", "online")
	x.inbox = s.newInbox(nil, x.member)
	x.otherInbox = s.newInbox(nil, x.outsider)
	x.conv = s.admin.create(x.inbox, nil).ID
	x.otherConv = s.admin.create(x.otherInbox, nil).ID
	return x
}

// fuzzSend sends body as is, with token in api_access_token when not empty,
// and returns the status and reply. A dropped connection (what a panicking
// handler leaves) fails the test.
func fuzzSend(t *testing.T, s *testServer, token, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header["api_access_token"] = []string{token}
	}
	return fuzzDo(t, s, req)
}

func fuzzDo(t *testing.T, s *testServer, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: no reply (did the handler panic?): %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reply cut short (did the handler panic?): %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, data
}

// fuzzCheck fails the test when a reply is a server error, has a body that
// is not JSON, or refuses without a JSON message.
func fuzzCheck(t *testing.T, what string, status int, data []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: status %d; body %s", what, status, data)
	}
	if len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
		t.Fatalf("%s: status %d, reply is not JSON: %q", what, status, data)
	}
	if status >= 400 {
		var reply map[string]any
		if err := json.Unmarshal(data, &reply); err != nil {
			t.Fatalf("%s: status %d, reply is not a JSON object: %q", what, status, data)
		}
		msg, _ := reply["error"].(string)
		if m, _ := reply["message"].(string); msg == "" {
			msg = m
		}
		if msg == "" {
			t.Fatalf("%s: status %d, reply says nothing about what is wrong: %s", what, status, data)
		}
	}
}

// fuzzBody runs the common target: seeds, then every input sent as the body
// of method path by the caller with token; after is called on each 2xx.
func fuzzBody(f *testing.F, s *testServer, token, method, path string, seeds []string, after func(t *testing.T, status int, data []byte)) {
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, data := fuzzSend(t, s, token, method, path, body)
		fuzzCheck(t, fmt.Sprintf("%s %s %q", method, path, body), status, data)
		if after != nil && status < 300 {
			after(t, status, data)
		}
	})
}

// fuzzCommonSeeds are inputs every decoder must refuse cleanly.
var fuzzCommonSeeds = []string{
	``, ` `, `{}`, `null`, `[]`, `"x"`, `0`, `{`, `}`, `{"a":}`, `{"a":1,}`, "\x00", "\xff\xfe",
	`{"a": 1} {"b": 2}`, `{"__proto__": {}}`, `[{}]`, `{"":""}`,
}

func fuzzSeeds(seeds ...string) []string { return append(seeds, fuzzCommonSeeds...) }

func FuzzSignIn(f *testing.F) {
	x := newFuzzFixture(f)
	s := x.s
	// A limiter that never trips, so that inputs reach the store rather than
	// all ending at 429 after a handful of failures.
	s.srv.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.srv = httptest.NewServer(api.New(s.db, log, api.Config{
		PlatformToken: platformToken,
		SignIns:       &throttle.SignIns{PerAddress: 1 << 30, PerEmail: 1 << 30, Window: time.Minute, Now: time.Now},
	}))
	fuzzBody(f, s, "", "POST", "/auth/sign_in", fuzzSeeds(
		`{"email": "`+adminEmail+`", "password": "`+adminPassword+`"}`,
		`{"user": {"email": "`+adminEmail+`", "password": "`+adminPassword+`"}}`,
		`{"email": "`+strings.ToUpper(adminEmail)+`", "password": "wrong"}`,
		`{"email": "", "password": ""}`,
		`{"email": 5, "password": true}`,
		`{"email": null, "password": null}`,
		`{"email": "a@b", "password": "`+strings.Repeat("x", 100)+`"}`,
		`{"user": "admin", "email": "x@example.com", "password": "p"}`,
	), func(t *testing.T, status int, data []byte) {
		var reply struct {
			Data agentReply `json:"data"`
		}
		if err := json.Unmarshal(data, &reply); err != nil || reply.Data.ID == 0 {
			t.Fatalf("signed in, but the reply %s has no user", data)
		}
	})
}

func FuzzProfileAvailability(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.member.token, "POST", "/api/v1/profile/availability", fuzzSeeds(
		`{"profile": {"availability": "online", "account_id": 1}}`,
		`{"profile": {"availability": "offline", "account_id": "1"}}`,
		`{"availability": "busy"}`,
		`{"availability": "available", "account_id": 1}`,
		`{"profile": {"availability": "ONLINE", "account_id": 2}}`,
		`{"profile": {"availability": null}}`,
		`{"profile": {"availability": "online", "account_id": -1}}`,
		`{"profile": {"availability": "online", "account_id": 1e400}}`,
		`{"profile": "online"}`,
	), nil)
}

func FuzzAgentCreate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "POST", acct("/agents"), fuzzSeeds(
		`{"name": "A", "email": "a@example.com"}`,
		`{"agent": {"name": "B", "email": "b@example.com", "role": "administrator", "availability": "busy", "auto_offline": "false", "password": "password123"}}`,
		`{"name": "C", "email": "`+adminEmail+`"}`,
		`{"name": " ", "email": "d@example.com", "role": "boss"}`,
		`{"name": "E", "email": "e@example.com", "password": "short"}`,
		`{"name": "F", "email": "not an address", "auto_offline": 1}`,
		`{"name": ["G"], "email": {"x": 1}}`,
		`{"name": "H\u0000", "email": "h@example.com", "availability": "offline"}`,
	), nil)
}

func FuzzAgentUpdate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "PATCH", acct("/agents/%d", x.member.id), fuzzSeeds(
		`{"name": "Renamed"}`,
		`{"agent": {"role": "administrator"}}`,
		`{"role": "agent"}`,
		`{"availability": "offline"}`,
		`{"availability": "online", "auto_offline": false}`,
		`{"role": "owner", "name": ""}`,
		`{"auto_offline": "TRUE"}`,
		`{"name": null, "role": null, "availability": null}`,
	), nil)
}

func FuzzInboxCreate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "POST", acct("/inboxes"), fuzzSeeds(
		`{"name": "Web", "channel": {"type": "api"}}`,
		`{"inbox": {"name": "Web", "channel": {"type": "api", "webhook_url": "https://example.com/hook"}}}`,
		`{"name": "Web", "channel": {"type": "email"}}`,
		`{"name": "Web", "channel": "api"}`,
		`{"name": "Web", "enable_auto_assignment": "false", "enable_auto_reassignment": false}`,
		`{"name": "Web", "auto_assignment_config": {"max_assignment_limit": 3}}`,
		`{"name": "Web", "auto_assignment_config": {"max_assignment_limit": null}}`,
		`{"name": "Web", "auto_assignment_config": []}`,
		`{"name": ""}`,
	), nil)
}

func FuzzInboxUpdate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "PATCH", acct("/inboxes/%d", x.inbox), fuzzSeeds(
		`{"name": "Renamed"}`,
		`{"inbox": {"enable_auto_assignment": false}}`,
		`{"enable_auto_reassignment": "true"}`,
		`{"auto_assignment_config": {"max_assignment_limit": 2}}`,
		`{"auto_assignment_config": {}}`,
		`{"auto_assignment_config": "x"}`,
		`{"name": " "}`,
		`{"enable_auto_assignment": 1}`,
	), nil)
}

// fuzzMemberSeeds are inbox_members bodies naming the fixture's records.
func fuzzMemberSeeds(x *fuzzFixture) []string {
	return fuzzSeeds(
		fmt.Sprintf(`{"inbox_id": %d, "user_ids": [%d]}`, x.inbox, x.outsider.id),
		fmt.Sprintf(`{"inbox_id": "%d", "user_ids": ["%d", %d]}`, x.inbox, x.member.id, x.outsider.id),
		fmt.Sprintf(`{"inbox_member": {"inbox_id": %d, "user_ids": []}}`, x.otherInbox),
		fmt.Sprintf(`{"inbox_id": %d, "user_ids": [999999]}`, x.inbox),
		fmt.Sprintf(`{"inbox_id": %d, "user_ids": "%d"}`, x.inbox, x.member.id),
		fmt.Sprintf(`{"inbox_id": %d, "user_ids": [%d, %d]}`, x.inbox, x.member.id, x.member.id),
		fmt.Sprintf(`{"inbox_id": %d}`, x.inbox),
		`{"inbox_id": 999999, "user_ids": [1]}`,
		`{"inbox_id": -1, "user_ids": [0]}`,
		`{"inbox_id": 1.5, "user_ids": [1e400]}`,
		`{"user_ids": [1]}`,
	)
}

// fuzzConversationsChecked checks the at-rest promises after a change that
// may move assignees.
func fuzzConversationsChecked(x *fuzzFixture) func(t *testing.T, status int, data []byte) {
	return func(t *testing.T, status int, data []byte) { checkInvariants(t, x.s.path) }
}

func FuzzInboxMembersAdd(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "POST", acct("/inbox_members"), fuzzMemberSeeds(x), fuzzConversationsChecked(x))
}

func FuzzInboxMembersReplace(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "PATCH", acct("/inbox_members"), fuzzMemberSeeds(x), fuzzConversationsChecked(x))
}

// FuzzInboxMembersRemove sends each input to both spellings of the remove:
// DELETE .../inbox_members and DELETE .../inbox_members/{inbox_id}.
func FuzzInboxMembersRemove(f *testing.F) {
	x := newFuzzFixture(f)
	s := x.s
	for _, seed := range fuzzMemberSeeds(x) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{acct("/inbox_members"), acct("/inbox_members/%d", x.inbox)} {
			status, data := fuzzSend(t, s, s.admin.token, "DELETE", path, body)
			fuzzCheck(t, fmt.Sprintf("DELETE %s %q", path, body), status, data)
			if status == 200 {
				checkInvariants(t, s.path)
				// Whoever was removed goes back, so that later inputs have
				// someone to remove.
				s.admin.mustT(t, 200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": x.inbox, "user_ids": []int64{x.member.id}})
			}
		}
	})
}

// mustT is must for use inside a fuzz function, where the server's own
// testing.TB (the *testing.F) may not be used.
func (c client) mustT(t *testing.T, want int, method, path string, body any) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	status, reply := fuzzSend(t, c.s, c.token, method, path, data)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, reply)
	}
}

func FuzzConversationCreate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "POST", acct("/conversations"), fuzzSeeds(
		fmt.Sprintf(`{"inbox_id": %d}`, x.inbox),
		fmt.Sprintf(`{"conversation": {"inbox_id": "%d", "status": "pending"}}`, x.inbox),
		fmt.Sprintf(`{"inbox_id": %d, "assignee_id": %d, "source_id": "abc", "contact_id": 7, "message": {"content": "Hello"}}`, x.inbox, x.member.id),
		fmt.Sprintf(`{"inbox_id": %d, "assignee_id": %d}`, x.inbox, x.outsider.id),
		fmt.Sprintf(`{"inbox_id": %d, "status": "resolved", "assignee_id": null}`, x.otherInbox),
		fmt.Sprintf(`{"inbox_id": %d, "status": "closed"}`, x.inbox),
		fmt.Sprintf(`{"inbox_id": %d, "message": {"content": 5}}`, x.inbox),
		fmt.Sprintf(`{"inbox_id": %d, "message": "Hello"}`, x.inbox),
		`{"inbox_id": 999999}`,
		`{"inbox_id": "abc"}`,
	), fuzzConversationsChecked(x))
}

func FuzzAssignment(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "POST", acct("/conversations/%d/assignments", x.conv), fuzzSeeds(
		fmt.Sprintf(`{"assignee_id": %d}`, x.member.id),
		fmt.Sprintf(`{"assignee_id": "%d"}`, x.s.admin.id),
		fmt.Sprintf(`{"assignee_id": %d}`, x.outsider.id),
		`{"assignee_id": null}`,
		`{"assignee_id": 999999}`,
		`{"assignee_id": -1}`,
		`{"assignee_id": "1.0"}`,
		`{"assignee_id": [1]}`,
		`{"assignee": 1}`,
	), fuzzConversationsChecked(x))
}

func FuzzToggleStatus(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "POST", acct("/conversations/%d/toggle_status", x.conv), fuzzSeeds(
		`{"status": "resolved"}`,
		`{"status": "open"}`,
		`{"status": "pending"}`,
		`{"status": "snoozed", "snoozed_until": 4102444800}`,
		`{"status": "snoozed", "snoozed_until": "4102444800"}`,
		`{"status": "snoozed", "snoozed_until": 9223372036854775807}`,
		`{"status": "snoozed", "snoozed_until": "tomorrow"}`,
		`{"status": "closed"}`,
		`{"snoozed_until": null}`,
	), fuzzConversationsChecked(x))
}

func FuzzWebhookCreate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, x.s.admin.token, "POST", acct("/webhooks"), fuzzSeeds(
		`{"url": "http://127.0.0.1:9/hook"}`,
		`{"webhook": {"url": "https://127.0.0.1:9/hook", "subscriptions": ["conversation_created", "assignee_changed"]}}`,
		`{"url": "http://127.0.0.1:9/hook", "subscriptions": ["conversation_created", "conversation_created"]}`,
		`{"url": "http://127.0.0.1:9/hook", "subscriptions": ["message_created"]}`,
		`{"url": "http://127.0.0.1:9/hook", "subscriptions": "conversation_created"}`,
		`{"url": "http://127.0.0.1:9/hook", "subscriptions": [1, null]}`,
		`{"url": "ftp://127.0.0.1/hook"}`,
		`{"url": "/relative"}`,
		`{"url": ""}`,
	), nil)
}

func FuzzPlatformAccountCreate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, platformToken, "POST", "/platform/api/v1/accounts", fuzzSeeds(
		`{"name": "Beta"}`,
		`{"account": {"name": "Gamma"}}`,
		`{"name": ""}`,
		`{"name": 5}`,
		`{"name": "`+strings.Repeat("n", 300)+`"}`,
	), nil)
}

func FuzzPlatformUserCreate(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, platformToken, "POST", "/platform/api/v1/users", fuzzSeeds(
		`{"name": "Bea", "email": "bea@example.com", "password": "password123"}`,
		`{"user": {"name": "Cy", "email": "cy@example.com", "password": "password123"}}`,
		`{"name": "Dup", "email": "`+adminEmail+`", "password": "password123"}`,
		`{"name": "", "email": "e@example.com", "password": "password123"}`,
		`{"name": "F", "email": "f@example.com"}`,
		`{"name": "G", "email": "no-at-sign", "password": "short"}`,
	), nil)
}

func FuzzPlatformAccountUserAdd(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, platformToken, "POST", "/platform/api/v1/accounts/1/account_users", fuzzSeeds(
		fmt.Sprintf(`{"user_id": %d, "role": "administrator"}`, x.member.id),
		fmt.Sprintf(`{"account_user": {"user_id": "%d", "role": "agent"}}`, x.outsider.id),
		`{"user_id": 999999, "role": "agent"}`,
		`{"user_id": 1, "role": "owner"}`,
		`{"user_id": 1}`,
		`{"role": "agent"}`,
	), nil)
}

func FuzzPlatformAccountUserRemove(f *testing.F) {
	x := newFuzzFixture(f)
	fuzzBody(f, x.s, platformToken, "DELETE", "/platform/api/v1/accounts/1/account_users", fuzzSeeds(
		fmt.Sprintf(`{"user_id": %d}`, x.outsider.id),
		fmt.Sprintf(`{"account_user": {"user_id": "%d"}}`, x.member.id),
		fmt.Sprintf(`{"user_id": %d}`, x.s.admin.id),
		`{"user_id": 999999}`,
		`{"user_id": null}`,
	), fuzzConversationsChecked(x))
}

// fuzzQueryEscape percent-encodes the bytes that cannot travel in a request
// line, leaving everything else (including '%', '&', '=' and ';') for the
// server's query parser.
func fuzzQueryEscape(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c >= 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// FuzzConversationListQuery sends the input as the query string of the
// conversation list and of its meta endpoint, as an agent (whose list is
// filtered by membership) and as the administrator.
func FuzzConversationListQuery(f *testing.F) {
	x := newFuzzFixture(f)
	s := x.s
	for _, seed := range []string{
		"", "status=all", "status=open&assignee_type=me", "assignee_type=unassigned&status=pending",
		"assignee_type=assigned&status=resolved&page=2", fmt.Sprintf("inbox_id=%d&status=snoozed", x.inbox),
		"status=", "status=%00", "assignee_type=ALL", "inbox_id=-1", "inbox_id=99999999999999999999",
		"page=-1", "page=99999999999999999999", "page=1.5", "page=0", "status=all&status=open", "inbox_id=%20",
		"a;b=c", "%", "%zz", "status=all&page=9223372036854775807", "&&&=&=", "assignee_type=me&inbox_id=999999",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		raw := fuzzQueryEscape(query)
		for _, who := range []client{s.admin, x.member} {
			for _, path := range []string{acct("/conversations"), acct("/conversations/meta")} {
				req, err := http.NewRequest("GET", s.srv.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.URL.RawQuery = raw
				req.Header["api_access_token"] = []string{who.token}
				status, data := fuzzDo(t, s, req)
				what := fmt.Sprintf("GET %s?%s as user %d", path, raw, who.id)
				fuzzCheck(t, what, status, data)
				if status != 200 && status != 404 && status != 422 {
					t.Fatalf("%s: status %d, want 200, 404 or 422; body %s", what, status, data)
				}
				if status != 200 || strings.HasSuffix(path, "/meta") {
					continue
				}
				var reply struct {
					Data struct {
						Meta    map[string]int      `json:"meta"`
						Payload []conversationReply `json:"payload"`
					} `json:"data"`
				}
				if err := json.Unmarshal(data, &reply); err != nil {
					t.Fatalf("%s: %v in %s", what, err, data)
				}
				if len(reply.Data.Payload) > 25 {
					t.Fatalf("%s: %d conversations on a page of 25", what, len(reply.Data.Payload))
				}
				for _, conv := range reply.Data.Payload {
					// The agent is a member of inbox only.
					if who.id == x.member.id && conv.InboxID != x.inbox {
						t.Fatalf("%s: the agent sees conversation %d of inbox %d", what, conv.ID, conv.InboxID)
					}
				}
			}
		}
	})
}

// FuzzRoutingReportQuery sends the input as the query string of the routing
// report (since, until), as the administrator and as an agent.
func FuzzRoutingReportQuery(f *testing.F) {
	x := newFuzzFixture(f)
	s := x.s
	for _, seed := range []string{
		"", "since=0", "since=1700000000&until=1700003600", "until=253402300799", "until=253402300800",
		"since=-1", "since=10&until=10", "since=20&until=10", "since=1e9", "since=%31", "since=&until=",
		"until=99999999999999999999", "since=1&since=2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		raw := fuzzQueryEscape(query)
		for _, who := range []client{s.admin, x.member} {
			req, err := http.NewRequest("GET", s.srv.URL+acct("/reports/routing"), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.RawQuery = raw
			req.Header["api_access_token"] = []string{who.token}
			status, data := fuzzDo(t, s, req)
			what := fmt.Sprintf("GET %s?%s as user %d", acct("/reports/routing"), raw, who.id)
			fuzzCheck(t, what, status, data)
			if status != 200 && status != 422 {
				t.Fatalf("%s: status %d, want 200 or 422; body %s", what, status, data)
			}
		}
	})
}
