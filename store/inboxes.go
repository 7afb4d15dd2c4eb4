package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

func requireAdministrator(c switchboard.Caller) error {
	if !c.IsAdministrator() {
		return switchboard.Errorf(switchboard.EFORBIDDEN, "only administrators may do this")
	}
	return nil
}

// stillAdministrator refuses an administrator's write unless the caller is
// one as the write's transaction reads the account: authentication may have
// kept the caller from before a demotion or removal that another process
// committed a moment ago (authcache.go), and what such a write leaves (a
// role, a member, a webhook) would outlast the moment. It does not lock:
// inbox locks come before users' rows (setAvailability), and a demotion
// still under way when it reads is the race that authentication always had.
func (db *DB) stillAdministrator(ctx context.Context, tx *txn, c switchboard.Caller) error {
	var role switchboard.Role
	var availability switchboard.Availability
	var autoOffline bool
	err := tx.QueryRowContext(ctx, db.q.Membership, c.AccountID, c.UserID).Scan(&role, &availability, &autoOffline)
	if errors.Is(err, sql.ErrNoRows) || err == nil && role != switchboard.RoleAdministrator {
		return switchboard.Errorf(switchboard.EFORBIDDEN, "only administrators may do this")
	}
	return err
}

// inbox loads an inbox of the account and its rotation's last pick.
func (db *DB) inbox(ctx context.Context, q querier, accountID, id int64) (switchboard.Inbox, int64, error) {
	return db.inboxBy(ctx, q, db.q.Inbox, accountID, id)
}

// inboxBy runs query, Inbox or LockInbox, which read the same columns.
func (db *DB) inboxBy(ctx context.Context, q querier, query string, accountID, id int64) (switchboard.Inbox, int64, error) {
	in := switchboard.Inbox{ID: id, AccountID: accountID}
	var last int64
	err := q.QueryRowContext(ctx, query, id, accountID).Scan(
		&in.Name, &in.WebhookURL, &in.EnableAutoAssignment, &in.EnableAutoReassignment,
		&in.MaxAssignmentLimit, &in.AssignmentMode, &last)
	return in, last, notFoundOr(err, "inbox")
}

// visibleInbox loads an inbox that the caller may see; an agent who is not a
// member gets not found.
func (db *DB) visibleInbox(ctx context.Context, q querier, c switchboard.Caller, id int64) (switchboard.Inbox, int64, error) {
	in, last, err := db.inbox(ctx, q, c.AccountID, id)
	if err != nil {
		return in, last, err
	}
	return in, last, db.mayUseInbox(ctx, q, c, id)
}

// mayUseInbox tells an agent who is not a member of an existing inbox that
// it is not found.
func (db *DB) mayUseInbox(ctx context.Context, q querier, c switchboard.Caller, id int64) error {
	if routing.MaySee(c.Role, false) {
		return nil // member or not
	}
	member, err := db.isMember(ctx, q, id, c.UserID)
	if err != nil {
		return err
	}
	if !routing.MaySee(c.Role, member) {
		return switchboard.NotFound("inbox")
	}
	return nil
}

// MaySeeChange reports whether c may see what a change in their account
// is about, as Conversation and Inbox would find: a conversation or an
// inbox if they may see the inbox (a conversation is seen by who sees its
// inbox), a colleague always. Only an agent's membership of the inbox is
// asked of the database: a console checks every change it hears.
func (db *DB) MaySeeChange(ctx context.Context, c switchboard.Caller, ch switchboard.Change) (bool, error) {
	if ch.AccountID != c.AccountID {
		return false, nil
	}
	if ch.Kind != switchboard.ConversationChanged && ch.Kind != switchboard.InboxChanged {
		return true, nil
	}
	err := db.mayUseInbox(ctx, db.reads, c, ch.InboxID)
	if switchboard.ErrorCode(err) == switchboard.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("may see change: %w", err)
	}
	return true, nil
}

func (db *DB) isMember(ctx context.Context, q querier, inboxID, userID int64) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, db.q.IsMember, inboxID, userID).Scan(&n)
	return n > 0, err
}

// Inboxes returns the inboxes the caller may see, by id.
func (db *DB) Inboxes(ctx context.Context, c switchboard.Caller) ([]switchboard.Inbox, error) {
	query, args := db.q.InboxesOfAccount, []any{c.AccountID}
	if !c.IsAdministrator() {
		query, args = db.q.InboxesOfMember, []any{c.AccountID, c.UserID}
	}
	rows, err := db.reads.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("inboxes: %w", err)
	}
	defer rows.Close()
	inboxes := []switchboard.Inbox{}
	for rows.Next() {
		in := switchboard.Inbox{AccountID: c.AccountID}
		if err := rows.Scan(&in.ID, &in.Name, &in.WebhookURL, &in.EnableAutoAssignment, &in.EnableAutoReassignment,
			&in.MaxAssignmentLimit, &in.AssignmentMode); err != nil {
			return nil, fmt.Errorf("inboxes: %w", err)
		}
		inboxes = append(inboxes, in)
	}
	return inboxes, rows.Err()
}

