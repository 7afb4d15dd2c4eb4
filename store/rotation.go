package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

// inboxState is what a routing decision in one inbox needs, loaded in the
// transaction that makes it: the settings, the rotation's last pick, and the
// members with their availability and load, in id order. Decisions in one
// transaction update it as they go.
type inboxState struct {
	switchboard.Inbox
	last  int64
	moved bool // last changed since it was loaded or saved
	// members are loaded by loadMembers when a decision needs them.
	members       []routing.Member
	membersLoaded bool
}

// saveRotation writes the rotation's last pick, once for all the picks of a
// decision: one row rewritten per pick would make a mass reassignment
// quadratic on PostgreSQL, where each update of a row leaves a version.
func (db *DB) saveRotation(ctx context.Context, tx *txn, st *inboxState) error {
	if st == nil || !st.moved {
		return nil
	}
	st.moved = false
	_, err := tx.ExecContext(ctx, db.q.SetRotation, st.last, st.ID)
	return err
}

func (db *DB) loadInboxState(ctx context.Context, tx *txn, accountID, inboxID int64) (*inboxState, error) {
	st := &inboxState{}
	inbox, last, err := db.inbox(ctx, tx, accountID, inboxID)
	if err != nil {
		return nil, err
	}
	st.Inbox, st.last = inbox, last
	return st, nil
}

// loadMembers loads the members with their availability and, where the
// inbox's rules use it (a limit, balanced mode), their load, once per
// decision that needs them.
func (db *DB) loadMembers(ctx context.Context, tx *txn, st *inboxState) error {
	if st.membersLoaded {
		return nil
	}
	query := db.q.InboxMembers
	if st.pickedByIndex() {
		query = db.q.InboxMembersNoLoad // the load decides nothing
	}
	rows, err := tx.QueryContext(ctx, query, st.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var m routing.Member
		if err := rows.Scan(&m.UserID, &m.Availability, &m.Open); err != nil {
			return err
		}
		st.members = append(st.members, m)
	}
	st.membersLoaded = true
	return rows.Err()
}

// rotationPick is the pick of auto-assignment in a round-robin inbox
// without a limit, asked of the index rather than computed over every
// member, with the length of the queue, in one query: the first online
// member after the last pick, wrapping round; when none is online, the
// first member after the last pick, wrapping round. It gives what
// routing.Pick(routing.AutoCandidates(members, 0), last, RoundRobin) gives.
func (db *DB) rotationPick(ctx context.Context, tx *txn, st *inboxState) (waiting int, pick int64, ok bool, err error) {
	var next sql.NullInt64
	err = tx.QueryRowContext(ctx, db.q.RotationPick, st.AccountID, st.ID, st.last).Scan(&waiting, &next)
	return waiting, next.Int64, next.Valid, err
}

// pickedByIndex says the inbox's pick is rotationPick's (round robin
// without a limit), which SQL answers from the indexes.
func (st *inboxState) pickedByIndex() bool {
	return st.AssignmentMode == switchboard.RoundRobin && st.MaxAssignmentLimit == 0
}

// load adds delta to the open conversations that user holds in the inbox.
func (st *inboxState) load(user int64, delta int) {
	for i := range st.members {
		if st.members[i].UserID == user {
			st.members[i].Open += delta
		}
	}
}

// give assigns a conversation to the pick of the rotation, moves the
// rotation (saved by saveRotation) and records the event.
func (db *DB) give(ctx context.Context, tx *txn, st *inboxState, convID int64, from *int64, pick int64, reason switchboard.Reason, actor *int64) error {
	if err := db.changeAssignee(ctx, tx, st.AccountID, convID, from, &pick, reason, actor); err != nil {
		return err
	}
	if from != nil {
		st.load(*from, -1)
	}
	st.load(pick, 1)
	st.last, st.moved = pick, true
	return nil
}

// decision is where the routing sends an open conversation entering it: to
// pick (when ok), unless others wait before it (waiting > 0) and it joins
// the end of the queue.
type decision struct {
	waiting int
	pick    int64
	ok      bool
}

// direct says the conversation goes to the pick at once.
func (d decision) direct() bool { return d.waiting == 0 && d.ok }

