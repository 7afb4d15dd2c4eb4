package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/api"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/throttle"
	"github.com/switchboard/switchboard/web"
	"golang.org/x/crypto/bcrypt"
)

func init() { store.BcryptCost = bcrypt.MinCost }

// console is a server with the API and the console on a real SQLite file, and
// a headless Chromium to drive it.
type console struct {
	t     *testing.T
	db    *store.DB
	srv   *httptest.Server
	admin switchboard.Caller
	token string          // the administrator's access token, for API calls
	alloc context.Context // the browser's context, from which users' contexts derive
	// chromium is the browser's executable, for a test that starts another.
	chromium string
	// before, when set, sees each request before the server does (a test
	// holds one back with it).
	before *atomic.Pointer[func(*http.Request)]
}

const password = "password123"

func newConsole(t *testing.T) *console {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("chromium is not installed (apt-get install chromium): skipping the browser tests")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "switchboard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada Admin", "ada@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ui, err := web.New(db, log, throttle.New())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/app/", ui)
	mux.Handle("/static/", ui)
	mux.Handle("/", api.New(db, log, api.Config{}))
	before := new(atomic.Pointer[func(*http.Request)])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := before.Load(); f != nil {
			(*f)(r)
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	browser := startChromium(t, chromium)
	return &console{t: t, db: db, srv: srv, alloc: browser, chromium: chromium, token: u.AccessToken, before: before,
		admin: switchboard.Caller{UserID: u.ID, AccountID: a.ID, Role: switchboard.RoleAdministrator}}
}

// startChromium starts a headless Chromium, with options added to the
// usual ones, and returns its context, from which users' contexts derive.
func startChromium(t *testing.T, chromium string, options ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(opts, options...)...)
	t.Cleanup(cancel)
	// Start the browser; each user then gets a browser context of their own.
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// The first run starts the browser and must not carry a deadline (it
	// would stop the browser), so a browser that never starts is caught here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(browser) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start within a minute")
	}
	return browser
}

// agent adds a user who can sign in with the test password.
func (c *console) agent(name string, role switchboard.Role) switchboard.Agent {
	c.t.Helper()
	a, err := c.db.CreateAgent(context.Background(), c.admin, switchboard.NewAgent{
		Name: name, Email: strings.ToLower(name) + "@example.com", Role: role, Password: password,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

func (c *console) inbox(name string, members ...switchboard.Agent) switchboard.Inbox {
	c.t.Helper()
	in, err := c.db.CreateInbox(context.Background(), c.admin, switchboard.NewInbox{Name: name, EnableAutoAssignment: true, EnableAutoReassignment: true})
	if err != nil {
		c.t.Fatal(err)
	}
	var ids []int64
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	if _, err := c.db.ChangeMembers(context.Background(), c.admin, in.ID, ids, store.AddMembers); err != nil {
		c.t.Fatal(err)
	}
	return in
}

// browser opens a fresh browser context (its own cookies) and signs in.
func (c *console) browser(t *testing.T, email string) context.Context {
	t.Helper()
	return c.signIn(t, c.alloc, email)
}

// browserWithoutScripts starts a Chromium that runs no JavaScript, as some
// users' browsers do, and signs in there: the console's forms work as plain
// forms.
func (c *console) browserWithoutScripts(t *testing.T, email string) context.Context {
	t.Helper()
	return c.signIn(t, startChromium(t, c.chromium, chromedp.Flag("blink-settings", "scriptEnabled=false")), email)
}

// signIn opens a fresh browser context (its own cookies) of browser and
// signs in.
func (c *console) signIn(t *testing.T, browser context.Context, email string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	do(t, ctx,
		chromedp.Navigate(c.srv.URL+"/app/login"),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("conversation-list")),
	)
	return ctx
}

type step = chromedp.Action[chromedp.Void]

// do runs the steps in the browser of ctx and fails t at an error.
func do(t *testing.T, ctx context.Context, steps ...step) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// get runs an action that reads something from the page.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func js[T any](t *testing.T, ctx context.Context, expression string) T {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[T](expression))
}

// textOf returns the visible text of the element with id ("" when it is
// missing or not shown, as chromedp.Text), read in one step: a live update
// may replace the element between chromedp's finding a node and reading it
// ("No node with given id found").
func textOf(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	return js[string](t, ctx, fmt.Sprintf(`(e => e && e.checkVisibility() ? e.innerText : "")(document.getElementById(%q))`, id))
}

func (c *console) url(format string, args ...any) string {
	return c.srv.URL + fmt.Sprintf("/app/accounts/%d", c.admin.AccountID) + fmt.Sprintf(format, args...)
}

// waitLive waits until the page's live-update stream is connected, so that a
// change made next is heard.
func waitLive() step {
	return chromedp.WaitVisible(chromedp.CSS(`body[data-live="open"]`))
}

// within waits for selector, allowing the live update a deadline of a few
// seconds (the console promises under one; the slack is for a loaded CI).
func within(selector string) step {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return chromedp.WaitVisible(chromedp.CSS(selector))(ctx, t)
	}
}

