// Package store keeps Switchboard's records in SQLite. Every routing decision
// runs in one write transaction: the store loads what the decision needs, asks
// package routing, and writes the change, the rotation and the assignment event
// before it commits.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/switchboard/switchboard"
	_ "modernc.org/sqlite" // the SQLite driver, registered as "sqlite"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

//go:embed sql/queries.sql
var queryFile string

// DB is a Switchboard database.
type DB struct {
	// write has a single connection: SQLite takes one writer at a time, and
	// queueing writers in the pool instead of in SQLite's busy handler keeps
	// concurrent requests from failing with SQLITE_BUSY.
	write *sql.DB
	read  *sql.DB
	q     queries
	// Now is the clock; tests may replace it before use.
	Now func() time.Time
}

// Open opens (creating if needed) the database named by dsn and brings its
// schema up to date. dsn is "sqlite:PATH" (or a bare path).
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return nil, errors.New("PostgreSQL is not supported yet: use --db sqlite:PATH")
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" {
		return nil, errors.New("empty database path: use --db sqlite:PATH")
	}
	q, err := loadQueries(queryFile)
	if err != nil {
		return nil, err
	}
	// synchronous(FULL) syncs the WAL on every commit, so an acknowledged write
	// survives a power cut; NORMAL would only survive a process crash.
	pragmas := "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	write, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read.SetMaxOpenConns(4)
	db := &DB{write: write, read: read, q: q, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.read.PingContext(ctx)
}

// migrate applies the embedded migrations that the database has not seen, in
// the order of their numbers, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.up.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".up.sql")
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, db.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return nil
}

// inTx runs fn in a write transaction and commits it when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// queries holds the SQL of sql/queries.sql, one field per "-- name:" block.
type queries struct {
	AccountByID            string
	InsertAccount          string
	CountAccounts          string
	NextDisplayID          string
	InsertUser             string
	UserByID               string
	UserByEmail            string
	UserByToken            string
	UserBySession          string
	MembershipsOfUser      string
	Membership             string
	InsertMembership       string
	UpdateMembership       string
	DeleteMembership       string
	CountAdministrators    string
	SetAvailability        string
	InsertSession          string
	DeleteSession          string
	Agent                  string
	AgentsOfAccount        string
	InsertInbox            string
	Inbox                  string
	InboxesOfAccount       string
	InboxesOfMember        string
	UpdateInbox            string
	SetRotation            string
	IsMember               string
	InboxMembers           string
	MemberAgents           string
	InsertMember           string
	DeleteMember           string
	DeleteMembershipsInAcc string
	InsertConversation     string
	ConversationByDisplay  string
	SetAssignee            string
	SetStatus              string
	AssignedTo             string
	UpdateUserName         string
	CountConversations     string
	ListConversations      string
	InsertMessage          string
	MessagesOf             string
	InsertEvent            string
	EventsOf               string
}

// loadQueries fills a queries from the text of a queries file, failing when a
// field has no block or a block has no field, so a typo cannot wait for the
// request that runs it.
func loadQueries(text string) (queries, error) {
	blocks := map[string]string{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			blocks[name] = strings.TrimSpace(body.String())
		}
		body.Reset()
	}
	for line := range strings.Lines(text) {
		if n, ok := strings.CutPrefix(line, "-- name: "); ok {
			flush()
			name = strings.TrimSpace(n)
			continue
		}
		body.WriteString(line)
	}
	flush()
	var q queries
	v := reflect.ValueOf(&q).Elem()
	for i := range v.NumField() {
		field := v.Type().Field(i).Name
		sqlText, ok := blocks[field]
		if !ok {
			return q, fmt.Errorf("queries.sql has no query %s", field)
		}
		v.Field(i).SetString(sqlText)
		delete(blocks, field)
	}
	for extra := range blocks {
		return q, fmt.Errorf("queries.sql has query %s that the store does not use", extra)
	}
	return q, nil
}

// notFoundOr turns sql.ErrNoRows into a not-found error for what.
func notFoundOr(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return switchboard.NotFound(what)
	}
	return err
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