// Inbox returns one inbox the caller may see.
func (db *DB) Inbox(ctx context.Context, c switchboard.Caller, id int64) (switchboard.Inbox, error) {
	in, _, err := db.visibleInbox(ctx, db.reads, c, id)
	return in, err
}

// CreateInbox creates an inbox in the caller's account (administrators only).
func (db *DB) CreateInbox(ctx context.Context, c switchboard.Caller, n switchboard.NewInbox) (switchboard.Inbox, error) {
	if err := requireAdministrator(c); err != nil {
		return switchboard.Inbox{}, err
	}
	if err := n.Validate(); err != nil {
		return switchboard.Inbox{}, err
	}
	var in switchboard.Inbox
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRowContext(ctx, db.q.InsertInbox, c.AccountID, n.Name, n.WebhookURL,
			n.EnableAutoAssignment, n.EnableAutoReassignment, n.MaxAssignmentLimit, n.AssignmentMode, millis(db.Now())).Scan(&id)
		if err != nil {
			return err
		}
		tx.changed(switchboard.Change{Kind: switchboard.InboxChanged, AccountID: c.AccountID, InboxID: id})
		in, _, err = db.inbox(ctx, tx, c.AccountID, id)
		return err
	})
	if err != nil {
		return switchboard.Inbox{}, fmt.Errorf("create inbox: %w", err)
	}
	return in, nil
}

// UpdateInbox changes an inbox's name and settings (administrators only).
func (db *DB) UpdateInbox(ctx context.Context, c switchboard.Caller, id int64, u switchboard.InboxUpdate) (switchboard.Inbox, error) {
	if err := requireAdministrator(c); err != nil {
		return switchboard.Inbox{}, err
	}
	if err := u.Validate(); err != nil {
		return switchboard.Inbox{}, err
	}
	var in switchboard.Inbox
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		if err := db.updateInbox(ctx, tx, c, id, u); err != nil {
			return err
		}
		var err error
		in, _, err = db.inbox(ctx, tx, c.AccountID, id)
		return err
	})
	if err != nil {
		return switchboard.Inbox{}, fmt.Errorf("update inbox: %w", err)
	}
	return in, nil
}

func (db *DB) updateInbox(ctx context.Context, tx *txn, c switchboard.Caller, id int64, u switchboard.InboxUpdate) error {
	if _, err := db.lockInbox(ctx, tx, c.AccountID, id); err != nil {
		return err
	}
	in, _, err := db.inbox(ctx, tx, c.AccountID, id)
	if err != nil {
		return err
	}
	wasOn := in.EnableAutoAssignment
	if u.Name != nil {
		in.Name = *u.Name
	}
	if u.EnableAutoAssignment != nil {
		in.EnableAutoAssignment = *u.EnableAutoAssignment
	}
	if u.EnableAutoReassignment != nil {
		in.EnableAutoReassignment = *u.EnableAutoReassignment
	}
	if u.MaxAssignmentLimit != nil {
		in.MaxAssignmentLimit = *u.MaxAssignmentLimit
	}
	if u.AssignmentMode != nil {
		in.AssignmentMode = *u.AssignmentMode
	}
	tx.changed(switchboard.Change{Kind: switchboard.InboxChanged, AccountID: c.AccountID, InboxID: id})
	_, err = tx.ExecContext(ctx, db.q.UpdateInbox, in.Name, in.EnableAutoAssignment, in.EnableAutoReassignment,
		in.MaxAssignmentLimit, in.AssignmentMode, id)
	if err != nil {
		return err
	}
	if in.EnableAutoAssignment && !wasOn {
		if _, err := tx.ExecContext(ctx, db.q.JoinQueue, id); err != nil {
			return err
		}
	}
	// A raised limit, another mode or auto-assignment switched on may make
	// room for the queue.
	return db.placeIn(ctx, tx, c.AccountID, id)
}

