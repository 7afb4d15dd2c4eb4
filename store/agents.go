package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard"
)

func (db *DB) agents(ctx context.Context, q querier, query string, args ...any) ([]switchboard.Agent, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	agents := []switchboard.Agent{}
	for rows.Next() {
		var a switchboard.Agent
		if err := rows.Scan(&a.ID, &a.AccountID, &a.Name, &a.Email, &a.Role, &a.Availability, &a.AutoOffline); err != nil {
			return nil, err
		}
		agents = append(agents, a)
	}
	return agents, rows.Err()
}

func (db *DB) agent(ctx context.Context, q querier, accountID, userID int64) (switchboard.Agent, error) {
	var a switchboard.Agent
	err := q.QueryRowContext(ctx, db.q.Agent, accountID, userID).Scan(
		&a.ID, &a.AccountID, &a.Name, &a.Email, &a.Role, &a.Availability, &a.AutoOffline)
	return a, notFoundOr(err, "agent")
}

// agentLocked is agent for a write that depends on the user's place in the
// account (an assignee's role, a new member): on PostgreSQL it share-locks
// the place (AgentLocked).
func (db *DB) agentLocked(ctx context.Context, tx *txn, accountID, userID int64) (switchboard.Agent, error) {
	var a switchboard.Agent
	err := tx.QueryRowContext(ctx, db.q.AgentLocked, accountID, userID).Scan(
		&a.ID, &a.AccountID, &a.Name, &a.Email, &a.Role, &a.Availability, &a.AutoOffline)
	return a, notFoundOr(err, "agent")
}

// Agents returns the users of the caller's account, by id.
func (db *DB) Agents(ctx context.Context, c switchboard.Caller) ([]switchboard.Agent, error) {
	agents, err := db.agents(ctx, db.reads, db.q.AgentsOfAccount, c.AccountID)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return agents, nil
}

// Agent returns one user of the caller's account.
func (db *DB) Agent(ctx context.Context, c switchboard.Caller, id int64) (switchboard.Agent, error) {
	return db.agent(ctx, db.reads, c.AccountID, id)
}

// CreateAgent adds a user to the caller's account (administrators only). A
// user whose e-mail is already known in another account joins this one with
// the role given; their password does not change.
func (db *DB) CreateAgent(ctx context.Context, c switchboard.Caller, n switchboard.NewAgent) (switchboard.Agent, error) {
	if err := requireAdministrator(c); err != nil {
		return switchboard.Agent{}, err
	}
	if err := n.Validate(); err != nil {
		return switchboard.Agent{}, err
	}
	hash, err := hashPassword(n.Password)
	if err != nil {
		return switchboard.Agent{}, err
	}
	var agent switchboard.Agent
	err = db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		var id int64
		var ignored string
		err := tx.QueryRowContext(ctx, db.q.UserByEmail, n.Email).Scan(&id, &ignored)
		if errors.Is(err, sql.ErrNoRows) {
			id, err = db.insertUser(ctx, tx, n.Name, n.Email, hash)
		}
		if err != nil {
			return err
		}
		if _, err := db.agent(ctx, tx, c.AccountID, id); err == nil {
			return switchboard.Invalid("email", "email has already been taken in this account")
		}
		tx.changed(switchboard.Change{Kind: switchboard.AgentChanged, AccountID: c.AccountID, UserID: id})
		_, err = tx.authExec(ctx, id, db.q.InsertMembership, c.AccountID, id, n.Role, n.Availability, n.AutoOffline, millis(db.Now()))
		if err != nil {
			return err
		}
		agent, err = db.agent(ctx, tx, c.AccountID, id)
		return err
	})
	if err != nil {
		return switchboard.Agent{}, fmt.Errorf("create agent: %w", err)
	}
	return agent, nil
}

func (db *DB) insertUser(ctx context.Context, tx *txn, name, email, hash string) (int64, error) {
	var id int64
	token := newToken()
	err := tx.QueryRowContext(ctx, db.q.InsertUser, name, email, hash, token, hashToken(token), millis(db.Now())).Scan(&id)
	return id, err
}

