package store

import (
	"slices"
	"sync"
	"time"

	"github.com/switchboard/switchboard"
)

// Authentication without a query. Every request authenticates, and on
// PostgreSQL its query was a third of the CPU a create cost the machine
// (BENCHMARKS.md). So the users found by a token or a session are kept,
// while nothing they show can have changed:
//
//   - A write that changes what a lookup returns (a user's name; a
//     membership added, changed or removed, availability included; a session
//     ended) marks its transaction (txn.authExec), and its commit drops
//     every kept user before the write is answered (DB.committed). A lookup
//     that read the database before such a commit keeps nothing: it carries
//     the generation it began under.
//   - On PostgreSQL the other processes hear of the commit by NOTIFY on a
//     channel of its own (changes.go), as consoles hear of changes, and drop
//     theirs on hearing it: a demotion or a sign-out made in one process
//     takes hold in the others after that notification's trip, a few
//     milliseconds. While a process cannot listen, it keeps nothing.
//   - Whatever is kept is read again after authCacheFor, for the writes no
//     notification told of: one made by a process that died between its
//     commit and its notification, or by a program beside the server
//     (`switchboard accounts create` on the SQLite file).
//
// Unknown tokens are not kept: each costs its query, as before.

// authCacheFor bounds how long a kept user serves without a lookup.
const authCacheFor = 5 * time.Second

// authCacheSize bounds the users kept; when full, all are dropped.
const authCacheSize = 10000

type authCache struct {
	mu      sync.Mutex
	gen     uint64 // moved on by every write that changes a lookup
	off     bool   // keep nothing (PostgreSQL, while not listening)
	entries map[authKey]authEntry
	ttl     time.Duration // authCacheFor unless set (tests)
}

// authKey is what a lookup looked up: the hash of an access token, or of a
// session's.
type authKey struct {
	session bool
	hash    string
}

type authEntry struct {
	user switchboard.User
	gen  uint64
	at   time.Time
}

// get returns the user kept for k, if it may serve at now.
func (c *authCache) get(k authKey, now time.Time) (switchboard.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ttl := c.ttl
	if ttl == 0 {
		ttl = authCacheFor
	}
	e, ok := c.entries[k]
	if !ok || c.off || e.gen != c.gen || now.Sub(e.at) >= ttl || now.Before(e.at) {
		return switchboard.User{}, false
	}
	u := e.user
	u.Accounts = slices.Clone(u.Accounts)
	return u, true
}

// generation returns the generation a lookup begins under, and whether
// what it finds may be kept.
func (c *authCache) generation() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, !c.off
}

// put keeps u, found at now by a lookup that began under gen, unless a
// write that changes lookups committed since.
func (c *authCache) put(k authKey, u switchboard.User, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= authCacheSize {
		c.entries = map[authKey]authEntry{}
	}
	u.Accounts = slices.Clone(u.Accounts)
	c.entries[k] = authEntry{user: u, gen: gen, at: now}
}

// changed drops every kept user: a write that changes lookups committed.
func (c *authCache) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = nil
}

// keep turns keeping on or off (the listener of a PostgreSQL process:
// changes made while it did not listen went unheard). Either way what was
// kept is dropped.
func (c *authCache) keep(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = !on
	c.gen++
	c.entries = nil
}
