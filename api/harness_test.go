package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/api"
	"github.com/switchboard/switchboard/store"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) {
	store.BcryptCost = bcrypt.MinCost // hashing speed is not under test
	os.Exit(m.Run())
}

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse"
	platformToken = "platform-secret"
)

// testServer is the real HTTP stack on a real SQLite file.
type testServer struct {
	t     testing.TB
	path  string // the SQLite file, when on SQLite
	dsn   string
	db    *store.DB
	srv   *httptest.Server
	admin client
}

// newServer starts a server on a fresh database with account 1 and its
// administrator.
func newServer(t testing.TB) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	return newServerOn(t, "sqlite:"+path, path)
}

// newServerOn is newServer on the database dsn (path is the SQLite file, or
// empty on PostgreSQL).
func newServerOn(t testing.TB, dsn, path string) *testServer {
	t.Helper()
	s := &testServer{t: t, path: path, dsn: dsn}
	s.start()
	_, u, err := s.db.CreateAccountWithAdministrator(context.Background(), "Acme", "Ada Admin", adminEmail, adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	s.admin = client{s: s, token: u.AccessToken, id: u.ID}
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start() {
	if s.dsn == "" {
		s.dsn = "sqlite:" + s.path
	}
	db, err := store.Open(context.Background(), s.dsn)
	if err != nil {
		s.t.Fatal(err)
	}
	s.db = db
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.srv = httptest.NewServer(api.New(db, log, api.Config{PlatformToken: platformToken}))
}

func (s *testServer) stop() {
	if s.srv != nil {
		s.srv.Close()
		s.db.Close()
		s.srv = nil
	}
}

// restart stops the server and starts a new one on the same database file.
func (s *testServer) restart() {
	s.stop()
	s.start()
}

// client calls the API as one user, with their access token.
type client struct {
	s     *testServer
	token string
	id    int64
	// header is the header the token travels in; api_access_token when empty.
	header string
}

// do sends a request and returns the status and body. body may be a string
// (sent as is) or any value (sent as JSON).
func (c client) do(method, path string, body any) (int, []byte) {
	c.s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.s.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.s.srv.URL+path, r)
	if err != nil {
		c.s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		switch c.header {
		case "":
			req.Header["api_access_token"] = []string{c.token}
		case "Authorization":
			req.Header.Set("Authorization", "Bearer "+c.token)
		default:
			req.Header.Set(c.header, c.token)
		}
	}
	resp, err := c.s.srv.Client().Do(req)
	if err != nil {
		c.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.s.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// must sends a request, fails the test unless the status is want, and decodes
// the reply into out when out is not nil.
func (c client) must(want int, method, path string, body any, out any) {
	c.s.t.Helper()
	status, data := c.do(method, path, body)
	if status != want {
		c.s.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.s.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

func acct(path string, args ...any) string {
	return "/api/v1/accounts/1" + fmt.Sprintf(path, args...)
}

type agentReply struct {
	ID                 int64  `json:"id"`
	AccountID          int64  `json:"account_id"`
	Name               string `json:"name"`
	Email              string `json:"email"`
	Role               string `json:"role"`
	AvailabilityStatus string `json:"availability_status"`
	AccessToken        string `json:"access_token"`
}

type conversationReply struct {
	ID      int64  `json:"id"`
	InboxID int64  `json:"inbox_id"`
	Status  string `json:"status"`
	Meta    struct {
		Assignee *agentReply `json:"assignee"`
	} `json:"meta"`
}

// assignee returns the assignee's id, or 0 when there is none.
func (c conversationReply) assignee() int64 {
	if c.Meta.Assignee == nil {
		return 0
	}
	return c.Meta.Assignee.ID
}

var emailSeq atomic.Int64

// newAgent creates a user in account 1 with a password and returns a client
// for them, using their own access token.
func (s *testServer) newAgent(role, availability string) client {
	s.t.Helper()
	email := fmt.Sprintf("user%d@example.com", emailSeq.Add(1))
	var a agentReply
	s.admin.must(200, "POST", acct("/agents"), map[string]any{
		"name": "User " + email, "email": email, "role": role, "availability": availability, "password": "password123",
	}, &a)
	var signedIn struct {
		Data agentReply `json:"data"`
	}
	anon := client{s: s}
	anon.must(200, "POST", "/auth/sign_in", map[string]string{"email": email, "password": "password123"}, &signedIn)
	c := client{s: s, token: signedIn.Data.AccessToken, id: a.ID}
	// Signing in sets an offline user online; put back what was asked for.
	c.setAvailability(availability)
	return c
}

func (c client) setAvailability(a string) {
	c.s.t.Helper()
	c.must(200, "POST", "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": a, "account_id": 1}}, nil)
}

// newInbox creates an inbox with the given settings and members.
func (s *testServer) newInbox(settings map[string]any, members ...client) int64 {
	s.t.Helper()
	body := map[string]any{"name": "Inbox", "channel": map[string]string{"type": "api"}}
	for k, v := range settings {
		body[k] = v
	}
	var in struct {
		ID int64 `json:"id"`
	}
	s.admin.must(200, "POST", acct("/inboxes"), body, &in)
	if len(members) > 0 {
		ids := make([]int64, 0, len(members))
		for _, m := range members {
			ids = append(ids, m.id)
		}
		s.admin.must(200, "POST", acct("/inbox_members"), map[string]any{"inbox_id": in.ID, "user_ids": ids}, nil)
	}
	return in.ID
}

// create creates a conversation in inbox as c.
func (c client) create(inbox int64, extra map[string]any) conversationReply {
	c.s.t.Helper()
	body := map[string]any{"inbox_id": inbox}
	for k, v := range extra {
		body[k] = v
	}
	var conv conversationReply
	c.must(200, "POST", acct("/conversations"), body, &conv)
	return conv
}

func (c client) conversation(id int64) conversationReply {
	c.s.t.Helper()
	var conv conversationReply
	c.must(200, "GET", acct("/conversations/%d", id), nil, &conv)
	return conv
}

type eventReply struct {
	From    *int64 `json:"from_assignee_id"`
	To      *int64 `json:"to_assignee_id"`
	Reason  string `json:"reason"`
	ActorID *int64 `json:"actor_id"`
}

func (c client) events(id int64) []eventReply {
	c.s.t.Helper()
	var reply struct {
		Payload []eventReply `json:"payload"`
	}
	c.must(200, "GET", acct("/conversations/%d/assignment_events", id), nil, &reply)
	return reply.Payload
}

// checkInvariants reads the database file and fails the test for every
// broken promise of ROUTING.md that holds at rest: no conversation assigned
// to someone who may not be its assignee, and an assignment history whose
// events chain from nobody to the current assignee, one event per change.
func checkInvariants(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`
		SELECT c.id, c.assignee_id FROM conversations c
		WHERE c.assignee_id IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM account_users au WHERE au.account_id = c.account_id AND au.user_id = c.assignee_id
			AND (au.role = 'administrator' OR EXISTS (
				SELECT 1 FROM inbox_members m WHERE m.inbox_id = c.inbox_id AND m.user_id = c.assignee_id)))`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, assignee int64
		rows.Scan(&id, &assignee)
		t.Errorf("conversation %d is assigned to user %d, who may not be its assignee", id, assignee)
	}
	rows.Close()

	rows, err = db.Query(`
		SELECT c.id, c.assignee_id, e.id, e.from_assignee_id, e.to_assignee_id
		FROM conversations c LEFT JOIN assignment_events e ON e.conversation_id = c.id
		ORDER BY c.id, e.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var conv int64 = -1
	var holder, final sql.NullInt64
	finish := func() {
		if conv >= 0 && holder != final {
			t.Errorf("conversation %d: events end at %v but the assignee is %v", conv, holder, final)
		}
	}
	for rows.Next() {
		var id int64
		var assignee, event, from, to sql.NullInt64
		if err := rows.Scan(&id, &assignee, &event, &from, &to); err != nil {
			t.Fatal(err)
		}
		if id != conv {
			finish()
			conv, holder, final = id, sql.NullInt64{}, assignee
		}
		if !event.Valid {
			continue
		}
		if from != holder {
			t.Errorf("conversation %d: event from %v, but the assignee then was %v", id, from, holder)
		}
		if from == to {
			t.Errorf("conversation %d: event from %v to itself", id, from)
		}
		holder = to
	}
	finish()
}
