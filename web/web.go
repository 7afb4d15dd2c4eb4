// Package web serves the console: the agent and administrator screens of the
// routing description, as server-rendered pages with a little JavaScript,
// all embedded in the binary. Live updates arrive by Server-Sent Events.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/observe"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/throttle"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Store is what the console needs of storage; *store.DB provides it.
type Store interface {
	SignIn(ctx context.Context, email, password string) (switchboard.User, string, error)
	SignOut(ctx context.Context, userID int64, session string) error
	UserBySession(ctx context.Context, token string) (switchboard.User, error)
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
	UpdateCollaborators(ctx context.Context, c switchboard.Caller, inboxID int64, userIDs []int64, u switchboard.InboxUpdate) error

	Conversation(ctx context.Context, c switchboard.Caller, id int64) (switchboard.Conversation, error)
	Conversations(ctx context.Context, c switchboard.Caller, f switchboard.ConversationFilter) ([]switchboard.Conversation, switchboard.ConversationCounts, error)
	Assign(ctx context.Context, c switchboard.Caller, id int64, assigneeID *int64) (*switchboard.Agent, error)
	ChangeStatus(ctx context.Context, c switchboard.Caller, id int64, ch switchboard.StatusChange) (switchboard.Conversation, error)
	AssignmentEvents(ctx context.Context, c switchboard.Caller, id int64) ([]switchboard.AssignmentEvent, error)
	RoutingReport(ctx context.Context, c switchboard.Caller, since, until time.Time) (store.Report, error)

	Subscribe() (<-chan switchboard.Change, func())
	MaySeeChange(ctx context.Context, c switchboard.Caller, ch switchboard.Change) (bool, error)
	ConsoleConnected(ctx context.Context, accountID, userID int64) (int64, error)
	ConsoleDisconnected(ctx context.Context, id int64) error
}

var _ Store = (*store.DB)(nil)

