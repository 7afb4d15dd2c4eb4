package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

// CreateConversation creates a conversation in an inbox the caller may see.
// An explicit assignee is kept (and must be one the conversation may have);
// otherwise an open conversation in an inbox with auto-assignment on gets the
// next assignee of the rotation in the same transaction.
func (db *DB) CreateConversation(ctx context.Context, c switchboard.Caller, n switchboard.NewConversation) (switchboard.Conversation, error) {
	if err := n.Validate(); err != nil {
		return switchboard.Conversation{}, err
	}
	// What needs no routing lock comes before it (the creates of an inbox
	// take turns holding it): the account's webhooks. Then the lock, before
	// the conversation is inserted: the insert takes a share lock on the
	// inbox's row for the foreign key, which taken first would make each
	// create share the row with the one holding the lock (slower,
	// measured). The conversation's number comes after the checks, so that
	// a refused create uses none.
	var conv switchboard.Conversation
	create := func(tx *txn) error {
		var displayID int64 // on PostgreSQL, from InsertCreated
		if _, err := db.txWebhooks(ctx, tx, c.AccountID); err != nil {
			return err
		}
		// Refusals come before any write (see refused).
		st, err := db.lockForCreate(ctx, tx, c.AccountID, n.InboxID)
		if err != nil {
			return refused(err)
		}
		if err := db.mayUseInbox(ctx, tx, c, n.InboxID); err != nil {
			return refused(err)
		}
		if n.AssigneeID != nil {
			if err := db.checkAssignee(ctx, tx, c.AccountID, n.InboxID, *n.AssigneeID); err != nil {
				return refused(err)
			}
		}
		if !db.postgres {
			// SQLite's number comes from the account's row (a write).
			if err := tx.QueryRowContext(ctx, db.q.NextDisplayID, c.AccountID).Scan(&displayID); err != nil {
				return err
			}
		}
		row := createdRow{accountID: c.AccountID, displayID: displayID, inboxID: n.InboxID,
			status: n.Status, contactID: n.ContactID, sourceID: n.SourceID, now: millis(db.Now()), message: n.Message, key: n.Key}
		// The assignee is known before the insert: given, or the
		// rotation's pick, which the new conversation does not change.
		route := n.AssigneeID == nil && n.Status == switchboard.StatusOpen && st.EnableAutoAssignment
		start := time.Now()
		switch {
		case n.AssigneeID != nil: // checked above
			row.assignee, row.reason, row.actor = n.AssigneeID, switchboard.ReasonManual, &c.UserID
		case route && db.postgres && st.pickedByIndex():
			row.pickHere, row.last = true, st.last // InsertCreated picks as decide would
		case route:
			d, err := db.decide(ctx, tx, st)
			if err != nil {
				return err
			}
			if d.direct() {
				row.assignee, row.reason, row.lastPick = &d.pick, switchboard.ReasonAuto, &d.pick
			}
		}
		r, messageID, err := db.insertCreated(ctx, tx, row)
		if errors.Is(err, errMadeAlready) {
			// Nothing written: the answer is the conversation made
			// with the key before.
			conv, err = db.createdWithKey(ctx, tx, c, n.Key)
			return err
		}
		if err != nil {
			return err
		}
		displayID = r.ID
		if row.pickHere && r.Assignee != nil {
			row.assignee, row.reason = &r.Assignee.ID, switchboard.ReasonAuto
		}
		db.createdIn(tx, st, route, row.assignee)
		tx.changed(switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: c.AccountID, ConversationID: displayID, InboxID: n.InboxID})
		tx.hooks = append(tx.hooks, hookEvent{event: switchboard.EventConversationCreated, accountID: c.AccountID, convID: r.globalID})
		if row.assignee != nil {
			tx.assigneeChanged(c.AccountID, r.globalID, displayID, n.InboxID, nil, row.assignee, row.reason, row.actor)
		}
		if route && row.assignee == nil {
			// No pick, or others wait before it: it joins the queue.
			if err := db.enqueue(ctx, tx, st, r.globalID, nil); err != nil {
				return err
			}
			if r, err = db.createdReply(ctx, tx, c.AccountID, displayID); err != nil {
				return err
			}
		}
		if route && db.Observer != nil {
			// The routing: its decision and writes, made with the insert's.
			db.Observer.Picked(time.Since(start))
		}
		conv = r.Conversation
		if n.Message != "" {
			conv.Messages = []switchboard.Message{{ID: messageID, Content: n.Message, CreatedAt: fromMillis(row.now)}}
		}
		return nil
	}
	var err error
	if db.postgres {
		// The creates of the inbox waiting in this process share one
		// transaction and its lock (inboxbatch.go).
		err = db.inboxTx(ctx, n.InboxID, create, db.togetherCreate(c, n, &conv))
	} else {
		err = db.inTx(ctx, create)
	}
	if err != nil {
		return switchboard.Conversation{}, fmt.Errorf("create conversation: %w", err)
	}
	return conv, nil
}