// decide asks the inbox's rules where an open conversation entering the
// routing goes. It writes nothing.
func (db *DB) decide(ctx context.Context, tx *txn, st *inboxState) (decision, error) {
	var d decision
	if st.pickedByIndex() {
		var err error
		d.waiting, d.pick, d.ok, err = db.rotationPick(ctx, tx, st)
		return d, err
	}
	if err := tx.QueryRowContext(ctx, db.q.QueueLength, st.ID).Scan(&d.waiting); err != nil {
		return d, err
	}
	if d.waiting == 0 {
		if err := db.loadMembers(ctx, tx, st); err != nil {
			return d, err
		}
		d.pick, d.ok = routing.Pick(routing.AutoCandidates(st.members, st.MaxAssignmentLimit), st.last, st.AssignmentMode)
	}
	return d, nil
}

// route gives an open conversation that has just been reopened (held by
// from, an absent agent, or by nobody) its assignee by the inbox's rules, or
// puts it at the end of the queue. While others wait, it waits behind them:
// the queue is served oldest first.
func (db *DB) route(ctx context.Context, tx *txn, st *inboxState, convID int64, from *int64) error {
	d, err := db.decide(ctx, tx, st)
	if err != nil {
		return err
	}
	if d.direct() {
		if from != nil && d.pick == *from {
			return nil // the rules chose the holder again
		}
		if err := db.give(ctx, tx, st, convID, from, d.pick, switchboard.ReasonAuto, nil); err != nil {
			return err
		}
		return db.saveRotation(ctx, tx, st)
	}
	return db.enqueue(ctx, tx, st, convID, from)
}

// enqueue takes an open conversation from its holder, if any, and puts it at
// the end of the inbox's queue, which is then served as far as there is
// room.
func (db *DB) enqueue(ctx context.Context, tx *txn, st *inboxState, convID int64, from *int64) error {
	if from != nil {
		if err := db.changeAssignee(ctx, tx, st.AccountID, convID, from, nil, switchboard.ReasonAuto, nil); err != nil {
			return err
		}
		st.load(*from, -1)
	}
	if _, err := tx.ExecContext(ctx, db.q.SetWaiting, millis(db.Now()), convID); err != nil {
		return err
	}
	return db.place(ctx, tx, st)
}

// routeIfOn routes a conversation when its inbox has auto-assignment on.
func (db *DB) routeIfOn(ctx context.Context, tx *txn, accountID, inboxID, convID int64, from *int64) error {
	st, err := db.loadInboxState(ctx, tx, accountID, inboxID)
	if err != nil {
		return err
	}
	return db.routeInIfOn(ctx, tx, st, convID, from)
}

// routeInIfOn is routeIfOn with the inbox's state in hand.
func (db *DB) routeInIfOn(ctx context.Context, tx *txn, st *inboxState, convID int64, from *int64) error {
	if db.Observer != nil {
		defer func(start time.Time) { db.Observer.Picked(time.Since(start)) }(time.Now())
	}
	if !st.EnableAutoAssignment {
		return nil
	}
	return db.route(ctx, tx, st, convID, from)
}

// place gives the inbox's waiting conversations, oldest first and one at a
// time through the rotation, to the online members with room, until the
// queue or the room runs out. It runs in the transaction of every change that
// may make room.
func (db *DB) place(ctx context.Context, tx *txn, st *inboxState) error {
	if !st.EnableAutoAssignment {
		return nil
	}
	if err := db.loadMembers(ctx, tx, st); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, db.q.Queue, st.ID)
	if err != nil {
		return err
	}
	var queue []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		queue = append(queue, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, convID := range queue {
		pick, ok := routing.Pick(routing.PlacementCandidates(st.members, st.MaxAssignmentLimit), st.last, st.AssignmentMode)
		if !ok {
			break
		}
		if err := db.give(ctx, tx, st, convID, nil, pick, switchboard.ReasonAuto, nil); err != nil {
			return err
		}
	}
	return db.saveRotation(ctx, tx, st)
}

// placeIn places the queue of one inbox (whose routing lock is held).
func (db *DB) placeIn(ctx context.Context, tx *txn, accountID, inboxID int64) error {
	st, err := db.loadInboxState(ctx, tx, accountID, inboxID)
	if err != nil {
		return err
	}
	return db.place(ctx, tx, st)
}

