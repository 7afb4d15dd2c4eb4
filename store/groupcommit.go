package store

import (
	"context"
	"errors"
	"fmt"
)

// Group commit (SQLite). SQLite has one writer and each commit costs an
// fsync, so write transactions one after the other cap throughput at one
// fsync each. Instead one goroutine takes every write that is waiting, runs
// each in a savepoint of one shared transaction (a write that fails rolls
// back to its savepoint and leaves the others alone), commits once, and only
// then answers them all. Each write still sees the ones before it, makes its
// own routing decision in turn, and is acknowledged only after the commit
// that makes it durable.

// maxBatch bounds how many writes share one commit.
const maxBatch = 64

type writeRequest struct {
	ctx context.Context
	fn  func(tx *txn) error
	// together, when not nil, is the create fn makes, as a batch may
	// make it with others in one statement (together.go).
	together *togetherCreate
	done     chan error
}

// startWriter starts the goroutine that runs SQLite's writes.
func (db *DB) startWriter() {
	db.writes = make(chan writeRequest)
	db.stopWrites = make(chan struct{})
	db.writerDone = make(chan struct{})
	go db.writer()
}

// stopWriter ends it once the batch in progress is answered; later writes
// fail with errClosed.
func (db *DB) stopWriter() {
	if db.stopWrites != nil {
		db.stopOnce.Do(func() { close(db.stopWrites) })
		<-db.writerDone
	}
}

var errClosed = errors.New("the store is closed")

// groupTx hands fn to the writer and waits for the commit that includes it.
func (db *DB) groupTx(ctx context.Context, fn func(tx *txn) error) error {
	req := writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.stopWrites:
		return errClosed
	}
	// Once taken, the write is answered whatever happens to ctx: it may
	// already be committed.
	return <-req.done
}

func (db *DB) writer() {
	defer close(db.writerDone)
	for {
		var batch []writeRequest
		select {
		case first := <-db.writes:
			batch = append(batch, first)
		case <-db.stopWrites:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case req := <-db.writes:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		db.commitBatch(batch)
	}
}

// commitBatch runs a batch of writes in one transaction and answers each.
// A write alone needs no savepoint, which would make SQLite journal every
// page it changes a second time (a third of a large reassignment's time).
func (db *DB) commitBatch(batch []writeRequest) {
	if len(batch) == 1 {
		req := batch[0]
		db.batched(1)
		req.done <- db.tryTx(req.ctx, func(tx *txn) (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("write panicked: %v", p)
				}
			}()
			return req.fn(tx)
		})
		return
	}
	results := make([]error, len(batch))
	done := make([]*txn, len(batch))
	fail := func(err error) {
		for i := range batch {
			if results[i] == nil {
				results[i] = err
			}
			batch[i].done <- results[i]
		}
	}
	ctx := context.Background()
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT write"); err != nil {
			sqlTx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		tx := &txn{Tx: sqlTx, stmts: db.stmts, detached: true}
		err := runWrite(req.ctx, tx, req.fn, db)
		if err != nil {
			results[i] = err
			if _, rerr := sqlTx.ExecContext(ctx, "ROLLBACK TO write"); rerr != nil {
				sqlTx.Rollback()
				fail(fmt.Errorf("rollback to savepoint: %w", errors.Join(err, rerr)))
				return
			}
		} else {
			done[i] = tx
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE write"); err != nil {
			sqlTx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	var authUsers []int64
	for _, tx := range done {
		if tx != nil {
			authUsers = append(authUsers, tx.authUsers...)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		if len(authUsers) > 0 {
			db.authChangedMaybe(authUsers)
		}
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	if len(authUsers) > 0 {
		// Before any write of the batch is answered: the next request of
		// one answered first must not find a user from before another.
		db.auth.changed(authUsers)
	}
	committed := 0
	for _, tx := range done {
		if tx != nil {
			db.committed(tx)
			committed++
		}
	}
	// Told before any write is answered, so that what a caller reads after
	// its answer counts its commit.
	db.batched(committed)
	for i, req := range batch {
		req.done <- results[i]
	}
}

// batched tells the observer how many writes shared a commit.
func (db *DB) batched(writes int) {
	if db.Observer != nil {
		db.Observer.Batched(writes)
	}
}

// runWrite runs one write's work in its savepoint, and turns a panic into an
// error so that the writer goes on.
func runWrite(ctx context.Context, tx *txn, fn func(*txn) error, db *DB) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := db.enqueueWebhooks(ctx, tx); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}
