package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Going offline with many conversations. ROUTING.md reassigns a user's
// conversations in the transaction that sets them offline; issue 6 asks that
// ten thousand of them hold no other write up for more than 50 ms, and on
// SQLite, whose one writer a transaction holds to its commit, that rules
// out one transaction for all of them (the newer issue wins, says
// ROUTING.md). So the transaction of the change moves the first third of a
// step (DefaultReassignStep) of them, and when more remain, leaves a bound
// on the user's membership and goes on after its commit, a step per
// transaction, before the reply. Other writes take their turns between the
// steps. What the user sees of it:
//
//   - the reply still comes once every conversation has moved, and each
//     move is atomic, made under its inbox's routing lock and recorded;
//   - the conversations that move are those the user held when they went
//     offline: one assigned to them since (by hand, or by the all-members
//     fallback) has an assignment event after the bound and stays;
//   - a change of the user's availability made meanwhile waits until the
//     last step has committed, and so comes after all of it;
//   - a process that stops between two steps leaves the bound behind, and
//     the next sweep (FinishReassignments, at start and with the presence
//     sweep) finishes the work with the same actor.
//
// Meanwhile others may see the user offline and still holding some of the
// conversations, for the tens of milliseconds the steps take. Losing access
// (leaving an inbox or the account, a demotion) stays one transaction: a
// conversation must never be held by someone who may not hold it.

// DefaultReassignStep is how many conversations one transaction moves when
// a user goes offline, unless DB.ReassignStep says otherwise: on the
// machine of BENCHMARKS.md about 6 ms of SQLite's writer and 15-20 ms of
// PostgreSQL's inbox locks under load, which a create in the user's inbox
// may wait for. (500 made that wait up to 76 ms on PostgreSQL; 300 moves
// ten thousand in as little time in all.)
const DefaultReassignStep = 300

func (db *DB) reassignStep() int {
	if db.ReassignStep > 0 {
		return db.ReassignStep
	}
	return DefaultReassignStep
}

// pendingReassign is a reassignment to go on with after a commit: the
// user's conversations after the id after, up to the bound. A bound of 0
// is not known yet (a sweep, or a change that waits): the first step takes
// the stored one.
type pendingReassign struct {
	accountID, userID, after, bound int64
	// inboxes are the inboxes whose locks the reassignment takes, in id
	// order (PostgreSQL): those where the user held conversations when the
	// bound was set, which hold every conversation it moves. nil: not
	// known yet; the next step looks them up.
	inboxes []int64
	// sweep: run by FinishReassignments, which stops between two steps
	// once its context ends (the bound stays for the next sweep); a
	// request's reassignment runs to its end.
	sweep bool
}

// reassignPending is the error of a change of availability that found the
// user's reassignment still under way: availabilityTx finishes it and runs
// the change again.
type reassignPending struct{ accountID, userID int64 }

func (e *reassignPending) Error() string {
	return fmt.Sprintf("the reassignment of user %d in account %d is under way", e.userID, e.accountID)
}

// wentOffline moves the conversations that userID loses by going offline:
// the first step in tx; when more remain, it sets the bound and notes in tx
// what availabilityTx goes on with after the commit. inboxes are those
// whose locks tx took for it (lockUserInboxes).
func (db *DB) wentOffline(ctx context.Context, tx *txn, accountID, userID int64, actor *int64, inboxes []int64) error {
	var bound int64
	if err := tx.QueryRowContext(ctx, db.q.EventsHighWater).Scan(&bound); err != nil {
		return err
	}
	// The change's own transaction does more than a step (the user's
	// locks, twice, and row): it moves a third of one.
	last, more, err := db.offlineStep(ctx, tx, accountID, userID, actor, bound, 0, max(1, db.reassignStep()/3))
	if err != nil || !more {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.q.SetReassignBound, bound, actor, accountID, userID); err != nil {
		return err
	}
	tx.pending = append(tx.pending, pendingReassign{accountID: accountID, userID: userID, after: last, bound: bound, inboxes: inboxes})
	return nil
}