// placeFor places the queues of inboxes, those with auto-assignment on
// where a user who came online is a member (autoInboxesOf, whose routing
// locks are held).
func (db *DB) placeFor(ctx context.Context, tx *txn, accountID int64, inboxes []int64) error {
	for _, id := range inboxes {
		if err := db.placeIn(ctx, tx, accountID, id); err != nil {
			return err
		}
	}
	return nil
}

// autoInboxesOf returns the inboxes with auto-assignment on where user is a
// member, in id order. On PostgreSQL it takes the routing locks of every
// inbox where they are a member first: switching an inbox's auto-assignment
// on takes that inbox's lock only, and must come wholly before (and be
// seen here) or after (and place the queue with the user online).
func (db *DB) autoInboxesOf(ctx context.Context, tx *txn, accountID, userID int64) ([]int64, error) {
	if _, err := db.lockInboxSet(ctx, tx, accountID, db.q.LockMemberInboxes, db.q.MemberInboxes, accountID, userID); err != nil {
		return nil, err
	}
	return db.queryIDs(ctx, tx, db.q.AutoInboxesOfMember, accountID, userID)
}

// lockInbox takes the inbox's routing lock for the rest of the transaction:
// the writes that route in one inbox (rotation, assignees, members) take turns,
// in this process and in every other one on the same database. It returns
// the inbox's routing state, read under the lock.
func (db *DB) lockInbox(ctx context.Context, tx *txn, accountID, inboxID int64) (*inboxState, error) {
	inbox, last, err := db.inboxBy(ctx, tx, db.q.LockInbox, accountID, inboxID)
	if err != nil {
		return nil, err
	}
	tx.lockedInbox(accountID, inboxID)
	return &inboxState{Inbox: inbox, last: last}, nil
}

// lockAccountInboxes takes the routing lock of every inbox of the account,
// for a change of a user (going offline, leaving, demotion) that may move
// conversations in any of them.
func (db *DB) lockAccountInboxes(ctx context.Context, tx *txn, accountID int64) error {
	_, err := db.lockInboxes(ctx, tx, accountID, db.q.LockInboxesOfAccount, accountID)
	return err
}

// lockUserInboxes takes the routing locks that a user going offline needs:
// those of the inboxes where they are a member or hold conversations. Other
// inboxes of the account route on meanwhile. (reassign locks the inbox of a
// conversation assigned to them since, see heldLocked.)
func (db *DB) lockUserInboxes(ctx context.Context, tx *txn, accountID, userID int64) ([]int64, error) {
	return db.lockInboxSet(ctx, tx, accountID, db.q.LockInboxesOfUser, db.q.InboxesOfUser, accountID, userID, accountID, userID)
}

// lockMembersInboxes takes the routing locks that a change of an inbox's
// members needs when members may leave it: the inbox's and, since a
// member who leaves has the conversations they hold read again under
// their inboxes' locks (heldLocked), those where its members hold
// conversations; all in id order, before any other, so that this and
// going offline never wait on each other in a circle.
func (db *DB) lockMembersInboxes(ctx context.Context, tx *txn, accountID, inboxID int64) error {
	ids, err := db.lockInboxSet(ctx, tx, accountID, db.q.LockInboxesOfMembers, db.q.InboxesOfMembers, accountID, inboxID, inboxID, accountID)
	if err != nil {
		return err
	}
	if !slices.Contains(ids, inboxID) {
		return switchboard.NotFound("inbox")
	}
	return nil
}

// lockInboxes runs a query that locks inboxes of accountID and returns
// their ids, in order, and notes them as locked in tx.
func (db *DB) lockInboxes(ctx context.Context, tx *txn, accountID int64, query string, args ...any) ([]int64, error) {
	tx.firstPass(accountID) // this is it, even when it finds none
	ids, err := db.queryIDs(ctx, tx, query, args...)
	for _, id := range ids {
		tx.lockedInbox(accountID, id)
	}
	return ids, err
}

// queryIDs runs a query of ids.
func (db *DB) queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Lock order. A transaction takes the routing locks of an account's inboxes
// in one pass, in id order, before any other row lock of the account (a
// user's membership row, say), so that none waits for another in a circle
// (an account after another in account order, as signing in and out do).
// A transaction that finds, after its first pass, that it needs another
// inbox's lock (a user joined an inbox, or was given a conversation, while
// it waited for its locks) does not take it then: out of order, or after
// the user's row, it could wait in a circle, which PostgreSQL's deadlock
// detector breaks only after a second (deadlock_timeout) by rolling one
// of them back. It starts again instead (errLockOrder, which inTx
// retries), and its first pass then takes that inbox in order.

