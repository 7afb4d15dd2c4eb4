package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// retries counts the transactions a store ran again, by reason.
type retries struct {
	mu sync.Mutex
	by map[string]int
}

func (o *retries) Assigned(string)      {}
func (o *retries) Picked(time.Duration) {}
func (o *retries) Batched(int)          {}
func (o *retries) DatabaseError()       {}
func (o *retries) Retried(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.by[reason]++
}

func (o *retries) of(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.by[reason]
}

// cutter ends the PostgreSQL sessions of the stores it opened, and only
// theirs: each store's connections carry an application_name of its own.
type cutter struct {
	t      *testing.T
	dsn    string
	killer *sql.DB // no application_name: never cut
}

func newCutter(t *testing.T) *cutter {
	t.Helper()
	dsn := storetest.Postgres(t)(t)
	killer, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killer.Close() })
	return &cutter{t: t, dsn: dsn, killer: killer}
}

// open opens a store on the cutter's schema, its sessions named name.
func (c *cutter) open(name string) *store.DB {
	c.t.Helper()
	db, err := store.Open(context.Background(), storetest.Named(c.t, c.dsn, name))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

// openNamed opens a store on the cutter's schema whose sessions have a
// name of their own, and returns it with the name.
func (c *cutter) openNamed() (*store.DB, string) {
	c.t.Helper()
	name := "sbstorecut" + strings.ToLower(rand.Text()[:12])
	return c.open(name), name
}

// cut ends every session named name and waits until they are gone (the
// store's listener may connect again meanwhile, as it should).
func (c *cutter) cut(name string) {
	c.t.Helper()
	storetest.EndSessions(c.t, c.killer, name)
}

// TestWritesAndTheirNewsOutliveCutConnections: after PostgreSQL ends a
// store's sessions (a restart, a failover, pg_terminate_backend), each
// pooled connection fails at its next use. A write that meets one before
// its commit was undone by the server, and runs again on a new connection:
// the caller sees it succeed, not an error. Its notification, which meets
// one too, goes again the same way: another process still hears of it.
// (A connection idle for a second is pinged before use, so each round's
// writes come at once after its cut.)
func TestWritesAndTheirNewsOutliveCutConnections(t *testing.T) {
	ctx := context.Background()
	c := newCutter(t)
	db, cut := c.openNamed()
	other, _ := c.openNamed()
	observer := &retries{by: map[string]int{}}
	db.Observer = observer
	heard, stop := other.Subscribe()
	defer stop()

	admin, agent, inbox := newDeskOn(t, db)
	const rounds = 8
	for i := range rounds {
		// Two kinds of write: one of its own (an inbox), and a create,
		// which the inbox's batch makes.
		c.cut(cut)
		in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: fmt.Sprintf("Inbox %d", i)})
		if err != nil {
			t.Fatalf("round %d: creating an inbox after the cut: %v", i, err)
		}
		c.cut(cut)
		conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
		if err != nil {
			t.Fatalf("round %d: creating a conversation after the cut: %v", i, err)
		}
		if conv.Assignee == nil || conv.Assignee.ID != agent {
			t.Errorf("round %d: conversation %d assigned to %v, want Ann", i, conv.ID, conv.Assignee)
		}
		if got, err := other.Inbox(ctx, admin, in.ID); err != nil || got.Name != in.Name {
			t.Errorf("round %d: inbox %d reads %+v (%v)", i, in.ID, got, err)
		}
		if !storetest.HearsOf(heard, conv.ID, 10*time.Second) {
			t.Fatalf("round %d: the other process never heard of conversation %d", i, conv.ID)
		}
	}
	if all := storetest.CheckInvariants(t, db, admin); len(all) != rounds {
		t.Errorf("%d conversations stored, want %d", len(all), rounds)
	}
	if observer.of(store.RetryConnection) == 0 {
		t.Errorf("no write ran again for a lost connection: the cuts missed the pool")
	}
}

// newDeskOn makes, in db, an account whose administrator creates
// conversations in an inbox with one online agent, and returns the
// administrator, the agent and the inbox.
func newDeskOn(t *testing.T, db *store.DB) (admin switchboard.Caller, agent, inbox int64) {
	t.Helper()
	ctx := context.Background()
	a, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	admin = switchboard.Caller{UserID: u.ID, AccountID: a.ID, Role: switchboard.RoleAdministrator}
	ag, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Ann", Email: "ann@example.com", Role: switchboard.RoleAgent, Availability: switchboard.Online})
	if err != nil {
		t.Fatal(err)
	}
	in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Support", EnableAutoAssignment: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangeMembers(ctx, admin, in.ID, []int64{ag.ID}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	return admin, ag.ID, in.ID
}

