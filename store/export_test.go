package store

import (
	"context"
	"time"
)

// SetBetweenSteps makes db run f before each step of a reassignment after
// the first, for tests of what may happen between them; an error from f
// stops the reassignment there, as a process that stops would.
func SetBetweenSteps(db *DB, f func(accountID, userID int64) error) { db.betweenSteps = f }

// SetBetweenTrips makes f run between the two round trips of creates made
// together in an account with webhooks.
func SetBetweenTrips(db *DB, f func()) { db.betweenTrips = f }

// SetSweeping makes db run f in the presence sweep's transaction once it
// has found a user away, before it sets them offline.
func SetSweeping(db *DB, f func(accountID, userID int64)) { db.sweeping = f }

// InboxBatch runs fn as a create in inboxID runs on PostgreSQL: in a
// transaction shared with the others of the inbox that wait in this
// process. fn is given the transaction's id.
func InboxBatch(ctx context.Context, db *DB, inboxID int64, fn func(txid int64)) error {
	return db.inboxTx(ctx, inboxID, func(tx *txn) error {
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT txid_current()").Scan(&id); err != nil {
			return err
		}
		fn(id)
		return nil
	}, nil)
}

// MadeTogether returns how many creates db has made together with others
// in one statement (together.go).
func MadeTogether(db *DB) int64 { return db.together.Load() }

// InboxWaiting returns how many requests wait in inboxID's queue.
func InboxWaiting(db *DB, inboxID int64) int {
	v, ok := db.inboxQueues.Load(inboxID)
	if !ok {
		return 0
	}
	q := v.(*inboxQueue)
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// SetAuthCacheFor sets how long db keeps a user that authentication found
// (authcache.go) before it asks the database again.
func SetAuthCacheFor(db *DB, d time.Duration) {
	db.auth.mu.Lock()
	db.auth.ttl = d
	db.auth.mu.Unlock()
}

// AuthKept returns how many users db keeps for authentication.
func AuthKept(db *DB) int {
	db.auth.mu.Lock()
	defer db.auth.mu.Unlock()
	return len(db.auth.entries)
}

// SetAuthLooked makes db run f after authentication's query and before
// what it found is kept.
func SetAuthLooked(db *DB, f func()) { db.authLooked = f }

// AuthKeeps reports whether db keeps, and would serve, the user of an
// access token.
func AuthKeeps(db *DB, token string) bool {
	_, ok := db.auth.get(authKey{hash: hashToken(token)}, time.Now())
	return ok
}

// ErrLockOrder is the store's own reason to run a transaction again: it
// needed an inbox lock out of order.
var ErrLockOrder = errLockOrder

// WriteAndFail runs, as a write of db, a transaction that executes stmt
// (with ? placeholders) and then fails with fail. It returns how many times
// the transaction ran and the error the write ended with.
func WriteAndFail(ctx context.Context, db *DB, fail error, stmt string, args ...any) (runs int, err error) {
	err = db.inTx(ctx, func(tx *txn) error {
		runs++
		if _, err := tx.ExecContext(ctx, db.rebind(stmt), args...); err != nil {
			return err
		}
		return fail
	})
	return runs, err
}

// SetPoolSize makes db's PostgreSQL pool keep at most n connections, for
// tests that must know which connection a write will use.
func SetPoolSize(db *DB, n int) {
	db.write.SetMaxOpenConns(n)
	db.write.SetMaxIdleConns(n)
}

// SetAfterCommit makes f run after each commit of a write transaction on
// PostgreSQL; an error from f stands for a commit whose answer was lost
// (it happened, and the write is told it failed).
func SetAfterCommit(db *DB, f func() error) { db.afterCommit.Store(&f) }

// SetBeforeNotify makes f run before the notifier sends the changes it
// gathered (PostgreSQL).
func SetBeforeNotify(db *DB, f func()) { db.beforeNotify.Store(&f) }

// WriteAfter runs, as a write of db, a transaction that calls before with
// its attempt (1, 2, ...) and then executes stmt. It returns how many times
// the transaction ran and the error the write ended with.
func WriteAfter(ctx context.Context, db *DB, before func(attempt int), stmt string) (runs int, err error) {
	err = db.inTx(ctx, func(tx *txn) error {
		runs++
		before(runs)
		_, err := tx.ExecContext(ctx, stmt)
		return err
	})
	return runs, err
}