// errLockOrder is a transaction's need for an inbox lock after its first
// pass.
var errLockOrder = errors.New("an inbox lock is needed after the first pass: start again")

// lockInboxSet takes the routing locks of the inboxes that a query finds
// (lock, which locks them on PostgreSQL; find, the same without locking)
// and returns their ids in order: with lock in tx's first pass in the
// account, after it as lockNeeded does.
func (db *DB) lockInboxSet(ctx context.Context, tx *txn, accountID int64, lock, find string, args ...any) ([]int64, error) {
	if !db.postgres {
		return db.lockInboxes(ctx, tx, accountID, find, args...) // SQLite's one writer
	}
	if tx.firstPass(accountID) {
		return db.lockInboxes(ctx, tx, accountID, lock, args...)
	}
	ids, err := db.queryIDs(ctx, tx, find, args...)
	if err != nil {
		return nil, err
	}
	return ids, db.lockNeeded(ctx, tx, accountID, ids)
}

// lockNeeded makes sure tx holds the routing locks of the inboxes of ids
// (in id order): it takes them in tx's first pass in the account, and after
// it returns errLockOrder for any it does not hold.
func (db *DB) lockNeeded(ctx context.Context, tx *txn, accountID int64, ids []int64) error {
	var missing []int64
	for _, id := range ids {
		if !tx.locked[id] {
			missing = append(missing, id)
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case !db.postgres: // SQLite's one writer: nothing to take
		for _, id := range missing {
			tx.lockedInbox(accountID, id)
		}
		return nil
	case !tx.firstPass(accountID):
		return errLockOrder
	}
	list, err := json.Marshal(missing)
	if err != nil {
		return err
	}
	_, err = db.lockInboxes(ctx, tx, accountID, db.q.LockInboxesByID, accountID, string(list))
	return err
}

// lockConversationInbox takes the routing lock of a conversation's inbox.
func (db *DB) lockConversationInbox(ctx context.Context, tx *txn, accountID, displayID int64) error {
	var inboxID int64
	err := tx.QueryRowContext(ctx, db.q.ConversationInbox, accountID, displayID).Scan(&inboxID)
	if err != nil {
		return notFoundOr(err, "conversation")
	}
	_, err = db.lockInbox(ctx, tx, accountID, inboxID)
	return err
}

// changeAssignee sets a conversation's assignee and writes its event.
func (db *DB) changeAssignee(ctx context.Context, tx *txn, accountID, convID int64, from, to *int64, reason switchboard.Reason, actor *int64) error {
	var displayID, inboxID int64
	if err := tx.QueryRowContext(ctx, db.q.SetAssignee, to, millis(db.Now()), convID).Scan(&displayID, &inboxID); err != nil {
		return err
	}
	tx.assigneeChanged(accountID, convID, displayID, inboxID, from, to, reason, actor)
	_, err := tx.ExecContext(ctx, db.q.InsertEvent, accountID, convID, from, to, reason, actor, millis(db.Now()))
	return err
}

// assigneeChanged notes in tx what a change of a conversation's assignee
// tells the consoles, the metrics and the webhooks.
func (tx *txn) assigneeChanged(accountID, convID, displayID, inboxID int64, from, to *int64, reason switchboard.Reason, actor *int64) {
	tx.changed(switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: accountID, ConversationID: displayID, InboxID: inboxID})
	tx.assigned = append(tx.assigned, reason)
	change := &assigneeChange{From: from, To: to, Reason: string(reason), Actor: actor}
	tx.hooks = append(tx.hooks,
		hookEvent{event: switchboard.EventAssigneeChanged, accountID: accountID, convID: convID, change: change},
		hookEvent{event: switchboard.EventConversationUpdated, accountID: accountID, convID: convID})
}

// reassignMode says which of a user's conversations reassign moves.
type reassignMode int

const (
	// wentOffline: the user went offline or signed out. Their conversations
	// that are not resolved, in inboxes with auto-reassignment on, go to the
	// next online member, or become unassigned when none is online.
	wentOffline reassignMode = iota
	// lostAccess: the user left an inbox, the account, or the administrator
	// role. Every conversation they may no longer be the assignee of is moved:
	// as above where auto-reassignment applies, otherwise unassigned.
	lostAccess
)

