package api_test

// The authorization matrix: every endpoint the server registers, called by
// every kind of caller, on records of the caller's inbox, of another inbox and
// of another account. Each cell checks the status ROUTING.md and API.md give
// it (401 without valid credentials, 404 for what the caller may not see,
// 403 for an agent on an administrators' endpoint, 200 where allowed), that a
// reply with a body is JSON, and that a refused call (and any GET) changes
// nothing in the database.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// authzCaller is who calls.
type authzCaller string

const (
	authzAnonymous    authzCaller = "Anonymous"    // no credentials at all
	authzBadToken     authzCaller = "BadToken"     // a token that is nobody's
	authzMember       authzCaller = "Member"       // an agent, member of inbox A only
	authzNonMember    authzCaller = "NonMember"    // an agent, member of inbox B only
	authzAdmin        authzCaller = "Admin"        // the administrator of account 1
	authzOtherAccount authzCaller = "OtherAccount" // the administrator of account 2, not in account 1
	authzPlatform     authzCaller = "Platform"     // the platform token
)

var authzCallers = []authzCaller{authzAnonymous, authzBadToken, authzMember, authzNonMember, authzAdmin, authzOtherAccount, authzPlatform}

// authzTarget is which record a call names.
type authzTarget string

const (
	// authzNone: the route names no record and no account.
	authzNone authzTarget = "NoTarget"
	// authzHome: account 1 itself (lists, creates of account-level records).
	authzHome authzTarget = "Account1"
	// authzOwn: a record of inbox A (the Member's inbox), in account 1.
	authzOwn authzTarget = "OwnInboxRecord"
	// authzOther: a record of inbox B (the NonMember's inbox), in account 1.
	authzOther authzTarget = "OtherInboxRecord"
	// authzForeign: a record of account 2, under account 2's path.
	authzForeign authzTarget = "OtherAccountRecord"
	// authzForeignID: a record of account 2, named under account 1's path.
	authzForeignID authzTarget = "OtherAccountIDInAccount1Path"
)

// authzFixture is what the template database holds: account 1 with an
// administrator, the Member (of inbox A) and the NonMember (of inbox B), a
// conversation in each inbox, a webhook; account 2 with its administrator,
// an agent member of inbox C, a conversation there and a webhook.
type authzFixture struct {
	tokens         map[authzCaller]string
	ids            map[authzCaller]int64
	emails         map[authzCaller]string
	passwords      map[authzCaller]string
	account2       int64
	inboxA, inboxB int64
	inboxC         int64
	convA, convB   int64 // display ids in account 1
	convC          int64 // display id in account 2
	agent2         int64 // the agent of account 2
	hook1, hook2   int64 // a webhook of account 1 and one of account 2
	templatePath   string
}

// authzUsers are the callers who are users of some account.
var authzUsers = []authzCaller{authzMember, authzNonMember, authzAdmin, authzOtherAccount}

func authzIsUser(c authzCaller) bool { return slices.Contains(authzUsers, c) }

// accountOf returns the account a target lies in.
func (f *authzFixture) accountOf(tg authzTarget) int64 {
	if tg == authzForeign {
		return f.account2
	}
	return 1
}

// inboxOf returns the inbox a target's record lies in.
func (f *authzFixture) inboxOf(tg authzTarget) int64 {
	switch tg {
	case authzOwn:
		return f.inboxA
	case authzOther:
		return f.inboxB
	case authzForeign, authzForeignID:
		return f.inboxC
	}
	return 0
}

// convOf returns the display id of a target's conversation.
func (f *authzFixture) convOf(tg authzTarget) int64 {
	switch tg {
	case authzOwn:
		return f.convA
	case authzOther:
		return f.convB
	case authzForeign:
		return f.convC
	}
	panic("no conversation for target " + tg)
}

// agentOf returns a target's agent: the agent of that inbox.
func (f *authzFixture) agentOf(tg authzTarget) int64 {
	switch tg {
	case authzOwn:
		return f.ids[authzMember]
	case authzOther:
		return f.ids[authzNonMember]
	case authzForeign, authzForeignID:
		return f.agent2
	}
	panic("no agent for target " + tg)
}

// webhookOf returns a target's webhook: account 1's, or account 2's for
// the other account's targets.
func (f *authzFixture) webhookOf(tg authzTarget) int64 {
	if tg == authzForeign || tg == authzForeignID {
		return f.hook2
	}
	return f.hook1
}