// holdNextAssignment holds the next assignment posted to the server until
// release is called (or the test ends); held waits until it is held.
func (c *console) holdNextAssignment(t *testing.T) (held, release func()) {
	arrived, out := make(chan struct{}), make(chan struct{})
	var taken atomic.Bool
	hold := func(r *http.Request) {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/assign") && taken.CompareAndSwap(false, true) {
			close(arrived)
			<-out
		}
	}
	c.before.Store(&hold)
	release = sync.OnceFunc(func() { close(out) })
	t.Cleanup(func() { release(); c.before.Store(nil) })
	held = func() {
		t.Helper()
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the assignment never reached the server")
		}
	}
	return held, release
}

// choose picks the user in the Assigned Agent list as a mouse would (a
// change event), adding their option first if the page has none, as a
// stale page might.
func choose(t *testing.T, ctx context.Context, userID int64) {
	t.Helper()
	js[any](t, ctx, fmt.Sprintf(`(() => { const s = document.querySelector('#assignee');
		if (![...s.options].some(o => o.value === '%[1]d')) s.add(new Option('user %[1]d', '%[1]d'));
		s.value = '%[1]d'; s.dispatchEvent(new Event('change')); })()`, userID))
}

// reread is the number of times the page has reread itself live.
func reread(t *testing.T, ctx context.Context) string {
	return js[string](t, ctx, `document.body.dataset.refreshed || "0"`)
}

// rereadSince waits until the page has reread itself since it had done so
// n times.
func rereadSince(n string) step {
	return within(fmt.Sprintf(`body[data-refreshed]:not([data-refreshed=%q])`, n))
}

func TestSignIn(t *testing.T) {
	c := newConsole(t)
	ctx := c.browser(t, "ada@example.com")
	heading := get(t, ctx, chromedp.Text(chromedp.CSS("h1")))
	availability := js[string](t, ctx, `document.getElementById("my-availability").dataset.availability`)
	if heading != "Conversations" || availability != "online" {
		t.Errorf("after sign-in: heading %q, availability %q; want Conversations, online", heading, availability)
	}
	t.Run("WrongPasswordRefused", func(t *testing.T) {
		ctx, cancel := chromedp.NewContext(c.alloc, chromedp.WithNewBrowserContext())
		defer cancel()
		do(t, ctx, chromedp.Navigate(c.srv.URL+"/app/login"),
			chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
			chromedp.SendKeys(chromedp.ID("password"), "wrong password"),
			chromedp.Click(chromedp.ID("sign-in")),
			chromedp.WaitVisible(chromedp.CSS(".error")))
		if alert := get(t, ctx, chromedp.Text(chromedp.CSS(".error"))); !strings.Contains(alert, "Wrong") {
			t.Errorf("alert %q", alert)
		}
	})
}

