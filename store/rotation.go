package store

import (
	"context"
	"database/sql"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

// inboxState is what a routing decision in one inbox needs, loaded in the
// transaction that makes it: the settings, the rotation's last pick, and the
// members with their availability in id order.
type inboxState struct {
	switchboard.Inbox
	last    int64
	members []routing.Member
}

func (db *DB) loadInboxState(ctx context.Context, tx *txn, accountID, inboxID int64) (*inboxState, error) {
	st := &inboxState{}
	inbox, last, err := db.inbox(ctx, tx, accountID, inboxID)
	if err != nil {
		return nil, err
	}
	st.Inbox, st.last = inbox, last
	rows, err := tx.QueryContext(ctx, db.q.InboxMembers, inboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var m routing.Member
		if err := rows.Scan(&m.UserID, &m.Availability); err != nil {
			return nil, err
		}
		st.members = append(st.members, m)
	}
	return st, rows.Err()
}

// lockInbox takes the inbox's routing lock for the rest of the transaction:
// the writes that route in one inbox (rotation, assignees, members) take turns,
// in this process and in every other one on the same database.
func (db *DB) lockInbox(ctx context.Context, tx *txn, accountID, inboxID int64) error {
	var id int64
	return notFoundOr(tx.QueryRowContext(ctx, db.q.LockInbox, inboxID, accountID).Scan(&id), "inbox")
}

// lockAccountInboxes takes the routing lock of every inbox of the account,
// for a change of a user (going offline, leaving, demotion) that may move
// conversations in any of them.
func (db *DB) lockAccountInboxes(ctx context.Context, tx *txn, accountID int64) error {
	rows, err := tx.QueryContext(ctx, db.q.LockInboxesOfAccount, accountID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// lockConversationInbox takes the routing lock of a conversation's inbox.
func (db *DB) lockConversationInbox(ctx context.Context, tx *txn, accountID, displayID int64) error {
	var inboxID int64
	err := tx.QueryRowContext(ctx, db.q.ConversationInbox, accountID, displayID).Scan(&inboxID)
	if err != nil {
		return notFoundOr(err, "conversation")
	}
	return db.lockInbox(ctx, tx, accountID, inboxID)
}

// autoAssign gives the unassigned conversation convID the next candidate of
// the inbox's rotation, moves the rotation and records the event. It returns
// the assignee, or nil when the inbox has no members.
func (db *DB) autoAssign(ctx context.Context, tx *txn, st *inboxState, convID int64) (*int64, error) {
	pick, ok := routing.Next(routing.AutoCandidates(st.members), st.last)
	if !ok {
		return nil, nil
	}
	if err := db.changeAssignee(ctx, tx, st.AccountID, convID, nil, &pick, switchboard.ReasonAuto, nil); err != nil {
		return nil, err
	}
	st.last = pick
	_, err := tx.ExecContext(ctx, db.q.SetRotation, pick, st.ID)
	return &pick, err
}

// changeAssignee sets a conversation's assignee and writes its event.
func (db *DB) changeAssignee(ctx context.Context, tx *txn, accountID, convID int64, from, to *int64, reason switchboard.Reason, actor *int64) error {
	var displayID, inboxID int64
	if err := tx.QueryRowContext(ctx, db.q.SetAssignee, to, millis(db.Now()), convID).Scan(&displayID, &inboxID); err != nil {
		return err
	}
	tx.changed(switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: accountID, ConversationID: displayID, InboxID: inboxID})
	_, err := tx.ExecContext(ctx, db.q.InsertEvent, accountID, convID, from, to, reason, actor, millis(db.Now()))
	return err
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
	id, inboxID int64
	status      switchboard.Status
	isMember    bool
}

// reassign moves conversations away from userID as mode says, in the same
// transaction as the change that made it necessary, which has already been
// written.
func (db *DB) reassign(ctx context.Context, tx *txn, accountID, userID int64, actor *int64, mode reassignMode) error {
	held, err := db.heldBy(ctx, tx, accountID, userID)
	if err != nil || len(held) == 0 {
		return err
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
	for _, c := range held {
		if st == nil || st.ID != c.inboxID {
			if st, err = db.loadInboxState(ctx, tx, accountID, c.inboxID); err != nil {
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
		var to *int64
		if reassignable {
			if pick, ok := routing.Next(routing.ReassignCandidates(st.members, userID), st.last); ok {
				to, st.last = &pick, pick
				if _, err := tx.ExecContext(ctx, db.q.SetRotation, pick, st.ID); err != nil {
					return err
				}
			}
		}
		if err := db.changeAssignee(ctx, tx, accountID, c.id, &userID, to, switchboard.ReasonReassign, actor); err != nil {
			return err
		}
	}
	return nil
}

// heldBy returns the conversations assigned to userID in the account, by inbox.
func (db *DB) heldBy(ctx context.Context, tx *txn, accountID, userID int64) ([]heldConversation, error) {
	rows, err := tx.QueryContext(ctx, db.q.AssignedTo, accountID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var held []heldConversation
	for rows.Next() {
		var c heldConversation
		if err := rows.Scan(&c.id, &c.inboxID, &c.status, &c.isMember); err != nil {
			return nil, err
		}
		held = append(held, c)
	}
	return held, rows.Err()
}