// adminOf returns the administrator of a target's account.
func (f *authzFixture) adminOf(tg authzTarget) int64 {
	if f.accountOf(tg) == f.account2 {
		return f.ids[authzOtherAccount]
	}
	return f.ids[authzAdmin]
}

// path returns "/api/v1/accounts/N" + the formatted suffix for a target.
func (f *authzFixture) path(tg authzTarget, suffix string, args ...any) string {
	return fmt.Sprintf("/api/v1/accounts/%d", f.accountOf(tg)) + fmt.Sprintf(suffix, args...)
}

// role returns the caller's role in an account, "" when not in it.
func (f *authzFixture) role(c authzCaller, account int64) string {
	switch {
	case account == 1 && (c == authzMember || c == authzNonMember):
		return "agent"
	case account == 1 && c == authzAdmin:
		return "administrator"
	case account == f.account2 && c == authzOtherAccount:
		return "administrator"
	}
	return ""
}

// isMember reports whether the caller is a member of an inbox.
func (f *authzFixture) isMember(c authzCaller, inbox int64) bool {
	return (c == authzMember && inbox == f.inboxA) || (c == authzNonMember && inbox == f.inboxB)
}

// authzKind is how a route is guarded.
type authzKind int

const (
	authzPublic    authzKind = iota // no credentials needed
	authzSignIn                     // credentials in the body
	authzSession                    // a user's token; no account in the path
	authzAccount                    // a user of the account in the path
	authzPlatform_                  // the platform token
)

// authzRoute is one registered endpoint: how to call it on each target and
// who may.
type authzRoute struct {
	pattern string // as registered: "METHOD /full/path"
	kind    authzKind
	admin   bool // administrators only
	scoped  bool // the record lies in an inbox: only who sees the inbox sees it
	// status replaces the computed status for everyone (the catch-all route).
	status  int
	targets []authzTarget
	// request returns the path and body of the call.
	request func(f *authzFixture, c authzCaller, tg authzTarget) (path string, body any)
	// check, when set, inspects a 200 reply.
	check func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte)
}

func (r authzRoute) method() string {
	m, _, found := strings.Cut(r.pattern, " ")
	if !found {
		return "GET" // a pattern without a method matches them all
	}
	return m
}

// expect returns the status a cell must answer.
func (f *authzFixture) expect(r authzRoute, c authzCaller, tg authzTarget) int {
	if r.status != 0 {
		return r.status
	}
	switch r.kind {
	case authzPublic:
		return 200
	case authzPlatform_:
		if c == authzPlatform {
			return 200
		}
		return 401
	case authzSignIn:
		if authzIsUser(c) {
			return 200
		}
		return 401
	}
	if !authzIsUser(c) {
		return 401
	}
	if r.kind == authzSession {
		if tg != authzNone && f.role(c, f.accountOf(tg)) == "" {
			return 404
		}
		return 200
	}
	role := f.role(c, f.accountOf(tg))
	switch {
	case role == "":
		return 404 // never 403 for another account
	case r.admin && role != "administrator":
		return 403
	case tg == authzForeignID:
		return 404
	case r.scoped && role != "administrator" && !f.isMember(c, f.inboxOf(tg)):
		return 404
	}
	return 200
}

var (
	authzRecord   = []authzTarget{authzOwn, authzOther, authzForeign, authzForeignID}
	authzConvs    = []authzTarget{authzOwn, authzOther, authzForeign} // display ids are per account
	authzAccounts = []authzTarget{authzHome, authzForeign}
)

const authzAccountPrefix = "/api/v1/accounts/{account_id}"