// lockForCreate takes the inbox's routing lock for a create and returns its
// state, or, in a PostgreSQL batch, the state a create before it in the
// transaction kept (createdIn) for the caller's account: the lock is held
// then.
func (db *DB) lockForCreate(ctx context.Context, tx *txn, accountID, inboxID int64) (*inboxState, error) {
	if st := tx.created[inboxID]; st != nil && st.AccountID == accountID {
		return st, nil
	}
	return db.lockInbox(ctx, tx, accountID, inboxID)
}

// createdIn keeps, on PostgreSQL, the inbox's state after a create for the
// next create of the transaction, when what the create changed in it is
// known: nothing (not routed), or the rotation's last pick (a round-robin
// pick, which is the assignee). Otherwise (a queue, limits, balanced mode)
// the next create reads it again. SQLite keeps none: its transactions
// carry other writes between creates.
func (db *DB) createdIn(tx *txn, st *inboxState, routed bool, assignee *int64) {
	if !db.postgres {
		return
	}
	if routed && (assignee == nil || !st.pickedByIndex()) {
		delete(tx.created, st.ID)
		return
	}
	if routed {
		st.last = *assignee
	}
	if tx.created == nil {
		tx.created = map[int64]*inboxState{}
	}
	tx.created[st.ID] = st
}

// createdRow is what a create writes: the conversation, its first message
// unless empty, its assignee's event when it has one, and the rotation's new
// last pick when the assignee is the rotation's. With pickHere, PostgreSQL
// makes the round-robin pick in the insert's statement, after last.
type createdRow struct {
	accountID, displayID, inboxID int64 // displayID: SQLite's only
	status                        switchboard.Status
	contactID                     *int64
	sourceID                      string
	now                           int64
	message                       string
	assignee                      *int64
	reason                        switchboard.Reason
	actor                         *int64
	lastPick                      *int64
	pickHere                      bool
	last                          int64
	key                           string // PostgreSQL's only; "" for none
}

// errMadeAlready is insertCreated's answer to a create whose key a stored
// conversation has.
var errMadeAlready = errors.New("a conversation with this key exists")

// createdWithKey returns the conversation made with key, as its create
// answered it.
func (db *DB) createdWithKey(ctx context.Context, q querier, c switchboard.Caller, key string) (switchboard.Conversation, error) {
	var displayID int64
	if err := q.QueryRowContext(ctx, db.q.ConversationByKey, key, c.AccountID).Scan(&displayID); err != nil {
		return switchboard.Conversation{}, fmt.Errorf("conversation by key: %w", err)
	}
	return db.conversation(ctx, q, c, displayID)
}

