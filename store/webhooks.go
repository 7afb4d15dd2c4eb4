package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/switchboard/switchboard"
)

// CreateWebhook subscribes a URL to events of the caller's account
// (administrators only). The secret that signs the deliveries is made here.
func (db *DB) CreateWebhook(ctx context.Context, c switchboard.Caller, n switchboard.NewWebhook) (switchboard.Webhook, error) {
	if err := requireAdministrator(c); err != nil {
		return switchboard.Webhook{}, err
	}
	if err := n.Validate(); err != nil {
		return switchboard.Webhook{}, err
	}
	w := switchboard.Webhook{AccountID: c.AccountID, URL: n.URL, Secret: newToken() + newToken(),
		Subscriptions: n.Subscriptions, CreatedAt: db.Now()}
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, db.q.InsertWebhook, c.AccountID, w.URL, w.Secret,
			strings.Join(w.Subscriptions, " "), millis(w.CreatedAt)).Scan(&w.ID)
	})
	if err != nil {
		return switchboard.Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	return w, nil
}

// Webhooks returns the webhooks of the caller's account (administrators only).
func (db *DB) Webhooks(ctx context.Context, c switchboard.Caller) ([]switchboard.Webhook, error) {
	if err := requireAdministrator(c); err != nil {
		return nil, err
	}
	return db.webhooksOf(ctx, db.reads, c.AccountID)
}

func (db *DB) webhooksOf(ctx context.Context, q querier, accountID int64) ([]switchboard.Webhook, error) {
	rows, err := q.QueryContext(ctx, db.q.WebhooksOfAccount, accountID)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	defer rows.Close()
	hooks := []switchboard.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows.Scan, accountID)
		if err != nil {
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		hooks = append(hooks, w)
	}
	return hooks, rows.Err()
}

// scanWebhook reads a row of WebhooksOfAccount.
func scanWebhook(scan func(...any) error, accountID int64) (switchboard.Webhook, error) {
	w := switchboard.Webhook{AccountID: accountID}
	var subs string
	var created int64
	if err := scan(&w.ID, &w.URL, &w.Secret, &subs, &created); err != nil {
		return w, err
	}
	w.Subscriptions, w.CreatedAt = strings.Fields(subs), fromMillis(created)
	return w, nil
}

// txWebhooks returns the webhooks of an account, looked up once per
// transaction.
func (db *DB) txWebhooks(ctx context.Context, tx *txn, accountID int64) ([]switchboard.Webhook, error) {
	if hooks, ok := tx.webhooks[accountID]; ok {
		return hooks, nil
	}
	hooks, err := db.webhooksOf(ctx, tx, accountID)
	if err != nil {
		return nil, err
	}
	if tx.webhooks == nil {
		tx.webhooks = map[int64][]switchboard.Webhook{}
	}
	tx.webhooks[accountID] = hooks
	return hooks, nil
}

// UpdateWebhook changes a webhook's URL or the events it subscribes to
// (administrators only). What it has still to send goes to its URL as it is
// when taken to be sent; those events were subscribed to when they
// happened.
func (db *DB) UpdateWebhook(ctx context.Context, c switchboard.Caller, id int64, u switchboard.WebhookUpdate) (switchboard.Webhook, error) {
	if err := requireAdministrator(c); err != nil {
		return switchboard.Webhook{}, err
	}
	if err := u.Validate(); err != nil {
		return switchboard.Webhook{}, err
	}
	var subs *string
	if u.Subscriptions != nil {
		joined := strings.Join(*u.Subscriptions, " ")
		subs = &joined
	}
	w := switchboard.Webhook{AccountID: c.AccountID}
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		var stored string
		var created int64
		err := tx.QueryRowContext(ctx, db.q.UpdateWebhook, u.URL, subs, id, c.AccountID).Scan(&w.ID, &w.URL, &w.Secret, &stored, &created)
		if err != nil {
			return notFoundOr(err, "webhook")
		}
		w.Subscriptions, w.CreatedAt = strings.Fields(stored), fromMillis(created)
		return nil
	})
	if err != nil {
		return switchboard.Webhook{}, fmt.Errorf("update webhook: %w", err)
	}
	return w, nil
}

