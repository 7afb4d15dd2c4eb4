package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard"
	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the cost passwords are hashed with; tests lower it.
var BcryptCost = bcrypt.DefaultCost

// dummyHash is compared against when an e-mail is unknown, so that a sign-in
// takes as long whether or not the address has an account.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("switchboard-dummy"), bcrypt.MinCost)

func newToken() string { return rand.Text() }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func hashPassword(password string) (string, error) {
	if password == "" {
		// No password: nobody can sign in with one until it is set.
		password = rand.Text() + rand.Text()
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// SignIn checks an e-mail and password, opens a cookie session and sets the
// user online in every account where they were offline. It returns the user
// and the session token.
func (db *DB) SignIn(ctx context.Context, email, password string) (switchboard.User, string, error) {
	var id int64
	var hash string
	// As typed first: two users whose addresses differed only in case
	// before migration 0008 kept them; then as stored since.
	err := db.reads.QueryRowContext(ctx, db.q.UserByEmail, email).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) && email != switchboard.CanonicalEmail(email) {
		err = db.reads.QueryRowContext(ctx, db.q.UserByEmail, switchboard.CanonicalEmail(email)).Scan(&id, &hash)
	}
	if errors.Is(err, sql.ErrNoRows) {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return switchboard.User{}, "", switchboard.Errorf(switchboard.EUNAUTHORIZED, "Invalid login credentials. Please try again.")
	} else if err != nil {
		return switchboard.User{}, "", fmt.Errorf("sign in: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return switchboard.User{}, "", switchboard.Errorf(switchboard.EUNAUTHORIZED, "Invalid login credentials. Please try again.")
	}
	token := newToken()
	var user switchboard.User
	err = db.availabilityTx(ctx, func(tx *txn) error {
		now := millis(db.Now())
		if _, err := tx.ExecContext(ctx, db.q.InsertSession, hashToken(token), id, now); err != nil {
			return err
		}
		user, err = db.user(ctx, tx, id)
		if err != nil {
			return err
		}
		for i, m := range user.Accounts {
			if m.Availability == switchboard.Offline {
				if err := db.setAvailability(ctx, tx, m.AccountID, id, switchboard.Online, &id, false); err != nil {
					return err
				}
				user.Accounts[i].Availability = switchboard.Online
			}
		}
		return nil
	})
	if err != nil {
		return switchboard.User{}, "", fmt.Errorf("sign in: %w", err)
	}
	return user, token, nil
}

// SignOut ends a cookie session (when session is not empty) and sets the user
// offline in every account, which reassigns their conversations. Their access
// token stays valid.
func (db *DB) SignOut(ctx context.Context, userID int64, session string) error {
	err := db.availabilityTx(ctx, func(tx *txn) error {
		if session != "" {
			if _, err := tx.authExec(ctx, userID, db.q.DeleteSession, hashToken(session)); err != nil {
				return err
			}
		}
		user, err := db.user(ctx, tx, userID)
		if err != nil {
			return err
		}
		for _, m := range user.Accounts {
			if err := db.setAvailability(ctx, tx, m.AccountID, userID, switchboard.Offline, &userID, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// UserByAccessToken returns the user whose personal access token is token.
func (db *DB) UserByAccessToken(ctx context.Context, token string) (switchboard.User, error) {
	return db.userBy(ctx, db.q.UserByToken, authKey{hash: hashToken(token)})
}

// UserBySession returns the user whose cookie session is token.
func (db *DB) UserBySession(ctx context.Context, token string) (switchboard.User, error) {
	return db.userBy(ctx, db.q.UserBySession, authKey{session: true, hash: hashToken(token)})
}

// userBy returns the user that query finds by k's hash, kept or looked up
// (authcache.go).
func (db *DB) userBy(ctx context.Context, query string, k authKey) (switchboard.User, error) {
	if u, ok := db.auth.get(k, time.Now()); ok {
		return u, nil
	}
	seq, keep := db.auth.begin()
	u, err := db.lookUpUser(ctx, query, k.hash)
	if db.authLooked != nil {
		db.authLooked()
	}
	if err == nil && keep {
		db.auth.put(k, u, seq, time.Now())
	}
	return u, err
}

func (db *DB) lookUpUser(ctx context.Context, query, key string) (switchboard.User, error) {
	// A lookup by a unique key, too short to be worth cancelling: without a
	// context that can end, the drivers start no goroutine to watch it.
	rows, err := db.reads.QueryContext(context.WithoutCancel(ctx), query, key)
	if err != nil {
		return switchboard.User{}, fmt.Errorf("authenticate: %w", err)
	}
	defer rows.Close()
	var u switchboard.User
	found := false
	for rows.Next() {
		var account sql.NullInt64
		var m switchboard.Membership
		var name, role, availability sql.NullString
		var autoOffline sql.NullBool
		if err := rows.Scan(&u.ID, &u.Name, &u.Email, &u.AccessToken, &account, &name, &role, &availability, &autoOffline); err != nil {
			return switchboard.User{}, fmt.Errorf("authenticate: %w", err)
		}
		found = true
		if account.Valid {
			m.AccountID, m.AccountName, m.Role = account.Int64, name.String, switchboard.Role(role.String)
			m.Availability, m.AutoOffline = switchboard.Availability(availability.String), autoOffline.Bool
			u.Accounts = append(u.Accounts, m)
		}
	}
	if err := rows.Err(); err != nil {
		return switchboard.User{}, fmt.Errorf("authenticate: %w", err)
	}
	if !found {
		return switchboard.User{}, switchboard.Errorf(switchboard.EUNAUTHORIZED, "You need to sign in or sign up before continuing.")
	}
	return u, nil
}

// User returns a user with their memberships.
func (db *DB) User(ctx context.Context, id int64) (switchboard.User, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return switchboard.User{}, fmt.Errorf("user: %w", err)
	}
	defer tx.Rollback()
	return db.user(ctx, tx, id)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) row
}

func (db *DB) user(ctx context.Context, q querier, id int64) (switchboard.User, error) {
	u := switchboard.User{ID: id}
	err := q.QueryRowContext(ctx, db.q.UserByID, id).Scan(&u.Name, &u.Email, &u.AccessToken)
	if err != nil {
		return u, notFoundOr(err, "user")
	}
	rows, err := q.QueryContext(ctx, db.q.MembershipsOfUser, id)
	if err != nil {
		return u, err
	}
	defer rows.Close()
	for rows.Next() {
		var m switchboard.Membership
		if err := rows.Scan(&m.AccountID, &m.AccountName, &m.Role, &m.Availability, &m.AutoOffline); err != nil {
			return u, err
		}
		u.Accounts = append(u.Accounts, m)
	}
	return u, rows.Err()
}

// SetAvailability sets the availability of userID in the caller's account.
// Becoming offline reassigns their conversations (ROUTING.md). Users set their
// own; administrators set anyone's.
func (db *DB) SetAvailability(ctx context.Context, caller switchboard.Caller, userID int64, a switchboard.Availability) error {
	if userID != caller.UserID && !caller.IsAdministrator() {
		return switchboard.Errorf(switchboard.EFORBIDDEN, "only administrators change the availability of others")
	}
	err := db.availabilityTx(ctx, func(tx *txn) error {
		return db.setAvailability(ctx, tx, caller.AccountID, userID, a, &caller.UserID, false)
	})
	if err != nil {
		return fmt.Errorf("set availability: %w", err)
	}
	return nil
}

// setAvailability changes one user's availability in one account. When it
// becomes offline, or always when force is set (sign-out), their conversations
// are reassigned.
func (db *DB) setAvailability(ctx context.Context, tx *txn, accountID, userID int64, a switchboard.Availability, actor *int64, force bool) error {
	// Going offline moves conversations in the inboxes where the user holds
	// some and changes the routing of those they are a member of, so it
	// takes those inboxes' locks first; coming online places the queues of
	// the user's inboxes, so it takes theirs. Inbox locks come before the
	// user's row in every transaction (an assignment or a new member reads
	// the row locked after its inbox's lock), so lockers do not wait on each
	// other in a circle; an inbox the user joined while this waited for its
	// locks makes it start again (rotation.go, "Lock order"). Busy moves
	// nothing.
	var inboxes []int64 // locked: the user's going offline, those to place coming online
	var err error
	switch a {
	case switchboard.Offline:
		if inboxes, err = db.lockUserInboxes(ctx, tx, accountID, userID); err != nil {
			return err
		}
	case switchboard.Online:
		if inboxes, err = db.autoInboxesOf(ctx, tx, accountID, userID); err != nil {
			return err
		}
	}
	var role switchboard.Role
	var old switchboard.Availability
	var autoOffline bool
	if err := tx.QueryRowContext(ctx, db.q.Membership, accountID, userID).Scan(&role, &old, &autoOffline); err != nil {
		return notFoundOr(err, "agent")
	}
	if _, err := tx.authExec(ctx, userID, db.q.UpdateMembership, role, a, autoOffline, accountID, userID); err != nil {
		return err
	}
	if db.postgres {
		// An inbox the user joined after the locks above were taken, and
		// before the update (which waits for a member change adding them:
		// it reads their row locked), makes the transaction start again
		// and lock it with the others: going offline, so that a create
		// there that picked them while they were online is read below;
		// coming online, so that its queue, placed by the addition while
		// they were offline, is placed again. From here on, no such change
		// commits before this one.
		switch a {
		case switchboard.Offline:
			inboxes, err = db.lockUserInboxes(ctx, tx, accountID, userID)
		case switchboard.Online:
			inboxes, err = db.autoInboxesOf(ctx, tx, accountID, userID)
		}
		if err != nil {
			return err
		}
	}
	if a != switchboard.Offline || old == switchboard.Offline && !force {
		// Coming back comes after all of going offline (offline.go). Asked
		// after the update, which on PostgreSQL waits for another process
		// setting them offline to commit, and then sees its bound. Set
		// offline again, a user whose steps stopped (their request failed
		// after its first transaction) has them finished now, as the
		// answer to that request invites, not at the next sweep.
		if err := db.checkNoReassignPending(ctx, tx, accountID, userID); err != nil {
			return err
		}
	}
	if actor != nil {
		if err := db.forgetPresence(ctx, tx, accountID, userID); err != nil {
			return err
		}
	}
	if a != old {
		tx.changed(switchboard.Change{Kind: switchboard.AgentChanged, AccountID: accountID, UserID: userID})
	}
	switch {
	case a == switchboard.Offline && (old != switchboard.Offline || force):
		return db.wentOffline(ctx, tx, accountID, userID, actor, inboxes)
	case a == switchboard.Online && old != switchboard.Online:
		return db.placeFor(ctx, tx, accountID, inboxes)
	}
	return nil
}
