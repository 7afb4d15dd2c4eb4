package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leads is this process's part in deciding which process leads each inbox
// (PostgreSQL; the cluster package sends the creates of an inbox to its
// leader, so that they share its transactions). A process leads an inbox
// while its lead connection, one outside the pool, holds the inbox's
// advisory lock: the lock goes when the process or its connection does, and
// another process may take it then. Leading is never needed for
// correctness: every create still takes the inbox's routing lock, so two
// processes that both think they lead an inbox only batch less.
type Leads struct {
	db      *DB
	token   string // what the others must show
	classID int32  // the advisory locks' first key, per schema

	// gen counts the lead connections: leads held on an older one are lost.
	// It is read without mu, by every create.
	gen atomic.Uint64

	// mu guards what follows; it is held during the lead connection's
	// statements, which leadTimeout bounds, and never by a create that
	// knows its inbox's leader.
	mu      sync.Mutex
	address string         // where the others reach this process; "" leads none
	conn    *pgx.Conn      // nil until needed, and after it broke
	held    map[int64]bool // the inboxes conn's locks lead
}

// MaxLeads bounds the inboxes a process leads at once: each lead is an entry
// in PostgreSQL's lock table, which all sessions share and which is small
// (max_locks_per_transaction × max_connections, 6,400 by default).
const MaxLeads = 128

// leadTimeout bounds each statement of the lead connection, and its
// connecting. Its work is done for the process, not for the create that
// needed it: a create that leaves does not cut it short.
const leadTimeout = 2 * time.Second

// leadIdleTimeout is the lead session's idle_session_timeout: PostgreSQL
// ends a lead session that has been silent this long (Keep pings it more
// often), so the leads of a process whose host vanished are free again
// after it, not after the server's TCP keepalive (two hours by default).
const leadIdleTimeout = "30s"

// Shared reports whether several processes may share the database
// (PostgreSQL).
func (db *DB) Shared() bool { return db.postgres }

// ErrNotShared is returned by OpenLeads on SQLite, which one process uses.
var ErrNotShared = errors.New("only PostgreSQL is shared by several processes")

// OpenLeads returns this process's Leads. With an empty address it leads no
// inbox but still finds the leaders of others.
func (db *DB) OpenLeads(ctx context.Context, address, token string) (*Leads, error) {
	if !db.postgres {
		return nil, ErrNotShared
	}
	var schema string
	if err := db.read.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("open leads: %w", err)
	}
	h := fnv.New32a()
	h.Write([]byte("switchboard inbox leads " + schema))
	l := &Leads{db: db, address: address, token: token, classID: int32(h.Sum32() & 0x7fffffff)}
	if address != "" {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := l.connect(ctx); err != nil {
			return nil, fmt.Errorf("open leads: %w", err)
		}
	}
	return l, nil
}

// detach returns a context for the lead connection's work: ctx's values,
// not its end, and leadTimeout.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), leadTimeout)
}

// connect opens the lead connection and says where this process listens.
// The caller holds l.mu.
func (l *Leads) connect(ctx context.Context) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	conn, err := pgx.Connect(ctx, l.db.dsn)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "SELECT set_config('idle_session_timeout', $1, false)", leadIdleTimeout)
	if err == nil {
		_, err = conn.Exec(ctx, l.db.q.RegisterProcess, l.address, l.token, l.db.Now().UnixMilli())
	}
	if err != nil {
		conn.Close(context.Background())
		return err
	}
	l.conn = conn
	l.gen.Add(1)
	l.held = map[int64]bool{}
	return nil
}

// failed forgets the lead connection after err if err broke it, and with
// it every lead. The caller holds l.mu.
func (l *Leads) failed(err error) {
	if err != nil && l.conn != nil && l.conn.IsClosed() {
		l.drop()
	}
}

// drop forgets the lead connection, and with it every lead. The caller holds
// l.mu.
func (l *Leads) drop() {
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
		l.gen.Add(1)
		l.held = nil
	}
}

// objectID is an inbox's advisory lock key. Ids past 2^31 share keys with
// smaller ones; two such inboxes then share a leader, which is harmless.
func objectID(inboxID int64) int32 { return int32(inboxID & 0x7fffffff) }

// TryLead makes this process the inbox's leader unless another process is,
// or this one leads MaxLeads inboxes already. It returns whether this
// process leads it, and the generation of the lead connection that holds
// the lead: the lead lasts while Generation returns the same, until
// Release.
func (l *Leads) TryLead(ctx context.Context, inboxID int64) (gen uint64, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.address == "" {
		return 0, false, nil
	}
	if l.conn == nil {
		if err := l.connect(ctx); err != nil {
			return 0, false, fmt.Errorf("lead inbox %d: %w", inboxID, err)
		}
	}
	gen = l.gen.Load()
	if l.held[inboxID] {
		return gen, true, nil
	}
	if len(l.held) >= MaxLeads {
		return gen, false, nil
	}
	qctx, cancel := detach(ctx)
	defer cancel()
	if err := l.conn.QueryRow(qctx, l.db.q.TryLead, l.classID, objectID(inboxID)).Scan(&ok); err != nil {
		l.failed(err)
		return 0, false, fmt.Errorf("lead inbox %d: %w", inboxID, err)
	}
	if ok {
		l.held[inboxID] = true
	}
	return gen, ok, nil
}

// Release gives up the lead of an inbox, for another process to take.
func (l *Leads) Release(ctx context.Context, inboxID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil || !l.held[inboxID] {
		return nil
	}
	delete(l.held, inboxID)
	qctx, cancel := detach(ctx)
	defer cancel()
	if _, err := l.conn.Exec(qctx, l.db.q.ReleaseLead, l.classID, objectID(inboxID)); err != nil {
		// Not knowing whether the lock went, let every lead go.
		l.drop()
		return fmt.Errorf("release inbox %d: %w", inboxID, err)
	}
	return nil
}

// Generation counts the lead connections this process has had; a lead
// taken under another generation is lost.
func (l *Leads) Generation() uint64 { return l.gen.Load() }

// Leader returns the address and token of the process that leads the inbox;
// found is false when none does.
func (l *Leads) Leader(ctx context.Context, inboxID int64) (address, token string, found bool, err error) {
	err = l.db.read.QueryRowContext(ctx, l.db.q.InboxLeader, l.classID, objectID(inboxID)).Scan(&address, &token)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", false, nil
	case err != nil:
		return "", "", false, fmt.Errorf("find the leader of inbox %d: %w", inboxID, err)
	}
	return address, token, true, nil
}

// Keep checks the lead connection every interval until ctx ends, and drops
// it (and so every lead) when it fails: the inboxes it led may have gone to
// other processes by then. The next TryLead connects again.
func (l *Leads) Keep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		if l.conn != nil {
			pctx, cancel := detach(ctx)
			if err := l.conn.Ping(pctx); err != nil {
				l.drop()
			}
			cancel()
		}
		l.mu.Unlock()
	}
}

// Close gives up every lead and says this process no longer listens; it
// leads none after.
func (l *Leads) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.address = ""
	if l.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), leadTimeout)
	defer cancel()
	_, err := l.conn.Exec(ctx, l.db.q.UnregisterProcess)
	err = errors.Join(err, l.conn.Close(ctx))
	l.conn, l.held = nil, nil
	l.gen.Add(1)
	return err
}