// DeleteWebhook removes a webhook and what it had still to send.
func (db *DB) DeleteWebhook(ctx context.Context, c switchboard.Caller, id int64) error {
	if err := requireAdministrator(c); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, db.q.DeleteWebhook, id, c.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return switchboard.NotFound("webhook")
		}
		return nil
	})
}

// hookEvent is an event a transaction made, for the webhooks that want it.
type hookEvent struct {
	event     string
	accountID int64
	convID    int64 // global id
	change    *assigneeChange
}

type assigneeChange struct {
	From   *int64 `json:"from_assignee_id"`
	To     *int64 `json:"to_assignee_id"`
	Reason string `json:"reason"`
	Actor  *int64 `json:"actor_id"`
}

// conversationSnapshot is the conversation as a webhook payload shows it: as
// it is when the transaction that made the event commits.
type conversationSnapshot struct {
	ID             int64  `json:"id"`
	AccountID      int64  `json:"account_id"`
	InboxID        int64  `json:"inbox_id"`
	Status         string `json:"status"`
	AssigneeID     *int64 `json:"assignee_id"`
	WaitingSince   *int64 `json:"waiting_since"`
	CreatedAt      int64  `json:"created_at"`
	LastActivityAt int64  `json:"last_activity_at"`
}

// enqueueWebhooks writes the transaction's events to the outbox of every
// webhook of their account that subscribes to them, in the transaction
// itself: delivered if and only if the change commits.
func (db *DB) enqueueWebhooks(ctx context.Context, tx *txn) error {
	deliveries, err := db.outboxOf(ctx, tx, func(accountID, convID int64) (conversationSnapshot, error) {
		return db.snapshot(ctx, tx, accountID, convID)
	})
	if err != nil {
		return err
	}
	for _, d := range deliveries {
		if _, err := tx.ExecContext(ctx, db.q.InsertDelivery, d.webhookID, d.event, string(d.payload), d.convID, millis(d.at), millis(d.at)); err != nil {
			return err
		}
	}
	return nil
}

// outboxRow is one delivery for the outbox, due at once.
type outboxRow struct {
	webhookID int64
	convID    int64 // global id
	event     string
	payload   []byte
	at        time.Time
}

// outboxOf returns the deliveries of tx's events, in their order: one per
// webhook of the event's account (tx.webhooks, or looked up) that
// subscribes to it, one conversation_updated per conversation at most and
// none beside its creation. snapshot gives a conversation as the
// transaction leaves it.
func (db *DB) outboxOf(ctx context.Context, tx *txn, snapshot func(accountID, convID int64) (conversationSnapshot, error)) ([]outboxRow, error) {
	if len(tx.hooks) == 0 {
		return nil, nil
	}
	created := map[int64]bool{}
	for _, h := range tx.hooks {
		if h.event == switchboard.EventConversationCreated {
			created[h.convID] = true
		}
	}
	snapshots := map[int64]conversationSnapshot{}
	updated := map[int64]bool{}
	now := db.Now()
	var out []outboxRow
	for _, h := range tx.hooks {
		if h.event == switchboard.EventConversationUpdated && (created[h.convID] || updated[h.convID]) {
			continue // one update per conversation, none beside its creation
		}
		updated[h.convID] = updated[h.convID] || h.event == switchboard.EventConversationUpdated
		hooks, err := db.txWebhooks(ctx, tx, h.accountID)
		if err != nil {
			return nil, err
		}
		hooks = slices.DeleteFunc(slices.Clone(hooks), func(w switchboard.Webhook) bool { return !slices.Contains(w.Subscriptions, h.event) })
		if len(hooks) == 0 {
			continue
		}
		snap, ok := snapshots[h.convID]
		if !ok {
			var err error
			if snap, err = snapshot(h.accountID, h.convID); err != nil {
				return nil, err
			}
			snapshots[h.convID] = snap
		}
		payload, err := json.Marshal(map[string]any{
			"event": h.event, "account_id": h.accountID, "conversation": snap, "change": h.change,
			"occurred_at": now.Unix(),
		})
		if err != nil {
			return nil, err
		}
		for _, w := range hooks {
			out = append(out, outboxRow{webhookID: w.ID, convID: h.convID, event: h.event, payload: payload, at: now})
		}
	}
	return out, nil
}