// authzRoutes is the matrix's list of endpoints; TestAuthzMatrixCoversEveryRoute
// holds it to what the server registers.
func authzRoutes() []authzRoute {
	none := []authzTarget{authzNone}
	inboxBody := func(f *authzFixture, tg authzTarget, users ...int64) map[string]any {
		return map[string]any{"inbox_id": f.inboxOf(tg), "user_ids": users}
	}
	return []authzRoute{
		{pattern: "GET /healthz", kind: authzPublic, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) { return "/healthz", nil }},
		{pattern: "GET /readyz", kind: authzPublic, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) { return "/readyz", nil }},
		{pattern: "GET /api/openapi.json", kind: authzPublic, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) { return "/api/openapi.json", nil }},
		{pattern: "/", kind: authzPublic, status: 404, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return "/api/v1/no_such_thing", nil
			}},

		{pattern: "POST /auth/sign_in", kind: authzSignIn, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				if !authzIsUser(c) {
					return "/auth/sign_in", map[string]any{"email": f.emails[authzAdmin], "password": "not the password"}
				}
				return "/auth/sign_in", map[string]any{"email": f.emails[c], "password": f.passwords[c]}
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Data agentReply `json:"data"`
				}
				if err := json.Unmarshal(data, &reply); err != nil || reply.Data.ID != f.ids[c] {
					t.Errorf("signed in as %s, reply %s, want user %d", c, data, f.ids[c])
				}
			}},
		{pattern: "DELETE /auth/sign_out", kind: authzSession, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) { return "/auth/sign_out", nil }},
		{pattern: "GET /api/v1/profile", kind: authzSession, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) { return "/api/v1/profile", nil },
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var u agentReply
				if err := json.Unmarshal(data, &u); err != nil || u.ID != f.ids[c] {
					t.Errorf("profile of %s is %s, want user %d", c, data, f.ids[c])
				}
			}},
		{pattern: "POST /api/v1/profile/availability", kind: authzSession, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return "/api/v1/profile/availability", map[string]any{"profile": map[string]any{"availability": "busy", "account_id": f.accountOf(tg)}}
			}},

		{pattern: "GET " + authzAccountPrefix + "/agents", kind: authzAccount, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) { return f.path(tg, "/agents"), nil },
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var agents []agentReply
				if err := json.Unmarshal(data, &agents); err != nil {
					t.Fatalf("%v in %s", err, data)
				}
				var got []int64
				for _, a := range agents {
					got = append(got, a.ID)
				}
				want := []int64{f.ids[authzAdmin], f.ids[authzMember], f.ids[authzNonMember]}
				if tg == authzForeign {
					want = []int64{f.ids[authzOtherAccount], f.agent2}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("agents %v, want exactly the account's users %v", got, want)
				}
			}},
		{pattern: "POST " + authzAccountPrefix + "/agents", kind: authzAccount, admin: true, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/agents"), map[string]any{"name": "Newcomer", "email": "newcomer@example.com", "role": "agent"}
			}},
		{pattern: "PATCH " + authzAccountPrefix + "/agents/{id}", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/agents/%d", f.agentOf(tg)), map[string]any{"name": "Renamed", "availability": "offline"}
			}},
		{pattern: "PUT " + authzAccountPrefix + "/agents/{id}", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/agents/%d", f.agentOf(tg)), map[string]any{"role": "administrator"}
			}},
		{pattern: "DELETE " + authzAccountPrefix + "/agents/{id}", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/agents/%d", f.agentOf(tg)), nil
			}},

		{pattern: "GET " + authzAccountPrefix + "/inboxes", kind: authzAccount, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) { return f.path(tg, "/inboxes"), nil },
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Payload []struct {
						ID int64 `json:"id"`
					} `json:"payload"`
				}
				if err := json.Unmarshal(data, &reply); err != nil {
					t.Fatalf("%v in %s", err, data)
				}
				var got []int64
				for _, in := range reply.Payload {
					got = append(got, in.ID)
				}
				want := f.visibleInboxes(c, tg)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s sees inboxes %v, want %v", c, got, want)
				}
			}},
		{pattern: "POST " + authzAccountPrefix + "/inboxes", kind: authzAccount, admin: true, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inboxes"), map[string]any{"name": "New", "channel": map[string]string{"type": "api"}}
			}},
		{pattern: "GET " + authzAccountPrefix + "/inboxes/{id}", kind: authzAccount, scoped: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inboxes/%d", f.inboxOf(tg)), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var in struct {
					ID int64 `json:"id"`
				}
				if err := json.Unmarshal(data, &in); err != nil || in.ID != f.inboxOf(tg) {
					t.Errorf("reply %s, want inbox %d", data, f.inboxOf(tg))
				}
			}},
		{pattern: "GET " + authzAccountPrefix + "/inboxes/{id}/queue", kind: authzAccount, scoped: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inboxes/%d/queue", f.inboxOf(tg)), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Payload *[]json.RawMessage `json:"payload"`
				}
				if err := json.Unmarshal(data, &reply); err != nil || reply.Payload == nil {
					t.Errorf("reply %s, want {\"payload\": [...]}", data)
				}
			}},
		{pattern: "PATCH " + authzAccountPrefix + "/inboxes/{id}", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inboxes/%d", f.inboxOf(tg)), map[string]any{"name": "Renamed", "enable_auto_assignment": false}
			}},
		{pattern: "PUT " + authzAccountPrefix + "/inboxes/{id}", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inboxes/%d", f.inboxOf(tg)), map[string]any{"enable_auto_reassignment": false}
			}},

		{pattern: "GET " + authzAccountPrefix + "/inbox_members/{inbox_id}", kind: authzAccount, scoped: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inbox_members/%d", f.inboxOf(tg)), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Payload []agentReply `json:"payload"`
				}
				if err := json.Unmarshal(data, &reply); err != nil || len(reply.Payload) != 1 || reply.Payload[0].ID != f.agentOf(tg) {
					t.Errorf("members %s, want only user %d", data, f.agentOf(tg))
				}
			}},
		{pattern: "POST " + authzAccountPrefix + "/inbox_members", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inbox_members"), inboxBody(f, tg, f.adminOf(tg))
			}},
		{pattern: "PATCH " + authzAccountPrefix + "/inbox_members", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/inbox_members"), inboxBody(f, tg, f.adminOf(tg))
			}},
		{pattern: "DELETE " + authzAccountPrefix + "/inbox_members", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				member := f.agentOf(tg)
				if tg == authzForeignID {
					member = f.ids[authzMember] // a user of account 1: only the inbox is foreign
				}
				return f.path(tg, "/inbox_members"), inboxBody(f, tg, member)
			}},
		{pattern: "DELETE " + authzAccountPrefix + "/inbox_members/{inbox_id}", kind: authzAccount, admin: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				member := f.agentOf(tg)
				if tg == authzForeignID {
					member = f.ids[authzMember]
				}
				return f.path(tg, "/inbox_members/%d", f.inboxOf(tg)), map[string]any{"user_ids": []int64{member}}
			}},

		{pattern: "GET " + authzAccountPrefix + "/conversations", kind: authzAccount, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/conversations?status=all&assignee_type=all"), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Data struct {
						Meta    map[string]int      `json:"meta"`
						Payload []conversationReply `json:"payload"`
					} `json:"data"`
				}
				if err := json.Unmarshal(data, &reply); err != nil {
					t.Fatalf("%v in %s", err, data)
				}
				var got []int64
				for _, conv := range reply.Data.Payload {
					got = append(got, conv.ID)
				}
				want := f.visibleConvs(c, tg)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s sees conversations %v, want %v", c, got, want)
				}
				if reply.Data.Meta["all_count"] != len(want) {
					t.Errorf("all_count %d, want %d", reply.Data.Meta["all_count"], len(want))
				}
			}},
		{pattern: "GET " + authzAccountPrefix + "/conversations/meta", kind: authzAccount, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/conversations/meta?status=all"), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Meta map[string]int `json:"meta"`
				}
				if err := json.Unmarshal(data, &reply); err != nil {
					t.Fatalf("%v in %s", err, data)
				}
				if want := len(f.visibleConvs(c, tg)); reply.Meta["all_count"] != want {
					t.Errorf("%s: all_count %d, want %d", c, reply.Meta["all_count"], want)
				}
			}},
		{pattern: "POST " + authzAccountPrefix + "/conversations", kind: authzAccount, scoped: true, targets: authzRecord,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/conversations"), map[string]any{"inbox_id": f.inboxOf(tg)}
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var conv conversationReply
				if err := json.Unmarshal(data, &conv); err != nil || conv.InboxID != f.inboxOf(tg) {
					t.Errorf("reply %s, want a conversation in inbox %d", data, f.inboxOf(tg))
				}
			}},
		{pattern: "GET " + authzAccountPrefix + "/conversations/{id}", kind: authzAccount, scoped: true, targets: authzConvs,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/conversations/%d", f.convOf(tg)), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var conv conversationReply
				if err := json.Unmarshal(data, &conv); err != nil || conv.ID != f.convOf(tg) || conv.InboxID != f.inboxOf(tg) {
					t.Errorf("reply %s, want conversation %d of inbox %d", data, f.convOf(tg), f.inboxOf(tg))
				}
			}},
		{pattern: "POST " + authzAccountPrefix + "/conversations/{id}/assignments", kind: authzAccount, scoped: true, targets: authzConvs,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/conversations/%d/assignments", f.convOf(tg)), map[string]any{"assignee_id": f.adminOf(tg)}
			}},
		{pattern: "POST " + authzAccountPrefix + "/conversations/{id}/toggle_status", kind: authzAccount, scoped: true, targets: authzConvs,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/conversations/%d/toggle_status", f.convOf(tg)), map[string]any{"status": "resolved"}
			}},
		{pattern: "GET " + authzAccountPrefix + "/conversations/{id}/assignment_events", kind: authzAccount, scoped: true, targets: authzConvs,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/conversations/%d/assignment_events", f.convOf(tg)), nil
			}},

		{pattern: "GET " + authzAccountPrefix + "/reports/routing", kind: authzAccount, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/reports/routing"), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Inboxes []struct {
						ID int64 `json:"id"`
					} `json:"inboxes"`
				}
				if err := json.Unmarshal(data, &reply); err != nil {
					t.Fatalf("%v in %s", err, data)
				}
				var got []int64
				for _, in := range reply.Inboxes {
					got = append(got, in.ID)
				}
				slices.Sort(got)
				if want := f.visibleInboxes(c, tg); !slices.Equal(got, want) {
					t.Errorf("%s: the report covers inboxes %v, want those the caller sees %v", c, got, want)
				}
			}},
		{pattern: "GET " + authzAccountPrefix + "/webhooks", kind: authzAccount, admin: true, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/webhooks"), nil
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Payload struct {
						Webhooks []struct {
							ID int64 `json:"id"`
						} `json:"webhooks"`
					} `json:"payload"`
				}
				if err := json.Unmarshal(data, &reply); err != nil || len(reply.Payload.Webhooks) != 1 || reply.Payload.Webhooks[0].ID != f.webhookOf(tg) {
					t.Errorf("webhooks %s, want only %d", data, f.webhookOf(tg))
				}
			}},
		{pattern: "POST " + authzAccountPrefix + "/webhooks", kind: authzAccount, admin: true, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/webhooks"), map[string]any{"url": "http://127.0.0.1:9/new", "subscriptions": []string{"conversation_created"}}
			}},
		{pattern: "PATCH " + authzAccountPrefix + "/webhooks/{id}", kind: authzAccount, admin: true, targets: []authzTarget{authzOwn, authzForeign, authzForeignID},
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/webhooks/%d", f.webhookOf(tg)), map[string]any{"subscriptions": []string{"assignee_changed"}}
			},
			check: func(t *testing.T, f *authzFixture, c authzCaller, tg authzTarget, data []byte) {
				var reply struct {
					Payload struct {
						Webhook struct {
							ID int64 `json:"id"`
						} `json:"webhook"`
					} `json:"payload"`
				}
				if err := json.Unmarshal(data, &reply); err != nil || reply.Payload.Webhook.ID != f.webhookOf(tg) {
					t.Errorf("updated webhook %s, want %d", data, f.webhookOf(tg))
				}
			}},
		{pattern: "DELETE " + authzAccountPrefix + "/webhooks/{id}", kind: authzAccount, admin: true, targets: []authzTarget{authzOwn, authzForeign, authzForeignID},
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return f.path(tg, "/webhooks/%d", f.webhookOf(tg)), nil
			}},

		{pattern: "POST /platform/api/v1/accounts", kind: authzPlatform_, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return "/platform/api/v1/accounts", map[string]any{"name": "Third"}
			}},
		{pattern: "POST /platform/api/v1/users", kind: authzPlatform_, targets: none,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				return "/platform/api/v1/users", map[string]any{"name": "Newcomer", "email": "platform-newcomer@example.com", "password": "password123"}
			}},
		{pattern: "POST /platform/api/v1/accounts/{id}/account_users", kind: authzPlatform_, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				user := f.ids[authzOtherAccount] // into account 1, a user of account 2
				if tg == authzForeign {
					user = f.ids[authzMember]
				}
				return fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", f.accountOf(tg)), map[string]any{"user_id": user, "role": "agent"}
			}},
		{pattern: "DELETE /platform/api/v1/accounts/{id}/account_users", kind: authzPlatform_, targets: authzAccounts,
			request: func(f *authzFixture, c authzCaller, tg authzTarget) (string, any) {
				user := f.ids[authzNonMember]
				if tg == authzForeign {
					user = f.agent2
				}
				return fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", f.accountOf(tg)), map[string]any{"user_id": user}
			}},
	}
}

