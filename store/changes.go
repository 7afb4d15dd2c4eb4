package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/switchboard/switchboard"
)

// txn is a transaction and, when it writes, the changes it makes;
// subscribers hear of the changes once, and only if, it commits. Reads run
// in one too (readTx), for the read pool's prepared statements.
type txn struct {
	*sql.Tx
	stmts    *statements // nil on PostgreSQL, whose driver caches them
	changes  []switchboard.Change
	assigned []switchboard.Reason // the reasons of its changes of assignee
	hooks    []hookEvent          // events for the webhooks
	// webhooks caches the webhooks of the accounts the transaction has
	// looked up, for enqueueWebhooks.
	webhooks map[int64][]switchboard.Webhook
	// locked holds the inboxes whose routing lock the transaction has
	// taken.
	locked map[int64]bool
	// passed holds the accounts where the transaction has made its first
	// pass at their inboxes' locks (rotation.go, "Lock order").
	passed map[int64]bool
	// created holds, on PostgreSQL, the routing state of an inbox as the
	// last create of the transaction left it: the next create of a batch
	// (inboxbatch.go), which holds only creates of that inbox, goes on from
	// it without a round trip to lock and read it again.
	created map[int64]*inboxState
	// pending holds the reassignments it leaves under way, to go on with
	// after its commit (offline.go).
	pending []pendingReassign
	// authUsers are the users whose authentication it changes
	// (authcache.go).
	authUsers []int64
	// detached: its statements run to their end whatever becomes of the
	// request (SQLite's writer, which answers a write it has taken in any
	// case). The driver then watches no context: modernc's SQLite starts a
	// goroutine per statement to interrupt it, and database/sql one per
	// result set, when the context can end.
	detached bool
}

// ctx is the context tx's statements run under.
func (tx *txn) ctx(ctx context.Context) context.Context {
	if tx.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (tx *txn) changed(c switchboard.Change) { tx.changes = append(tx.changes, c) }

// authExec runs a statement that changes what authentication finds of
// userID: their name, a membership, a session (authcache.go).
func (tx *txn) authExec(ctx context.Context, userID int64, query string, args ...any) (sql.Result, error) {
	tx.authUsers = append(tx.authUsers, userID)
	return tx.ExecContext(ctx, query, args...)
}

// lockedInboxes returns the inboxes whose routing lock tx holds, in id
// order.
func (tx *txn) lockedInboxes() []int64 {
	ids := slices.Sorted(maps.Keys(tx.locked))
	if ids == nil {
		ids = []int64{}
	}
	return ids
}

func (tx *txn) lockedInbox(accountID, id int64) {
	if tx.locked == nil {
		tx.locked = map[int64]bool{}
	}
	tx.locked[id] = true
	tx.firstPass(accountID) // a lock taken is the pass, or part of it
}

// firstPass reports whether tx has yet to take routing locks in accountID,
// and notes that it now does (rotation.go, "Lock order").
func (tx *txn) firstPass(accountID int64) bool {
	if tx.passed[accountID] {
		return false
	}
	if tx.passed == nil {
		tx.passed = map[int64]bool{}
	}
	tx.passed[accountID] = true
	return true
}

// broker hands committed changes to this process's subscribers. A subscriber
// that falls behind by more than its buffer misses changes; consoles reread
// their whole view on the next one, so nothing stays stale for long.
type broker struct {
	mu   sync.Mutex
	subs map[chan switchboard.Change]struct{}
}

// Subscribe returns a channel of the changes committed from now on: by this
// process on SQLite, by every process on PostgreSQL. cancel ends it.
func (db *DB) Subscribe() (changes <-chan switchboard.Change, cancel func()) {
	ch := make(chan switchboard.Change, 1024)
	db.broker.mu.Lock()
	if db.broker.subs == nil {
		db.broker.subs = map[chan switchboard.Change]struct{}{}
	}
	db.broker.subs[ch] = struct{}{}
	db.broker.mu.Unlock()
	return ch, func() {
		db.broker.mu.Lock()
		delete(db.broker.subs, ch)
		db.broker.mu.Unlock()
	}
}

// listened reports whether anyone here subscribes to changes.
func (b *broker) listened() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs) > 0
}

func (db *DB) publish(changes []switchboard.Change) {
	if len(changes) == 0 {
		return
	}
	db.broker.mu.Lock()
	defer db.broker.mu.Unlock()
	for _, c := range dedupe(changes) {
		for ch := range db.broker.subs {
			select {
			case ch <- c:
			default:
			}
		}
	}
}