// ConversationByKey returns the conversation created with key
// (NewConversation.Key) in the caller's account, if one was.
func (db *DB) ConversationByKey(ctx context.Context, c switchboard.Caller, key string) (switchboard.Conversation, bool, error) {
	if !db.postgres || key == "" {
		return switchboard.Conversation{}, false, nil
	}
	tx, err := db.readTx(ctx)
	if err != nil {
		return switchboard.Conversation{}, false, fmt.Errorf("conversation by key: %w", err)
	}
	defer tx.Rollback()
	conv, err := db.createdWithKey(ctx, tx, c, key)
	if errors.Is(err, sql.ErrNoRows) {
		return conv, false, nil
	}
	return conv, err == nil, err
}

// insertCreated writes a create's rows and returns the conversation as the
// reply shows it, and the message's id. PostgreSQL writes and reads in one
// statement, SQLite (no data-modifying WITH, and no round trips) in one
// each.
func (db *DB) insertCreated(ctx context.Context, tx *txn, r createdRow) (conversationRow, int64, error) {
	if db.postgres {
		var messageID sql.NullInt64
		var key *string
		if r.key != "" {
			key = &r.key
		}
		row := tx.QueryRowContext(ctx, db.q.InsertCreated, r.accountID, r.inboxID, r.status, r.contactID, r.sourceID,
			r.assignee, r.now, r.message, r.reason, r.actor, r.lastPick, r.pickHere, r.last, key)
		conv, err := scanConversation(func(dest ...any) error { return row.Scan(append(dest, &messageID)...) }, r.accountID)
		if key != nil && errors.Is(err, sql.ErrNoRows) {
			return conversationRow{}, 0, errMadeAlready
		}
		return conv, messageID.Int64, err
	}
	var id, messageID int64
	err := tx.QueryRowContext(ctx, db.q.InsertConversation, r.accountID, r.displayID, r.inboxID, r.status, r.contactID, r.sourceID,
		r.assignee, r.now, r.now).Scan(&id)
	if err != nil {
		return conversationRow{}, 0, err
	}
	if r.message != "" {
		if err := tx.QueryRowContext(ctx, db.q.InsertMessage, id, r.message, r.now).Scan(&messageID); err != nil {
			return conversationRow{}, 0, err
		}
	}
	if r.assignee != nil {
		if _, err := tx.ExecContext(ctx, db.q.InsertEvent, r.accountID, id, nil, r.assignee, r.reason, r.actor, r.now); err != nil {
			return conversationRow{}, 0, err
		}
	}
	if r.lastPick != nil {
		if _, err := tx.ExecContext(ctx, db.q.SetRotation, *r.lastPick, r.inboxID); err != nil {
			return conversationRow{}, 0, err
		}
	}
	conv, err := db.createdReply(ctx, tx, r.accountID, r.displayID)
	return conv, messageID, err
}

// createdReply reads a conversation just created: the caller may use its
// inbox (checked before), and its messages are the one just written, if any.
func (db *DB) createdReply(ctx context.Context, tx *txn, accountID, displayID int64) (conversationRow, error) {
	return scanConversation(tx.QueryRowContext(ctx, db.q.ConversationByDisplay, accountID, displayID).Scan, accountID)
}

// checkAssignee refuses a user who may not be the assignee of a conversation
// in inboxID (ROUTING.md rule 2). The user's place in the account is read
// locked: a demotion, a removal or going offline that runs meanwhile comes
// wholly before this assignment (which then sees it) or after it (and then
// finds the conversation among the user's), even in an inbox it did not
// lock, such as one created meanwhile.
func (db *DB) checkAssignee(ctx context.Context, tx *txn, accountID, inboxID, userID int64) error {
	a, err := db.agentLocked(ctx, tx, accountID, userID)
	if switchboard.ErrorCode(err) == switchboard.ENOTFOUND {
		return switchboard.Invalid("assignee_id", "assignee_id is not a user of this account")
	} else if err != nil {
		return err
	}
	member, err := db.isMember(ctx, tx, inboxID, userID)
	if err != nil {
		return err
	}
	if !routing.MayBeAssignee(a.Role, member) {
		return switchboard.Invalid("assignee_id", "assignee_id must be a member of the inbox or an administrator")
	}
	return nil
}

