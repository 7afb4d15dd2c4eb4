// Package store keeps Switchboard's records in SQLite or PostgreSQL. Every
// routing decision runs in one write transaction: the store loads what the
// decision needs, asks package routing, and writes the change, the rotation,
// the assignment event and the webhook outbox before it commits.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mathrand "math/rand/v2"
	"net"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver, registered as "pgx"
	"github.com/switchboard/switchboard"
	_ "modernc.org/sqlite" // the SQLite driver, registered as "sqlite"
)

//go:embed migrations
var migrationFiles embed.FS

//go:embed sql/queries.sql
var queryFile string

//go:embed sql/report.sql
var reportFile string

//go:embed sql/postgres.sql
var postgresQueryFile string

// DB is a Switchboard database: SQLite for one process, PostgreSQL for one or
// several.
type DB struct {
	// On SQLite, write has a single connection: SQLite takes one writer at a
	// time, and queueing writers in the process (the group-commit writer)
	// instead of in SQLite's busy handler keeps concurrent requests from
	// failing with SQLITE_BUSY. On PostgreSQL, write and read are the same
	// pool.
	write *sql.DB
	read  *sql.DB
	// postgres is set on PostgreSQL, where transactions of several processes
	// interleave and rows are locked explicitly (see lockInbox).
	postgres bool
	// inboxQueues holds an *inboxQueue per inbox (inboxTx, PostgreSQL).
	inboxQueues sync.Map
	// together counts the creates made together in one statement
	// (together.go).
	together atomic.Int64
	q        queries
	stmts    *statements // the write pool's prepared statements (SQLite)
	// reads runs single queries on the read pool, prepared once (SQLite).
	reads     pooled
	readStmts *statements // the read pool's prepared statements (SQLite)
	broker    broker
	// stopListening and listenDone end the PostgreSQL change listener.
	stopListening context.CancelFunc
	listenDone    chan struct{}
	channel       string // the PostgreSQL channel of committed changes
	authChannel   string // and of writes that change authentication's users
	// notes feeds the notifier (PostgreSQL), which sends committed changes
	// to every process.
	notes     chan note
	notesStop chan struct{}
	notesOnce sync.Once
	notesDone chan struct{}
	// process names this process in console_connections.
	process string
	// dsn is the PostgreSQL URL, for connections outside the pool.
	dsn string
	// writes feeds the group-commit writer (SQLite); nil runs each write in
	// its own transaction (PostgreSQL, and SQLite while it opens).
	writes     chan writeRequest
	stopWrites chan struct{}
	stopOnce   sync.Once
	writerDone chan struct{}
	// Observer hears what the store does, for metrics; nil hears nothing.
	Observer Observer
	// Now is the clock; tests may replace it before use.
	Now func() time.Time
	// ReassignStep is how many conversations one transaction moves when a
	// user goes offline (offline.go); 0 means DefaultReassignStep.
	ReassignStep int
	// auth keeps the users that authentication found (authcache.go).
	auth authCache
	// authLooked, when set (tests), runs after authentication's query and
	// before what it found is kept.
	authLooked func()
	// reassigning counts the reassignments in steps this process runs.
	reassigning counts
	// betweenSteps, when set (tests), runs before each step of a
	// reassignment after the first; an error stops it there, as a process
	// that stops would.
	betweenSteps func(accountID, userID int64) error
	// betweenTrips, when set (tests), runs between the two round trips of
	// creates made together in an account with webhooks (together.go).
	betweenTrips func()
	// sweeping, when set (tests), runs in the presence sweep's transaction
	// once it has found a user away, before it sets them offline.
	sweeping func(accountID, userID int64)
	// afterCommit, when set (tests), runs after each commit of tryTxWith;
	// an error it returns stands for a commit whose answer was lost.
	afterCommit atomic.Pointer[func() error]
	// beforeNotify, when set (tests), runs before the notifier sends what
	// it gathered. (Both are set while the store runs.)
	beforeNotify atomic.Pointer[func()]
	// idleDropped is when dropIdle last closed the pool's idle
	// connections, in nanoseconds since processStart; 0 for never.
	idleDropped atomic.Int64
}