type heldConversation struct {
	id, displayID, inboxID int64
	status                 switchboard.Status
	isMember               bool
}

// reassign moves every conversation away from userID that mode says, in the
// same transaction as the change that made it necessary, which has already
// been written. (Going offline moves them in steps instead: wentOffline.)
// The decisions are made in memory, one conversation after the other
// through each inbox's rotation, and written per inbox in a few statements:
// ten thousand conversations hold SQLite's one writer for a fraction of a
// second, not for thirty thousand statements.
func (db *DB) reassign(ctx context.Context, tx *txn, accountID, userID int64, actor *int64, mode reassignMode) error {
	held, err := db.heldLocked(ctx, tx, accountID, func() ([]heldConversation, error) {
		return db.heldBy(ctx, tx, db.q.AssignedTo, accountID, userID)
	})
	if err != nil {
		return err
	}
	return db.moveAway(ctx, tx, accountID, userID, actor, mode, held)
}

// moveAway makes reassign's decisions for held, grouped by inbox, whose
// inboxes' routing locks are held, and writes them.
func (db *DB) moveAway(ctx context.Context, tx *txn, accountID, userID int64, actor *int64, mode reassignMode, held []heldConversation) error {
	if len(held) == 0 {
		return nil
	}
	var role switchboard.Role // stays empty when the user has left the account
	if mode == lostAccess {
		var availability switchboard.Availability
		var autoOffline bool
		err := tx.QueryRowContext(ctx, db.q.Membership, accountID, userID).Scan(&role, &availability, &autoOffline)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
	}
	var st *inboxState
	var moves []move
	flush := func() error {
		if db.postgres && len(moves) > 0 {
			// Assignees, queue, events and rotation in one statement.
			err := db.writeMovesAndRotation(ctx, tx, accountID, userID, actor, moves, st)
			moves = moves[:0]
			return err
		}
		if err := db.writeMoves(ctx, tx, accountID, userID, actor, moves); err != nil {
			return err
		}
		moves = moves[:0]
		return db.saveRotation(ctx, tx, st)
	}
	for _, c := range held {
		if st == nil || st.ID != c.inboxID {
			if err := flush(); err != nil {
				return err
			}
			var err error
			if st, err = db.lockInbox(ctx, tx, accountID, c.inboxID); err != nil {
				return err
			}
			if err := db.loadMembers(ctx, tx, st); err != nil {
				return err
			}
		}
		if mode == lostAccess && routing.MayBeAssignee(role, c.isMember) {
			continue
		}
		reassignable := c.status != switchboard.StatusResolved && st.EnableAutoReassignment
		if mode == wentOffline && !reassignable {
			continue
		}
		if reassignable {
			if pick, ok := routing.Pick(routing.ReassignCandidates(st.members, userID, st.MaxAssignmentLimit), st.last, st.AssignmentMode); ok {
				moves = append(moves, move{held: c, to: &pick})
				st.load(userID, -1)
				st.load(pick, 1)
				st.last, st.moved = pick, true
				continue
			}
		}
		st.load(userID, -1)
		// Nobody could take it: an open conversation waits in the queue of an
		// inbox that reassigns and auto-assigns.
		wait := reassignable && c.status == switchboard.StatusOpen && st.EnableAutoAssignment
		moves = append(moves, move{held: c, wait: wait})
	}
	return flush()
}

// move is one conversation's new assignee (nil: none) in a reassignment,
// and whether it then waits in its inbox's queue.
type move struct {
	held heldConversation
	to   *int64
	wait bool
}

