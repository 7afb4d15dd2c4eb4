package store_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// gate carries a store's connections to PostgreSQL and can shut, as a
// database that goes down or out of reach does: the connections it
// carries end, and new ones are refused until it opens again.
type gate struct {
	t    *testing.T
	to   string // PostgreSQL's address
	addr string // the gate's, in the store's DSN
	dsn  string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

// newGate opens a gate to the PostgreSQL of dsn and returns it with the DSN
// that goes through it.
func newGate(t *testing.T, dsn string) *gate {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, to: u.Host, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	g.open()
	u.Host = g.addr
	g.dsn = u.String()
	t.Cleanup(g.shut)
	return g
}

// open listens at the gate's address (the same one after a shut) and
// carries what it takes.
func (g *gate) open() {
	g.t.Helper()
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.mu.Lock()
	g.ln, g.addr = ln, ln.Addr().String()
	g.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.carry(c)
		}
	}()
}

func (g *gate) carry(c net.Conn) {
	d, err := net.Dial("tcp", g.to)
	if err != nil {
		c.Close()
		return
	}
	if !g.track(c, d) {
		return
	}
	go func() { io.Copy(d, c); d.Close() }()
	io.Copy(c, d)
	c.Close()
}

// track keeps c and d to end them at the next shut, or ends them now if
// the gate shut meanwhile.
func (g *gate) track(c, d net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		c.Close()
		d.Close()
		return false
	}
	g.conns[c], g.conns[d] = true, true
	return true
}

// shut refuses new connections and ends those the gate carries.
func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
		delete(g.conns, c)
	}
}

// TestAnswersWhileTheDatabaseIsOutOfReach: PostgreSQL goes down or out of
// reach under a running store (its sessions end, new connections are
// refused). Reads, sign-ins and writes then fail as unavailable (503 and
// Retry-After at the API: try again), each saying what happened, and none
// as an internal error; once the database is back, each succeeds again.
func TestAnswersWhileTheDatabaseIsOutOfReach(t *testing.T) {
	ctx := context.Background()
	g := newGate(t, storetest.Postgres(t)(t))
	db, err := store.Open(ctx, g.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	admin, agent, inbox := newDeskOn(t, db)
	conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
		want string // what the error says when the database is out of reach
	}{
		{"Query", func() error {
			inboxes, err := db.Inboxes(ctx, admin)
			if err == nil && (len(inboxes) != 1 || inboxes[0].ID != inbox) {
				err = fmt.Errorf("inboxes %+v, want inbox %d", inboxes, inbox)
			}
			return err
		}, "could not be reached"},
		{"QueryRow", func() error {
			n, err := db.CountAccounts(ctx)
			if err == nil && n != 1 {
				err = fmt.Errorf("%d accounts, want 1", n)
			}
			return err
		}, "could not be reached"},
		{"ReadOnlyTransaction", func() error {
			got, err := db.Conversation(ctx, admin, conv.ID)
			if err == nil && got.ID != conv.ID {
				err = fmt.Errorf("conversation %d, want %d", got.ID, conv.ID)
			}
			return err
		}, "could not be reached"},
		{"Agents", func() error {
			agents, err := db.Agents(ctx, admin)
			if err == nil && len(agents) != 2 {
				err = fmt.Errorf("%d agents, want 2", len(agents))
			}
			return err
		}, "could not be reached"},
		{"Agent", func() error {
			a, err := db.Agent(ctx, admin, agent)
			if err == nil && a.ID != agent {
				err = fmt.Errorf("agent %d, want %d", a.ID, agent)
			}
			return err
		}, "could not be reached"},
		{"Inbox", func() error {
			in, err := db.Inbox(ctx, admin, inbox)
			if err == nil && in.ID != inbox {
				err = fmt.Errorf("inbox %d, want %d", in.ID, inbox)
			}
			return err
		}, "could not be reached"},
		{"Webhooks", func() error {
			_, err := db.Webhooks(ctx, admin)
			return err
		}, "could not be reached"},
		{"SignIn", func() error {
			_, _, err := db.SignIn(ctx, "ada@example.com", "password123")
			return err
		}, "could not be reached"},
		{"Write", func() error {
			_, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
			return err
		}, "lost before the change was committed"},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s, the database in reach: %v", c.name, err)
		}
	}
	g.shut()
	for _, c := range calls {
		err := c.call()
		if code := switchboard.ErrorCode(err); code != switchboard.EUNAVAILABLE || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s, the database out of reach: %v (code %q), want %s saying %q", c.name, err, code, switchboard.EUNAVAILABLE, c.want)
		}
	}
	g.open()
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s, the database back: %v", c.name, err)
		}
	}
}
