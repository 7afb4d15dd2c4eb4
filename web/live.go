package web

import (
	"context"
	"encoding/json"
	"fmt"
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
			// An event on its way already stands for this change: the
			// console rereads its whole view after it.
			if pending != nil {
				continue
			}
			if ok, err := c.store.MaySeeChange(r.Context(), caller, ch); err != nil || !ok {
				if err != nil && r.Context().Err() == nil {
					c.log.Warn("checking what a console may see", "err", err)
				}
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