func TestAssignFromDropdownShowsInAssigneesMineTab(t *testing.T) {
	c := newConsole(t)
	ann, bob := c.agent("Ann", switchboard.RoleAgent), c.agent("Bob", switchboard.RoleAgent)
	outsider := c.agent("Olga", switchboard.RoleAgent)
	in := c.inbox("Website", ann, bob)
	c.inbox("Billing", outsider)
	conv, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID, Message: "Hello"})
	if err != nil {
		t.Fatal(err)
	}
	admin := c.browser(t, "ada@example.com")
	bobs := c.browser(t, "bob@example.com")
	do(t, bobs, chromedp.Navigate(c.url("/conversations?tab=mine")), waitLive())

	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive())
	options := js[[]string](t, admin, `[...document.querySelectorAll('#assignee option')].map(o => o.textContent.trim())`)
	// None, then exactly the members and administrators: Ada, Ann, Bob; not Olga.
	if len(options) != 4 || !strings.Contains(options[0], "None") || strings.Contains(strings.Join(options, ","), "Olga") {
		t.Errorf("Assigned Agent options %q, want None and exactly Ada, Ann, Bob", options)
	}
	choose(t, admin, bob.ID)
	do(t, bobs, within(fmt.Sprintf(`#conversation-list tr[data-conversation="%d"][data-assignee="%d"]`, conv.ID, bob.ID)))
	do(t, admin, within("#assignment-history .reason.manual"))
	if history := textOf(t, admin, "assignment-history"); !strings.Contains(history, "Bob") {
		t.Errorf("history %q does not show the assignment to Bob", history)
	}
	t.Run("RefusedAssignmentShownInline", func(t *testing.T) {
		// Olga is no member: her option comes by hand, as a stale page might have it.
		choose(t, admin, outsider.ID)
		do(t, admin, within("#assign-error:not([hidden])"))
		if shown := textOf(t, admin, "assign-error"); !strings.Contains(shown, "member") {
			t.Errorf("inline error %q", shown)
		}
		// Someone else's change rereads the page: the message stays.
		n := reread(t, admin)
		if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID}); err != nil {
			t.Fatal(err)
		}
		do(t, admin, rereadSince(n))
		if shown := textOf(t, admin, "assign-error"); !strings.Contains(shown, "member") {
			t.Errorf("after a live update the inline error reads %q", shown)
		}
		got, _ := c.db.Conversation(context.Background(), c.admin, conv.ID)
		if got.Assignee == nil || got.Assignee.ID != bob.ID {
			t.Errorf("a refused assignment changed the assignee")
		}
	})
}

// The page may be reread while an assignment is on its way (a change by
// someone else): the refusal still shows, on the page as it is then.
func TestRefusalAnsweredAfterALiveReread(t *testing.T) {
	c := newConsole(t)
	ann := c.agent("Ann", switchboard.RoleAgent)
	outsider := c.agent("Olga", switchboard.RoleAgent)
	in := c.inbox("Website", ann)
	c.inbox("Billing", outsider)
	conv, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive())

	// Hold the assignment at the server until the page has been reread.
	held, release := c.holdNextAssignment(t)
	choose(t, admin, outsider.ID)
	held()
	n := reread(t, admin)
	if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID}); err != nil {
		t.Fatal(err)
	}
	do(t, admin, rereadSince(n))
	release()
	do(t, admin, within("#assign-error:not([hidden])"))
	if shown := textOf(t, admin, "assign-error"); !strings.Contains(shown, "member") {
		t.Errorf("inline error %q", shown)
	}
}

// Two choices in a row, the first answered last: only the latest one's
// answer shows.
func TestOnlyTheLatestChoiceAnswers(t *testing.T) {
	c := newConsole(t)
	ann, bob := c.agent("Ann", switchboard.RoleAgent), c.agent("Bob", switchboard.RoleAgent)
	outsider := c.agent("Olga", switchboard.RoleAgent)
	in := c.inbox("Website", ann, bob)
	c.inbox("Billing", outsider)
	conv, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil || conv.Assignee == nil || conv.Assignee.ID != ann.ID {
		t.Fatalf("setup: the conversation should go to Ann: %+v %v", conv.Assignee, err)
	}
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive())

	held, release := c.holdNextAssignment(t)
	choose(t, admin, outsider.ID)
	held()
	// The second choice, Bob, goes through while the first (refused) waits.
	choose(t, admin, bob.ID)
	do(t, admin, within("#assignment-history .reason.manual"))
	release()
	do(t, admin, within(`#assign-form[aria-busy="false"]`))
	if shown := js[bool](t, admin, `!document.getElementById("assign-error").hidden`); shown {
		t.Errorf("the first choice's late refusal shows: %q", textOf(t, admin, "assign-error"))
	}
	if got, _ := c.db.Conversation(context.Background(), c.admin, conv.ID); got.Assignee == nil || got.Assignee.ID != bob.ID {
		t.Errorf("assignee %+v, want Bob", got.Assignee)
	}
}