// visibleInboxes returns the inboxes a caller sees in a target's account,
// sorted.
func (f *authzFixture) visibleInboxes(c authzCaller, tg authzTarget) []int64 {
	var want []int64
	for _, in := range []int64{f.inboxA, f.inboxB, f.inboxC} {
		if (tg == authzForeign) == (in == f.inboxC) && (f.role(c, f.accountOf(tg)) == "administrator" || f.isMember(c, in)) {
			want = append(want, in)
		}
	}
	slices.Sort(want)
	return want
}

// visibleConvs returns the display ids of the conversations a caller sees in
// a target's account, sorted.
func (f *authzFixture) visibleConvs(c authzCaller, tg authzTarget) []int64 {
	if tg == authzForeign {
		return []int64{f.convC}
	}
	var ids []int64
	for _, t := range []authzTarget{authzOwn, authzOther} {
		if f.role(c, 1) == "administrator" || f.isMember(c, f.inboxOf(t)) {
			ids = append(ids, f.convOf(t))
		}
	}
	slices.Sort(ids)
	return ids
}

// newAuthzFixture builds the template database and closes it, so that every
// cell can start from a copy of it.
func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	s := newServer(t)
	f := &authzFixture{
		tokens:    map[authzCaller]string{},
		ids:       map[authzCaller]int64{},
		emails:    map[authzCaller]string{authzAdmin: adminEmail},
		passwords: map[authzCaller]string{authzAdmin: adminPassword},
	}
	f.tokens[authzAdmin], f.ids[authzAdmin] = s.admin.token, s.admin.id
	for _, c := range []authzCaller{authzMember, authzNonMember} {
		a := s.newAgent("agent", "online")
		f.tokens[c], f.ids[c] = a.token, a.id
		var u agentReply
		a.must(200, "GET", "/api/v1/profile", nil, &u)
		f.emails[c], f.passwords[c] = u.Email, "password123"
	}
	member := client{s: s, token: f.tokens[authzMember], id: f.ids[authzMember]}
	nonMember := client{s: s, token: f.tokens[authzNonMember], id: f.ids[authzNonMember]}
	f.inboxA = s.newInbox(nil, member)
	f.inboxB = s.newInbox(nil, nonMember)
	f.convA = s.admin.create(f.inboxA, nil).ID
	f.convB = s.admin.create(f.inboxB, nil).ID

	platform := client{s: s, token: platformToken}
	var account, user struct {
		ID          int64  `json:"id"`
		AccessToken string `json:"access_token"`
	}
	platform.must(200, "POST", "/platform/api/v1/accounts", map[string]any{"name": "Elsewhere"}, &account)
	platform.must(200, "POST", "/platform/api/v1/users", map[string]any{"name": "Stranger", "email": "stranger@example.com", "password": "password123"}, &user)
	platform.must(200, "POST", fmt.Sprintf("/platform/api/v1/accounts/%d/account_users", account.ID), map[string]any{"user_id": user.ID, "role": "administrator"}, nil)
	f.account2 = account.ID
	f.tokens[authzOtherAccount], f.ids[authzOtherAccount] = user.AccessToken, user.ID
	f.emails[authzOtherAccount], f.passwords[authzOtherAccount] = "stranger@example.com", "password123"
	stranger := client{s: s, token: user.AccessToken, id: user.ID}
	in2 := func(suffix string, args ...any) string {
		return fmt.Sprintf("/api/v1/accounts/%d", account.ID) + fmt.Sprintf(suffix, args...)
	}
	var agent2 agentReply
	stranger.must(200, "POST", in2("/agents"), map[string]any{"name": "Agent Two", "email": "agent2@example.com", "role": "agent", "password": "password123"}, &agent2)
	f.agent2 = agent2.ID
	var inbox struct {
		ID int64 `json:"id"`
	}
	stranger.must(200, "POST", in2("/inboxes"), map[string]any{"name": "Inbox C", "channel": map[string]string{"type": "api"}}, &inbox)
	f.inboxC = inbox.ID
	stranger.must(200, "POST", in2("/inbox_members"), map[string]any{"inbox_id": f.inboxC, "user_ids": []int64{f.agent2}}, nil)
	var conv conversationReply
	stranger.must(200, "POST", in2("/conversations"), map[string]any{"inbox_id": f.inboxC}, &conv)
	f.convC = conv.ID

	var hook struct {
		Payload struct {
			Webhook struct {
				ID int64 `json:"id"`
			} `json:"webhook"`
		} `json:"payload"`
	}
	// Port 9 (discard) on the loopback: nothing is sent anywhere that matters.
	s.admin.must(200, "POST", acct("/webhooks"), map[string]any{"url": "http://127.0.0.1:9/one"}, &hook)
	f.hook1 = hook.Payload.Webhook.ID
	stranger.must(200, "POST", in2("/webhooks"), map[string]any{"url": "http://127.0.0.1:9/two"}, &hook)
	f.hook2 = hook.Payload.Webhook.ID
	if f.hook1 == 0 || f.hook2 == 0 || f.hook1 == f.hook2 {
		t.Fatalf("webhooks %d and %d", f.hook1, f.hook2)
	}

	checkInvariants(t, s.path)
	s.stop() // closing checkpoints the WAL into the file
	f.templatePath = s.path
	return f
}