// UpdateAgent changes a user of the caller's account (administrators only).
// An availability change has the effect of the user making it; a demotion to
// agent moves away the conversations they may no longer hold. The last
// administrator cannot be demoted.
func (db *DB) UpdateAgent(ctx context.Context, c switchboard.Caller, id int64, u switchboard.AgentUpdate) (switchboard.Agent, error) {
	if err := requireAdministrator(c); err != nil {
		return switchboard.Agent{}, err
	}
	if err := u.Validate(); err != nil {
		return switchboard.Agent{}, err
	}
	var agent switchboard.Agent
	err := db.availabilityTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		// A change of role may move conversations in any inbox of the
		// account; one of availability, only in the user's (as when users
		// change their own).
		lock := func() error {
			_, err := db.lockUserInboxes(ctx, tx, c.AccountID, id)
			return err
		}
		if u.Role != nil {
			lock = func() error { return db.lockAccountInboxes(ctx, tx, c.AccountID) }
		}
		if err := lock(); err != nil {
			return err
		}
		a, err := db.agent(ctx, tx, c.AccountID, id)
		if err != nil {
			return err
		}
		if u.Name != nil && *u.Name != a.Name {
			// A user's name is theirs in every account they belong to: it
			// is not changeable from an account (ROUTING.md, Words) unless
			// the caller administers each of them.
			var others int
			if err := tx.QueryRowContext(ctx, db.q.AccountsNotAdministeredBy, id, c.UserID).Scan(&others); err != nil {
				return err
			}
			if others > 0 {
				return &switchboard.Error{Code: switchboard.EFORBIDDEN, Fields: []string{"name"},
					Message: "name: this user also belongs to an account you do not administer, where the name would change too"}
			}
			if _, err := tx.authExec(ctx, id, db.q.UpdateUserName, *u.Name, id); err != nil {
				return err
			}
		}
		demoted := u.Role != nil && a.Role == switchboard.RoleAdministrator && *u.Role != switchboard.RoleAdministrator
		if demoted {
			if err := db.keepAnAdministrator(ctx, tx, c.AccountID, "role"); err != nil {
				return err
			}
		}
		role, autoOffline := a.Role, a.AutoOffline
		if u.Role != nil {
			role = *u.Role
		}
		if u.AutoOffline != nil {
			autoOffline = *u.AutoOffline
		}
		if _, err := tx.authExec(ctx, id, db.q.UpdateMembership, role, a.Availability, autoOffline, c.AccountID, id); err != nil {
			return err
		}
		tx.changed(switchboard.Change{Kind: switchboard.AgentChanged, AccountID: c.AccountID, UserID: id})
		if demoted {
			if err := db.reassign(ctx, tx, c.AccountID, id, &c.UserID, lostAccess); err != nil {
				return err
			}
		}
		if u.Availability != nil {
			if err := db.setAvailability(ctx, tx, c.AccountID, id, *u.Availability, &c.UserID, false); err != nil {
				return err
			}
		}
		agent, err = db.agent(ctx, tx, c.AccountID, id)
		return err
	})
	if err != nil {
		return switchboard.Agent{}, fmt.Errorf("update agent: %w", err)
	}
	return agent, nil
}

// keepAnAdministrator refuses a change that would leave the account without
// an administrator, blaming field.
func (db *DB) keepAnAdministrator(ctx context.Context, tx *txn, accountID int64, field string) error {
	var n int
	if err := tx.QueryRowContext(ctx, db.q.CountAdministrators, accountID).Scan(&n); err != nil {
		return err
	}
	if n <= 1 {
		return switchboard.Invalid(field, "the account must keep at least one administrator")
	}
	return nil
}

// RemoveAgent removes a user from the caller's account (administrators only),
// after moving their conversations away.
func (db *DB) RemoveAgent(ctx context.Context, c switchboard.Caller, id int64) error {
	if err := requireAdministrator(c); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *txn) error {
		if err := db.stillAdministrator(ctx, tx, c); err != nil {
			return err
		}
		return db.removeAccountUser(ctx, tx, c.AccountID, id, &c.UserID)
	})
	if err != nil {
		return fmt.Errorf("remove agent: %w", err)
	}
	return nil
}

func (db *DB) removeAccountUser(ctx context.Context, tx *txn, accountID, userID int64, actor *int64) error {
	if err := db.lockAccountInboxes(ctx, tx, accountID); err != nil {
		return err
	}
	a, err := db.agent(ctx, tx, accountID, userID)
	if err != nil {
		return err
	}
	if a.Role == switchboard.RoleAdministrator {
		if err := db.keepAnAdministrator(ctx, tx, accountID, "id"); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, db.q.DeleteMembershipsInAcc, userID, accountID); err != nil {
		return err
	}
	if _, err := tx.authExec(ctx, userID, db.q.DeleteMembership, accountID, userID); err != nil {
		return err
	}
	tx.changed(switchboard.Change{Kind: switchboard.AgentChanged, AccountID: accountID, UserID: userID})
	return db.reassign(ctx, tx, accountID, userID, actor, lostAccess)
}