// Console serves the console's pages.
type Console struct {
	store     Store
	log       *slog.Logger
	pages     map[string]*template.Template
	staticSum map[string]string
	csrf      *http.CrossOriginProtection
	signIns   *throttle.SignIns
	now       func() time.Time
	handler   http.Handler
	// closing ends the live-update streams when the server shuts down.
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns the console, which serves /app/..., /static/... and redirects /
// to the console. signIns limits failed sign-ins (shared with the API).
func New(st Store, log *slog.Logger, signIns *throttle.SignIns) (*Console, error) {
	c := &Console{store: st, log: log, pages: map[string]*template.Template{}, staticSum: map[string]string{},
		csrf: http.NewCrossOriginProtection(), signIns: signIns, now: time.Now, closing: make(chan struct{})}
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.handler = c.routes()
	return c, nil
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Close ends the live-update streams, which would otherwise hold a graceful
// shutdown until its deadline.
func (c *Console) Close() { c.closeOnce.Do(func() { close(c.closing) }) }

func (c *Console) parse() error {
	funcs := template.FuncMap{
		"static": func(name string) string { return "/static/" + name + "?v=" + c.staticSum[name] },
		"age":    func(t time.Time) string { return age(c.now().Sub(t)) },
		"clock":  func(t time.Time) string { return t.Local().Format("2 Jan 15:04:05") },
		"when":   func(t time.Time) string { return t.Local().Format(whenLayout) },
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"deref":  func(p *int64) int64 { return derefID(p) },
		"title": func(s any) string {
			v := fmt.Sprint(s)
			if v == "" {
				return v
			}
			return strings.ToUpper(v[:1]) + v[1:]
		},
		"availabilities": func() []switchboard.Availability {
			return []switchboard.Availability{switchboard.Online, switchboard.Busy, switchboard.Offline}
		},
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		base := name[len("templates/"):]
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", name)
		if err != nil {
			return fmt.Errorf("parse %s: %w", name, err)
		}
		c.pages[base] = t
	}
	return fs.WalkDir(staticFiles, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFiles.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		c.staticSum[path[len("static/"):]] = hex.EncodeToString(sum[:6])
		return nil
	})
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func derefID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	page := func(pattern string, h handler) { mux.Handle(pattern, c.adapt(h)) }
	account := func(pattern string, h accountHandler) { mux.Handle(pattern, c.adapt(c.inAccount(h))) }

	mux.Handle("GET /{$}", http.RedirectHandler("/app", http.StatusSeeOther))
	mux.Handle("GET /static/", http.FileServerFS(staticFiles))
	page("GET /app/login", c.loginPage)
	page("POST /app/login", c.login)
	page("POST /app/logout", c.logout)
	page("GET /app", c.home)

	const a = "/app/accounts/{account_id}"
	account("GET "+a+"/conversations", c.conversations)
	account("GET "+a+"/conversations/{id}", c.conversation)
	account("POST "+a+"/conversations/{id}/assign", c.assign)
	account("POST "+a+"/conversations/{id}/status", c.status)
	account("POST "+a+"/availability", c.availability)
	account("GET "+a+"/events", c.events)
	account("GET "+a+"/reports", c.reports)
	account("GET "+a+"/settings/agents", c.agents)
	account("POST "+a+"/settings/agents", c.createAgent)
	account("POST "+a+"/settings/agents/{id}", c.updateAgent)
	account("POST "+a+"/settings/agents/{id}/remove", c.removeAgent)
	account("GET "+a+"/settings/inboxes", c.inboxes)
	account("POST "+a+"/settings/inboxes", c.createInbox)
	account("POST "+a+"/settings/inboxes/{id}", c.renameInbox)
	account("GET "+a+"/settings/inboxes/{id}/collaborators", c.collaborators)
	account("POST "+a+"/settings/inboxes/{id}/collaborators", c.updateCollaborators)
	return securityHeaders(c.csrf.Handler(mux))
}

// securityHeaders keeps the console's pages from being framed, sniffed or
// made to run scripts from elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

type handler func(w http.ResponseWriter, r *http.Request) error

// session is the signed-in user of a console request.
type session struct {
	user  switchboard.User
	token string
}

type accountHandler func(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error

var errSignIn = errors.New("sign in first")

func (c *Console) session(r *http.Request) (session, error) {
	cookie, err := r.Cookie(switchboard.SessionCookie)
	if err != nil || cookie.Value == "" {
		return session{}, errSignIn
	}
	u, err := c.store.UserBySession(r.Context(), cookie.Value)
	if switchboard.ErrorCode(err) == switchboard.EUNAUTHORIZED {
		return session{}, errSignIn
	}
	observe.SetUser(r.Context(), u.ID)
	return session{user: u, token: cookie.Value}, err
}

func (c *Console) inAccount(h accountHandler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := c.session(r)
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(r.PathValue("account_id"), 10, 64)
		if err != nil {
			return switchboard.NotFound("account")
		}
		caller, err := s.user.CallerIn(id)
		if err != nil {
			return err
		}
		return h(w, r, s, caller)
	}
}

var statusOf = map[switchboard.Code]int{
	switchboard.EMALFORMED:    http.StatusBadRequest,
	switchboard.EUNAUTHORIZED: http.StatusUnauthorized,
	switchboard.EFORBIDDEN:    http.StatusForbidden,
	switchboard.ENOTFOUND:     http.StatusNotFound,
	switchboard.EINVALID:      http.StatusUnprocessableEntity,
	switchboard.ELIMITED:      http.StatusTooManyRequests,
	switchboard.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// adapt writes a handler's error: sign-in redirects, known errors as a page
// (or JSON for the console's own fetch calls), anything else as a generic
// 500 with the detail in the log only.
func (c *Console) adapt(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := formText(r)
		if err == nil {
			err = h(w, r)
		}
		if err == nil {
			return
		}
		if errors.Is(err, errSignIn) {
			if isFetch(r) {
				http.Error(w, `{"error":"sign in first"}`, http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/app/login", http.StatusSeeOther)
			return
		}
		status, message := http.StatusInternalServerError, "Something went wrong on our side."
		if e, ok := errors.AsType[*switchboard.Error](err); ok && statusOf[e.Code] != 0 {
			status, message = statusOf[e.Code], e.Message
			if e.Code == switchboard.EUNAVAILABLE {
				w.Header().Set("Retry-After", "1")
			}
		} else {
			c.log.ErrorContext(r.Context(), "console error", "path", r.URL.Path, "err", err)
		}
		if isFetch(r) {
			writeJSONError(w, status, message)
			return
		}
		w.WriteHeader(status)
		c.pages["error.html"].ExecuteTemplate(w, "layout", page{Title: http.StatusText(status), Error: message})
	})
}

// formText refuses a posted form with a value that is not text: bytes that
// are not UTF-8, or a NUL character (PostgreSQL stores neither, and no
// name, address or password needs them). A form that cannot be read is
// malformed.
func formText(r *http.Request) error {
	if r.Method != http.MethodPost {
		return nil
	}
	if err := r.ParseForm(); err != nil {
		return switchboard.Errorf(switchboard.EMALFORMED, "the form could not be read")
	}
	for name, values := range r.PostForm {
		for _, v := range values {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return switchboard.Invalid(name, "%s must be text (UTF-8, without NUL characters)", name)
			}
		}
	}
	return nil
}

// isFetch reports whether the console's script sent the request, which wants
// a short JSON answer instead of a page.
func isFetch(r *http.Request) bool { return r.Header.Get("X-Requested-With") == "fetch" }

// page is what every template gets.
type page struct {
	Title    string
	User     switchboard.User
	Caller   switchboard.Caller
	Account  switchboard.Membership
	Error    string
	Notice   string
	Data     any
	Nav      string
	SignedIn bool
}

func (c *Console) render(w http.ResponseWriter, status int, name string, p page) error {
	t, ok := c.pages[name]
	if !ok {
		return fmt.Errorf("no template %s", name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return t.ExecuteTemplate(w, "layout", p)
}

// pageFor fills the parts of a page that every signed-in page shows.
func pageFor(s session, caller switchboard.Caller, title, nav string) page {
	p := page{Title: title, User: s.user, Caller: caller, Nav: nav, SignedIn: true}
	for _, m := range s.user.Accounts {
		if m.AccountID == caller.AccountID {
			p.Account = m
		}
	}
	return p
}

// done answers a successful form post: 204 for the console's fetch calls, a
// redirect to back for a plain form.
func done(w http.ResponseWriter, r *http.Request, back string) error {
	if isFetch(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}