// writeMoves writes the moves of a reassignment away from userID on SQLite:
// the assignees, the events in the order of the decisions, the queue, and
// what subscribers and webhooks hear, as changeAssignee would one by one.
func (db *DB) writeMoves(ctx context.Context, tx *txn, accountID, userID int64, actor *int64, moves []move) error {
	if len(moves) == 0 {
		return nil
	}
	pairs := make([][2]*int64, len(moves))
	var waiting []int64
	for i, m := range moves {
		pairs[i] = [2]*int64{&moves[i].held.id, m.to}
		if m.wait {
			waiting = append(waiting, m.held.id)
		}
	}
	pairsJSON, err := json.Marshal(pairs)
	if err != nil {
		return err
	}
	now := millis(db.Now())
	if _, err := tx.ExecContext(ctx, db.q.MoveConversations, now, string(pairsJSON)); err != nil {
		return fmt.Errorf("move conversations: %w", err)
	}
	reason := switchboard.ReasonReassign
	if _, err := tx.ExecContext(ctx, db.q.InsertEvents, accountID, userID, reason, actor, now, string(pairsJSON)); err != nil {
		return fmt.Errorf("assignment events: %w", err)
	}
	if len(waiting) > 0 {
		waitingJSON, err := json.Marshal(waiting)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q.SetWaitingAll, now, string(waitingJSON)); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	db.movesWritten(tx, accountID, userID, actor, moves)
	return nil
}

// writeMovesAndRotation is writeMoves and saveRotation in one statement
// (PostgreSQL's MoveAll): each is a round trip in a reassignment's step,
// which holds its inboxes' routing locks.
func (db *DB) writeMovesAndRotation(ctx context.Context, tx *txn, accountID, userID int64, actor *int64, moves []move, st *inboxState) error {
	type moveRow struct {
		ID   int64  `json:"id"`
		To   *int64 `json:"to"`
		Wait bool   `json:"wait"`
	}
	rows := make([]moveRow, len(moves))
	for i, m := range moves {
		rows[i] = moveRow{ID: m.held.id, To: m.to, Wait: m.wait}
	}
	rowsJSON, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	var lastPick *int64
	if st.moved {
		lastPick = &st.last
	}
	reason := switchboard.ReasonReassign
	if _, err := tx.ExecContext(ctx, db.q.MoveAll, string(rowsJSON), millis(db.Now()), accountID, userID, reason, actor, st.ID, lastPick); err != nil {
		return fmt.Errorf("move conversations: %w", err)
	}
	st.moved = false
	db.movesWritten(tx, accountID, userID, actor, moves)
	return nil
}

// movesWritten tells subscribers and webhooks of written moves.
func (db *DB) movesWritten(tx *txn, accountID, userID int64, actor *int64, moves []move) {
	reason := switchboard.ReasonReassign
	from := userID
	for _, m := range moves {
		c := m.held
		tx.changed(switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: accountID, ConversationID: c.displayID, InboxID: c.inboxID})
		tx.assigned = append(tx.assigned, reason)
		change := &assigneeChange{From: &from, To: m.to, Reason: string(reason), Actor: actor}
		tx.hooks = append(tx.hooks,
			hookEvent{event: switchboard.EventAssigneeChanged, accountID: accountID, convID: c.id, change: change},
			hookEvent{event: switchboard.EventConversationUpdated, accountID: accountID, convID: c.id})
	}
}

// heldLocked returns the conversations that read finds (some of those
// assigned to a user in the account) once the routing lock of each of their
// inboxes is held. The caller locked the inboxes where the user held
// conversations a moment before, or none; one assigned to them since, in
// another inbox, makes the transaction start again (lockNeeded). Every
// change of assignee takes its inbox's lock, so the list then stays true
// until the commit. (SQLite's one writer makes it true at once.)
func (db *DB) heldLocked(ctx context.Context, tx *txn, accountID int64, read func() ([]heldConversation, error)) ([]heldConversation, error) {
	for {
		held, err := read()
		if err != nil || !db.postgres {
			return held, err
		}
		var more []int64
		for _, c := range held {
			if !tx.locked[c.inboxID] && !slices.Contains(more, c.inboxID) {
				more = append(more, c.inboxID)
			}
		}
		if len(more) == 0 {
			return held, nil
		}
		slices.Sort(more)
		if err := db.lockNeeded(ctx, tx, accountID, more); err != nil {
			return nil, err
		}
	}
}

// heldBy runs a query of conversations assigned to a user (AssignedTo,
// ReassignableOf).
func (db *DB) heldBy(ctx context.Context, tx *txn, query string, args ...any) ([]heldConversation, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var held []heldConversation
	for rows.Next() {
		var c heldConversation
		if err := rows.Scan(&c.id, &c.displayID, &c.inboxID, &c.status, &c.isMember); err != nil {
			return nil, err
		}
		held = append(held, c)
	}
	return held, rows.Err()
}
