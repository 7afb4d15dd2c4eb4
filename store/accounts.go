package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard"
)

// CountAccounts returns how many accounts the installation holds.
func (db *DB) CountAccounts(ctx context.Context) (int, error) {
	var n int
	if err := db.reads.QueryRowContext(ctx, db.q.CountAccounts).Scan(&n); err != nil {
		return 0, fmt.Errorf("count accounts: %w", err)
	}
	return n, nil
}

// CreateAccount creates an empty account.
func (db *DB) CreateAccount(ctx context.Context, name string) (switchboard.Account, error) {
	name, err := switchboard.ValidateName("name", name)
	if err != nil {
		return switchboard.Account{}, err
	}
	a := switchboard.Account{Name: name}
	err = db.inTx(ctx, func(tx *txn) error {
		return tx.QueryRowContext(ctx, db.q.InsertAccount, name, millis(db.Now())).Scan(&a.ID)
	})
	if err != nil {
		return a, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// CreateAccountWithAdministrator creates an account and its first
// administrator, a new user, in one step.
func (db *DB) CreateAccountWithAdministrator(ctx context.Context, accountName, name, email, password string) (switchboard.Account, switchboard.User, error) {
	a, u, _, err := db.createAccountWithAdministrator(ctx, accountName, name, email, password, false)
	return a, u, err
}

// Bootstrap creates the installation's first account and its administrator
// when the database has no account yet, and reports whether it did. Processes
// that start together on one database create one between them.
func (db *DB) Bootstrap(ctx context.Context, accountName, name, email, password string) (switchboard.Account, switchboard.User, bool, error) {
	// A database in use ignores the first administrator's settings, even
	// ones that would not be valid.
	if n, err := db.CountAccounts(ctx); err != nil || n > 0 {
		return switchboard.Account{}, switchboard.User{}, false, err
	}
	return db.createAccountWithAdministrator(ctx, accountName, name, email, password, true)
}

func (db *DB) createAccountWithAdministrator(ctx context.Context, accountName, name, email, password string, onlyFirst bool) (switchboard.Account, switchboard.User, bool, error) {
	var none switchboard.User
	accountName, err := switchboard.ValidateName("name", accountName)
	if err != nil {
		return switchboard.Account{}, none, false, err
	}
	n := switchboard.NewAgent{Name: name, Email: email, Password: password, Role: switchboard.RoleAdministrator}
	if err := n.Validate(); err != nil {
		return switchboard.Account{}, none, false, err
	}
	if password == "" {
		return switchboard.Account{}, none, false, switchboard.Invalid("password", "password must not be empty")
	}
	hash, err := hashPassword(password)
	if err != nil {
		return switchboard.Account{}, none, false, err
	}
	a := switchboard.Account{Name: accountName}
	var userID int64
	err = db.inTx(ctx, func(tx *txn) error {
		if onlyFirst {
			if db.postgres {
				// SQLite's write transaction already excludes the others.
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7010002)`); err != nil {
					return err
				}
			}
			var count int
			if err := tx.QueryRowContext(ctx, db.q.CountAccounts).Scan(&count); err != nil || count > 0 {
				return err
			}
		}
		now := millis(db.Now())
		if err := tx.QueryRowContext(ctx, db.q.InsertAccount, accountName, now).Scan(&a.ID); err != nil {
			return err
		}
		if userID, err = db.insertUserUnique(ctx, tx, n.Name, n.Email, hash); err != nil {
			return err
		}
		_, err = tx.authExec(ctx, userID, db.q.InsertMembership, a.ID, userID, switchboard.RoleAdministrator, switchboard.Offline, true, now)
		return err
	})
	if err != nil {
		return a, none, false, fmt.Errorf("create account: %w", err)
	}
	if userID == 0 {
		return a, none, false, nil
	}
	u, err := db.User(ctx, userID)
	return a, u, true, err
}

// insertUserUnique inserts a user whose e-mail must be new.
func (db *DB) insertUserUnique(ctx context.Context, tx *txn, name, email, hash string) (int64, error) {
	var id int64
	var ignored string
	err := tx.QueryRowContext(ctx, db.q.UserByEmail, email).Scan(&id, &ignored)
	if err == nil {
		return 0, switchboard.Invalid("email", "email has already been taken")
	} else if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return db.insertUser(ctx, tx, name, email, hash)
}

// CreateUser creates a user who belongs to no account yet (Platform API).
func (db *DB) CreateUser(ctx context.Context, name, email, password string) (switchboard.User, error) {
	n := switchboard.NewAgent{Name: name, Email: email, Password: password}
	if err := n.Validate(); err != nil {
		return switchboard.User{}, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return switchboard.User{}, err
	}
	var id int64
	err = db.inTx(ctx, func(tx *txn) error {
		id, err = db.insertUserUnique(ctx, tx, n.Name, n.Email, hash)
		return err
	})
	if err != nil {
		return switchboard.User{}, fmt.Errorf("create user: %w", err)
	}
	return db.User(ctx, id)
}

// AddAccountUser gives a user a role in an account, or changes the role they
// have there (Platform API). A demotion moves away the conversations they may
// no longer hold.
func (db *DB) AddAccountUser(ctx context.Context, accountID, userID int64, role switchboard.Role) error {
	err := db.inTx(ctx, func(tx *txn) error {
		var name string
		var last int64
		if err := tx.QueryRowContext(ctx, db.q.AccountByID, accountID).Scan(&name, &last); err != nil {
			return notFoundOr(err, "account")
		}
		if err := db.lockAccountInboxes(ctx, tx, accountID); err != nil {
			return err
		}
		if _, err := db.user(ctx, tx, userID); err != nil {
			if switchboard.ErrorCode(err) == switchboard.ENOTFOUND {
				return switchboard.Invalid("user_id", "user_id is not a user of this installation")
			}
			return err
		}
		a, err := db.agent(ctx, tx, accountID, userID)
		if switchboard.ErrorCode(err) == switchboard.ENOTFOUND {
			_, err = tx.authExec(ctx, userID, db.q.InsertMembership, accountID, userID, role, switchboard.Offline, true, millis(db.Now()))
			return err
		} else if err != nil {
			return err
		}
		if a.Role == switchboard.RoleAdministrator && role != switchboard.RoleAdministrator {
			if err := db.keepAnAdministrator(ctx, tx, accountID, "role"); err != nil {
				return err
			}
		}
		if _, err := tx.authExec(ctx, userID, db.q.UpdateMembership, role, a.Availability, a.AutoOffline, accountID, userID); err != nil {
			return err
		}
		tx.changed(switchboard.Change{Kind: switchboard.AgentChanged, AccountID: accountID, UserID: userID})
		return db.reassign(ctx, tx, accountID, userID, nil, lostAccess)
	})
	if err != nil {
		return fmt.Errorf("add account user: %w", err)
	}
	return nil
}

// RemoveAccountUser removes a user from an account (Platform API), after
// moving their conversations away.
func (db *DB) RemoveAccountUser(ctx context.Context, accountID, userID int64) error {
	err := db.inTx(ctx, func(tx *txn) error {
		var name string
		var last int64
		if err := tx.QueryRowContext(ctx, db.q.AccountByID, accountID).Scan(&name, &last); err != nil {
			return notFoundOr(err, "account")
		}
		return db.removeAccountUser(ctx, tx, accountID, userID, nil)
	})
	if err != nil {
		return fmt.Errorf("remove account user: %w", err)
	}
	return nil
}