// conversationRow is a conversation as stored, with its global id.
type conversationRow struct {
	switchboard.Conversation
	globalID int64
}

func scanConversation(scan func(...any) error, accountID int64) (conversationRow, error) {
	var r conversationRow
	var assigneeID, contactID, snoozed, waiting sql.NullInt64
	var name, email, role, availability sql.NullString
	var autoOffline sql.NullBool
	var created, activity int64
	err := scan(&r.globalID, &r.ID, &r.InboxID, &r.Status, &assigneeID, &contactID, &r.SourceID, &snoozed,
		&created, &activity, &name, &email, &role, &availability, &autoOffline, &waiting, &r.QueuePosition)
	if err != nil {
		return r, err
	}
	if waiting.Valid {
		t := fromMillis(waiting.Int64)
		r.WaitingSince = &t
	}
	r.AccountID = accountID
	r.CreatedAt, r.LastActivityAt = fromMillis(created), fromMillis(activity)
	if contactID.Valid {
		r.ContactID = &contactID.Int64
	}
	if snoozed.Valid {
		t := fromMillis(snoozed.Int64)
		r.SnoozedUntil = &t
	}
	if assigneeID.Valid {
		r.Assignee = &switchboard.Agent{
			ID: assigneeID.Int64, AccountID: accountID, Name: name.String, Email: email.String,
			Role: switchboard.Role(role.String), Availability: switchboard.Availability(availability.String),
			AutoOffline: autoOffline.Bool,
		}
	}
	return r, nil
}

// visibleConversation loads a conversation the caller may see.
func (db *DB) visibleConversation(ctx context.Context, q querier, c switchboard.Caller, displayID int64) (conversationRow, error) {
	r, err := scanConversation(q.QueryRowContext(ctx, db.q.ConversationByDisplay, c.AccountID, displayID).Scan, c.AccountID)
	if err != nil {
		return r, notFoundOr(err, "conversation")
	}
	if routing.MaySee(c.Role, false) {
		return r, nil // member or not
	}
	member, err := db.isMember(ctx, q, r.InboxID, c.UserID)
	if err != nil {
		return r, err
	}
	if !routing.MaySee(c.Role, member) {
		return r, switchboard.NotFound("conversation")
	}
	return r, nil
}

// Conversation returns a conversation the caller may see, with its messages.
func (db *DB) Conversation(ctx context.Context, c switchboard.Caller, displayID int64) (switchboard.Conversation, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return switchboard.Conversation{}, fmt.Errorf("conversation: %w", err)
	}
	defer tx.Rollback()
	return db.conversation(ctx, tx, c, displayID)
}

