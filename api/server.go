// Package api serves Switchboard's JSON API, shaped like Chatwoot's
// Application API (../shared/API.md). Handlers decode the request, call the
// store and encode the reply; the rules live in the store and package routing.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/observe"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/throttle"
)

// Store is what the API needs of storage; *store.DB provides it.
type Store interface {
	Ping(ctx context.Context) error

	SignIn(ctx context.Context, email, password string) (switchboard.User, string, error)
	SignOut(ctx context.Context, userID int64, session string) error
	UserByAccessToken(ctx context.Context, token string) (switchboard.User, error)
	UserBySession(ctx context.Context, token string) (switchboard.User, error)
	User(ctx context.Context, id int64) (switchboard.User, error)
	SetAvailability(ctx context.Context, c switchboard.Caller, userID int64, a switchboard.Availability) error

	Agents(ctx context.Context, c switchboard.Caller) ([]switchboard.Agent, error)
	CreateAgent(ctx context.Context, c switchboard.Caller, n switchboard.NewAgent) (switchboard.Agent, error)
	UpdateAgent(ctx context.Context, c switchboard.Caller, id int64, u switchboard.AgentUpdate) (switchboard.Agent, error)
	RemoveAgent(ctx context.Context, c switchboard.Caller, id int64) error

	Inboxes(ctx context.Context, c switchboard.Caller) ([]switchboard.Inbox, error)
	Inbox(ctx context.Context, c switchboard.Caller, id int64) (switchboard.Inbox, error)
	CreateInbox(ctx context.Context, c switchboard.Caller, n switchboard.NewInbox) (switchboard.Inbox, error)
	UpdateInbox(ctx context.Context, c switchboard.Caller, id int64, u switchboard.InboxUpdate) (switchboard.Inbox, error)
	InboxMembers(ctx context.Context, c switchboard.Caller, inboxID int64) ([]switchboard.Agent, error)
	ChangeMembers(ctx context.Context, c switchboard.Caller, inboxID int64, userIDs []int64, how store.MemberChange) ([]switchboard.Agent, error)

	CreateConversation(ctx context.Context, c switchboard.Caller, n switchboard.NewConversation) (switchboard.Conversation, error)
	Conversation(ctx context.Context, c switchboard.Caller, id int64) (switchboard.Conversation, error)
	Conversations(ctx context.Context, c switchboard.Caller, f switchboard.ConversationFilter) ([]switchboard.Conversation, switchboard.ConversationCounts, error)
	Assign(ctx context.Context, c switchboard.Caller, id int64, assigneeID *int64) (*switchboard.Agent, error)
	ChangeStatus(ctx context.Context, c switchboard.Caller, id int64, ch switchboard.StatusChange) (switchboard.Conversation, error)
	AssignmentEvents(ctx context.Context, c switchboard.Caller, id int64) ([]switchboard.AssignmentEvent, error)
	Queue(ctx context.Context, c switchboard.Caller, inboxID int64) ([]switchboard.Conversation, error)
	ReportStore

	Webhooks(ctx context.Context, c switchboard.Caller) ([]switchboard.Webhook, error)
	CreateWebhook(ctx context.Context, c switchboard.Caller, n switchboard.NewWebhook) (switchboard.Webhook, error)
	UpdateWebhook(ctx context.Context, c switchboard.Caller, id int64, u switchboard.WebhookUpdate) (switchboard.Webhook, error)
	DeleteWebhook(ctx context.Context, c switchboard.Caller, id int64) error

	CreateAccount(ctx context.Context, name string) (switchboard.Account, error)
	CreateUser(ctx context.Context, name, email, password string) (switchboard.User, error)
	AddAccountUser(ctx context.Context, accountID, userID int64, role switchboard.Role) error
	RemoveAccountUser(ctx context.Context, accountID, userID int64) error
}

// Config is what the API needs to know of its deployment.
type Config struct {
	// PlatformToken authenticates the Platform API; empty turns it off.
	PlatformToken string
	// SignIns limits failed sign-ins; the console shares it. Nil gets the
	// defaults of throttle.New.
	SignIns *throttle.SignIns
}