func TestAutoAssignmentOffThenAPICreateArrivesUnassignedLive(t *testing.T) {
	c := newConsole(t)
	ann := c.agent("Ann", switchboard.RoleAgent)
	in := c.inbox("Website", ann)
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/settings/inboxes/%d/collaborators", in.ID)),
		chromedp.Click(chromedp.ID("enable-auto-assignment")),
		chromedp.Click(chromedp.ID("update-collaborators")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	got, err := c.db.Inbox(context.Background(), c.admin, in.ID)
	if err != nil || got.EnableAutoAssignment {
		t.Fatalf("auto-assignment still on after Update: %+v %v", got, err)
	}
	if members, _ := c.db.InboxMembers(context.Background(), c.admin, in.ID); len(members) != 1 {
		t.Fatalf("Update changed the members to %v", members)
	}
	do(t, admin, chromedp.Navigate(c.url("/conversations?tab=unassigned")), waitLive())

	req, _ := http.NewRequest("POST", c.srv.URL+"/api/v1/accounts/1/conversations", strings.NewReader(fmt.Sprintf(`{"inbox_id": %d}`, in.ID)))
	req.Header.Set("api_access_token", c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create through the API: %v %v", resp, err)
	}
	resp.Body.Close()
	do(t, admin, within(`#conversation-list tr[data-conversation="1"][data-assignee=""]`))
}

// A busy account's changes come closer together than the console's 100 ms
// wait before a reread; the console still rereads while they come, and not
// only once they stop, but no more than once in 500 ms.
func TestAConsoleRereadsWhileChangesKeepComing(t *testing.T) {
	c := newConsole(t)
	ann := c.agent("Ann", switchboard.RoleAgent)
	in := c.inbox("Website", ann)
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/conversations?tab=all")), waitLive())
	n := reread(t, admin)

	// A create every 20 ms, each heard live, until the test ends, or for
	// longer than within waits: a console that rereads only once changes
	// stop fails.
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		deadline := time.After(30 * time.Second)
		for {
			if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID}); err != nil {
				done <- err
				return
			}
			select {
			case <-stop:
				done <- nil
				return
			case <-deadline:
				done <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	stopped := sync.OnceFunc(func() { close(stop) })
	defer stopped()
	err := chromedp.Do(admin, rereadSince(n), chromedp.WaitVisible(chromedp.CSS(`#conversation-list tr[data-conversation="1"]`)))
	if err != nil {
		t.Fatalf("no reread while a change came every 20 ms: %v", err)
	}
	first, since := reread(t, admin), time.Now()
	time.Sleep(2 * time.Second)
	last, elapsed := reread(t, admin), time.Since(since)
	stopped()
	if err := <-done; err != nil {
		t.Fatalf("create: %v", err)
	}
	var a, b int
	fmt.Sscan(first, &a)
	fmt.Sscan(last, &b)
	if b <= a {
		t.Errorf("no reread in %v of changes after the first (%d rereads)", elapsed, a)
	}
	if most := int(elapsed/(500*time.Millisecond)) + 1; b-a > most {
		t.Errorf("%d rereads in %v of changes, more than one in 500 ms (%d)", b-a, elapsed, most)
	}
}

func TestOfflineFromProfileMenuMovesConversationLive(t *testing.T) {
	c := newConsole(t)
	ann, bob := c.agent("Ann", switchboard.RoleAgent), c.agent("Bob", switchboard.RoleAgent)
	in := c.inbox("Website", ann, bob)
	anns := c.browser(t, "ann@example.com")
	bobs := c.browser(t, "bob@example.com") // both online now
	conv, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil || conv.Assignee == nil || conv.Assignee.ID != ann.ID {
		t.Fatalf("setup: conversation should go to Ann: %+v %v", conv.Assignee, err)
	}
	do(t, bobs, chromedp.Navigate(c.url("/conversations?tab=mine")), waitLive())
	do(t, anns, chromedp.Navigate(c.url("/conversations?tab=mine")),
		chromedp.Click(chromedp.CSS("#profile-menu summary")),
		chromedp.Click(chromedp.ID("set-offline")),
		chromedp.WaitVisible(chromedp.CSS(`#my-availability[data-availability="offline"]`)))
	do(t, bobs, within(fmt.Sprintf(`#conversation-list tr[data-conversation="%d"][data-assignee="%d"]`, conv.ID, bob.ID)))
	if pressed := js[string](t, anns, `document.getElementById("set-offline").getAttribute("aria-pressed")`); pressed != "true" {
		t.Errorf("the profile menu does not mark Offline as current")
	}
	t.Run("SignOutConfirms", func(t *testing.T) {
		do(t, bobs, chromedp.Click(chromedp.CSS("#profile-menu summary")),
			chromedp.Click(chromedp.ID("sign-out")),
			chromedp.WaitVisible(chromedp.CSS(".notice")))
		if notice := get(t, bobs, chromedp.Text(chromedp.CSS(".notice"))); !strings.Contains(notice, "signed out") {
			t.Errorf("no confirmation after sign-out: %q", notice)
		}
		got, _ := c.db.Conversation(context.Background(), c.admin, conv.ID)
		if got.Assignee != nil {
			t.Errorf("after both went offline the conversation is still with %d", got.Assignee.ID)
		}
	})
}

func TestAgentDoesNotSeeOtherInboxes(t *testing.T) {
	c := newConsole(t)
	ann, olga := c.agent("Ann", switchboard.RoleAgent), c.agent("Olga", switchboard.RoleAgent)
	mine, other := c.inbox("Website", ann), c.inbox("Billing", olga)
	for _, in := range []int64{mine.ID, other.ID} {
		if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in}); err != nil {
			t.Fatal(err)
		}
	}
	anns := c.browser(t, "ann@example.com")
	do(t, anns, chromedp.Navigate(c.url("/conversations?tab=all")))
	rows := js[[]string](t, anns, `[...document.querySelectorAll('#conversation-list tr[data-conversation]')].map(r => r.textContent)`)
	inboxes := js[[]string](t, anns, `[...document.querySelectorAll('#filter-inbox option')].map(o => o.textContent)`)
	if len(rows) != 1 || strings.Contains(rows[0], "Billing") || strings.Contains(strings.Join(inboxes, ","), "Billing") {
		t.Errorf("agent sees rows %q and inboxes %q; want only Website", rows, inboxes)
	}
	do(t, anns, chromedp.Navigate(c.url("/settings/inboxes/%d/collaborators", other.ID)))
	if title := get(t, anns, chromedp.Title()); !strings.Contains(title, "Not Found") {
		t.Errorf("another inbox's settings by URL: %q, want Not Found", title)
	}
	do(t, anns, chromedp.Navigate(c.url("/settings/inboxes/%d/collaborators", mine.ID)))
	if title := get(t, anns, chromedp.Title()); !strings.Contains(title, "Forbidden") {
		t.Errorf("own inbox's settings by URL: %q, want Forbidden", title)
	}
	if links := js[int](t, anns, `document.querySelectorAll('a[href*="/settings/"]').length`); links != 0 {
		t.Errorf("an agent's page links to the settings %d times", links)
	}
}