// authzClone starts a server on a fresh copy of the template database.
func authzClone(t *testing.T, f *authzFixture) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	for _, suffix := range []string{"", "-wal"} {
		src, err := os.Open(f.templatePath + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s := &testServer{t: t, path: path}
	s.start()
	s.admin = client{s: s, token: f.tokens[authzAdmin], id: f.ids[authzAdmin]}
	t.Cleanup(s.stop)
	reader, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	reader.SetMaxOpenConns(1)
	authzReaders.Store(path, reader)
	t.Cleanup(func() {
		authzReaders.Delete(path)
		reader.Close()
	})
	return s
}

// authzReaders holds a read-only pool per cloned database file, so that the
// dumps before and after every cell do not reopen the file.
var authzReaders sync.Map // path -> *sql.DB

// authzClient returns the client of a caller on server s.
func (f *authzFixture) client(s *testServer, c authzCaller) client {
	switch c {
	case authzAnonymous:
		return client{s: s}
	case authzBadToken:
		return client{s: s, token: f.tokens[authzAdmin] + "x"}
	case authzPlatform:
		return client{s: s, token: platformToken}
	}
	return client{s: s, token: f.tokens[c], id: f.ids[c]}
}

// authzDump returns every row of every table of the database file (see
// dumpRows), so that two dumps are equal exactly when nothing changed.
func authzDump(t *testing.T, path string) []string {
	t.Helper()
	v, ok := authzReaders.Load(path)
	if !ok {
		t.Fatalf("no reader for %s: start the server with authzClone", path)
	}
	return dumpRows(t, v.(*sql.DB))
}

// authzDiff lists the rows only one of two dumps has.
func authzDiff(before, after []string) string {
	var out strings.Builder
	for _, l := range before {
		if !slices.Contains(after, l) {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// authzCell runs one cell on server s.
func authzCell(t *testing.T, s *testServer, f *authzFixture, r authzRoute, c authzCaller, tg authzTarget) {
	t.Helper()
	want := f.expect(r, c, tg)
	path, body := r.request(f, c, tg)
	before := authzDump(t, s.path)
	status, data := f.client(s, c).do(r.method(), path, body)
	after := authzDump(t, s.path)
	what := fmt.Sprintf("%s %s %s as %s", r.method(), path, body, c)
	if status != want {
		t.Errorf("%s: status %d, want %d; body %s", what, status, want, data)
	}
	if len(strings.TrimSpace(string(data))) > 0 && !json.Valid(data) {
		t.Errorf("%s: reply is not JSON: %q", what, data)
	}
	if status >= 400 {
		var reply map[string]any
		if json.Unmarshal(data, &reply) != nil || (reply["error"] == nil && reply["message"] == nil) {
			t.Errorf("%s: status %d with body %q, want a JSON error", what, status, data)
		}
	}
	if (status >= 400 || r.method() == "GET") && !slices.Equal(before, after) {
		t.Errorf("%s: answered %d but changed the database:\n%s", what, status, authzDiff(before, after))
	}
	if status == 200 && want == 200 && r.check != nil {
		r.check(t, f, c, tg, data)
	}
}

// TestAuthzMatrix runs every cell: endpoint x caller x target. Cells that
// must not change anything share one copy of the database per endpoint (a
// cell that breaks that is reported by its own dump comparison); each cell
// allowed to write gets its own copy.
func TestAuthzMatrix(t *testing.T) {
	f := newAuthzFixture(t)
	for _, r := range authzRoutes() {
		t.Run(strings.NewReplacer(" ", "_", "/", "_", "{", "", "}", "").Replace(r.pattern), func(t *testing.T) {
			// The endpoint's shared copy belongs to this test, not to the
			// first cell, whose cleanup would stop it.
			shared := authzClone(t, f)
			for _, c := range authzCallers {
				for _, tg := range r.targets {
					t.Run(string(c)+"/"+string(tg), func(t *testing.T) {
						var s *testServer
						if r.method() != "GET" && f.expect(r, c, tg) < 300 {
							s = authzClone(t, f)
						} else {
							cell := *shared
							cell.t = t // failures are reported by the cell's own test
							s = &cell
						}
						authzCell(t, s, f, r, c, tg)
					})
				}
			}
			checkInvariants(t, shared.path)
		})
	}
}

// authzPattern finds the route registrations in the api package's sources:
// account("METHOD /path", ...), admin(...) and handle(...).
var authzPattern = regexp.MustCompile(`\b(account|admin|handle)\(\s*"(?:([A-Z]+) )?(/[^"]*)"`)

// TestAuthzMatrixCoversEveryRoute fails when an endpoint is registered but
// missing from the matrix, or the matrix lists one that is not registered.
func TestAuthzMatrixCoversEveryRoute(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range authzPattern.FindAllStringSubmatch(string(src), -1) {
			path := m[3]
			if m[1] != "handle" {
				path = authzAccountPrefix + path
			}
			pattern := path
			if m[2] != "" {
				pattern = m[2] + " " + path
			}
			registered = append(registered, pattern)
		}
	}
	if !slices.Contains(registered, "POST /auth/sign_in") || !slices.Contains(registered, "GET "+authzAccountPrefix+"/agents") {
		t.Fatalf("the route parser found %v: it no longer reads server.go's registrations", registered)
	}
	var listed []string
	for _, r := range authzRoutes() {
		if slices.Contains(listed, r.pattern) {
			t.Errorf("%q is twice in the matrix", r.pattern)
		}
		listed = append(listed, r.pattern)
		if len(r.targets) == 0 {
			t.Errorf("%q has no targets", r.pattern)
		}
	}
	for _, p := range registered {
		if !slices.Contains(listed, p) {
			t.Errorf("route %q is registered but not in the authorization matrix (authzRoutes)", p)
		}
	}
	for _, p := range listed {
		if !slices.Contains(registered, p) {
			t.Errorf("route %q is in the authorization matrix but not registered", p)
		}
	}
}

// TestAuthzMatrixExpectations pins the matrix's own rules on a few cells, so
// that a mistake in expect cannot make the whole matrix vacuous.
func TestAuthzMatrixExpectations(t *testing.T) {
	f := &authzFixture{account2: 2, inboxA: 10, inboxB: 11, inboxC: 12}
	routes := map[string]authzRoute{}
	for _, r := range authzRoutes() {
		routes[r.pattern] = r
	}
	get := func(p string) authzRoute {
		r, ok := routes[p]
		if !ok {
			t.Fatalf("no route %q", p)
		}
		return r
	}
	conv := get("GET " + authzAccountPrefix + "/conversations/{id}")
	inboxPatch := get("PATCH " + authzAccountPrefix + "/inboxes/{id}")
	for _, tc := range []struct {
		r    authzRoute
		c    authzCaller
		tg   authzTarget
		want int
	}{
		{conv, authzAnonymous, authzOwn, 401},
		{conv, authzBadToken, authzForeign, 401},
		{conv, authzPlatform, authzOwn, 401},
		{conv, authzMember, authzOwn, 200},
		{conv, authzMember, authzOther, 404},
		{conv, authzNonMember, authzOwn, 404},
		{conv, authzNonMember, authzOther, 200},
		{conv, authzAdmin, authzOther, 200},
		{conv, authzAdmin, authzForeign, 404},
		{conv, authzOtherAccount, authzOwn, 404},
		{conv, authzOtherAccount, authzForeign, 200},
		{inboxPatch, authzMember, authzOwn, 403},
		{inboxPatch, authzMember, authzForeign, 404},
		{inboxPatch, authzAdmin, authzForeignID, 404},
		{inboxPatch, authzOtherAccount, authzOwn, 404},
		{get("POST /platform/api/v1/users"), authzAdmin, authzNone, 401},
		{get("POST /platform/api/v1/users"), authzPlatform, authzNone, 200},
		{get("POST /api/v1/profile/availability"), authzOtherAccount, authzHome, 404},
	} {
		if got := f.expect(tc.r, tc.c, tc.tg); got != tc.want {
			t.Errorf("%s as %s on %s: matrix expects %d, want %d", tc.r.pattern, tc.c, tc.tg, got, tc.want)
		}
	}
}