// TestCreatesMadeTogetherOnACutConnectionAreMadeOnce: a store with one
// pooled connection makes an administrator's create in one statement sent
// with its lock and commit (together.go), its statements prepared on that
// connection. PostgreSQL ends the session; the next create, sent on it,
// meets the end in answer to its first statement, before the commit: it
// was not made, and is made on a new connection, once.
func TestCreatesMadeTogetherOnACutConnectionAreMadeOnce(t *testing.T) {
	ctx := context.Background()
	c := newCutter(t)
	db, name := c.openNamed()
	store.SetPoolSize(db, 1)
	admin, agent, inbox := newDeskOn(t, db)
	// The notifier shares the connection: it waits while the create after
	// the cut meets it, and each round waits for the notifier to have sent
	// all, which another store hears.
	hold := holdNotifier(t, db)
	other, _ := c.openNamed()
	heard, stop := other.Subscribe()
	defer stop()
	const rounds = 5
	for i := range rounds {
		var release func(func())
		for _, when := range []string{"before", "after"} {
			if when == "before" {
				release = hold()
			}
			conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
			if err != nil {
				t.Fatalf("round %d: the create %s the cut: %v", i, when, err)
			}
			if conv.Assignee == nil || conv.Assignee.ID != agent {
				t.Errorf("round %d: conversation %d assigned to %v, want the agent", i, conv.ID, conv.Assignee)
			}
			if when == "before" {
				c.cut(name)
			} else {
				release(nil)
				if !storetest.HearsOf(heard, conv.ID, 10*time.Second) {
					t.Fatalf("round %d: the other store never heard of conversation %d", i, conv.ID)
				}
			}
		}
	}
	if all := storetest.CheckInvariants(t, db, admin); len(all) != 2*rounds {
		t.Errorf("%d conversations stored, want %d", len(all), 2*rounds)
	}
	// The creates before the cuts, and none after: each met the cut
	// connection, and was made one by one then.
	if made := store.MadeTogether(db); made != rounds {
		t.Errorf("%d creates made together, want %d", made, rounds)
	}
}

// holdNotifier returns hold: hold arms db's notifier to wait, at the next
// changes it is to send, until the release that hold returns is called.
// release waits for the notifier to be there, runs meanwhile (if any),
// then lets it send. The test's end lets it go in any case.
func holdNotifier(t *testing.T, db *store.DB) (hold func() (release func(meanwhile func()))) {
	t.Helper()
	var armed atomic.Bool
	held := make(chan chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(done) }) // before db closes: registered after it opened
	store.SetBeforeNotify(db, func() {
		if !armed.Load() {
			return
		}
		release := make(chan struct{})
		select {
		case held <- release:
		case <-done:
			return
		}
		select {
		case <-release:
		case <-done:
		}
	})
	return func() func(func()) {
		armed.Store(true)
		return func(meanwhile func()) {
			var release chan struct{}
			select {
			case release = <-held:
			case <-time.After(10 * time.Second):
				t.Fatal("the notifier never came to send")
			}
			armed.Store(false)
			if meanwhile != nil {
				meanwhile()
			}
			close(release)
		}
	}
}

// TestNewsOfAWriteOutlivesACutConnection: a store with one pooled
// connection commits a create and, a moment later, tells the other
// processes of it (NOTIFY, gathered for notifyWindow). PostgreSQL ends
// the session in between (the notifier is held for it): the notification,
// sent on the ended session, goes again on a new one, and another process
// hears of the create.
func TestNewsOfAWriteOutlivesACutConnection(t *testing.T) {
	ctx := context.Background()
	c := newCutter(t)
	db, name := c.openNamed()
	other, _ := c.openNamed()
	store.SetPoolSize(db, 1)
	heard, stop := other.Subscribe()
	defer stop()
	admin, _, inbox := newDeskOn(t, db)
	// The notifier waits, before it sends, for the test to have cut the
	// connection it will send on.
	hold := holdNotifier(t, db)
	for i := range 5 {
		release := hold()
		conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		release(func() { c.cut(name) })
		if !storetest.HearsOf(heard, conv.ID, 10*time.Second) {
			t.Fatalf("round %d: the other process never heard of conversation %d", i, conv.ID)
		}
	}
}

// TestReadsOnACutConnectionRunAgain: a store with one pooled connection
// reads on it; PostgreSQL ends the session; the next read, sent on it,
// fails and runs again on a new connection: the caller sees the answer.
// One read of each way the store reads: a query, a query for one row, a
// read-only transaction.
func TestReadsOnACutConnectionRunAgain(t *testing.T) {
	ctx := context.Background()
	c := newCutter(t)
	db, name := c.openNamed()
	store.SetPoolSize(db, 1)
	admin, _, inbox := newDeskOn(t, db)
	conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
	if err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name string
		read func() error
	}{
		{"Query", func() error {
			inboxes, err := db.Inboxes(ctx, admin)
			if err == nil && (len(inboxes) != 1 || inboxes[0].ID != inbox) {
				err = fmt.Errorf("inboxes %+v, want inbox %d", inboxes, inbox)
			}
			return err
		}},
		{"QueryRow", func() error {
			n, err := db.CountAccounts(ctx)
			if err == nil && n != 1 {
				err = fmt.Errorf("%d accounts, want 1", n)
			}
			return err
		}},
		{"ReadOnlyTransaction", func() error {
			got, err := db.Conversation(ctx, admin, conv.ID)
			if err == nil && got.ID != conv.ID {
				err = fmt.Errorf("conversation %d, want %d", got.ID, conv.ID)
			}
			return err
		}},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			for i := range 3 {
				if err := r.read(); err != nil { // on the connection to cut
					t.Fatalf("round %d, before the cut: %v", i, err)
				}
				c.cut(name)
				if err := r.read(); err != nil {
					t.Fatalf("round %d, after the cut: %v", i, err)
				}
			}
		})
	}
}

