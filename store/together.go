package store

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard/switchboard"
)

// Creates made together (PostgreSQL). A batch's creates used to run one
// after the other in its transaction, each an InsertCreated: one round trip
// under the inbox's lock per create, two thirds of which was the trip, not
// PostgreSQL's work (BENCHMARKS.md). The commonest create, open with no
// assignee given in a round-robin inbox without a limit, by an
// administrator, decides nothing that the creates before it in the batch
// could change but its place in the rotation; so a batch of them is made in
// one statement (InsertCreatedBatch), each with the pick it would get in
// turn. Where that does not hold (a queue, webhooks to send, another mode,
// a refusal to find) the statement writes nothing and the batch runs its
// creates one by one as before.

// togetherCreate is a create that InsertCreatedBatch may make: what its row
// needs, and where its answer goes.
type togetherCreate struct {
	caller    switchboard.Caller
	contactID *int64
	sourceID  string
	now       int64 // millis
	message   string
	key       string
	conv      *switchboard.Conversation
}

// togetherCreate returns the create as InsertCreatedBatch may make it, or
// nil when it must run on its own: not on PostgreSQL, an assignee given, not
// open (nothing to route), or a caller whose access to the inbox takes a
// query (an agent).
func (db *DB) togetherCreate(c switchboard.Caller, n switchboard.NewConversation, conv *switchboard.Conversation) *togetherCreate {
	if !db.postgres || n.AssigneeID != nil || n.Status != switchboard.StatusOpen || !c.IsAdministrator() {
		return nil
	}
	return &togetherCreate{caller: c, contactID: n.ContactID, sourceID: n.SourceID,
		now: millis(db.Now()), message: n.Message, key: n.Key, conv: conv}
}

// createTogether makes reqs, creates of inboxID that togetherCreate
// allowed, in tx with one statement, and returns how many it made, after
// noting in results those whose requests were gone. It makes none and
// writes nothing when one statement cannot make them as each would be made
// alone: they are then to run one by one in tx.
func (db *DB) createTogether(tx *txn, inboxID int64, reqs []*writeRequest, results []error) (made int, err error) {
	var live []int // those still asked for, in arrival order
	for i, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			results[i] = err // gone before it started: not run
			continue
		}
		live = append(live, i)
	}
	if len(live) == 0 {
		return 0, nil
	}
	caller := reqs[live[0]].together.caller
	for _, i := range live {
		if reqs[i].together.caller.AccountID != caller.AccountID {
			return 0, nil // a refusal to find
		}
	}
	ctx := context.Background() // taken: answered whatever becomes of one request
	st, err := db.lockInbox(ctx, tx, caller.AccountID, inboxID)
	if err != nil || !st.EnableAutoAssignment || !st.pickedByIndex() {
		return 0, nil // a refusal to find, or another routing
	}
	n := len(live)
	contacts, sources, nows := make([]*int64, n), make([]string, n), make([]int64, n)
	contents, keys := make([]string, n), make([]*string, n)
	for j, i := range live {
		t := reqs[i].together
		contacts[j], sources[j], nows[j], contents[j] = t.contactID, t.sourceID, t.now, t.message
		if t.key != "" {
			keys[j] = &t.key
		}
	}
	start := time.Now()
	rows, err := tx.QueryContext(ctx, db.q.InsertCreatedBatch, caller.AccountID, inboxID, st.last,
		contacts, sources, nows, contents, keys)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	answered := make([]bool, n)
	for rows.Next() {
		var place int
		var messageID *int64
		r, err := scanConversation(func(dest ...any) error {
			return rows.Scan(append([]any{&place}, append(dest, &messageID)...)...)
		}, caller.AccountID)
		if err != nil {
			return 0, err
		}
		if place < 1 || place > n || answered[place-1] || r.Assignee == nil {
			return 0, fmt.Errorf("create together: unexpected row for place %d", place)
		}
		answered[place-1] = true
		t := reqs[live[place-1]].together
		conv := r.Conversation
		if t.message != "" && messageID != nil {
			conv.Messages = []switchboard.Message{{ID: *messageID, Content: t.message, CreatedAt: fromMillis(t.now)}}
		}
		*t.conv = conv
		tx.changed(switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: caller.AccountID, ConversationID: r.ID, InboxID: inboxID})
		tx.hooks = append(tx.hooks, hookEvent{event: switchboard.EventConversationCreated, accountID: caller.AccountID, convID: r.globalID})
		tx.assigneeChanged(caller.AccountID, r.globalID, r.ID, inboxID, nil, &r.Assignee.ID, switchboard.ReasonAuto, nil)
		made++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if made == 0 {
		return 0, nil // a condition failed (or all were made before)
	}
	if db.Observer != nil {
		took := time.Since(start) / time.Duration(made)
		for range made {
			db.Observer.Picked(took)
		}
	}
	// The statement found no webhook in the account, under the inbox's
	// lock: none to send (enqueueWebhooks asks no more).
	tx.webhooks = map[int64][]switchboard.Webhook{caller.AccountID: nil}
	for j, i := range live {
		if answered[j] {
			continue
		}
		t := reqs[i].together
		if t.key == "" {
			return 0, fmt.Errorf("create together: no row for create %d", j+1)
		}
		// A conversation has its key: the answer is that one, as
		// InsertCreated's errMadeAlready.
		if *t.conv, err = db.createdWithKey(ctx, tx, t.caller, t.key); err != nil {
			return 0, err
		}
	}
	return made, nil
}