// Server serves the API.
type Server struct {
	store  Store
	log    *slog.Logger
	config Config
	csrf   *http.CrossOriginProtection
}

// New returns the API's handler.
func New(st Store, log *slog.Logger, config Config) http.Handler {
	if config.SignIns == nil {
		config.SignIns = throttle.New()
	}
	s := &Server{store: st, log: log, config: config, csrf: http.NewCrossOriginProtection()}
	return s.routes()
}

// SessionCookie is the name of the cookie that carries a console session.
const SessionCookie = switchboard.SessionCookie

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.adapt(h))
	}
	account := func(pattern string, h accountHandler) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" /api/v1/accounts/{account_id}"+path, s.adapt(s.inAccount(h)))
	}
	// Administrators' endpoints refuse others before reading the body, so an
	// agent learns 403, not what is wrong with their input. The store checks
	// again; this only orders the answers.
	admin := func(pattern string, h accountHandler) {
		account(pattern, func(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
			if !c.IsAdministrator() {
				return switchboard.Errorf(switchboard.EFORBIDDEN, "only administrators may do this")
			}
			return h(w, r, c)
		})
	}

	handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("GET /readyz", s.ready)
	handle("GET /api/openapi.json", s.openapi)

	handle("POST /auth/sign_in", s.signIn)
	handle("DELETE /auth/sign_out", s.signOut)
	handle("GET /api/v1/profile", s.profile)
	handle("POST /api/v1/profile/availability", s.setProfileAvailability)

	account("GET /agents", s.listAgents)
	admin("POST /agents", s.createAgent)
	admin("PATCH /agents/{id}", s.updateAgent)
	admin("PUT /agents/{id}", s.updateAgent)
	admin("DELETE /agents/{id}", s.removeAgent)

	account("GET /inboxes", s.listInboxes)
	admin("POST /inboxes", s.createInbox)
	account("GET /inboxes/{id}", s.showInbox)
	account("GET /inboxes/{id}/queue", s.listQueue)
	admin("PATCH /inboxes/{id}", s.updateInbox)
	admin("PUT /inboxes/{id}", s.updateInbox)

	account("GET /inbox_members/{inbox_id}", s.listMembers)
	admin("POST /inbox_members", s.changeMembers(store.AddMembers))
	admin("PATCH /inbox_members", s.changeMembers(store.ReplaceMembers))
	admin("DELETE /inbox_members", s.changeMembers(store.RemoveMembers))
	admin("DELETE /inbox_members/{inbox_id}", s.changeMembers(store.RemoveMembers))

	account("GET /conversations", s.listConversations)
	account("GET /conversations/meta", s.conversationMeta)
	account("POST /conversations", s.createConversation)
	account("GET /conversations/{id}", s.showConversation)
	account("POST /conversations/{id}/assignments", s.assign)
	account("POST /conversations/{id}/toggle_status", s.toggleStatus)
	account("GET /conversations/{id}/assignment_events", s.assignmentEvents)
	account("GET /reports/routing", s.routingReport)

	admin("GET /webhooks", s.listWebhooks)
	admin("POST /webhooks", s.createWebhook)
	admin("PATCH /webhooks/{id}", s.updateWebhook)
	admin("DELETE /webhooks/{id}", s.deleteWebhook)

	handle("POST /platform/api/v1/accounts", s.platform(s.platformCreateAccount))
	handle("POST /platform/api/v1/users", s.platform(s.platformCreateUser))
	handle("POST /platform/api/v1/accounts/{id}/account_users", s.platform(s.platformAddAccountUser))
	handle("DELETE /platform/api/v1/accounts/{id}/account_users", s.platform(s.platformRemoveAccountUser))

	handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return switchboard.Errorf(switchboard.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path)
	})
	return trimTrailingSlash(mux)
}

// trimTrailingSlash serves "/x/" as "/x": Chatwoot's clients send both. A
// slash sent encoded ("%2F") is a character of the last segment, not one
// to trim.
func trimTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimSuffix(r.URL.Path, "/")
			r.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
		}
		next.ServeHTTP(w, r)
	})
}

