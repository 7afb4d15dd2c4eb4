package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// receiver is an integration's endpoint: it answers every webhook delivery
// 200 at once and counts them, so the create scenario can measure an
// account that has webhooks as a deployment with integrations does (each
// create then writes its deliveries in its transaction, and the server's
// sender posts them meanwhile).
type receiver struct {
	srv  *http.Server
	url  string
	got  atomic.Int64
	mu   sync.Mutex
	last time.Time // when the last delivery arrived
}

// startReceiver starts a receiver that answers each delivery after
// latency, as one across a network would.
func startReceiver(latency time.Duration) (*receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + l.Addr().String() + "/hook"}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		time.Sleep(latency)
		r.got.Add(1)
		r.mu.Lock()
		r.last = time.Now()
		r.mu.Unlock()
	})}
	go r.srv.Serve(l)
	return r, nil
}

func (r *receiver) close() { r.srv.Close() }

func (r *receiver) lastAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// await waits until want deliveries have arrived, or until no new one has
// come for idle; it returns how many arrived.
func (r *receiver) await(ctx context.Context, want int64, idle time.Duration) int64 {
	seen, since := r.got.Load(), time.Now()
	for {
		got := r.got.Load()
		if got >= want || ctx.Err() != nil {
			return got
		}
		if got != seen {
			seen, since = got, time.Now()
		} else if time.Since(since) > idle {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadReceiver is an integration gone dark: it takes each delivery and
// never answers, so that the server's sender waits out its timeout.
type deadReceiver struct {
	srv  *http.Server
	url  string
	stop chan struct{}
}

func startDeadReceiver() (*deadReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &deadReceiver{url: "http://" + l.Addr().String() + "/hook", stop: make(chan struct{})}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		select {
		case <-r.stop:
		case <-req.Context().Done():
		}
	})}
	go r.srv.Serve(l)
	return r, nil
}

func (r *deadReceiver) close() {
	close(r.stop)
	r.srv.Close()
}

// createWebhooks subscribes n webhooks of the account to every event, all
// posting to url.
func (c *client) createWebhooks(ctx context.Context, n int, url string) error {
	for i := range n {
		body := map[string]any{"url": fmt.Sprintf("%s?hook=%d", url, i)}
		if err := c.call(ctx, "POST", c.accountPath("/webhooks"), body, nil); err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
	}
	return nil
}

// deliveriesPerCreate is what a create+auto-assign sends each webhook
// subscribed to every event: conversation_created and assignee_changed (its
// conversation_updated is not sent beside its creation).
const deliveriesPerCreate = 2