func (db *DB) snapshot(ctx context.Context, tx *txn, accountID, convID int64) (conversationSnapshot, error) {
	s := conversationSnapshot{AccountID: accountID}
	var assignee, waiting sql.NullInt64
	err := tx.QueryRowContext(ctx, db.q.ConversationSnapshot, convID).Scan(
		&s.ID, &s.InboxID, &s.Status, &assignee, &waiting, &s.CreatedAt, &s.LastActivityAt)
	if err != nil {
		return s, err
	}
	s.AssigneeID = nullable(assignee)
	if waiting.Valid {
		secs := waiting.Int64 / 1000
		s.WaitingSince = &secs
	}
	s.CreatedAt, s.LastActivityAt = s.CreatedAt/1000, s.LastActivityAt/1000
	return s, nil
}

// snapshotOf is r as a webhook payload shows it.
func snapshotOf(r conversationRow) conversationSnapshot {
	s := conversationSnapshot{ID: r.ID, AccountID: r.AccountID, InboxID: r.InboxID, Status: string(r.Status),
		CreatedAt: r.CreatedAt.Unix(), LastActivityAt: r.LastActivityAt.Unix()}
	if r.Assignee != nil {
		s.AssigneeID = &r.Assignee.ID
	}
	if r.WaitingSince != nil {
		secs := r.WaitingSince.Unix()
		s.WaitingSince = &secs
	}
	return s
}