// conversation reads a conversation in q, which is the write transaction
// when a change answers with the conversation it made: a reply read after the
// commit could show a later change, or none if the caller has just lost
// access.
func (db *DB) conversation(ctx context.Context, q querier, c switchboard.Caller, displayID int64) (switchboard.Conversation, error) {
	r, err := db.visibleConversation(ctx, q, c, displayID)
	if err != nil {
		return r.Conversation, err
	}
	rows, err := q.QueryContext(ctx, db.q.MessagesOf, r.globalID)
	if err != nil {
		return r.Conversation, fmt.Errorf("conversation: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m switchboard.Message
		var created int64
		if err := rows.Scan(&m.ID, &m.Content, &created); err != nil {
			return r.Conversation, fmt.Errorf("conversation: %w", err)
		}
		m.CreatedAt = fromMillis(created)
		r.Messages = append(r.Messages, m)
	}
	return r.Conversation, rows.Err()
}

// Assign makes assigneeID (nil: nobody) the assignee of a conversation the
// caller may see. Manual assignment ignores availability and does not move
// the rotation; assigning the current assignee changes nothing. It returns
// the assignee afterwards.
func (db *DB) Assign(ctx context.Context, c switchboard.Caller, displayID int64, assigneeID *int64) (*switchboard.Agent, error) {
	var assignee *switchboard.Agent
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.lockConversationInbox(ctx, tx, c.AccountID, displayID); err != nil {
			return err
		}
		r, err := db.visibleConversation(ctx, tx, c, displayID)
		if err != nil {
			return err
		}
		var from *int64
		if r.Assignee != nil {
			from = &r.Assignee.ID
		}
		if assigneeID != nil {
			if err := db.checkAssignee(ctx, tx, c.AccountID, r.InboxID, *assigneeID); err != nil {
				return err
			}
			a, err := db.agent(ctx, tx, c.AccountID, *assigneeID)
			if err != nil {
				return err
			}
			assignee = &a
		}
		if sameID(from, assigneeID) {
			return nil
		}
		if err := db.changeAssignee(ctx, tx, c.AccountID, r.globalID, from, assigneeID, switchboard.ReasonManual, &c.UserID); err != nil {
			return err
		}
		if from != nil && r.Status == switchboard.StatusOpen {
			// Taken from its holder by hand: room for them.
			return db.placeIn(ctx, tx, c.AccountID, r.InboxID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assign: %w", err)
	}
	return assignee, nil
}

func sameID(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// ChangeStatus sets a conversation's status. A conversation that becomes open
// from another status without an assignee is auto-assigned as on creation.
func (db *DB) ChangeStatus(ctx context.Context, c switchboard.Caller, displayID int64, ch switchboard.StatusChange) (switchboard.Conversation, error) {
	var conv switchboard.Conversation
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.lockConversationInbox(ctx, tx, c.AccountID, displayID); err != nil {
			return err
		}
		r, err := db.visibleConversation(ctx, tx, c, displayID)
		if err != nil {
			return err
		}
		status := switchboard.StatusOpen
		switch {
		case ch.Status != nil:
			status = *ch.Status
		case r.Status == switchboard.StatusOpen:
			status = switchboard.StatusResolved
		}
		var snoozed *int64
		if status == switchboard.StatusSnoozed && ch.SnoozedUntil != nil {
			ms := millis(*ch.SnoozedUntil)
			snoozed = &ms
		}
		if err := db.setStatus(ctx, tx, c.AccountID, r, status, snoozed); err != nil {
			return err
		}
		conv, err = db.conversation(ctx, tx, c, displayID)
		return err
	})
	if err != nil {
		return switchboard.Conversation{}, fmt.Errorf("change status: %w", err)
	}
	return conv, nil
}

// setStatus sets r's status in tx, which holds its inbox's routing lock: a
// conversation that becomes open from another status is routed again
// unless its assignee is there to take it, and one that stops being open
// makes room for its assignee.
func (db *DB) setStatus(ctx context.Context, tx *txn, accountID int64, r conversationRow, status switchboard.Status, snoozed *int64) error {
	if _, err := tx.ExecContext(ctx, db.q.SetStatus, status, snoozed, millis(db.Now()), status, r.globalID); err != nil {
		return err
	}
	tx.changed(switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: accountID, ConversationID: r.ID, InboxID: r.InboxID})
	tx.hooks = append(tx.hooks, hookEvent{event: switchboard.EventConversationUpdated, accountID: accountID, convID: r.globalID})
	reopened := status == switchboard.StatusOpen && r.Status != switchboard.StatusOpen
	switch {
	case reopened && r.Assignee == nil:
		return db.routeIfOn(ctx, tx, accountID, r.InboxID, r.globalID, nil)
	case reopened && r.Assignee.Availability == switchboard.Offline:
		// Reopened while its assignee is away: routed again rather than
		// left with someone who went home.
		return db.routeIfOn(ctx, tx, accountID, r.InboxID, r.globalID, &r.Assignee.ID)
	case r.Status == switchboard.StatusOpen && status != switchboard.StatusOpen && r.Assignee != nil:
		// Resolved, snoozed or pending: room for its assignee.
		return db.placeIn(ctx, tx, accountID, r.InboxID)
	}
	return nil
}

