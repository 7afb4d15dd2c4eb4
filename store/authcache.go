package store

import (
	"maps"
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
//     ended) marks its transaction with the user (txn.authExec), and its
//     commit drops what is kept of that user before the write is answered
//     (DB.committed). A lookup of the user that read the database before
//     such a commit keeps nothing: it carries the seq it began at.
//   - On PostgreSQL the other processes hear of the commit by NOTIFY on a
//     channel of its own, naming the users (changes.go), and drop what they
//     keep of them on hearing it: a demotion or a sign-out made in one process
//     takes hold in the others after that notification's trip, a few
//     milliseconds. A process whose listener fails keeps nothing until it
//     listens again.
//   - Whatever is kept is read again after authCacheFor, for the writes no
//     notification told of: one made by a process that died between its
//     commit and its notification, a notification that failed, a listener
//     that hangs without failing, a process of a version before this one,
//     or a program beside the server (`switchboard accounts create` on the
//     SQLite file).
//   - An administrator's write reads the caller's role again in its own
//     transaction (stillAdministrator), so that what it leaves does not
//     outlast a demotion not yet heard of.
//
// Unknown tokens are not kept: each costs its query, as before.

// authCacheFor bounds how long a kept user serves without a lookup.
const authCacheFor = 5 * time.Second

// authCacheSize bounds the users kept, and the users whose changes are
// remembered; past it, all are dropped.
const authCacheSize = 10000

type authCache struct {
	mu  sync.Mutex
	seq uint64 // moved on by every write that changes lookups
	// all is the seq of the last drop of every kept user, and users that
	// of the last write that changed each user's lookups since: what a
	// lookup that began before either found may not be kept.
	all     uint64
	users   map[int64]uint64
	off     bool // keep nothing (PostgreSQL, while not listening)
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
	seq  uint64 // when its lookup began
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
	if !ok || c.off || !c.fresh(e.user.ID, e.seq) || now.Sub(e.at) >= ttl || now.Before(e.at) {
		return switchboard.User{}, false
	}
	u := e.user
	u.Accounts = slices.Clone(u.Accounts)
	return u, true
}

// fresh reports whether what a lookup that began at seq found of userID
// is as the database has it now, as far as this process has heard. The
// caller holds c.mu.
func (c *authCache) fresh(userID int64, seq uint64) bool {
	return seq >= c.all && seq >= c.users[userID]
}

// begin returns when a lookup begins, and whether what it finds may be
// kept.
func (c *authCache) begin() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, !c.off
}

// put keeps u, found at now by a lookup that began at seq, unless a write
// that changes its lookups committed since.
func (c *authCache) put(k authKey, u switchboard.User, seq uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || !c.fresh(u.ID, seq) {
		return
	}
	if len(c.entries) >= authCacheSize {
		c.dropAll()
		return
	}
	if c.entries == nil {
		c.entries = map[authKey]authEntry{}
	}
	u.Accounts = slices.Clone(u.Accounts)
	c.entries[k] = authEntry{user: u, seq: seq, at: now}
}

// changed drops what is kept of users: writes that change their lookups
// committed.
func (c *authCache) changed(users []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil {
		c.users = map[int64]uint64{}
	}
	if len(c.users)+len(users) > authCacheSize {
		c.dropAll()
		return
	}
	c.seq++
	for _, id := range users {
		c.users[id] = c.seq
	}
	maps.DeleteFunc(c.entries, func(_ authKey, e authEntry) bool { return !c.fresh(e.user.ID, e.seq) })
}

// changedAll drops every kept user: writes that changed lookups went
// unheard, or may have.
func (c *authCache) changedAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropAll()
}

// dropAll drops every kept user, and what lookups under way find. The
// caller holds c.mu.
func (c *authCache) dropAll() {
	c.seq++
	c.all = c.seq
	c.users = nil
	c.entries = nil
}

// keep turns keeping on or off (the listener of a PostgreSQL process:
// changes made while it did not listen went unheard). Either way what was
// kept is dropped.
func (c *authCache) keep(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = !on
	c.dropAll()
}