// offlineStep moves the next conversations, at most a step of them, that
// userID loses by going offline: those with an id after after and no
// assignment event after bound. It returns the last id it looked at and
// whether more may remain.
func (db *DB) offlineStep(ctx context.Context, tx *txn, accountID, userID int64, actor *int64, bound, after int64, step int) (last int64, more bool, err error) {
	if db.postgres {
		// The step's statements read a few hundred rows by their ids and
		// indexes. Planned while a table's statistics say it is small (a new
		// or freshly grown table, before autovacuum analyzes it), they
		// scanned assignment_events once per conversation and conversations
		// once per step: 10,000 conversations took a third longer to move
		// (BENCHMARKS.md). For the rest of the step's transaction, they ask
		// the indexes.
		if _, err := tx.ExecContext(ctx, indexesOnly); err != nil {
			return after, false, err
		}
	}
	held, err := db.heldLocked(ctx, tx, accountID, func() ([]heldConversation, error) {
		return db.heldBy(ctx, tx, db.q.ReassignableOf, accountID, userID, after, bound, step)
	})
	if err != nil || len(held) == 0 {
		return after, false, err
	}
	last = held[len(held)-1].id // in id order
	slices.SortStableFunc(held, func(a, b heldConversation) int { return cmp.Compare(a.inboxID, b.inboxID) })
	return last, len(held) == step, db.moveAway(ctx, tx, accountID, userID, actor, wentOffline, held)
}

