package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/switchboard/switchboard"
)

// Inbox batches (PostgreSQL). The creates of one inbox take turns at its
// routing lock, and each turn used to be a transaction of its own: its
// lock, its statement, its commit and fsync, then the next create's lock.
// Instead the creates of an inbox that arrive in this process while one is
// running wait in memory, and the next of them leads them through one
// transaction: it takes the lock, then those that queued until then join
// it; one lock, one commit, each create still making its own decision in
// turn and acknowledged only after the commit. (SQLite's writer
// does the same for every write; see groupcommit.go.)

// inboxQueue is one inbox's queue in this process.
type inboxQueue struct {
	inboxID int64
	// apartUntil: until then its batches run one by one, since the last
	// that tried found that its creates could not be made together (the
	// inbox's mode, its queue: each try would cost a round trip and a
	// turn at the lock). Only a batch's leader uses it, and the lead
	// passes from one to the next by channel.
	apartUntil time.Time
	// hooksUntil: until then its batches made together also write the
	// account's webhook deliveries, since the last that tried found the
	// account had webhooks (a batch that does costs a second round trip
	// under the lock, which one without webhooks spares). Only a batch's
	// leader uses it.
	hooksUntil time.Time
	mu         sync.Mutex
	busy       bool            // a batch is running
	waiting    []*writeRequest // in arrival order
}

// apartFor is how long an inbox's batches run one by one after one found
// that its creates could not be made together.
const apartFor = time.Second

// errLead tells a waiting request that it leads the next batch.
var errLead = errors.New("lead the next batch")

// inboxTx runs fn in a transaction shared with the other creates of inboxID
// waiting in this process, and returns once that transaction is committed.
// A create that together allows may instead be made with others in one
// statement (together.go), and then fn does not run.
func (db *DB) inboxTx(ctx context.Context, inboxID int64, fn func(tx *txn) error, together *togetherCreate) error {
	v, _ := db.inboxQueues.LoadOrStore(inboxID, &inboxQueue{inboxID: inboxID})
	q := v.(*inboxQueue)
	req := &writeRequest{ctx: ctx, fn: fn, together: together, done: make(chan error, 1)}
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

// lead runs first in a transaction and, once first holds the inbox's lock,
// the requests that queued meanwhile (while it waited for another process
// to let the lock go, too), then those that queued while these ran, until
// none waits or maxBatch ran; answers them; hands the queue to the next
// waiting request; and returns first's result. A request refused before it
// wrote anything (refusal) is answered with its refusal while the others go
// on. If any other fails, it rolls them all back and runs each in a
// transaction of its own, so that one request's error is its own. When
// first may be made together with others (together.go), the batch takes
// those of the queue's front that may too, and makes them in one
// statement if it can, in a transaction of their own before this one,
// one by one otherwise.
func (db *DB) lead(q *inboxQueue, first *writeRequest) error {
	defer q.handOver()
	reqs := []*writeRequest{first}
	apart := time.Now().Before(q.apartUntil)
	together := first.together != nil && !apart
	if together {
		reqs = append(reqs, q.takeTogether(maxBatch-1)...)
	}
	results := make([]error, len(reqs))
	if together {
		withHooks := time.Now().Before(q.hooksUntil)
		done, hooks, err := db.createTogether(q.inboxID, reqs, results, withHooks)
		if hooks {
			q.hooksUntil = time.Now().Add(apartFor)
		}
		if !done && err == nil && hooks && !withHooks {
			// Nothing was written, for the account's webhooks: again,
			// writing their deliveries.
			done, _, err = db.createTogether(q.inboxID, reqs, results, true)
		}
		if done {
			for i, req := range reqs[1:] {
				req.done <- results[i+1]
			}
			return results[0]
		}
		if err == nil {
			q.apartUntil = time.Now().Add(apartFor)
		}
	}
	run := func(tx *txn, i int) error {
		if err := reqs[i].ctx.Err(); err != nil {
			results[i] = err // gone before it started: not run
			return nil
		}
		err := noPanic(reqs[i].fn)(tx)
		if r, ok := errors.AsType[*refusal](err); ok {
			results[i] = r.err // refused before writing: the others go on
			return nil
		}
		return err
	}
	// Once taken, the requests are answered whatever becomes of any one of
	// them, so the transaction's statements run to their end (detached).
	// Those that queue while the batch runs join it too, when it has run
	// those it took (up to maxBatch): when another process forwards its
	// creates here, they arrive in bursts while a batch runs, and would
	// otherwise wait for its commit and a turn of their own
	// (BENCHMARKS.md).
	take := func() {
		reqs = append(reqs, q.take(maxBatch-len(reqs), together || apart)...)
		for len(results) < len(reqs) {
			results = append(results, nil)
		}
	}
	err := db.tryTxWith(context.Background(), true, func(tx *txn) error {
		if err := run(tx, 0); err != nil {
			return err
		}
		for i := 1; ; i++ {
			if i == len(reqs) {
				if take(); i == len(reqs) {
					return nil
				}
			}
			if err := run(tx, i); err != nil {
				return err
			}
		}
	})
	ran := 0 // the requests whose writes the transaction held
	for _, r := range results {
		if r == nil {
			ran++
		}
	}
	shared := 0
	for i, req := range reqs {
		switch {
		case results[i] != nil: // its request was gone, or refused
		case err == nil:
			shared++
		case ran == 1 && !retryable(err):
			results[i] = err // alone: its error is its own already
			db.failed(req.ctx, err)
		case isCommitFailed(err) && !retryable(err):
			// It may have committed: run again, a write would be made
			// twice. Each is answered with the error. (A commit refused
			// for a serialization failure or a deadlock did not happen.)
			results[i] = err
			db.failed(req.ctx, err)
		default:
			db.batched(1)
			results[i] = db.inTx(req.ctx, noPanic(req.fn))
		}
	}
	if shared > 0 {
		db.batched(shared)
	}
	for i, req := range reqs[1:] {
		req.done <- results[i+1]
	}
	return results[0]
}

// isCommitFailed says err is a commit that may have happened.
func isCommitFailed(err error) bool {
	_, ok := errors.AsType[*commitFailed](err)
	return ok
}

// take removes up to n requests from the front of the queue. Unless all
// is set, it stops at the first that may be made together with others
// (together.go): a batch that runs its creates one by one leaves those to
// the next, which makes them in one statement.
func (q *inboxQueue) take(n int, all bool) []*writeRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeWhile(n, func(r *writeRequest) bool { return all || r.together == nil })
}

// takeTogether removes up to n requests from the front of the queue that
// may be made together, stopping at the first that may not.
func (q *inboxQueue) takeTogether(n int) []*writeRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeWhile(n, func(r *writeRequest) bool { return r.together != nil })
}

// takeWhile removes up to n requests from the front of the queue, stopping
// at the first for which ok is false. q.mu is held.
func (q *inboxQueue) takeWhile(n int, ok func(*writeRequest) bool) []*writeRequest {
	k := 0
	for k < min(n, len(q.waiting)) && ok(q.waiting[k]) {
		k++
	}
	taken := slices.Clone(q.waiting[:k])
	q.waiting = q.waiting[k:]
	return taken
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

// refusal is a request's refusal (no such inbox, not a member, an assignee
// it may not have) found before it wrote anything: the transaction is as it
// was, so the other requests of the batch go on in it.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refused marks a refusal made before any write; an error that may have
// come from a failed statement (internal) is left as it is, and ends the
// batch's transaction.
func refused(err error) error {
	if err == nil || switchboard.ErrorCode(err) == switchboard.EINTERNAL {
		return err
	}
	return &refusal{err: err}
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