// adapt turns a handler that returns an error into an http.Handler; the
// error is written in the one place that maps codes to statuses.
func (s *Server) adapt(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

var statusOf = map[switchboard.Code]int{
	switchboard.EMALFORMED:    http.StatusBadRequest,
	switchboard.EUNAUTHORIZED: http.StatusUnauthorized,
	switchboard.EFORBIDDEN:    http.StatusForbidden,
	switchboard.ENOTFOUND:     http.StatusNotFound,
	switchboard.EINVALID:      http.StatusUnprocessableEntity,
	switchboard.ELIMITED:      http.StatusTooManyRequests,
	switchboard.EUNAVAILABLE:  http.StatusServiceUnavailable,
	switchboard.EINTERNAL:     http.StatusInternalServerError,
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := errorsAs(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	status, known := statusOf[e.Code]
	if !known {
		// A code this version does not know: one another process sent,
		// say, a newer one during a rolling upgrade.
		s.log.ErrorContext(r.Context(), "error of an unknown code", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	if e.Code == switchboard.EUNAVAILABLE {
		s.log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
	}
	if e.Code == switchboard.EINVALID {
		writeJSON(w, status, map[string]any{"message": e.Message, "attributes": e.Fields, "error": e.Message})
		return
	}
	writeJSON(w, status, map[string]string{"error": e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// writeEmpty answers 200 with an empty body, as Chatwoot does for deletes.
func writeEmpty(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Ping(r.Context()); err != nil {
		s.log.ErrorContext(r.Context(), "database unreachable", "err", err)
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// requestToken returns the access token a request carries, in any of the
// spellings Chatwoot's clients use.
func requestToken(r *http.Request) string {
	for _, name := range []string{"api_access_token", "Api-Access-Token"} {
		if t := r.Header.Get(name); t != "" {
			return t
		}
	}
	// The scheme's name is case-insensitive (RFC 9110, section 11.1).
	scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	return ""
}

// authenticated is who made a request and how.
type authenticated struct {
	user    switchboard.User
	session string // the cookie session's token, when the cookie authenticated
}

// authenticate finds the user of a request: by access token when it carries
// one, else by session cookie. Cookie-authenticated writes must come from the
// same origin.
func (s *Server) authenticate(r *http.Request) (authenticated, error) {
	if token := requestToken(r); token != "" {
		u, err := s.store.UserByAccessToken(r.Context(), token)
		observe.SetUser(r.Context(), u.ID)
		return authenticated{user: u}, err
	}
	cookie, err := r.Cookie(SessionCookie)
	if err != nil || cookie.Value == "" {
		return authenticated{}, switchboard.Errorf(switchboard.EUNAUTHORIZED, "You need to sign in or sign up before continuing.")
	}
	u, err := s.store.UserBySession(r.Context(), cookie.Value)
	if err != nil {
		return authenticated{}, err
	}
	observe.SetUser(r.Context(), u.ID)
	if err := s.csrf.Check(r); err != nil {
		return authenticated{}, switchboard.Errorf(switchboard.EFORBIDDEN, "cross-origin request refused")
	}
	return authenticated{user: u, session: cookie.Value}, nil
}

type accountHandler func(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error

// inAccount authenticates a request under /api/v1/accounts/{account_id} and
// finds the caller's role there; an account the user is not in is not found.
func (s *Server) inAccount(h accountHandler) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		auth, err := s.authenticate(r)
		if err != nil {
			return err
		}
		accountID, err := pathID(r, "account_id", "account")
		if err != nil {
			return err
		}
		c, err := auth.user.CallerIn(accountID)
		if err != nil {
			return err
		}
		return h(w, r, c)
	}
}

// platform guards a Platform API handler with the platform token; without a
// configured token the Platform API does not exist.
func (s *Server) platform(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.config.PlatformToken == "" {
			return switchboard.Errorf(switchboard.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path)
		}
		if subtle.ConstantTimeCompare([]byte(requestToken(r)), []byte(s.config.PlatformToken)) != 1 {
			return switchboard.Errorf(switchboard.EUNAUTHORIZED, "invalid platform token")
		}
		return h(w, r)
	}
}