func TestCollaboratorsSetsLimitAndModeAndShowsTheQueue(t *testing.T) {
	c := newConsole(t)
	ann := c.agent("Ann", switchboard.RoleAgent)
	in := c.inbox("Website", ann)
	admin := c.browser(t, "ada@example.com")
	c.browser(t, "ann@example.com") // Ann online
	do(t, admin, chromedp.Navigate(c.url("/settings/inboxes/%d/collaborators", in.ID)),
		chromedp.SendKeys(chromedp.ID("max-assignment-limit"), "1"),
		chromedp.SetValue(chromedp.ID("assignment-mode"), "balanced"),
		chromedp.Click(chromedp.ID("update-collaborators")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	got, err := c.db.Inbox(context.Background(), c.admin, in.ID)
	if err != nil || got.MaxAssignmentLimit != 1 || got.AssignmentMode != switchboard.Balanced {
		t.Fatalf("after Update: limit %d, mode %q (%v)", got.MaxAssignmentLimit, got.AssignmentMode, err)
	}
	for range 2 {
		if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID}); err != nil {
			t.Fatal(err)
		}
	}
	do(t, admin, chromedp.Navigate(c.url("/conversations/2")), within("#queue-position"))
	if text := textOf(t, admin, "queue-position"); !strings.Contains(text, "#1 in the queue") {
		t.Errorf("queue position shown as %q", text)
	}
}