// Open opens the database named by dsn and brings its schema up to date. dsn
// is "sqlite:PATH" (a bare path works too) or a "postgres://" URL.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty database path: use --db sqlite:PATH")
	}
	q, err := loadQueries(queryFile+"\n"+reportFile, "", false)
	if err != nil {
		return nil, err
	}
	// synchronous(FULL) syncs the WAL on every commit, so an acknowledged write
	// survives a power cut; NORMAL would only survive a process crash.
	// temp_store(MEMORY) keeps statement journals (an UPDATE's undo within
	// its transaction) out of temporary files: they need no durability, and
	// writing them cost a quarter of a mass reassignment.
	pragmas := "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
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
	// Readers stay open: the default keeps two idle, so under load the
	// others were closed and opened again, each opening costing the
	// pragmas and every statement prepared again.
	read.SetMaxOpenConns(4)
	read.SetMaxIdleConns(4)
	db, err := finishOpen(ctx, &DB{write: write, read: read, q: q, Now: time.Now, process: rand.Text()}, "migrations/sqlite")
	if err != nil {
		return nil, err
	}
	// After the migrations: the statements need the tables.
	if db.stmts, err = prepareAll(ctx, write, q); err != nil {
		db.Close()
		return nil, err
	}
	if db.readStmts, err = prepareAll(ctx, read, q); err != nil {
		db.Close()
		return nil, err
	}
	db.reads.stmts = db.readStmts
	db.startWriter()
	return db, nil
}

// postgresConns is the size of a process's PostgreSQL pool.
const postgresConns = 16

// processStart is what dropIdle measures time from, on the monotonic
// clock (a wall clock set back would hold it off).
var processStart = time.Now()