// TestAStatementOnACutConnectionRunsAgain: PostgreSQL ends a write's
// session after its BEGIN, before one of its statements: the statement
// fails, the server undid the transaction, and the write runs again, once,
// on a new connection.
func TestAStatementOnACutConnectionRunsAgain(t *testing.T) {
	ctx := context.Background()
	c := newCutter(t)
	db, name := c.openNamed()
	store.SetPoolSize(db, 1)
	observer := &retries{by: map[string]int{}}
	db.Observer = observer
	runs, err := store.WriteAfter(ctx, db, func(attempt int) {
		if attempt == 1 {
			c.cut(name) // the transaction's own session, begun
		}
	}, "CREATE TABLE cut_write_done (id int)")
	if err != nil || runs != 2 {
		t.Fatalf("the write ran %d times and ended with %v; want twice, then done", runs, err)
	}
	if n := observer.of(store.RetryConnection); n != 1 {
		t.Errorf("%d writes ran again for a lost connection, want 1", n)
	}
	if _, err := c.killer.Exec("SELECT count(*) FROM cut_write_done"); err != nil {
		t.Errorf("the write's table: %v", err)
	}
}

// TestABatchWhoseCommitAnswerIsLostIsNotRunAgain: the writes of an inbox's
// batch share one transaction. When its commit fails, or its answer is
// lost, it may have happened: each write is answered with the error, and
// none runs again (a create run again would be made twice).
func TestABatchWhoseCommitAnswerIsLostIsNotRunAgain(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.Postgres(t)(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lose atomic.Bool
	store.SetAfterCommit(db, func() error {
		if lose.CompareAndSwap(true, false) {
			return errors.New("the commit's answer was lost")
		}
		return nil
	})
	const inbox = 1 // the writes below touch no row of it
	type write struct {
		runs    atomic.Int32
		running chan struct{}
		release chan struct{}
		err     chan error
	}
	start := func() *write {
		w := &write{running: make(chan struct{}, 2), release: make(chan struct{}), err: make(chan error, 1)}
		go func() {
			w.err <- store.InboxBatch(ctx, db, inbox, func(int64) {
				w.runs.Add(1)
				w.running <- struct{}{}
				<-w.release
			})
		}()
		return w
	}
	// a runs; b waits, and joins a's batch when a is done.
	a := start()
	<-a.running
	b := start()
	for try := 0; store.InboxWaiting(db, inbox) != 1; try++ {
		if try == 1000 {
			t.Fatal("b never waited behind a")
		}
		time.Sleep(5 * time.Millisecond)
	}
	lose.Store(true)
	close(a.release)
	<-b.running
	close(b.release)
	for name, w := range map[string]*write{"a": a, "b": b} {
		if err := <-w.err; err == nil || !strings.Contains(err.Error(), "answer was lost") {
			t.Errorf("write %s ended with %v, want the lost commit's error", name, err)
		}
		if n := w.runs.Load(); n != 1 {
			t.Errorf("write %s ran %d times, want once", name, n)
		}
	}
}

// TestAfterEverySessionEndsAWriteMeetsOneEndedConnection: PostgreSQL ends
// every session of a store whose pool holds many connections, all used
// just before (a restart under load). A write meets one ended connection
// at most: the first that fails tells the store that the others, idle in
// the pool, were ended too, and they are dropped, not tried in turn.
func TestAfterEverySessionEndsAWriteMeetsOneEndedConnection(t *testing.T) {
	ctx := context.Background()
	c := newCutter(t)
	db, name := c.openNamed()
	observer := &retries{by: map[string]int{}}
	// Sixteen writes at once, twice: the pool opens sixteen connections,
	// then uses each again (a connection is checked before its first
	// reuse, and before one after a second idle: not these).
	const conns = 16
	for range 2 {
		var open sync.WaitGroup
		open.Add(conns)
		var writes sync.WaitGroup
		for range conns {
			writes.Go(func() {
				store.WriteAfter(ctx, db, func(attempt int) {
					if attempt == 1 {
						open.Done()
						open.Wait()
					}
				}, "SELECT 1")
			})
		}
		writes.Wait()
	}
	db.Observer = observer
	c.cut(name)
	runs, err := store.WriteAfter(ctx, db, func(int) {}, "SELECT 1")
	if err != nil || runs > 2 {
		t.Errorf("the write ran %d times and ended with %v; want at most twice, then done", runs, err)
	}
	if n := observer.of(store.RetryConnection); n != 1 {
		t.Errorf("%d writes ran again for a lost connection, want 1: the write met no ended connection", n)
	}
}