func dedupe(changes []switchboard.Change) []switchboard.Change {
	seen := make(map[switchboard.Change]bool, len(changes))
	out := changes[:0:0]
	for _, c := range changes {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// channelFor names the PostgreSQL channel that carries committed changes
// between the processes of one installation. Channels are global to a
// database, so the name includes the schema: installations in different
// schemas of one database do not hear each other.
func channelFor(schema string) string {
	return "switchboard_changes_" + schema
}

// authChannelFor names the channel that tells of writes that change what
// authentication finds (authcache.go): one of its own, which processes of
// a version before it do not hear (they would take its notifications for
// bad changes), and a name shorter than channelFor's.
func authChannelFor(schema string) string {
	return "switchboard_auth_" + schema
}

// authNote is a notification on the authentication channel: the users
// whose authentication a process's writes changed.
type authNote struct {
	Process string  `json:"p"`
	Users   []int64 `json:"u"`
}

// wireChange is a Change as NOTIFY carries it.
type wireChange struct {
	Kind           switchboard.ChangeKind `json:"k"`
	AccountID      int64                  `json:"a"`
	ConversationID int64                  `json:"c,omitempty"`
	InboxID        int64                  `json:"i,omitempty"`
	UserID         int64                  `json:"u,omitempty"`
}

// note is what a committed transaction has to tell the other processes.
type note struct {
	changes   []switchboard.Change
	authUsers []int64 // whose authentication it changes
}

// notifyLater hands a committed transaction's changes to the notifier,
// which tells every process (PostgreSQL).
func (db *DB) notifyLater(changes []switchboard.Change, authUsers []int64) {
	if len(changes) == 0 && len(authUsers) == 0 {
		return
	}
	select {
	case db.notes <- note{changes: changes, authUsers: authUsers}:
	case <-db.notesStop:
	}
}

// startNotifier starts the goroutine that sends committed changes with
// pg_notify, after their commit and outside their transaction. NOTIFY in a
// write's own transaction holds a database-wide lock from its commit's
// start to its end, so that every commit that notifies, of every process,
// waits for the one before it and for its fsync; sent here, changes
// committed meanwhile go together in one statement. A process that dies
// between a commit and its notification leaves other processes' consoles a
// change behind until the next one (they reread their whole view then);
// the data and the webhooks' outbox are committed already.
func (db *DB) startNotifier() {
	db.notes = make(chan note, 1024)
	db.notesStop = make(chan struct{})
	db.notesDone = make(chan struct{})
	go db.notifier()
}

// stopNotifier sends what is queued and ends the notifier.
func (db *DB) stopNotifier() {
	if db.notesStop == nil {
		return
	}
	db.notesOnce.Do(func() { close(db.notesStop) })
	<-db.notesDone
}

// notifyWindow is how long the notifier gathers changes into one
// statement. Each statement is a transaction that wakes every listener of
// the database; at a few hundred commits a second, a statement per commit
// was a tenth of a create's cost (BENCHMARKS.md). A console hears of a
// change up to this much later.
const notifyWindow = 10 * time.Millisecond

func (db *DB) notifier() {
	defer close(db.notesDone)
	for {
		var changes []switchboard.Change
		var authUsers []int64
		// Changes wait up to notifyWindow for others to go with them; a
		// change of authentication goes at once (authcache.go).
		timer := time.NewTimer(notifyWindow)
		window := timer.C
		add := func(n note) {
			changes = append(changes, n.changes...)
			authUsers = append(authUsers, n.authUsers...)
			if len(n.authUsers) > 0 {
				window = nil
			}
		}
		select {
		case n := <-db.notes:
			add(n)
		case <-db.notesStop:
			window = nil
		}
	gather:
		for len(changes)+len(authUsers) < 10000 {
			select {
			case n := <-db.notes:
				add(n)
				continue
			default:
			}
			if window == nil {
				break
			}
			select {
			case n := <-db.notes:
				add(n)
			case <-window:
				break gather
			case <-db.notesStop:
				break gather
			}
		}
		timer.Stop()
		if f := db.beforeNotify.Load(); f != nil {
			(*f)()
		}
		if err := db.notify(changes, authUsers); err != nil {
			slog.Warn("telling other processes of changes failed", "changes", len(changes), "users", len(authUsers), "err", err)
		}
		select {
		case <-db.notesStop:
			if len(db.notes) == 0 {
				return
			}
		default:
		}
	}
}

// notify sends changes with pg_notify in one statement, in payloads under
// PostgreSQL's 8000-byte limit, after the users whose authentication
// changed, on the authentication channel.
func (db *DB) notify(changes []switchboard.Change, authUsers []int64) error {
	changes = dedupe(changes)
	var channels, payloads []string
	authUsers = slices.Compact(slices.Sorted(slices.Values(authUsers)))
	for len(authUsers) > 0 {
		n := min(len(authUsers), 300) // 20 bytes an id at most
		payload, err := json.Marshal(authNote{Process: db.process, Users: authUsers[:n]})
		if err != nil {
			return err
		}
		channels, payloads = append(channels, db.authChannel), append(payloads, string(payload))
		authUsers = authUsers[n:]
	}
	for len(changes) > 0 {
		n := min(len(changes), 100)
		batch := make([]wireChange, n)
		for i, c := range changes[:n] {
			batch[i] = wireChange(c)
		}
		payload, err := json.Marshal(batch)
		if err != nil {
			return err
		}
		channels, payloads = append(channels, db.channel), append(payloads, string(payload))
		changes = changes[n:]
	}
	if len(payloads) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The statement is a transaction of its own, whose commit need not wait
	// for the disk: a notification is not data, and a lost one costs a
	// console one refresh. A connection that PostgreSQL ended (a restart,
	// a failover) fails at its next use: they go again on another (sent
	// twice, they would cost a console a reread, and nobody more).
	for attempt := 1; ; attempt++ {
		_, err := db.write.ExecContext(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify(ch, p)
			FROM unnest($1::text[], $2::text[]) AS t(ch, p)`, channels, payloads)
		if err == nil || attempt == 3 || !connLost(err) {
			return err
		}
		db.dropIdle()
	}
}

// startListening connects the listener that receives the changes every
// process commits on PostgreSQL; Open fails if it cannot, so a process that
// is ready also hears every change made after.
func (db *DB) startListening(ctx context.Context, dsn string) error {
	var schema string
	if err := db.read.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("listen for changes: %w", err)
	}
	db.channel, db.authChannel = channelFor(schema), authChannelFor(schema)
	conn, err := listenConn(ctx, dsn, db.channel, db.authChannel)
	if err != nil {
		return fmt.Errorf("listen for changes: %w", err)
	}
	db.auth.keep(true) // every write that changes lookups is heard from now on
	ctx, db.stopListening = context.WithCancel(context.Background())
	db.listenDone = make(chan struct{})
	go db.listen(ctx, dsn, conn)
	return nil
}

func listenConn(ctx context.Context, dsn string, channels ...string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	for _, channel := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return nil, err
		}
	}
	return conn, nil
}

// listen publishes here what arrives on conn until ctx ends, and reconnects
// after a failure.
func (db *DB) listen(ctx context.Context, dsn string, conn *pgx.Conn) {
	defer close(db.listenDone)
	for {
		err := db.receive(ctx, conn)
		// Writes that change lookups may go unheard until the next
		// LISTEN: authentication asks the database meanwhile.
		db.auth.keep(false)
		conn.Close(context.Background())
		for ctx.Err() == nil {
			slog.Warn("listening for changes failed; reconnecting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			if conn, err = listenConn(ctx, dsn, db.channel, db.authChannel); err == nil {
				db.auth.keep(true)
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (db *DB) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == db.authChannel {
			var note authNote
			switch err := json.Unmarshal([]byte(n.Payload), &note); {
			case err != nil:
				db.auth.changedAll() // which users is unclear: all
			case note.Process != db.process: // this one dropped its own before
				db.auth.changed(note.Users)
			}
			continue
		}
		if !db.broker.listened() {
			continue // nobody here to tell (a process without a live console)
		}
		var batch []wireChange
		if err := json.Unmarshal([]byte(n.Payload), &batch); err != nil {
			return errors.Join(errors.New("bad change payload"), err)
		}
		changes := make([]switchboard.Change, len(batch))
		for i, c := range batch {
			changes[i] = switchboard.Change(c)
		}
		db.publish(changes)
	}
}

// statements are the write pool's queries, prepared once when the store
// opens. SQLite otherwise parses a statement's text at every call, a third of
// a routing decision's time (BENCHMARKS.md). They must be prepared before any
// transaction runs: the pool's one connection is busy during a transaction.
type statements struct {
	m map[string]*sql.Stmt
}

func prepareAll(ctx context.Context, pool *sql.DB, q queries) (*statements, error) {
	s := &statements{m: map[string]*sql.Stmt{}}
	v := reflect.ValueOf(q)
	for i := range v.NumField() {
		text := v.Field(i).String()
		if text == "" {
			continue // the other dialect's
		}
		stmt, err := pool.PrepareContext(ctx, text)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("prepare %s: %w", v.Type().Field(i).Name, err)
		}
		s.m[text] = stmt
	}
	return s, nil
}

func (s *statements) close() {
	for _, stmt := range s.m {
		stmt.Close()
	}
}

// pooled runs single queries on a pool, prepared once where the pool has
// prepared statements.
type pooled struct {
	*sql.DB
	stmts *statements
	// lost, if set, is told of a connection found lost (DB.dropIdle).
	lost func()
}

// readTries bounds the tries of a read whose connection PostgreSQL had
// ended (a restart, a failover): each such connection fails once, at its
// next use, and leaves the pool then (and the idle ones with it: dropIdle).
const readTries = 3

// QueryContext runs a query, prepared once, and again on another
// connection if its connection was lost (connLost).
func (p pooled) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	for try := 1; ; try++ {
		rows, err := p.queryOnce(ctx, query, args)
		if err == nil || try == readTries || ctx.Err() != nil || !connLost(err) {
			return rows, unreachable(ctx, err)
		}
		p.lostOne()
	}
}

func (p pooled) lostOne() {
	if p.lost != nil {
		p.lost()
	}
}

func (p pooled) queryOnce(ctx context.Context, query string, args []any) (*sql.Rows, error) {
	if p.stmts != nil {
		if stmt, ok := p.stmts.m[query]; ok {
			return stmt.QueryContext(ctx, args...)
		}
	}
	return p.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query for one row, prepared once, and again on
// another connection if its connection was lost.
func (p pooled) QueryRowContext(ctx context.Context, query string, args ...any) row {
	for try := 1; ; try++ {
		row := p.queryRowOnce(ctx, query, args)
		if err := row.Err(); err == nil || try == readTries || ctx.Err() != nil || !connLost(err) {
			return pooledRow{row, ctx}
		}
		p.lostOne()
	}
}

// row is the row of a query for one.
type row interface {
	Scan(dest ...any) error
}

// pooledRow is the row of a pooled query, whose Scan tells a database out
// of reach (errDatabaseUnreachable) from the rest.
type pooledRow struct {
	*sql.Row
	ctx context.Context
}

func (r pooledRow) Scan(dest ...any) error {
	return unreachable(r.ctx, r.Row.Scan(dest...))
}

func (p pooled) queryRowOnce(ctx context.Context, query string, args []any) *sql.Row {
	if p.stmts != nil {
		if stmt, ok := p.stmts.m[query]; ok {
			return stmt.QueryRowContext(ctx, args...)
		}
	}
	return p.DB.QueryRowContext(ctx, query, args...)
}

// readTx begins a read-only transaction on the read pool, which uses its
// prepared statements.
func (db *DB) readTx(ctx context.Context) (*txn, error) {
	for try := 1; ; try++ {
		tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err == nil {
			return &txn{Tx: tx, stmts: db.readStmts}, nil
		}
		if try == readTries || ctx.Err() != nil || !connLost(err) {
			return nil, unreachable(ctx, err)
		}
		db.dropIdle()
	}
}

// stmt returns the transaction's use of the prepared query, or nil to run
// the text as it is.
func (tx *txn) stmt(ctx context.Context, query string) *sql.Stmt {
	if tx.stmts == nil {
		return nil
	}
	stmt, ok := tx.stmts.m[query]
	if !ok {
		return nil
	}
	return tx.Tx.StmtContext(ctx, stmt)
}

// ExecContext runs a statement of the transaction, prepared once.
func (tx *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = tx.ctx(ctx)
	if stmt := tx.stmt(ctx, query); stmt != nil {
		return stmt.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query of the transaction, prepared once.
func (tx *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = tx.ctx(ctx)
	if stmt := tx.stmt(ctx, query); stmt != nil {
		return stmt.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a one-row query of the transaction, prepared once.
func (tx *txn) QueryRowContext(ctx context.Context, query string, args ...any) row {
	ctx = tx.ctx(ctx)
	if stmt := tx.stmt(ctx, query); stmt != nil {
		return stmt.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}
