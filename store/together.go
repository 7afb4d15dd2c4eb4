package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

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
// turn. Where that does not hold (a queue, another mode, a refusal to
// find) the statement writes nothing and the batch runs its creates one by
// one as before. In an account with webhooks, the batch's transaction
// also reads them and writes the creates' deliveries, as each create
// would (InsertDeliveries), before its commit.

// indexesOnly turns sequential scans off for the rest of a PostgreSQL
// transaction: for statements that read a few rows by their keys, whose
// plans, made while a table looked small, would otherwise scan it whole.
const indexesOnly = "SELECT set_config('enable_seqscan', 'off', true)"

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
// allowed, in one transaction of statements sent together (LockInbox,
// InsertCreatedBatch) and committed with them, one round trip in all, so
// that the inbox's lock is held for PostgreSQL's work and the commit only.
// With withHooks, for an account with webhooks, the transaction also
// reads the account's webhooks and, in a second round trip, writes the
// creates' deliveries (InsertDeliveries) and commits. It notes in results
// the requests that were gone, and returns done when every request is
// answered: made and committed, or gone. Otherwise it made none and they
// are to run one by one: with err nil when one statement cannot make them
// as each would be made alone (nothing was written; hooks then says
// whether the account has webhooks, which withHooks would write), or with
// the statements' error when PostgreSQL refused them (rolled back) or they
// were never sent. A connection lost after the commit was sent may have
// committed them: each is then answered with the error, none run again.
func (db *DB) createTogether(inboxID int64, reqs []*writeRequest, results []error, withHooks bool) (done, hooks bool, err error) {
	defer func() {
		// The leader runs this for others: each is answered whatever
		// happens (a panic may come after the commit: none runs again).
		if p := recover(); p != nil {
			for i := range results {
				if results[i] == nil {
					results[i] = fmt.Errorf("create together panicked: %v", p)
				}
			}
			done, err = true, nil
		}
	}()
	var live []int // those still asked for, in arrival order
	for i, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			results[i] = err // gone before it started: not run
			continue
		}
		live = append(live, i)
	}
	if len(live) == 0 {
		return true, false, nil
	}
	caller := reqs[live[0]].together.caller
	for _, i := range live {
		if reqs[i].together.caller.AccountID != caller.AccountID {
			return false, false, nil // a refusal to find
		}
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
	ctx := context.Background() // taken: answered whatever becomes of one request
	start := time.Now()
	made := make([]*conversationRow, n)
	messageIDs := make([]*int64, n)
	nMade := 0
	var readErr error   // a row that could not be read, of a transaction that commits
	commitSent := false // the statements that commit have been sent
	var webhooks []switchboard.Webhook
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return false, false, err
	}
	// The connection goes back to the pool as soon as the statements are
	// done: what follows reads on the pool, and a batch that held its
	// connection meanwhile could wait for one that batches of other
	// inboxes hold, each for another's.
	defer conn.Close() // after a panic
	err = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		if withHooks {
			b.Queue("BEGIN") // committed after the deliveries are written
			defer func() {
				// Whatever failed, the connection goes back to the pool out
				// of the transaction (a lost one is dropped from it).
				if !pc.IsClosed() && pc.PgConn().TxStatus() != 'I' {
					pc.Exec(ctx, "ROLLBACK")
				}
			}()
		}
		// The statement's plan is made once per connection and kept; made
		// while a new table was small it would scan conversations for the
		// queue and the keys (36-42 ms a statement at 20,000, measured)
		// until the table is analyzed. Without sequential scans it asks
		// the indexes, whatever the statistics say.
		b.Queue(indexesOnly)
		b.Queue(db.q.LockInbox, inboxID, caller.AccountID)
		if withHooks {
			b.Queue(db.q.WebhooksOfAccount, caller.AccountID)
		}
		b.Queue(db.q.InsertCreatedBatch, inboxID, caller.AccountID, contacts, sources, nows, contents, keys, withHooks)
		commitSent = !withHooks // one implicit transaction, committed at its end
		br := pc.SendBatch(ctx, b)
		execs := 2 // indexesOnly, LockInbox
		if withHooks {
			execs = 3 // and BEGIN
		}
		for range execs {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		if withHooks {
			rows, err := br.Query()
			if err != nil {
				br.Close()
				return err
			}
			for rows.Next() {
				w, err := scanWebhook(rows.Scan, caller.AccountID)
				if err != nil {
					rows.Close()
					br.Close()
					return err
				}
				webhooks = append(webhooks, w)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				br.Close()
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		for rows.Next() {
			var place int
			var messageID *int64
			r, err := scanConversation(func(dest ...any) error {
				return rows.Scan(append([]any{&place}, append(dest, &messageID)...)...)
			}, caller.AccountID)
			if err == nil && (place < 1 || place > n || made[place-1] != nil || r.Assignee == nil) {
				err = fmt.Errorf("unexpected row for place %d", place)
			}
			if err != nil {
				// The batch was sent whole and commits unless PostgreSQL
				// fails it: read on, then answer rather than run again.
				readErr = cmp.Or(readErr, err)
				continue
			}
			made[place-1], messageIDs[place-1] = &r, messageID
			nMade++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil || !withHooks {
			if !withHooks {
				err = atCommit(err) // the commit's answer
			}
			return err
		}
		if readErr != nil || nMade == 0 {
			return readErr // rolled back: run one by one
		}
		if db.betweenTrips != nil {
			db.betweenTrips()
		}
		tx := createdTogether(caller.AccountID, inboxID, made)
		tx.webhooks = map[int64][]switchboard.Webhook{caller.AccountID: webhooks} // as the transaction read them
		deliveries, err := db.outboxOf(ctx, tx, func(_, convID int64) (conversationSnapshot, error) {
			for _, r := range made {
				if r != nil && r.globalID == convID {
					return snapshotOf(*r), nil // as the statement left it
				}
			}
			return conversationSnapshot{}, fmt.Errorf("no row for conversation %d", convID)
		})
		if err != nil {
			return err
		}
		b = &pgx.Batch{}
		if len(deliveries) > 0 {
			k := len(deliveries)
			ids, events, payloads, convs := make([]int64, k), make([]string, k), make([]string, k), make([]int64, k)
			for k, d := range deliveries {
				ids[k], events[k], payloads[k], convs[k] = d.webhookID, d.event, string(d.payload), d.convID
			}
			b.Queue(db.q.InsertDeliveries, millis(deliveries[0].at), ids, events, payloads, convs)
		}
		b.Queue("COMMIT")
		commitSent = true
		br = pc.SendBatch(ctx, b)
		if len(deliveries) > 0 {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err // refused, the COMMIT skipped, unless the connection failed
			}
		}
		tag, err := br.Exec()
		closeErr := br.Close()
		if err == nil && tag.String() == "COMMIT" {
			return nil // committed, whatever becomes of the connection after
		}
		return atCommit(cmp.Or(err, closeErr, fmt.Errorf("commit answered %q", tag)))
	})
	conn.Close()
	if err != nil && commitSent && !refusedBefore(err) {
		// The connection failed after the commit was sent: it may have
		// committed. Run again, a create without a key would be made
		// twice; each is answered with the error instead.
		for _, i := range live {
			results[i] = fmt.Errorf("create together: %w", err)
		}
		return true, false, nil
	}
	if err != nil {
		return false, false, err // PostgreSQL refused it (rolled back), or it was never committed
	}
	if readErr != nil {
		// Committed, but not all of it could be read: each is answered
		// with the error, none made again.
		for _, i := range live {
			results[i] = fmt.Errorf("create together: %w", readErr)
		}
		return true, false, nil
	}
	if nMade == 0 {
		if !withHooks {
			// Why? If for the account's webhooks, the caller makes
			// them together with theirs.
			webhooks, err = db.webhooksOf(ctx, db.reads, caller.AccountID)
		}
		return false, len(webhooks) > 0, err
	}
	// Committed: the rest only answers and tells.
	for j, i := range live {
		t := reqs[i].together
		r := made[j]
		if r == nil {
			// A conversation has its key (InsertCreated's
			// errMadeAlready): the answer is that one.
			if t.key == "" {
				results[i] = fmt.Errorf("create together: no row for create %d", j+1)
				continue
			}
			var conv switchboard.Conversation
			conv, results[i] = db.createdWithKey(ctx, db.reads, t.caller, t.key)
			*t.conv = conv
			continue
		}
		conv := r.Conversation
		if t.message != "" && messageIDs[j] != nil {
			conv.Messages = []switchboard.Message{{ID: *messageIDs[j], Content: t.message, CreatedAt: fromMillis(t.now)}}
		}
		*t.conv = conv
	}
	db.committed(createdTogether(caller.AccountID, inboxID, made))
	if db.Observer != nil {
		took := time.Since(start) / time.Duration(nMade)
		for range nMade {
			db.Observer.Picked(took)
		}
	}
	db.together.Add(int64(nMade))
	db.batched(len(live))
	return true, len(webhooks) > 0, nil
}

