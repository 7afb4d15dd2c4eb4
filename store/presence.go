package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard/switchboard"
)

// Presence: a user with auto-offline on whose last live console connection
// closed more than a grace period ago becomes offline, which reassigns their
// conversations. Connections are rows that their process keeps fresh, so this
// holds across processes and restarts, and a process that dies lets its
// users' connections expire.

// HeartbeatEvery is how often a process refreshes its connections; a
// connection three beats old belongs to a process that stopped.
const HeartbeatEvery = 30 * time.Second

const staleAfter = 3 * HeartbeatEvery

// ConsoleConnected records a live console connection of userID in accountID
// through this process, and returns its id.
func (db *DB) ConsoleConnected(ctx context.Context, accountID, userID int64) (int64, error) {
	var id int64
	err := db.inTx(ctx, func(tx *txn) error {
		return tx.QueryRowContext(ctx, db.q.InsertConnection, accountID, userID, db.process, millis(db.Now())).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("console connected: %w", err)
	}
	return id, nil
}

// ConsoleDisconnected records that a connection closed; the user's last one
// starts the grace period.
func (db *DB) ConsoleDisconnected(ctx context.Context, id int64) error {
	err := db.inTx(ctx, func(tx *txn) error {
		var accountID, userID int64
		if err := tx.QueryRowContext(ctx, db.q.DeleteConnection, id).Scan(&accountID, &userID); err != nil {
			return notFoundOr(err, "connection")
		}
		_, err := tx.ExecContext(ctx, db.q.NoteDisconnect, millis(db.Now()), accountID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("console disconnected: %w", err)
	}
	return nil
}

// forgetPresence is called on an explicit choice of availability: presence
// acts again only after the user's next console connection closes.
func (db *DB) forgetPresence(ctx context.Context, tx *txn, accountID, userID int64) error {
	if _, err := tx.ExecContext(ctx, db.q.ForgetPresence, accountID, userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, db.q.DeleteStaleConnections, accountID, userID, millis(db.Now().Add(-staleAfter)))
	return err
}

// SweepPresence sets offline every user whose console has been gone for
// longer than grace, reassigning their conversations, and returns how many.
func (db *DB) SweepPresence(ctx context.Context, grace time.Duration) (int, error) {
	now := db.Now()
	fresh, cutoff := millis(now.Add(-staleAfter)), millis(now.Add(-grace))
	rows, err := db.reads.QueryContext(ctx, db.q.PresenceAway, fresh, cutoff, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("sweep presence: %w", err)
	}
	var away [][2]int64
	for rows.Next() {
		var a [2]int64
		if err := rows.Scan(&a[0], &a[1]); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sweep presence: %w", err)
		}
		away = append(away, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sweep presence: %w", err)
	}
	n := 0
	for _, a := range away {
		swept := false
		err := db.availabilityTx(ctx, func(tx *txn) error {
			if _, err := db.lockUserInboxes(ctx, tx, a[0], a[1]); err != nil {
				return err
			}
			// Their row too (after the inboxes, as every locker takes
			// them), so that a choice of theirs made meanwhile comes
			// wholly before this (and is seen below) or after it.
			var locked int64
			if err := tx.QueryRowContext(ctx, db.q.LockMembership, a[0], a[1]).Scan(&locked); err != nil {
				return notFoundOr(err, "away user")
			}
			// Look again under the locks: they may have reconnected, chosen
			// an availability, or another process may have swept them.
			var account, user int64
			err := tx.QueryRowContext(ctx, db.q.PresenceAway, fresh, cutoff, 1, a[0], a[1]).Scan(&account, &user)
			if err != nil {
				return notFoundOr(err, "away user")
			}
			if db.sweeping != nil {
				db.sweeping(account, user)
			}
			swept = true
			return db.setAvailability(ctx, tx, account, user, switchboard.Offline, nil, false)
		})
		if err == nil && swept {
			n++
		}
		if err != nil && switchboard.ErrorCode(err) != switchboard.ENOTFOUND {
			return n, fmt.Errorf("sweep presence: %w", err)
		}
	}
	return n, nil
}

// Heartbeat keeps this process's console connections fresh.
func (db *DB) Heartbeat(ctx context.Context) error {
	_, err := db.write.ExecContext(ctx, db.q.Heartbeat, millis(db.Now()), db.process)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// KeepPresence beats and sweeps every interval (HeartbeatEvery in a
// deployment; tests shorten it) until ctx ends. It also finishes, at once
// and then with every sweep, the reassignments that a stopped process left
// under way (FinishReassignments), and reopens the snoozed conversations
// whose time has come (WakeSnoozed).
func (db *DB) KeepPresence(ctx context.Context, grace, interval time.Duration, log *slog.Logger) {
	finish := func() {
		if n, err := db.FinishReassignments(ctx); err != nil {
			log.Warn("finishing reassignments failed", "err", err)
		} else if n > 0 {
			log.Info("finished reassignments left under way", "users", n)
		}
	}
	// wake reopens the snoozed conversations that are due, a thousand at
	// most per sweep, after the heartbeat: however many are due, the
	// process's consoles are never left to look gone.
	wake := func() {
		for range 10 {
			n, err := db.WakeSnoozed(ctx, 100)
			if err != nil && ctx.Err() == nil {
				log.Warn("waking snoozed conversations failed", "err", err)
			}
			if n > 0 {
				log.Info("reopened snoozed conversations", "conversations", n)
			}
			if n == 0 || ctx.Err() != nil {
				return
			}
		}
	}
	finish()
	wake()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		finish()
		if err := db.Heartbeat(ctx); err != nil {
			log.Warn("presence heartbeat failed", "err", err)
		}
		if n, err := db.SweepPresence(ctx, grace); err != nil {
			log.Warn("presence sweep failed", "err", err)
		} else if n > 0 {
			log.Info("set offline after their console closed", "users", n)
		}
		wake()
	}
}