// ClaimDeliveries takes the due deliveries of up to webhooks webhooks, up
// to limit of each, for lease: no process takes them again before the
// lease ends, unless told how they went. It passes over the webhooks skip
// names, and the deliveries of a conversation whose earlier delivery to
// the same webhook is leased or waits to be tried again: a conversation's
// events go to a webhook in order, each after the one before was accepted
// or given up. The webhooks whose first delivery to take is oldest go
// first. The deliveries come in the order of their events.
func (db *DB) ClaimDeliveries(ctx context.Context, webhooks, limit int, lease time.Duration, skip []int64) ([]switchboard.Delivery, error) {
	skipped, err := json.Marshal(append([]int64{}, skip...))
	if err != nil {
		return nil, err
	}
	// A claim is a write (SQLite's one writer, PostgreSQL's claims in
	// turn): first ask a read connection which webhooks have anything to
	// take.
	now := millis(db.Now())
	due, err := db.queryIDs(ctx, db.reads, db.q.WebhooksDue, now, now, string(skipped), webhooks)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if len(due) == 0 {
		return nil, nil
	}
	var out []switchboard.Delivery
	err = db.inTx(ctx, func(tx *txn) error {
		out = out[:0]
		if db.postgres {
			// One claim at a time across the processes: each sees the
			// leases of the one before (SQLite's writer already does).
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7010003)`); err != nil {
				return err
			}
		}
		now := millis(db.Now())
		until := now + lease.Milliseconds()
		claim := rand.Int64N(math.MaxInt64) + 1 // a number no other claim has, but by a chance of 2^-63
		for _, hook := range due {
			rows, err := tx.QueryContext(ctx, db.q.ClaimDeliveries, until, claim, hook, now, hook, now, limit)
			if err != nil {
				return err
			}
			for rows.Next() {
				var d switchboard.Delivery
				var payload string
				var conv sql.NullInt64
				if err := rows.Scan(&d.ID, &d.Webhook, &d.Event, &payload, &d.Attempts, &conv); err != nil {
					rows.Close()
					return err
				}
				d.Payload, d.Conversation, d.Claim = []byte(payload), conv.Int64, claim
				out = append(out, d)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if len(out) == 0 {
			return nil
		}
		// RETURNING gives the rows in no set order (PostgreSQL's in the
		// table's, where a retried delivery was written anew after the
		// ones made after it): the sender sends in the order of the ids,
		// which is that of the events.
		slices.SortFunc(out, func(a, b switchboard.Delivery) int { return cmp.Compare(a.ID, b.ID) })
		hooks := make([]int64, len(out))
		for i, d := range out {
			hooks[i] = d.Webhook
		}
		// The webhooks' urls and secrets, in one query: a delivery's
		// webhook outlives it (deleting one deletes its deliveries).
		targets, err := db.webhookTargets(ctx, tx, hooks)
		if err != nil {
			return err
		}
		for i, hook := range hooks {
			t, ok := targets[hook]
			if !ok {
				return fmt.Errorf("delivery %d: webhook %d not found", out[i].ID, hook)
			}
			out[i].URL, out[i].Secret = t[0], t[1]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// webhookTargets returns the url and secret of each of ids.
func (db *DB) webhookTargets(ctx context.Context, tx *txn, ids []int64) (map[int64][2]string, error) {
	list, err := json.Marshal(slices.Compact(slices.Sorted(slices.Values(ids))))
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, db.q.WebhookTargets, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][2]string{}
	for rows.Next() {
		var id int64
		var url, secret string
		if err := rows.Scan(&id, &url, &secret); err != nil {
			return nil, err
		}
		out[id] = [2]string{url, secret}
	}
	return out, rows.Err()
}

// DeliveriesDone records how deliveries went, in one transaction: those
// sent, those that failed, each to be tried again at its Next (nil: given
// up), and those given back untried, due at their Next (nil: now). An
// outcome with a Claim is recorded only while its delivery is still that
// claim's: written twice (a write that failed after its commit, tried
// again), or after the lease ended and another claim took the delivery,
// it changes nothing. A sender that stops before it records them sends
// them again once their lease ends: delivery is at least once.
func (db *DB) DeliveriesDone(ctx context.Context, outcomes []switchboard.DeliveryOutcome) error {
	claimOf := func(claim int64) *int64 { // NULL for none
		if claim == 0 {
			return nil
		}
		return &claim
	}
	sent := map[int64][]int64{} // by claim, 0 for none
	for _, o := range outcomes {
		if o.Error == "" && !o.Untried {
			sent[o.Claim] = append(sent[o.Claim], o.ID)
		}
	}
	err := db.inTx(ctx, func(tx *txn) error {
		for claim, ids := range sent {
			list, err := json.Marshal(ids)
			if err != nil {
				return err
			}
			c := claimOf(claim)
			if _, err := tx.ExecContext(ctx, db.q.DeliveriesSucceeded, millis(db.Now()), string(list), c, c); err != nil {
				return err
			}
		}
		for _, o := range outcomes {
			if o.Error == "" && !o.Untried {
				continue
			}
			var at *int64
			if o.Next != nil {
				ms := millis(*o.Next)
				at = &ms
			}
			c := claimOf(o.Claim)
			var err error
			if o.Untried {
				due := millis(db.Now())
				if at != nil {
					due = *at
				}
				_, err = tx.ExecContext(ctx, db.q.DeliveryUntried, due, o.ID, c, c)
			} else {
				_, err = tx.ExecContext(ctx, db.q.DeliveryFailed, at, o.Error, o.ID, c, c)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deliveries done: %w", err)
	}
	return nil
}

// PurgeDeliveries deletes the deliveries that are done (sent, or given
// up) and were made before before, batch of them per transaction, oldest
// first, and returns how many it deleted: the outbox keeps what it sent
// for a while, not for ever. It finds where the old ones end once, on a
// read connection; each batch then reads only its own rows (and those
// still to send among them), so that none holds SQLite's writer for long
// whatever the outbox holds.
func (db *DB) PurgeDeliveries(ctx context.Context, before time.Time, batch int) (int, error) {
	cutoff := int64(math.MaxInt64)
	err := db.reads.QueryRowContext(ctx, db.q.PurgeCutoff, millis(before)).Scan(&cutoff)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("purge deliveries: %w", err)
	}
	total := 0
	var after int64
	for {
		var ids []int64
		err := db.inTx(ctx, func(tx *txn) error {
			ids = ids[:0]
			rows, err := tx.QueryContext(ctx, db.q.PurgeDeliveries, after, cutoff, batch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return rows.Err()
		})
		if err != nil {
			return total, fmt.Errorf("purge deliveries: %w", err)
		}
		total += len(ids)
		if len(ids) < batch {
			return total, nil
		}
		after = slices.Max(ids)
	}
}