// refusedBefore says err left the statements sent together uncommitted:
//   - PostgreSQL's refusal of a statement, which undoes its transaction
//     and skips what was sent after it, COMMIT included;
//   - PostgreSQL's end of the session (FATAL: a restart, a failover,
//     pg_terminate_backend) in answer to a statement before the commit:
//     the statements run in order, and the server ended at that one;
//   - an error before anything was sent (SafeToRetry), or while pgx
//     prepared the statements, before it sent them to be run.
//
// Not so a session ended in answer to the commit (atCommit), nor a
// connection lost at an unknown moment (the network): either may have
// committed.
func refusedBefore(err error) bool {
	if _, ok := errors.AsType[pgx.ErrPreprocessingBatch](err); ok {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// Severity is in the server's language (lc_messages); the
		// unlocalized one is sent since PostgreSQL 9.6.
		if severity := cmp.Or(pgErr.SeverityUnlocalized, pgErr.Severity); severity != "FATAL" && severity != "PANIC" {
			return true
		}
		_, committing := errors.AsType[*commitError](err)
		return !committing
	}
	return pgconn.SafeToRetry(err)
}

// commitError is an error met in answer to the commit of statements sent
// together: they may have committed.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// atCommit marks err, if any, as met in answer to the commit.
func atCommit(err error) error {
	if err == nil {
		return nil
	}
	return &commitError{err: err}
}

// createdTogether is what the creates made together tell the consoles,
// the metrics and the webhooks, as each would one by one.
func createdTogether(accountID, inboxID int64, made []*conversationRow) *txn {
	tx := &txn{}
	for _, r := range made {
		if r == nil {
			continue // made before, with its key
		}
		tx.changed(switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: accountID, ConversationID: r.ID, InboxID: inboxID})
		tx.hooks = append(tx.hooks, hookEvent{event: switchboard.EventConversationCreated, accountID: accountID, convID: r.globalID})
		tx.assigneeChanged(accountID, r.globalID, r.ID, inboxID, nil, &r.Assignee.ID, switchboard.ReasonAuto, nil)
	}
	return tx
}
