package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// consoles are open web consoles, as a support team's browser tabs: each
// hears the account's changes on its live-update stream (web/live.go) and
// rereads its page of conversations as the console's script does
// (web/static/app.js): 100 ms after an event, and at least rereadGap after
// the reread before, the events that come meanwhile joining it, one reread
// at a time.
type consoles struct {
	n       int
	events  atomic.Int64
	rereads atomic.Int64
	failed  atomic.Int64 // rereads answered other than 200
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// rereadGap is the least time between the starts of two rereads of a
// console (app.js).
const rereadGap = 500 * time.Millisecond

// newConsoles returns consoles that close when ctx ends or close is
// called; open opens them.
func newConsoles(ctx context.Context) (*consoles, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &consoles{cancel: cancel}, ctx
}

// open signs email in to the console on base and opens n event streams in
// account with that session. ctx is newConsoles'.
func (c *consoles) open(ctx context.Context, base, email, password string, account int64, n int) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(base+"/app/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return fmt.Errorf("console sign-in: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("console sign-in of %s: status %d", email, resp.StatusCode)
	}
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/app/accounts/%d/events", base, account), nil)
		if err != nil {
			return err
		}
		stream, err := browser.Do(req)
		if err == nil && stream.StatusCode != http.StatusOK {
			stream.Body.Close()
			err = fmt.Errorf("status %d", stream.StatusCode)
		}
		if err != nil {
			return fmt.Errorf("console event stream: %w", err)
		}
		c.n++
		heard := make(chan struct{}, 1)
		c.wg.Go(func() {
			defer stream.Body.Close()
			defer close(heard)
			lines := bufio.NewScanner(stream.Body)
			for lines.Scan() {
				if strings.HasPrefix(lines.Text(), "event: change") {
					c.events.Add(1)
					select {
					case heard <- struct{}{}:
					default: // a reread is due already
					}
				}
			}
		})
		page := fmt.Sprintf("%s/app/accounts/%d/conversations?tab=all", base, account)
		c.wg.Go(func() {
			var last time.Time
			for range heard {
				select {
				case <-time.After(max(100*time.Millisecond, time.Until(last.Add(rereadGap)))):
				case <-ctx.Done():
					return
				}
				last = time.Now()
				c.reread(ctx, browser, page)
			}
		})
	}
	return nil
}

// reread fetches the console's page as its script does.
func (c *consoles) reread(ctx context.Context, browser *http.Client, page string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	if err != nil {
		return
	}
	req.Header.Set("X-Requested-With", "refresh")
	resp, err := browser.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.failed.Add(1)
		}
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.failed.Add(1)
		return
	}
	c.rereads.Add(1)
}

// await waits until the consoles have heard n events, or for at most d.
func (c *consoles) await(ctx context.Context, n int64, d time.Duration) {
	deadline := time.Now().Add(d)
	for c.events.Load() < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// openAgentConsoles opens a console for each of n new agents, members of
// an inbox of their own only: every change of the account's other inboxes
// is one they may not see, which their streams check and leave out.
func (c *consoles) openAgentConsoles(ctx context.Context, admin *client, n int) error {
	inbox, err := admin.createInbox(ctx, "Elsewhere "+runTag())
	if err != nil {
		return err
	}
	const password = "bench-agent-password"
	tag := runTag()
	agents, err := admin.createAgentsWith(ctx, n, tag, password)
	if err != nil {
		return err
	}
	if err := admin.addMembers(ctx, inbox, agents); err != nil {
		return err
	}
	for i := range agents {
		if err := c.open(ctx, admin.base, agentEmail(tag, i), password, admin.account, 1); err != nil {
			return err
		}
	}
	return nil
}

// close closes the streams.
func (c *consoles) close() {
	c.cancel()
	c.wg.Wait()
}
