package web_test

import (
	"bufio"
	"context"
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

// TestABurstOfChangesIsFewEvents: a console rereads its whole view on an
// event, so a burst of changes goes to its stream as a few events, not one
// each (every one a check of what the caller may see); and the last change
// is still followed by an event.
func TestABurstOfChangesIsFewEvents(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada Admin", "ada@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	admin := switchboard.Caller{UserID: u.ID, AccountID: 1, Role: switchboard.RoleAdministrator}
	inbox, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := web.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), throttle.New())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(srv.URL+"/app/login", url.Values{"email": {"ada@example.com"}, "password": {password}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %v %v", resp, err)
	}
	resp.Body.Close()
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(streamCtx, "GET", srv.URL+"/app/accounts/1/events", nil)
	stream, err := browser.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %v %v", stream, err)
	}
	defer stream.Body.Close()
	type event struct {
		data string
		at   time.Time // when it arrived
	}
	events := make(chan event, 1000)
	go func() {
		defer close(events)
		lines := bufio.NewScanner(stream.Body)
		for lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				events <- event{data, time.Now()}
			}
		}
	}()

	// The stream is subscribed once its headers are answered.
	const creates = 200
	for range creates {
		if _, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox.ID}); err != nil {
			t.Fatal(err)
		}
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