// With the keyboard, arrows only browse the Assigned Agent list; Enter
// assigns.
// focusAssignee focuses the Assigned Agent list as it is when the step runs.
// (chromedp.Focus finds the node, then focuses it: a live update that
// replaces the page's main part in between leaves it no node to focus.)
func focusAssignee() step {
	return chromedp.Evaluate[chromedp.Void](`document.getElementById("assignee").focus()`)
}

func TestAssignWithTheKeyboard(t *testing.T) {
	c := newConsole(t)
	ann, bob := c.agent("Ann", switchboard.RoleAgent), c.agent("Bob", switchboard.RoleAgent)
	in := c.inbox("Website", ann, bob)
	in2, err := c.db.UpdateInbox(context.Background(), c.admin, in.ID, switchboard.InboxUpdate{EnableAutoAssignment: new(false)})
	if err != nil || in2.EnableAutoAssignment {
		t.Fatal(err)
	}
	conv, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive(),
		focusAssignee(),
		chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown))
	// The script has run its handlers; nothing may have been assigned yet.
	browsed := js[string](t, admin, `document.getElementById("assignee").value`)
	if browsed == "" {
		t.Fatal("the arrow keys did not move the selection")
	}
	if got, _ := c.db.Conversation(context.Background(), c.admin, conv.ID); got.Assignee != nil {
		t.Fatalf("browsing with the arrow keys assigned %s", got.Assignee.Name)
	}
	// A change by someone else meanwhile does not take the list away: the
	// page is reread once the choice is made.
	if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID}); err != nil {
		t.Fatal(err)
	}
	do(t, admin, within("body[data-refresh-held]"))
	do(t, admin, chromedp.KeyEvent(kb.Enter), within("#assignment-history .reason.manual"))
	if got, _ := c.db.Conversation(context.Background(), c.admin, conv.ID); got.Assignee == nil || fmt.Sprint(got.Assignee.ID) != browsed {
		t.Errorf("Enter assigned %+v, want the browsed %s", got.Assignee, browsed)
	}
	// Escape after browsing goes back to the assignee and sends nothing.
	// First the list shows the assignee: rereads of the page are still
	// under way after the choice (one failed CI run found "" after Escape,
	// as if a page read before the assignment was swapped in last).
	do(t, admin, chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById("assignee")?.value === %q`, browsed),
		chromedp.WithPollingTimeout(10*time.Second)))
	do(t, admin, focusAssignee(), chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.Escape))
	if value := js[string](t, admin, `document.getElementById("assignee").value`); value != browsed {
		t.Errorf("after Escape the list shows %q, want the assignee %s", value, browsed)
	}
	do(t, admin, chromedp.Evaluate[chromedp.Void](`document.getElementById("assignee").blur()`))
	if got, _ := c.db.Conversation(context.Background(), c.admin, conv.ID); got.Assignee == nil || fmt.Sprint(got.Assignee.ID) != browsed {
		t.Errorf("after Escape and leaving the list the assignee is %+v, want %s", got.Assignee, browsed)
	}
}
