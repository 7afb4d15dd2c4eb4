package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Inbox batches (PostgreSQL). The creates of one inbox take turns at its
// routing lock, and each turn used to be a transaction of its own: its
// lock, its statement, its commit and fsync, then the next create's lock.
// Instead the creates of an inbox that arrive in this process while one is
// running wait in memory, and the next of them leads them all through one
// transaction: one lock, one commit, each create still making its own
// decision in turn and acknowledged only after the commit. (SQLite's writer
// does the same for every write; see groupcommit.go.)

// inboxQueue is one inbox's queue in this process.
type inboxQueue struct {
	mu      sync.Mutex
	busy    bool            // a batch is running
	waiting []*writeRequest // in arrival order
}

// errLead tells a waiting request that it leads the next batch.
var errLead = errors.New("lead the next batch")

// inboxTx runs fn in a transaction shared with the other creates of inboxID
// waiting in this process, and returns once that transaction is committed.
func (db *DB) inboxTx(ctx context.Context, inboxID int64, fn func(tx *txn) error) error {
	v, _ := db.inboxQueues.LoadOrStore(inboxID, &inboxQueue{})
	q := v.(*inboxQueue)
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return db.lead(q, req)
	}
	q.waiting = append(q.waiting, req)
	q.mu.Unlock()
	var err error
	select {
	case err = <-req.done:
	case <-ctx.Done():
		q.mu.Lock()
		for i, w := range q.waiting {
			if w == req {
				q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
				q.mu.Unlock()
				return ctx.Err()
			}
		}
		q.mu.Unlock()
		// A leader has taken it: it is answered whatever happens to ctx,
		// as it may be committed already.
		err = <-req.done
	}
	if err == errLead {
		return db.lead(q, req)
	}
	return err
}

// lead runs first and the requests waiting behind it as one batch, answers
// them, hands the queue to the next waiting request, and returns first's
// result.
func (db *DB) lead(q *inboxQueue, first *writeRequest) error {
	q.mu.Lock()
	n := min(len(q.waiting), maxBatch-1)
	batch := append([]*writeRequest{first}, q.waiting[:n]...)
	q.waiting = q.waiting[n:]
	q.mu.Unlock()
	defer q.handOver()

	results := db.runBatch(batch)
	for i, req := range batch[1:] {
		req.done <- results[i+1]
	}
	return results[0]
}

// handOver makes the first waiting request the next leader, or the queue
// idle.
func (q *inboxQueue) handOver() {
	q.mu.Lock()
	if len(q.waiting) > 0 {
		next := q.waiting[0]
		q.waiting = q.waiting[1:]
		q.mu.Unlock()
		next.done <- errLead
		return
	}
	q.busy = false
	q.mu.Unlock()
}

// runBatch runs the requests in one transaction; if any fails, it rolls
// them all back and runs each in a transaction of its own, so that one
// request's error is its own.
func (db *DB) runBatch(batch []*writeRequest) []error {
	results := make([]error, len(batch))
	if len(batch) == 1 {
		db.batched(1)
		results[0] = db.inTx(batch[0].ctx, noPanic(batch[0].fn))
		return results
	}
	var live []*writeRequest
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		live = append(live, req)
	}
	// Once taken, the requests are answered whatever becomes of any one of
	// them, so the transaction's statements run to their end (detached).
	err := db.tryTxWith(context.Background(), true, func(tx *txn) error {
		for _, req := range live {
			if err := noPanic(req.fn)(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		db.batched(len(live))
		return results
	}
	for i, req := range batch {
		if results[i] == nil {
			db.batched(1)
			results[i] = db.inTx(req.ctx, noPanic(req.fn))
		}
	}
	return results
}

// noPanic turns a panic of fn into its error: a leader runs other requests'
// work, and must hand the queue on whatever that work does.
func noPanic(fn func(tx *txn) error) func(tx *txn) error {
	return func(tx *txn) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("write panicked: %v", p)
			}
		}()
		return fn(tx)
	}
}
