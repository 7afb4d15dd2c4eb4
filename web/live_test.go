package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
	"github.com/switchboard/switchboard/throttle"
	"github.com/switchboard/switchboard/web"
)

// liveConsole is a console server, without a browser, on a store with an
// administrator.
type liveConsole struct {
	db    *store.DB
	admin switchboard.Caller
	srv   *httptest.Server
}

func newLiveConsole(t *testing.T) *liveConsole {
	t.Helper()
	return newConsoleServer(t, storetest.SQLite(t))
}

func newConsoleServer(t *testing.T, dsn string) *liveConsole {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada Admin", "ada@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := web.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), throttle.New())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui)
	t.Cleanup(srv.Close)
	return &liveConsole{db: db, admin: switchboard.Caller{UserID: u.ID, AccountID: 1, Role: switchboard.RoleAdministrator}, srv: srv}
}

func (l *liveConsole) inbox(t *testing.T, name string) int64 {
	t.Helper()
	in, err := l.db.CreateInbox(context.Background(), l.admin, switchboard.NewInbox{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return in.ID
}

// agent makes an agent who signs in with password, a member of inboxes,
// and returns their id.
func (l *liveConsole) agent(t *testing.T, email string, inboxes ...int64) int64 {
	t.Helper()
	ctx := context.Background()
	a, err := l.db.CreateAgent(ctx, l.admin, switchboard.NewAgent{Name: email, Email: email, Role: switchboard.RoleAgent, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inboxes {
		if _, err := l.db.ChangeMembers(ctx, l.admin, in, []int64{a.ID}, store.AddMembers); err != nil {
			t.Fatal(err)
		}
	}
	return a.ID
}

func (l *liveConsole) create(t *testing.T, inbox int64) switchboard.Conversation {
	t.Helper()
	c, err := l.db.CreateConversation(context.Background(), l.admin, switchboard.NewConversation{InboxID: inbox})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// streamEvent is an event of a console's stream: its data, and when it
// arrived.
type streamEvent struct {
	data string
	at   time.Time
}

// stream signs email in to the console and opens its event stream, which
// is subscribed once this returns.
func (l *liveConsole) stream(t *testing.T, email string) <-chan streamEvent {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(l.srv.URL+"/app/login", url.Values{"email": {email}, "password": {password}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %v %v", resp, err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", l.srv.URL+"/app/accounts/1/events", nil)
	stream, err := browser.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %v %v", stream, err)
	}
	t.Cleanup(func() { stream.Body.Close() })
	events := make(chan streamEvent, 1000)
	go func() {
		defer close(events)
		lines := bufio.NewScanner(stream.Body)
		for lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				events <- streamEvent{data, time.Now()}
			}
		}
	}()
	return events
}

// next returns the stream's next event, failing t after 10 s without one.
func next(t *testing.T, events <-chan streamEvent) streamEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10 s")
	}
	return streamEvent{}
}

// TestABurstOfChangesIsFewEvents: a console rereads its whole view on an
// event, so a burst of changes goes to its stream as a few events, not one
// each (every one a check of what the caller may see); and the last change
// is still followed by an event.
func TestABurstOfChangesIsFewEvents(t *testing.T) {
	l := newLiveConsole(t)
	inbox := l.inbox(t, "Web")
	events := l.stream(t, "ada@example.com")
	const creates = 200
	for range creates {
		l.create(t, inbox)
	}
	burstEnd := time.Now()
	// The events, until none comes for a second.
	n, last := 0, time.Time{}
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if !strings.Contains(e.data, `"kind":"conversation"`) {
				t.Errorf("an event not of a conversation: %s", e.data)
			}
			n, last = n+1, e.at
			continue
		case <-time.After(time.Second):
		}
		break
	}
	if n == 0 || last.Before(burstEnd) {
		t.Fatalf("no event after the last of %d creates (%d events, the last at %v, the burst ended at %v)", creates, n, last, burstEnd)
	}
	if n > creates/2 {
		t.Errorf("%d creates made %d events: not gathered", creates, n)
	}
}

// TestAnAgentsStreamTellsOnlyOfTheirInboxes: an agent's console hears of a
// conversation made in an inbox of theirs, and not of one made before it in
// an inbox they are not a member of.
func TestAnAgentsStreamTellsOnlyOfTheirInboxes(t *testing.T) {
	l := newLiveConsole(t)
	mine, other := l.inbox(t, "Mine"), l.inbox(t, "Other")
	l.agent(t, "ann@example.com", mine)
	events := l.stream(t, "ann@example.com")
	l.create(t, other)
	seen := l.create(t, mine)
	e := next(t, events)
	want := fmt.Sprintf(`"conversation_id":%d`, seen.ID)
	if !strings.Contains(e.data, want) || !strings.Contains(e.data, fmt.Sprintf(`"inbox_id":%d`, mine)) {
		t.Errorf("the agent's first event is %s, want the conversation %d of their inbox %d", e.data, seen.ID, mine)
	}
}

// TestAnAgentRemovedFromAnInboxHearsNoMoreOfIt: a stream remembers which
// inboxes its agent may see, and forgets one when its members change, even
// while an event of its own is on its way: after the agent leaves it, a
// conversation made there is not told of, and one made next in an inbox of
// theirs is.
func TestAnAgentRemovedFromAnInboxHearsNoMoreOfIt(t *testing.T) {
	l := newLiveConsole(t)
	left, stays := l.inbox(t, "Left"), l.inbox(t, "Stays")
	ann := l.agent(t, "ann@example.com", left, stays)
	events := l.stream(t, "ann@example.com")
	want := func(e streamEvent, c switchboard.Conversation, when string) {
		t.Helper()
		if !strings.Contains(e.data, fmt.Sprintf(`"conversation_id":%d,`, c.ID)) {
			t.Fatalf("%s the agent's event is %s, want conversation %d of inbox %d", when, e.data, c.ID, c.InboxID)
		}
	}
	first := l.create(t, left)
	want(next(t, events), first, "first")
	// Within the 100 ms after that event: the next waits for the gap's end,
	// and the removal comes meanwhile.
	waiting := l.create(t, stays)
	if _, err := l.db.ChangeMembers(context.Background(), l.admin, left, []int64{ann}, store.RemoveMembers); err != nil {
		t.Fatal(err)
	}
	want(next(t, events), waiting, "second")
	l.create(t, left)
	seen := l.create(t, stays)
	want(next(t, events), seen, fmt.Sprintf("after leaving inbox %d", left))
}
