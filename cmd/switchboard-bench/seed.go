package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver, registered as "pgx"
)

// seeder writes bulk data straight into a Switchboard database, beside the
// running server: a million conversations or ten thousand members through
// the API would take hours (each agent costs a bcrypt hash, each create an
// fsync). It knows the schema of store/migrations; what it writes is what the
// store would have written, minus the assignment events and messages, which
// no pick reads.
type seeder struct {
	db       *sql.DB
	postgres bool
}

func openSeeder(dsn string) (*seeder, error) {
	if isPostgres(dsn) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(2)
		return &seeder{db: db, postgres: true}, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	// busy_timeout: the server may hold the write lock for a moment.
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?_pragma=busy_timeout(30000)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &seeder{db: db}, nil
}

func (s *seeder) close() error { return s.db.Close() }

// rebind turns ? into $n on PostgreSQL.
func (s *seeder) rebind(q string) string {
	if !s.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// series is a FROM clause giving i = 1..n, where n is the first parameter.
func (s *seeder) series() string {
	if s.postgres {
		return "generate_series(1, ?::bigint) AS s(i)"
	}
	return "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) SELECT i FROM s) AS s"
}

// members adds n new online agents to the account and makes them members of
// inbox. It returns the smallest and largest new user id.
func (s *seeder) members(ctx context.Context, account, inbox int64, n int, tag string) (lo, hi int64, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	prefix := fmt.Sprintf("seed-%s-", tag)
	now := time.Now().UnixMilli()
	text := "CAST(i AS TEXT)"
	if s.postgres {
		text = "i::text"
	}
	// The password hash matches no password and the token hashes are no
	// SHA-256: nobody signs in or authenticates as these users.
	_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO users (name, email, password_hash, access_token, access_token_hash, created_at)
		SELECT 'Seeded ' || `+text+`, ? || `+text+` || '@bench.invalid', '!', ? || `+text+`, ? || `+text+`, ?
		FROM `+s.series()), prefix, prefix+"token-", prefix+"hash-", now, n)
	if err != nil {
		return 0, 0, fmt.Errorf("seed users: %w", err)
	}
	like := prefix + "%"
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT min(id), max(id) FROM users WHERE email LIKE ?`), like).Scan(&lo, &hi); err != nil {
		return 0, 0, err
	}
	yes := "1"
	if s.postgres {
		yes = "TRUE"
	}
	_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO account_users (account_id, user_id, role, availability, auto_offline, created_at)
		SELECT ?, id, 'agent', 'online', `+yes+`, ? FROM users WHERE email LIKE ?`), account, now, like)
	if err != nil {
		return 0, 0, fmt.Errorf("seed account users: %w", err)
	}
	_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO inbox_members (inbox_id, user_id) SELECT ?, id FROM users WHERE email LIKE ?`), inbox, like)
	if err != nil {
		return 0, 0, fmt.Errorf("seed inbox members: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	if s.postgres {
		// What autovacuum does after a bulk insert, before the planner
		// sees ten thousand members as the handful it saw before.
		if _, err := s.db.ExecContext(ctx, "ANALYZE"); err != nil {
			return 0, 0, fmt.Errorf("seed members: %w", err)
		}
	}
	return lo, hi, nil
}

// conversations adds n conversations to inbox, numbered after the account's
// last one, assigned round robin to the users lo..hi (contiguous ids, as
// members returns them; lo == 0 leaves them unassigned). One in openEvery is
// open, the others resolved, as in an inbox whose history is mostly closed.
func (s *seeder) conversations(ctx context.Context, account, inbox int64, n int, lo, hi int64, openEvery int) error {
	const batch = 100_000
	for done := 0; done < n; done += batch {
		if err := s.conversationBatch(ctx, account, inbox, min(batch, n-done), lo, hi, openEvery); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) conversationBatch(ctx context.Context, account, inbox int64, n int, lo, hi int64, openEvery int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	last, err := reserveDisplayIDs(ctx, tx, s.postgres, s.rebind, account, n)
	if err != nil {
		return fmt.Errorf("seed conversations: %w", err)
	}
	now := time.Now().UnixMilli()
	assignee := "NULL"
	if lo > 0 {
		assignee = fmt.Sprintf("%d + (i %% %d)", lo, hi-lo+1)
	}
	_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO conversations (account_id, display_id, inbox_id, status, assignee_id, source_id, created_at, last_activity_at)
		SELECT ?, ? + i, ?, CASE WHEN i % `+fmt.Sprint(max(openEvery, 1))+` = 0 THEN 'open' ELSE 'resolved' END, `+assignee+`, '', ? - i, ? - i FROM `+s.series()),
		account, last, inbox, now, now, n)
	if err != nil {
		return fmt.Errorf("seed conversations: %w", err)
	}
	return tx.Commit()
}

// reserveDisplayIDs takes n conversation numbers of the account, as the
// store numbers them (a counter on the account's row on SQLite, a sequence
// per account on PostgreSQL), and returns the one before the first.
func reserveDisplayIDs(ctx context.Context, tx *sql.Tx, postgres bool, rebind func(string) string, account int64, n int) (int64, error) {
	var last int64
	if postgres {
		seq := fmt.Sprintf("conversation_display_ids_%d", account)
		if err := tx.QueryRowContext(ctx, `SELECT nextval($1::regclass) - 1`, seq).Scan(&last); err != nil {
			return 0, err
		}
		_, err := tx.ExecContext(ctx, `SELECT setval($1::regclass, $2)`, seq, last+int64(n))
		return last, err
	}
	if err := tx.QueryRowContext(ctx, rebind(`SELECT last_conversation_id FROM accounts WHERE id = ?`), account).Scan(&last); err != nil {
		return 0, err
	}
	_, err := tx.ExecContext(ctx, rebind(`UPDATE accounts SET last_conversation_id = ? WHERE id = ?`), last+int64(n), account)
	return last, err
}

// assignTo adds n open conversations to inbox, all assigned to user.
func (s *seeder) assignTo(ctx context.Context, account, inbox int64, n int, user int64) error {
	return s.conversations(ctx, account, inbox, n, user, user, 1)
}

// countConversations counts the conversations of the account.
func (s *seeder) countConversations(ctx context.Context, account int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT count(*) FROM conversations WHERE account_id = ?`), account).Scan(&n)
	return n, err
}

// heldBy counts the conversations of the account assigned to user that are
// not resolved.
func (s *seeder) heldBy(ctx context.Context, account, user int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT count(*) FROM conversations WHERE account_id = ? AND assignee_id = ? AND status <> 'resolved'`), account, user).Scan(&n)
	return n, err
}

// autoCounts returns, for each user, the number of conversations of inbox
// that were auto-assigned to them (assignment events of reason auto).
func (s *seeder) autoCounts(ctx context.Context, inbox int64) (map[int64]int, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT e.to_assignee_id, count(*) FROM assignment_events e
		JOIN conversations c ON c.id = e.conversation_id
		WHERE c.inbox_id = ? AND e.reason = 'auto' AND e.to_assignee_id IS NOT NULL
		GROUP BY e.to_assignee_id`), inbox)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[int64]int{}
	for rows.Next() {
		var user int64
		var n int
		if err := rows.Scan(&user, &n); err != nil {
			return nil, err
		}
		counts[user] = n
	}
	return counts, rows.Err()
}