// UpdateCollaborators replaces an inbox's members and changes its settings
// in one step (administrators only), as the console's Collaborators tab does.
func (db *DB) UpdateCollaborators(ctx context.Context, c switchboard.Caller, inboxID int64, userIDs []int64, u switchboard.InboxUpdate) error {
	if err := requireAdministrator(c); err != nil {
		return err
	}
	if err := u.Validate(); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		// The locks members leaving need come first, in order.
		if err := db.lockMembersInboxes(ctx, tx, c.AccountID, inboxID); err != nil {
			return err
		}
		if err := db.updateInbox(ctx, tx, c, inboxID, u); err != nil {
			return err
		}
		_, err := db.changeMembers(ctx, tx, c, inboxID, userIDs, ReplaceMembers)
		return err
	})
	if err != nil {
		return fmt.Errorf("update collaborators: %w", err)
	}
	return nil
}

// InboxMembers returns the members of an inbox the caller may see.
func (db *DB) InboxMembers(ctx context.Context, c switchboard.Caller, inboxID int64) ([]switchboard.Agent, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("inbox members: %w", err)
	}
	defer tx.Rollback()
	if _, _, err := db.visibleInbox(ctx, tx, c, inboxID); err != nil {
		return nil, err
	}
	return db.memberAgents(ctx, tx, c.AccountID, inboxID)
}

func (db *DB) memberAgents(ctx context.Context, q querier, accountID, inboxID int64) ([]switchboard.Agent, error) {
	return db.agents(ctx, q, db.q.MemberAgents, accountID, inboxID)
}

// MemberChange says how ChangeMembers treats the user ids it is given.
type MemberChange int

// The ways to change an inbox's members.
const (
	AddMembers     MemberChange = iota // add the users to the members
	ReplaceMembers                     // make the users the members
	RemoveMembers                      // remove the users from the members
)

// ChangeMembers adds, replaces or removes members of an inbox
// (administrators only) and returns the members afterwards. Every id must be a
// user of the account, else nothing changes. The conversations of a user who
// leaves follow ROUTING.md: they may not stay with someone who can no longer
// see them.
func (db *DB) ChangeMembers(ctx context.Context, c switchboard.Caller, inboxID int64, userIDs []int64, how MemberChange) ([]switchboard.Agent, error) {
	if err := requireAdministrator(c); err != nil {
		return nil, err
	}
	var members []switchboard.Agent
	err := db.inTx(ctx, func(tx *txn) (err error) {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		members, err = db.changeMembers(ctx, tx, c, inboxID, userIDs, how)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("change members: %w", err)
	}
	return members, nil
}

func (db *DB) changeMembers(ctx context.Context, tx *txn, c switchboard.Caller, inboxID int64, userIDs []int64, how MemberChange) ([]switchboard.Agent, error) {
	var err error
	if how == AddMembers {
		_, err = db.lockInbox(ctx, tx, c.AccountID, inboxID)
	} else {
		err = db.lockMembersInboxes(ctx, tx, c.AccountID, inboxID) // members may leave
	}
	if err != nil {
		return nil, err
	}
	for _, id := range userIDs {
		// Read locked: going offline or leaving the account meanwhile comes
		// before this change (and a new member is added offline, or not at
		// all) or after it (and finds this inbox among the user's).
		if _, err := db.agentLocked(ctx, tx, c.AccountID, id); switchboard.ErrorCode(err) == switchboard.ENOTFOUND {
			return nil, &switchboard.Error{Code: switchboard.EINVALID, Message: "Invalid User IDs", Fields: []string{"user_ids"}}
		} else if err != nil {
			return nil, err
		}
	}
	current, err := db.memberAgents(ctx, tx, c.AccountID, inboxID)
	if err != nil {
		return nil, err
	}
	var add, remove []int64
	switch how {
	case AddMembers:
		add = userIDs
	case RemoveMembers:
		remove = userIDs
	case ReplaceMembers:
		add = userIDs
		for _, m := range current {
			if !slices.Contains(userIDs, m.ID) {
				remove = append(remove, m.ID)
			}
		}
	}
	for _, id := range add {
		if _, err := tx.ExecContext(ctx, db.q.InsertMember, inboxID, id); err != nil {
			return nil, err
		}
	}
	for _, id := range remove {
		res, err := tx.ExecContext(ctx, db.q.DeleteMember, inboxID, id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if err := db.reassign(ctx, tx, c.AccountID, id, &c.UserID, lostAccess); err != nil {
				return nil, err
			}
		}
	}
	tx.changed(switchboard.Change{Kind: switchboard.InboxChanged, AccountID: c.AccountID, InboxID: inboxID})
	if len(add) > 0 {
		if err := db.placeIn(ctx, tx, c.AccountID, inboxID); err != nil {
			return nil, err
		}
	}
	return db.memberAgents(ctx, tx, c.AccountID, inboxID)
}
