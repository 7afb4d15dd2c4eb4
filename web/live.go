package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchboard/switchboard"
)

// events streams the changes the caller may see as Server-Sent Events. The
// console rereads its view when one arrives. SSE rather than WebSocket: the
// stream goes one way, works through any HTTP proxy, and the browser
// reconnects by itself.
func (c *Console) events(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	changes, cancel := c.store.Subscribe()
	defer cancel()
	// The stream is the console's presence: availability can follow it.
	conn, err := c.store.ConsoleConnected(r.Context(), caller.AccountID, caller.UserID)
	if err != nil {
		return err
	}
	defer func() {
		if err := c.store.ConsoleDisconnected(context.WithoutCancel(r.Context()), conn); err != nil {
			c.log.Error("console disconnected", "err", err)
		}
	}()
	rc := http.NewResponseController(w)
	// The stream outlives the server's write timeout, which is for requests.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	if err := rc.Flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	var (
		sent    time.Time           // the last event
		pending *switchboard.Change // to tell of when the gap after it ends
		gapEnd  <-chan time.Time
		seen    = inboxesSeen{log: c.log}
	)
	send := func(ch switchboard.Change) {
		data, _ := json.Marshal(map[string]any{
			"kind": ch.Kind, "conversation_id": ch.ConversationID, "inbox_id": ch.InboxID, "user_id": ch.UserID,
		})
		fmt.Fprintf(w, "event: change\ndata: %s\n\n", data)
		sent = time.Now()
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-c.closing:
			return nil
		case <-heartbeat.C:
			fmt.Fprint(w, ": ping\n\n")
		case <-gapEnd:
			send(*pending)
			pending, gapEnd = nil, nil
		case ch := <-changes:
			seen.forget(caller, ch)
			// An event on its way already stands for this change: the
			// console rereads its whole view after it.
			if pending != nil {
				continue
			}
			if !seen.maySee(r, c.store, caller, ch) {
				continue
			}
			if wait := eventGap - time.Since(sent); wait > 0 {
				pending, gapEnd = &ch, time.After(wait)
				continue
			}
			send(ch)
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// eventGap is the least time between two events of a stream. An event
// makes the console reread its whole view, 100 ms later (app.js), and the
// changes that come meanwhile are in what it reads; so the changes of a
// busy account, dozens a second, cost each console an event and a check of
// what it may see ten times a second at most, not once each. An event's
// data names the first change it stands for.
const eventGap = 100 * time.Millisecond

// inboxesSeen remembers, for one stream, whether its caller may see each
// inbox that a change was about: what store.MaySeeChange answers for a
// change of a conversation or an inbox depends on the inbox alone, and an
// agent's stream asks it of every change of the account, one query each.
// An inbox is asked about again after a change of it (its members may have
// changed), all of them after a change of the caller (removed from the
// account, say), and any after inboxSeenFor. On PostgreSQL a change made by
// another process may arrive before the change of members committed just
// before it: for those few milliseconds, an agent just removed from an
// inbox may still hear that one of its conversations changed, though the
// page they reread no longer shows it (SECURITY.md).
type inboxesSeen struct {
	log   *slog.Logger
	inbox map[int64]inboxSeen
}

type inboxSeen struct {
	may bool
	at  time.Time
}

const inboxSeenFor = 5 * time.Second

// forget forgets what ch may have changed: every change goes through it,
// those that need no check too.
func (s *inboxesSeen) forget(caller switchboard.Caller, ch switchboard.Change) {
	switch {
	case ch.AccountID != caller.AccountID:
	case ch.Kind == switchboard.AgentChanged && ch.UserID == caller.UserID:
		clear(s.inbox)
	case ch.Kind == switchboard.InboxChanged:
		delete(s.inbox, ch.InboxID)
	}
}

// maySee reports whether the caller may see what ch is about.
func (s *inboxesSeen) maySee(r *http.Request, st Store, caller switchboard.Caller, ch switchboard.Change) bool {
	if ch.AccountID != caller.AccountID {
		return false
	}
	keep := ch.Kind == switchboard.ConversationChanged || ch.Kind == switchboard.InboxChanged
	if e, ok := s.inbox[ch.InboxID]; keep && ok && time.Since(e.at) < inboxSeenFor {
		return e.may
	}
	may, err := st.MaySeeChange(r.Context(), caller, ch)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("checking what a console may see", "err", err)
		}
		return false
	}
	if keep {
		if s.inbox == nil {
			s.inbox = map[int64]inboxSeen{}
		}
		s.inbox[ch.InboxID] = inboxSeen{may: may, at: time.Now()}
	}
	return may
}