// availabilityTx runs fn, a change of availability, in a write transaction.
// A reassignment it leaves under way goes on, a step per transaction, before
// availabilityTx returns; a change that finds one under way from before
// (reassignPending) waits for it to finish and runs again.
func (db *DB) availabilityTx(ctx context.Context, fn func(tx *txn) error) error {
	for {
		var pending []pendingReassign
		err := db.inTx(ctx, func(tx *txn) error {
			if err := fn(tx); err != nil {
				return err
			}
			pending = tx.pending
			return nil
		})
		if p, ok := errors.AsType[*reassignPending](err); ok {
			if err := db.finishReassign(ctx, pendingReassign{accountID: p.accountID, userID: p.userID}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, p := range pending {
			if err := db.finishReassign(ctx, p); err != nil {
				return err
			}
		}
		return nil
	}
}

// finishReassign runs the steps of p's reassignment until none remains,
// whatever becomes of the request that started it: the conversations are
// the user's to lose either way.
//
// Each step reads the stored bound once it holds the user's inbox locks
// (so no other step and no change of the user's inboxes runs meanwhile).
// None: another run finished it. A newer one (the user went offline again,
// say by signing out, while this ran): the conversations given to them
// between the two bounds may lie before this run's place, so it starts
// again from the first with the newer bound, as the newer run does; the
// one that clears the bound has made a whole pass with it.
func (db *DB) finishReassign(ctx context.Context, p pendingReassign) error {
	done := ctx.Done()
	if !p.sweep {
		done = nil
	}
	ctx = context.WithoutCancel(ctx)
	key := [2]int64{p.accountID, p.userID}
	db.reassigning.add(key, 1)
	defer db.reassigning.add(key, -1)
	for {
		select {
		case <-done:
			return nil // the bound stays: the next sweep goes on
		default:
		}
		if db.betweenSteps != nil {
			if err := db.betweenSteps(p.accountID, p.userID); err != nil {
				return err
			}
		}
		next := p
		more := false
		relock := false // an attempt met errLockOrder: look the inboxes up again
		err := db.inTx(ctx, func(tx *txn) error {
			next, more = p, false
			if relock {
				next.inboxes = nil
			}
			// The locks that going offline took, in the same order, so that
			// a step and the changes it runs between never wait in a circle:
			// by id when they are known, which spares a scan of every
			// conversation still the user's at every step. (Locking only
			// the inboxes of the step's own conversations was tried: the
			// PostgreSQL hammers then met 64 deadlocks in 20 runs, against
			// none, since a step then often found more to lock, out of
			// order.)
			if err := db.lockStepInboxes(ctx, tx, next); err != nil {
				return err
			}
			bound, by, ok, err := db.reassignBound(ctx, tx, p.accountID, p.userID)
			if err != nil || !ok {
				return err // none: finished, by another run
			}
			if bound != next.bound {
				// A newer bound may cover conversations in inboxes not
				// locked here: start again from the first, and let the next
				// step look the inboxes up. (A run that did not know the
				// bound, and so has just looked them up, goes on at once.)
				looked := next.inboxes == nil
				next.bound, next.after, next.inboxes = bound, 0, nil
				if !looked {
					more = true
					return nil
				}
			}
			if next.after, more, err = db.offlineStep(ctx, tx, p.accountID, p.userID, by, next.bound, next.after, db.reassignStep()); err != nil {
				relock = relock || errors.Is(err, errLockOrder)
				return err
			}
			if next.inboxes == nil {
				next.inboxes = tx.lockedInboxes()
			}
			if !more {
				_, err = tx.ExecContext(ctx, db.q.ClearReassignBound, p.accountID, p.userID, next.bound)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("reassign: %w", err)
		}
		if !more {
			return nil
		}
		p = next
	}
}

// FinishReassignments finishes the reassignments that a process left under
// way (it stopped between two steps), except those this process is running,
// and returns how many it finished. One that fails does not hold up the
// others; it is tried again at the next sweep.
func (db *DB) FinishReassignments(ctx context.Context) (int, error) {
	rows, err := db.reads.QueryContext(ctx, db.q.PendingReassignments)
	if err != nil {
		return 0, fmt.Errorf("finish reassignments: %w", err)
	}
	var pending []pendingReassign
	for rows.Next() {
		p := pendingReassign{sweep: true}
		if err := rows.Scan(&p.accountID, &p.userID); err != nil {
			rows.Close()
			return 0, fmt.Errorf("finish reassignments: %w", err)
		}
		pending = append(pending, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("finish reassignments: %w", err)
	}
	n := 0
	var errs []error
	for _, p := range pending {
		if ctx.Err() != nil {
			break
		}
		if db.reassigning.running([2]int64{p.accountID, p.userID}) {
			continue
		}
		if err := db.finishReassign(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("user %d in account %d: %w", p.userID, p.accountID, err))
			continue
		}
		if ctx.Err() == nil {
			n++
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("finish reassignments: %w", errors.Join(errs...))
	}
	return n, nil
}

// counts counts the reassignments this process is running, per account and
// user.
type counts struct {
	mu sync.Mutex
	n  map[[2]int64]int
}

func (c *counts) add(key [2]int64, delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[[2]int64]int{}
	}
	c.n[key] += delta
	if c.n[key] == 0 {
		delete(c.n, key)
	}
}

func (c *counts) running(key [2]int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key] > 0
}

// lockStepInboxes takes, on PostgreSQL, the routing locks of the inboxes
// of p's reassignment, in id order: those of the first transaction when
// known, else those of the user's inboxes.
func (db *DB) lockStepInboxes(ctx context.Context, tx *txn, p pendingReassign) error {
	if !db.postgres {
		return nil // SQLite's one writer
	}
	if p.inboxes == nil {
		_, err := db.lockUserInboxes(ctx, tx, p.accountID, p.userID)
		return err
	}
	ids, err := json.Marshal(p.inboxes)
	if err != nil {
		return err
	}
	_, err = db.lockInboxes(ctx, tx, p.accountID, db.q.LockInboxesByID, p.accountID, string(ids))
	return err
}

// checkNoReassignPending refuses, with reassignPending, a change of
// userID's availability while their reassignment is under way.
func (db *DB) checkNoReassignPending(ctx context.Context, tx *txn, accountID, userID int64) error {
	if _, _, ok, err := db.reassignBound(ctx, tx, accountID, userID); err != nil || !ok {
		return err
	}
	return &reassignPending{accountID: accountID, userID: userID}
}

// reassignBound returns the bound and actor of userID's reassignment under
// way, if any (ok).
func (db *DB) reassignBound(ctx context.Context, tx *txn, accountID, userID int64) (bound int64, actor *int64, ok bool, err error) {
	var by sql.NullInt64
	err = tx.QueryRowContext(ctx, db.q.ReassignBound, accountID, userID).Scan(&bound, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	} else if err != nil {
		return 0, nil, false, err
	}
	if by.Valid {
		actor = &by.Int64
	}
	return bound, actor, true, nil
}

// isReassignPending says err is a change that waits for a
// reassignment, which is not a failure of the database.
func isReassignPending(err error) bool {
	_, ok := errors.AsType[*reassignPending](err)
	return ok
}