// WakeWindow is how long after its time a snoozed conversation still
// wakes, as in Chatwoot: one due longer ago (snoozed before Switchboard
// woke any, or while no process ran) stays snoozed until someone changes
// it, rather than reach an agent days late among a flood of others.
const WakeWindow = 3 * 24 * time.Hour

// WakeSnoozed reopens up to limit snoozed conversations whose time to wake
// (snoozed_until) has come within WakeWindow, each in a transaction of its
// own: each is then routed as one reopened by hand (ChangeStatus). A
// conversation changed meanwhile is left as it is. It returns how many it
// reopened. Every process runs it with its presence sweep; two that meet
// on one conversation take turns at its inbox's lock, and the second finds
// it open.
func (db *DB) WakeSnoozed(ctx context.Context, limit int) (int, error) {
	now := db.Now()
	rows, err := db.reads.QueryContext(ctx, db.q.SnoozedDue, millis(now.Add(-WakeWindow)), millis(now), limit)
	if err != nil {
		return 0, fmt.Errorf("wake snoozed: %w", err)
	}
	var due [][2]int64 // account, display id
	for rows.Next() {
		var d [2]int64
		if err := rows.Scan(&d[0], &d[1]); err != nil {
			rows.Close()
			return 0, fmt.Errorf("wake snoozed: %w", err)
		}
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("wake snoozed: %w", err)
	}
	n := 0
	var errs []error
	for _, d := range due {
		if ctx.Err() != nil {
			break // stopping: the next sweep goes on
		}
		woke := false
		err := db.inTx(ctx, func(tx *txn) error {
			woke = false
			if err := db.lockConversationInbox(ctx, tx, d[0], d[1]); err != nil {
				return err
			}
			r, err := scanConversation(tx.QueryRowContext(ctx, db.q.ConversationByDisplay, d[0], d[1]).Scan, d[0])
			if err != nil {
				return err
			}
			if r.Status != switchboard.StatusSnoozed || r.SnoozedUntil == nil || r.SnoozedUntil.After(db.Now()) {
				return nil // changed since it was found
			}
			woke = true
			return db.setStatus(ctx, tx, d[0], r, switchboard.StatusOpen, nil)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("conversation %d of account %d: %w", d[1], d[0], err))
			continue
		}
		if woke {
			n++
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("wake snoozed: %w", errors.Join(errs...))
	}
	return n, nil
}

// Conversations returns one page of the conversations the caller may see that
// the filter selects, and the counts by assignee type.
func (db *DB) Conversations(ctx context.Context, c switchboard.Caller, f switchboard.ConversationFilter) ([]switchboard.Conversation, switchboard.ConversationCounts, error) {
	var counts switchboard.ConversationCounts
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, counts, fmt.Errorf("conversations: %w", err)
	}
	defer tx.Rollback()
	var inbox int64
	if f.InboxID != nil {
		inbox = *f.InboxID
	}
	admin := c.IsAdministrator()
	st := statusesOf(f.Status)
	err = tx.QueryRowContext(ctx, db.q.CountConversations, c.UserID,
		c.AccountID, st[0], st[1], st[2], st[3], inbox, inbox, admin, c.UserID).
		Scan(&counts.Mine, &counts.Unassigned, &counts.Assigned, &counts.All)
	if err != nil {
		return nil, counts, fmt.Errorf("conversations: %w", err)
	}
	if f.Page < 1 {
		f.Page = 1
	}
	// A page far past the end is empty, not a wrapped-round offset.
	offset := int64(math.MaxInt64)
	if f.Page <= math.MaxInt32 {
		offset = int64(f.Page-1) * switchboard.PageSize
	}
	rows, err := tx.QueryContext(ctx, db.q.ListConversations,
		c.AccountID, st[0], st[1], st[2], st[3], inbox, inbox, admin, c.UserID,
		f.AssigneeType, f.AssigneeType, c.UserID, f.AssigneeType, f.AssigneeType,
		switchboard.PageSize, offset)
	if err != nil {
		return nil, counts, fmt.Errorf("conversations: %w", err)
	}
	defer rows.Close()
	list := []switchboard.Conversation{}
	for rows.Next() {
		var last struct {
			id, at  sql.NullInt64
			content sql.NullString
		}
		r, err := scanConversation(func(dest ...any) error {
			return rows.Scan(append(dest, &last.id, &last.content, &last.at)...)
		}, c.AccountID)
		if err != nil {
			return nil, counts, fmt.Errorf("conversations: %w", err)
		}
		if last.id.Valid { // its last message, as Chatwoot's list shows
			r.Messages = []switchboard.Message{{ID: last.id.Int64, Content: last.content.String, CreatedAt: fromMillis(last.at.Int64)}}
		}
		list = append(list, r.Conversation)
	}
	return list, counts, rows.Err()
}

