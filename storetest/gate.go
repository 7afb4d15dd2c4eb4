package storetest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Gate carries a store's connections to PostgreSQL and can shut, as a
// database that goes down or out of reach does: the connections it
// carries end, and new ones are refused until it opens again.
type Gate struct {
	t    testing.TB
	to   string // PostgreSQL's address
	addr string // the gate's
	dsn  string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

// NewGate opens a gate to the PostgreSQL of dsn, shut when t ends.
func NewGate(t testing.TB, dsn string) *Gate {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{t: t, to: u.Host, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	g.Open()
	u.Host = g.addr
	g.dsn = u.String()
	t.Cleanup(g.Shut)
	return g
}

// DSN is the dsn given to NewGate, through the gate.
func (g *Gate) DSN() string { return g.dsn }

// Open listens at the gate's address (the same one after a Shut) and
// carries what it takes.
func (g *Gate) Open() {
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

func (g *Gate) carry(c net.Conn) {
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

// track keeps c and d to end them at the next Shut, or ends them now if
// the gate shut meanwhile.
func (g *Gate) track(c, d net.Conn) bool {
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

// Shut refuses new connections and ends those the gate carries.
func (g *Gate) Shut() {
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