// dropIdle closes the PostgreSQL pool's idle connections, at most once a
// second, after one was found lost: when the server ended one (a restart,
// a failover), it ended the others too, and each would fail once more at
// its next use (pgx checks a connection before its first reuse and when
// a second has passed since it was last taken, not one taken just
// before). Those in use fail once each, and leave the pool then.
func (db *DB) dropIdle() {
	if !db.postgres {
		return
	}
	now, last := int64(time.Since(processStart)), db.idleDropped.Load()
	if last != 0 && now-last < int64(time.Second) || !db.idleDropped.CompareAndSwap(last, now) {
		return
	}
	db.write.SetMaxIdleConns(0)
	db.write.SetMaxIdleConns(postgresConns)
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	q, err := loadQueries(queryFile+"\n"+reportFile, postgresQueryFile, true)
	if err != nil {
		return nil, err
	}
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool.SetMaxOpenConns(postgresConns)
	pool.SetMaxIdleConns(postgresConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db, err := finishOpen(ctx, &DB{write: pool, read: pool, postgres: true, q: q, Now: time.Now, process: rand.Text(), dsn: dsn,
		auth: authCache{off: true}}, "migrations/postgres")
	if err != nil {
		return nil, err
	}
	if err := db.startListening(ctx, dsn); err != nil {
		db.Close()
		return nil, err
	}
	db.startNotifier()
	return db, nil
}

func finishOpen(ctx context.Context, db *DB, migrations string) (*DB, error) {
	db.reads = pooled{DB: db.read, lost: db.dropIdle}
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := db.migrate(ctx, migrations); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.stopWriter()
	db.stopNotifier()
	if db.stopListening != nil {
		db.stopListening()
		<-db.listenDone
	}
	if db.stmts != nil {
		db.stmts.close()
	}
	if db.readStmts != nil {
		db.readStmts.close()
	}
	if db.read == db.write {
		return db.write.Close()
	}
	return errors.Join(db.read.Close(), db.write.Close())
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.read.PingContext(ctx)
}

// migrate applies the embedded migrations in dir that the database has not
// seen, in the order of their numbers, each in its own transaction. Processes
// that start together on one PostgreSQL database take turns.
func (db *DB) migrate(ctx context.Context, dir string) error {
	names, err := fs.Glob(migrationFiles, dir+"/*.up.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".up.sql")
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		err = db.inTx(ctx, func(tx *txn) error {
			if db.postgres {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7010001)`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, db.rebind(`SELECT count(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), version, db.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return nil
}

// Observer hears of the store's work: committed changes of assignee by
// reason, the time routing a conversation took, how many writes shared a
// commit (SQLite's writer, PostgreSQL's inbox batches), write transactions
// run again and why (RetryDeadlock, RetrySerialization, RetryLockOrder),
// and database failures.
type Observer interface {
	Assigned(reason string)
	Picked(d time.Duration)
	Batched(writes int)
	Retried(reason string)
	DatabaseError()
}

// Why a write transaction runs again (Observer.Retried).
const (
	RetryDeadlock      = "deadlock"
	RetrySerialization = "serialization"
	RetryLockOrder     = "lock_order"
	RetryConnection    = "connection" // lost before the commit
)

// retryReason says why err makes a transaction run again.
func retryReason(err error) string {
	if errors.Is(err, errLostBefore) {
		return RetryConnection
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "40P01" {
		return RetryDeadlock
	}
	if errors.Is(err, errLockOrder) {
		return RetryLockOrder
	}
	return RetrySerialization
}

// inTx runs fn in a write transaction and commits it when fn returns nil. On
// PostgreSQL a transaction that lost a deadlock or a serialization conflict to
// another process is run again from the start, a few times, each after a
// random pause that grows, so that the same transactions do not meet again
// in the same order.
func (db *DB) inTx(ctx context.Context, fn func(tx *txn) error) error {
	for attempt := 1; ; attempt++ {
		var err error
		if db.writes != nil {
			err = db.groupTx(ctx, fn)
		} else {
			err = db.tryTx(ctx, fn)
		}
		final := err == nil || attempt == 5 || !retryable(err)
		if final || !errors.Is(err, errLockOrder) { // a start again is no failure, unless the last
			db.failed(ctx, err)
		}
		if final {
			switch {
			case errors.Is(err, errLostBefore):
				return fmt.Errorf("%w: %w", errDatabaseLost, err)
			case err != nil && retryable(err):
				return fmt.Errorf("%w: %w", errTooBusy, err)
			}
			return err
		}
		if db.Observer != nil {
			db.Observer.Retried(retryReason(err))
		}
		pause := time.NewTimer(time.Duration(mathrand.Int64N(int64(attempt) * int64(5*time.Millisecond))))
		select {
		case <-pause.C:
		case <-ctx.Done():
			pause.Stop()
			return err
		}
	}
}

// errTooBusy is a write that met other writes at every attempt of inTx
// (deadlocks, serialization failures, inbox locks needed out of order): each
// attempt was undone, and the request may be sent again. (Going offline
// commits its first transaction before its steps: when a step fails so, the
// user is offline already, and setting them offline again finishes the
// steps; see setAvailability.)
var errTooBusy = switchboard.Errorf(switchboard.EUNAVAILABLE, "The database was too busy with other changes to finish this one. Try again.")

// errDatabaseLost is a write whose connection to the database was lost
// before its commit at every attempt of inTx: the attempt was undone.
// (Going offline may have committed its first transaction before a step
// fails so, as for errTooBusy.)
var errDatabaseLost = switchboard.Errorf(switchboard.EUNAVAILABLE, "The connection to the database was lost before the change was committed. Try again.")

// errDatabaseUnreachable is a read whose connection to the database was
// lost at each of its tries, or could not be made: the database is down or
// out of reach, and the request may be sent again.
var errDatabaseUnreachable = switchboard.Errorf(switchboard.EUNAVAILABLE, "The database could not be reached. Try again.")

// unreachable returns a read's error, marked errDatabaseUnreachable when a
// lost connection caused it and the read's request had not ended.
func unreachable(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || !connLost(err) || errors.Is(err, errDatabaseUnreachable) {
		return err
	}
	return fmt.Errorf("%w: %w", errDatabaseUnreachable, err)
}

// failed tells the observer of a write's failure that is not the request's
// doing: not the caller's input, and not a request that went away.
func (db *DB) failed(ctx context.Context, err error) {
	if err != nil && db.Observer != nil {
		if _, domain := errors.AsType[*switchboard.Error](err); !domain && !isReassignPending(err) && ctx.Err() == nil {
			db.Observer.DatabaseError()
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *txn) error) error {
	return db.tryTxWith(ctx, db.writes != nil, fn) // SQLite's writer runs it detached
}

// tryTxWith runs fn in a transaction and commits it; detached, its
// statements run to their end whatever becomes of ctx (see txn.detached).
func (db *DB) tryTxWith(ctx context.Context, detached bool, fn func(tx *txn) error) error {
	if detached {
		ctx = context.WithoutCancel(ctx)
	}
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", db.lostBefore(ctx, err))
	}
	tx := &txn{Tx: sqlTx, stmts: db.stmts, detached: detached}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return db.lostBefore(ctx, err)
	}
	if err := db.enqueueWebhooks(ctx, tx); err != nil {
		return fmt.Errorf("webhooks: %w", db.lostBefore(ctx, err))
	}
	err = tx.Commit()
	if f := db.afterCommit.Load(); err == nil && f != nil {
		err = (*f)()
	}
	if err != nil {
		if len(tx.authUsers) > 0 {
			db.authChangedMaybe(tx.authUsers) // a commit whose end went unheard may have happened
		}
		return &commitFailed{err: err}
	}
	db.committed(tx)
	return nil
}

// authChangedMaybe drops what authentication keeps of users, here and in
// the other processes, after a write that changes it may have committed.
func (db *DB) authChangedMaybe(users []int64) {
	db.auth.changed(users)
	if db.postgres {
		db.notifyLater(nil, users)
	}
}

// committed tells of a write that is now durable: its changes to this
// process's subscribers (on PostgreSQL they travel by NOTIFY), its
// assignments to the metrics.
func (db *DB) committed(tx *txn) {
	if len(tx.authUsers) > 0 {
		db.auth.changed(tx.authUsers) // before the write is answered
	}
	if db.postgres {
		db.notifyLater(tx.changes, tx.authUsers)
	} else {
		db.publish(tx.changes)
	}
	if db.Observer != nil {
		for _, reason := range tx.assigned {
			db.Observer.Assigned(string(reason))
		}
	}
}

// retryable reports whether err is PostgreSQL's word that the transaction
// may succeed if run again (serialization failure or deadlock), the
// store's own (errLockOrder), or a connection lost before the commit
// (errLostBefore).
func retryable(err error) bool {
	if errors.Is(err, errLostBefore) {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return errors.Is(err, errLockOrder)
}

// errLostBefore marks a transaction whose connection to PostgreSQL was lost
// before its commit was sent: the server undid it, and it may run again on
// another connection. After a restart of PostgreSQL, a failover or an
// administrator's pg_terminate_backend, every connection of the pool meets
// this once, at its next use.
var errLostBefore = errors.New("the connection to the database was lost before the commit")

// lostBefore marks err with errLostBefore when it says the connection is
// gone (connLost) and not that ctx ended (pgx's stdlib reports a
// connection given up for a cancelled request as bad); err comes from a
// statement before the commit.
func (db *DB) lostBefore(ctx context.Context, err error) error {
	if ctx.Err() == nil && connLost(err) {
		db.dropIdle()
		return fmt.Errorf("%w: %w", errLostBefore, err)
	}
	return err
}

// commitFailed is a commit that failed, or whose answer was lost: it may
// have happened, so its writes are not run again (inTx runs again only
// what retryable says, and an inbox's batch answers each of its writes
// with it).
type commitFailed struct{ err error }

func (e *commitFailed) Error() string { return "commit: " + e.err.Error() }
func (e *commitFailed) Unwrap() error { return e.err }

// connLost reports whether err says the connection to PostgreSQL is gone:
// the server ended the session (SQLSTATE class 57P: shut down, crashed, at
// an administrator's word), or the network broke, or the driver knew the
// connection was bad before sending anything.
func connLost(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return strings.HasPrefix(pgErr.Code, "57P")
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// rebind turns the ? placeholders of a query into PostgreSQL's $1, $2, ...
// The store's SQL has no ? inside string literals.
func (db *DB) rebind(query string) string {
	if !db.postgres {
		return query
	}
	return rebindPostgres(query)
}

func rebindPostgres(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// queries holds the SQL of sql/queries.sql and sql/report.sql, one field per
// "-- name:" block.
type queries struct {
	AccountByID               string
	InsertAccount             string
	CountAccounts             string
	InsertUser                string
	UserByID                  string
	UserByEmail               string
	UserByToken               string
	UserBySession             string
	MembershipsOfUser         string
	Membership                string
	LockMembership            string
	InsertMembership          string
	UpdateMembership          string
	DeleteMembership          string
	CountAdministrators       string
	InsertSession             string
	DeleteSession             string
	Agent                     string
	AgentLocked               string
	AgentsOfAccount           string
	InsertInbox               string
	Inbox                     string
	InboxesOfAccount          string
	InboxesOfMember           string
	UpdateInbox               string
	SetRotation               string
	IsMember                  string
	InboxMembers              string
	InboxMembersNoLoad        string
	MemberAgents              string
	InsertMember              string
	DeleteMember              string
	DeleteMembershipsInAcc    string
	InsertConversation        string
	ConversationByDisplay     string
	SetAssignee               string
	SetStatus                 string
	AssignedTo                string
	ReassignableOf            string
	EventsHighWater           string
	ReassignBound             string
	SetReassignBound          string
	ClearReassignBound        string
	PendingReassignments      string
	UpdateUserName            string
	AccountsNotAdministeredBy string
	LockInbox                 string
	ConversationInbox         string
	SetWaiting                string
	QueueLength               string
	Queue                     string
	JoinQueue                 string
	AutoInboxesOfMember       string
	MemberInboxes             string
	ListQueue                 string
	QueueLengths              string
	RotationPick              string
	// The routing report's, in sql/report.sql.
	ReportInboxes          string
	ReportAgents           string
	ReportAssigned         string
	ReportFirstAssignments string
	ReportOpen             string
	InsertWebhook          string
	WebhooksOfAccount      string
	DeleteWebhook          string
	UpdateWebhook          string
	ConversationSnapshot   string
	InsertDelivery         string
	SnoozedDue             string
	ClaimDeliveries        string
	WebhooksDue            string
	WebhookTargets         string
	DeliveriesSucceeded    string
	PurgeCutoff            string
	PurgeDeliveries        string
	DeliveryFailed         string
	DeliveryUntried        string
	InsertConnection       string
	DeleteConnection       string
	NoteDisconnect         string
	Heartbeat              string
	ForgetPresence         string
	DeleteStaleConnections string
	PresenceAway           string
	LockInboxesOfAccount   string
	InboxesOfUser          string
	InboxesOfMembers       string
	CountConversations     string
	ListConversations      string
	InsertMessage          string
	MessagesOf             string
	InsertEvent            string
	EventsOf               string

	// SQLite only: the account's row numbers its conversations (PostgreSQL
	// takes the number from a sequence in InsertCreated), and what
	// PostgreSQL does in one statement (MoveAll).
	NextDisplayID     string `dialect:"sqlite"`
	MoveConversations string `dialect:"sqlite"`
	InsertEvents      string `dialect:"sqlite"`
	SetWaitingAll     string `dialect:"sqlite"`

	// PostgreSQL only: what SQLite, without data-modifying WITH, does in
	// several statements.
	InsertCreated        string `dialect:"postgres"`
	InsertCreatedBatch   string `dialect:"postgres"`
	InsertDeliveries     string `dialect:"postgres"`
	LockInboxesByID      string `dialect:"postgres"`
	LockInboxesOfUser    string `dialect:"postgres"`
	LockMemberInboxes    string `dialect:"postgres"`
	LockInboxesOfMembers string `dialect:"postgres"`
	MoveAll              string `dialect:"postgres"`

	// PostgreSQL only: which process leads an inbox's creates (leads.go).
	RegisterProcess   string `dialect:"postgres"`
	UnregisterProcess string `dialect:"postgres"`
	TryLead           string `dialect:"postgres"`
	ReleaseLead       string `dialect:"postgres"`
	InboxLeader       string `dialect:"postgres"`
	ConversationByKey string `dialect:"postgres"`
}

// loadQueries fills a queries from the text of a queries file, with the
// blocks of overrides replacing those of the same name, failing when a field
// has no block or a block has no field, so a typo cannot wait for the request
// that runs it. Fields tagged dialect:"postgres" come from overrides only,
// and stay empty on SQLite; those tagged dialect:"sqlite" have no override,
// and stay empty on PostgreSQL. postgres rebinds the placeholders.
func loadQueries(text, overrides string, postgres bool) (queries, error) {
	blocks := parseQueryBlocks(text)
	t := reflect.TypeFor[queries]()
	pgOnly, sqliteOnly := map[string]bool{}, map[string]bool{}
	for i := range t.NumField() {
		switch t.Field(i).Tag.Get("dialect") {
		case "postgres":
			pgOnly[t.Field(i).Name] = true
		case "sqlite":
			sqliteOnly[t.Field(i).Name] = true
		}
	}
	for name := range blocks {
		if pgOnly[name] {
			return queries{}, fmt.Errorf("query %s is PostgreSQL's only, not in queries.sql", name)
		}
	}
	for name, body := range parseQueryBlocks(overrides) {
		if _, ok := blocks[name]; !ok && !pgOnly[name] {
			return queries{}, fmt.Errorf("override of unknown query %s", name)
		}
		if sqliteOnly[name] {
			return queries{}, fmt.Errorf("query %s is SQLite's only, not in the overrides", name)
		}
		blocks[name] = body
	}
	if postgres {
		for name := range sqliteOnly {
			delete(blocks, name)
		}
	}
	if postgres {
		for name, body := range blocks {
			blocks[name] = rebindPostgres(body)
		}
	}
	var q queries
	v := reflect.ValueOf(&q).Elem()
	for i := range v.NumField() {
		field := t.Field(i).Name
		sqlText, ok := blocks[field]
		if !ok {
			if pgOnly[field] && !postgres || sqliteOnly[field] && postgres {
				continue
			}
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

func parseQueryBlocks(text string) map[string]string {
	blocks := map[string]string{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			blocks[name] = trimTrailingComments(body.String())
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
	return blocks
}

// trimTrailingComments trims a block to its statement: comment lines after
// it belong to what follows (the heading of the next file, say). Left in,
// they made the driver see a script, which it parses again on every call
// instead of keeping it prepared.
func trimTrailingComments(block string) string {
	block = strings.TrimSpace(block)
	for {
		i := strings.LastIndexByte(block, '\n')
		if !strings.HasPrefix(strings.TrimSpace(block[i+1:]), "--") {
			return block
		}
		block = strings.TrimSpace(block[:max(i, 0)])
	}
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