// statusesOf returns the statuses that a list's status filter stands for,
// for the four places of CountConversations and ListConversations: every
// one for "all", else the one named, four times.
func statusesOf(status string) [4]string {
	if status == "all" {
		return [4]string{string(switchboard.StatusOpen), string(switchboard.StatusPending), string(switchboard.StatusSnoozed), string(switchboard.StatusResolved)}
	}
	return [4]string{status, status, status, status}
}

// AssignmentEvents returns the assignment history of a conversation the
// caller may see, oldest first.
func (db *DB) AssignmentEvents(ctx context.Context, c switchboard.Caller, displayID int64) ([]switchboard.AssignmentEvent, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("assignment events: %w", err)
	}
	defer tx.Rollback()
	r, err := db.visibleConversation(ctx, tx, c, displayID)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, db.q.EventsOf, r.globalID)
	if err != nil {
		return nil, fmt.Errorf("assignment events: %w", err)
	}
	defer rows.Close()
	events := []switchboard.AssignmentEvent{}
	for rows.Next() {
		e := switchboard.AssignmentEvent{ConversationID: displayID}
		var from, to, actor sql.NullInt64
		var created int64
		if err := rows.Scan(&e.ID, &from, &to, &e.Reason, &actor, &created); err != nil {
			return nil, fmt.Errorf("assignment events: %w", err)
		}
		e.From, e.To, e.ActorID = nullable(from), nullable(to), nullable(actor)
		e.CreatedAt = fromMillis(created)
		events = append(events, e)
	}
	return events, rows.Err()
}

func nullable(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

// Queue returns the waiting queue of an inbox the caller may see, in order.
func (db *DB) Queue(ctx context.Context, c switchboard.Caller, inboxID int64) ([]switchboard.Conversation, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	defer tx.Rollback()
	if _, _, err := db.visibleInbox(ctx, tx, c, inboxID); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, db.q.ListQueue, inboxID)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	defer rows.Close()
	queue := []switchboard.Conversation{}
	for rows.Next() {
		r, err := scanConversation(rows.Scan, c.AccountID)
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		queue = append(queue, r.Conversation)
	}
	return queue, rows.Err()
}

// QueueLength is the number of conversations waiting in one inbox.
type QueueLength struct {
	AccountID, InboxID int64
	Waiting            int
}

// QueueLengths returns the waiting queue length of every inbox that has one.
func (db *DB) QueueLengths(ctx context.Context) ([]QueueLength, error) {
	rows, err := db.reads.QueryContext(ctx, db.q.QueueLengths)
	if err != nil {
		return nil, fmt.Errorf("queue lengths: %w", err)
	}
	defer rows.Close()
	var out []QueueLength
	for rows.Next() {
		var q QueueLength
		if err := rows.Scan(&q.AccountID, &q.InboxID, &q.Waiting); err != nil {
			return nil, fmt.Errorf("queue lengths: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
