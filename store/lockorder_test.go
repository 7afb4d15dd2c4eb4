package store_test

// Interleavings on PostgreSQL that the inbox locks alone did not order: a
// change of a user's place in the account (a demotion, a removal, going
// offline) against an assignment to that user, or a new membership, in an
// inbox the change had not locked. Each test holds row locks from a
// connection of its own to stop the store's transactions at chosen points
// (it writes no data), then checks what ROUTING.md promises. Found by a
// review; each failed before the fix (AgentLocked, and going offline
// locking again after its update).

import (
	"context"
	"crypto/rand"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// lockDSN is a fresh PostgreSQL schema's DSN whose connections carry an
// application name of their own, so that lockWaiters counts this test's
// waits only (other tests share the server).
func lockDSN(t *testing.T) string {
	return storetest.Postgres(t)(t) + "&application_name=lockorder_" + strings.ToLower(rand.Text()[:10])
}

// lockWaiters returns how many lock requests of the connections of raw's
// DSN (lockDSN) wait.
func lockWaiters(t *testing.T, raw *sql.DB) int {
	t.Helper()
	var n int
	err := raw.QueryRow(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE NOT l.granted AND a.application_name = current_setting('application_name')`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitLockWaiters waits until n lock requests wait.
func waitLockWaiters(t *testing.T, raw *sql.DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if lockWaiters(t, raw) >= n {
			return
		}
	}
	t.Fatalf("fewer than %d lock requests wait", n)
}

// waitDoneOrWaiting waits until done has a result (returned, not consumed:
// it is put back) or n lock requests wait.
func waitDoneOrWaiting(t *testing.T, raw *sql.DB, done chan error, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			return
		default:
		}
		if lockWaiters(t, raw) >= n {
			return
		}
	}
	t.Fatal("neither done nor waiting")
}

// lockRow starts a transaction of raw that holds a row lock taken by query.
func lockRow(t *testing.T, raw *sql.DB, query string, args ...any) *sql.Tx {
	t.Helper()
	tx, err := raw.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx
}

func rawPostgres(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// onlineUser adds an online user with role to admin's account.
func onlineUser(t *testing.T, db *store.DB, admin switchboard.Caller, email string, role switchboard.Role) int64 {
	t.Helper()
	a, err := db.CreateAgent(context.Background(), admin, switchboard.NewAgent{Name: email, Email: email,
		Role: role, Availability: switchboard.Online})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// inboxOf makes an inbox with both routings on, limit (0: none) and members.
func inboxOf(t *testing.T, db *store.DB, admin switchboard.Caller, name string, limit int, members ...int64) int64 {
	t.Helper()
	ctx := context.Background()
	in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: name, EnableAutoAssignment: true, EnableAutoReassignment: true, MaxAssignmentLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if len(members) > 0 {
		if _, err := db.ChangeMembers(ctx, admin, in.ID, members, store.AddMembers); err != nil {
			t.Fatal(err)
		}
	}
	return in.ID
}

// TestLostAccessAgainstAssignmentInANewInbox: a demotion or a removal locks
// the inboxes the account has when it starts. A create in an inbox made
// after that, with the leaving administrator as its assignee, must come
// wholly before the change (which then moves the conversation) or after it
// (and be refused).
func TestLostAccessAgainstAssignmentInANewInbox(t *testing.T) {
	for _, how := range []string{"demote", "remove"} {
		t.Run(how, func(t *testing.T) {
			dsn := lockDSN(t)
			ctx := context.Background()
			db, admin := openWithAdministrator(t, dsn)
			x := onlineUser(t, db, admin, "x@example.com", switchboard.RoleAdministrator)
			old := inboxOf(t, db, admin, "Old", 0)
			raw := rawPostgres(t, dsn)
			// The change takes the account's inbox locks and waits on this one.
			r := lockRow(t, raw, `SELECT id FROM inboxes WHERE id = $1 FOR NO KEY UPDATE`, old)
			changed := make(chan error, 1)
			go func() {
				if how == "demote" {
					role := switchboard.RoleAgent
					_, err := db.UpdateAgent(ctx, admin, x, switchboard.AgentUpdate{Role: &role})
					changed <- err
				} else {
					changed <- db.RemoveAgent(ctx, admin, x)
				}
			}()
			waitLockWaiters(t, raw, 1)
			fresh := inboxOf(t, db, admin, "New", 0)
			// The create stops at its insert (the assignee's foreign key),
			// after its checks.
			r2 := lockRow(t, raw, `SELECT id FROM users WHERE id = $1 FOR UPDATE`, x)
			created := make(chan error, 1)
			go func() {
				_, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: fresh, AssigneeID: &x})
				created <- err
			}()
			waitLockWaiters(t, raw, 2)
			if err := r.Commit(); err != nil {
				t.Fatal(err)
			}
			// The change now runs to its end, or waits for the create.
			waitDoneOrWaiting(t, raw, changed, 2)
			if err := r2.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-changed; err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			if err := <-created; err != nil {
				t.Logf("create refused: %v", err)
			}
			storetest.CheckInvariants(t, db, admin)
		})
	}
}

// TestOfflineAgainstANewMembership: going offline locks the inboxes the
// user is a member of when it starts. Added to another inbox meanwhile and
// picked there by a create that read them online, the user must not be
// left holding that conversation while a colleague there is online.
func TestOfflineAgainstANewMembership(t *testing.T) {
	dsn := lockDSN(t)
	ctx := context.Background()
	db, admin := openWithAdministrator(t, dsn)
	agent := func(email string) int64 { return onlineUser(t, db, admin, email, switchboard.RoleAgent) }
	x, y := agent("x@example.com"), agent("y@example.com") // x < y: a fresh rotation picks x first
	inbox := func(name string, members ...int64) int64 { return inboxOf(t, db, admin, name, 0, members...) }
	hook, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "https://example.com/hook", Subscriptions: []string{"conversation_created"}})
	if err != nil {
		t.Fatal(err)
	}
	i1 := inbox("I1", x, y)
	k := inbox("K", y)
	raw := rawPostgres(t, dsn)
	r := lockRow(t, raw, `SELECT id FROM inboxes WHERE id = $1 FOR NO KEY UPDATE`, i1)
	offline := make(chan error, 1)
	go func() { offline <- db.SetAvailability(ctx, admin, x, switchboard.Offline) }()
	waitLockWaiters(t, raw, 1)
	if _, err := db.ChangeMembers(ctx, admin, k, []int64{x}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	// The create stops at its webhook delivery's insert (the webhook's
	// foreign key): after its pick and its event, before its commit.
	r2 := lockRow(t, raw, `SELECT id FROM webhooks WHERE id = $1 FOR UPDATE`, hook.ID)
	created := make(chan error, 1)
	var conv switchboard.Conversation
	go func() {
		var err error
		conv, err = db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: k})
		created <- err
	}()
	waitLockWaiters(t, raw, 2)
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	waitDoneOrWaiting(t, raw, offline, 2)
	if err := r2.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-offline; err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	got, err := db.Conversation(ctx, admin, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Assignee != nil && got.Assignee.ID == x {
		t.Errorf("conversation %d stays with %d, who is %s, while %d is online in its inbox", got.ID, x, got.Assignee.Availability, y)
	}
	storetest.CheckInvariants(t, db, admin)
}

// TestOfflineAgainstAnAssignmentByHand: a conversation given by hand to a
// user going offline must end as if the two happened one after the other:
// given before, it is reassigned with the rest; given after (once the
// change has committed), it stays theirs (README, "Going offline with many
// conversations"). The assignment here writes its event, then waits in its
// own transaction, while the user goes offline in steps of two.
func TestOfflineAgainstAnAssignmentByHand(t *testing.T) {
	dsn := lockDSN(t)
	ctx := context.Background()
	db, admin := openWithAdministrator(t, dsn)
	db.ReassignStep = 2
	agent := func(email string, role switchboard.Role) int64 { return onlineUser(t, db, admin, email, role) }
	x := agent("x@example.com", switchboard.RoleAdministrator)
	b := agent("b@example.com", switchboard.RoleAgent)
	z := agent("z@example.com", switchboard.RoleAgent)
	inbox := func(name string, limit int, members ...int64) int64 {
		return inboxOf(t, db, admin, name, limit, members...)
	}
	h := inbox("H", 0, x, b)
	j := inbox("J", 1, z) // x is not a member: going offline does not lock it
	l := inbox("L", 0, b)
	create := func(inbox int64, assignee *int64) switchboard.Conversation {
		c, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox, AssigneeID: assignee})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for range 5 {
		create(h, &x)
	}
	c1 := create(j, nil) // z's, who is then full
	q := create(j, nil)  // waits
	if q.Assignee != nil {
		t.Fatalf("q assigned to %d, want waiting", q.Assignee.ID)
	}
	raw := rawPostgres(t, dsn)
	// The assignment of c1 to x writes its event, then placing J's queue
	// (z has room again) stops at q's row.
	r := lockRow(t, raw, `SELECT id FROM conversations WHERE display_id = $1 AND inbox_id = $2 FOR UPDATE`, q.ID, j)
	assigned := make(chan error, 1)
	go func() {
		_, err := db.Assign(ctx, admin, c1.ID, &x)
		assigned <- err
	}()
	waitLockWaiters(t, raw, 1)
	create(l, &b) // an event committed with a higher id
	var release sync.Once
	let := func() error {
		var err error
		release.Do(func() {
			if err = r.Commit(); err == nil {
				err = <-assigned
				assigned <- err
			}
		})
		return err
	}
	// Asked at the first step after going offline's first transaction
	// committed: had the assignment committed by then?
	var assignedAfter bool
	askAssignedAfter := func() error {
		var n int
		err := raw.QueryRow(`SELECT count(*) FROM assignment_events e JOIN conversations c ON c.id = e.conversation_id
			WHERE c.display_id = $1 AND c.inbox_id = $2 AND e.reason = 'manual' AND e.to_assignee_id = $3`, c1.ID, j, x).Scan(&n)
		assignedAfter = n == 0
		return err
	}
	var asked sync.Once
	store.SetBetweenSteps(db, func(_, _ int64) error {
		var err error
		asked.Do(func() { err = askAssignedAfter() })
		if err != nil {
			return err
		}
		return let()
	})

	offline := make(chan error, 1)
	go func() { offline <- db.SetAvailability(ctx, admin, x, switchboard.Offline) }()
	// Going offline either reaches its steps (the hook lets the assignment
	// go) or waits for the assignment to commit.
	waitDoneOrWaiting(t, raw, offline, 2)
	if err := let(); err != nil {
		t.Fatal(err)
	}
	if err := <-offline; err != nil {
		t.Fatal(err)
	}
	if err := <-assigned; err != nil {
		t.Fatal(err)
	}
	got, err := db.Conversation(ctx, admin, c1.ID)
	if err != nil {
		t.Fatal(err)
	}
	stays := got.Assignee != nil && got.Assignee.ID == x
	if assignedAfter && !stays {
		t.Errorf("conversation %d, given to %d by hand after they went offline, was taken from them", c1.ID, x)
	}
	if !assignedAfter && stays {
		t.Errorf("conversation %d, given to %d before they went offline, stays with them", c1.ID, x)
	}
	storetest.CheckInvariants(t, db, admin)
}

// TestOfflineAgainstAMemberAddedMeanwhile: adding a user to an inbox while
// they go offline waits for that change, so a create in the inbox
// meanwhile cannot pick them there as online. Going offline is stopped at
// its webhook deliveries' insert (after its update and its moves), the
// create at its own.
func TestOfflineAgainstAMemberAddedMeanwhile(t *testing.T) {
	dsn := lockDSN(t)
	ctx := context.Background()
	db, admin := openWithAdministrator(t, dsn)
	agent := func(email string) int64 { return onlineUser(t, db, admin, email, switchboard.RoleAgent) }
	x, y := agent("x@example.com"), agent("y@example.com") // x < y: a fresh rotation picks x first
	inbox := func(name string, members ...int64) int64 { return inboxOf(t, db, admin, name, 0, members...) }
	i1, k := inbox("I1", x, y), inbox("K", y)
	if c, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: i1}); err != nil || c.Assignee == nil || c.Assignee.ID != x {
		t.Fatalf("setup: %+v %v", c.Assignee, err)
	}
	hook, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "https://example.com/hook"})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawPostgres(t, dsn)
	r := lockRow(t, raw, `SELECT id FROM webhooks WHERE id = $1 FOR UPDATE`, hook.ID)
	offline := make(chan error, 1)
	go func() { offline <- db.SetAvailability(ctx, admin, x, switchboard.Offline) }()
	waitLockWaiters(t, raw, 1)
	added := make(chan error, 1)
	go func() {
		_, err := db.ChangeMembers(ctx, admin, k, []int64{x}, store.AddMembers)
		added <- err
	}()
	waitDoneOrWaiting(t, raw, added, 2)
	created := make(chan error, 1)
	var conv switchboard.Conversation
	go func() {
		var err error
		conv, err = db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: k})
		created <- err
	}()
	waiting := 3 // going offline, the addition (waiting for it) and the create
	select {
	case err := <-added:
		added <- err
		waiting = 2 // the addition did not wait
	default:
	}
	waitLockWaiters(t, raw, waiting)
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, done := range []chan error{offline, added, created} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Conversation(ctx, admin, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Assignee == nil || got.Assignee.ID != y {
		t.Errorf("conversation %d with %v, want %d: %d was going offline when added to its inbox", got.ID, got.Assignee, y, x)
	}
	storetest.CheckInvariants(t, db, admin)
}

// failures counts the database failures a store reports (its Observer):
// a deadlock is one, though inTx then runs the transaction again; and the
// transactions it started again because of the lock order.
type failures struct{ n, lockOrder atomic.Int64 }

func (o *failures) Assigned(string)      {}
func (o *failures) Picked(time.Duration) {}
func (o *failures) Batched(int)          {}
func (o *failures) DatabaseError()       { o.n.Add(1) }
func (o *failures) Retried(reason string) {
	if reason == store.RetryLockOrder {
		o.lockOrder.Add(1)
	}
}

// TestOfflineAgainstAJoinAndAnotherOffline: going offline locks the user's
// inboxes, updates their row, then looks again for an inbox they joined
// meanwhile. Such an inbox, of a lower id, was locked then, out of order: a
// colleague going offline who held it and waited for the user's other
// inbox closed a circle, which PostgreSQL broke after its deadlock_timeout
// (a second) by failing one of them. Now the first starts again and takes
// it in order: no deadlock, and both go offline.
func TestOfflineAgainstAJoinAndAnotherOffline(t *testing.T) {
	dsn := lockDSN(t)
	ctx := context.Background()
	db, admin := openWithAdministrator(t, dsn)
	failed := &failures{}
	db.Observer = failed
	x := onlineUser(t, db, admin, "x@example.com", switchboard.RoleAgent)
	y := onlineUser(t, db, admin, "y@example.com", switchboard.RoleAgent)
	a := inboxOf(t, db, admin, "A", 0, y) // the lower id
	inboxOf(t, db, admin, "B", 0, x, y)
	caller := func(id int64) switchboard.Caller {
		return switchboard.Caller{UserID: id, AccountID: admin.AccountID, Role: switchboard.RoleAgent}
	}
	offline := func(id int64, done chan<- error) {
		done <- db.SetAvailability(ctx, caller(id), id, switchboard.Offline)
	}
	raw := rawPostgres(t, dsn)
	// x's update of their row waits for this, once x holds B.
	r := lockRow(t, raw, `SELECT user_id FROM account_users WHERE user_id = $1 FOR SHARE`, x)
	xDone := make(chan error, 1)
	go offline(x, xDone)
	waitLockWaiters(t, raw, 1)
	// x joins A: the addition's share lock of their row passes.
	if _, err := db.ChangeMembers(ctx, admin, a, []int64{x}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	// y going offline takes A, then waits for B.
	yDone := make(chan error, 1)
	go offline(y, yDone)
	waitLockWaiters(t, raw, 2)
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	for who, done := range map[string]chan error{"x": xDone, "y": yDone} {
		if err := <-done; err != nil {
			t.Errorf("%s going offline: %v", who, err)
		}
	}
	if n := failed.n.Load(); n > 0 {
		t.Errorf("%d database failures (a deadlock between the two), want none", n)
	}
	if failed.lockOrder.Load() == 0 {
		t.Error("no transaction started again for the inbox x joined: the crossing did not happen")
	}
	for _, id := range []int64{x, y} {
		ag, err := db.Agent(ctx, admin, id)
		if err != nil || ag.Availability != switchboard.Offline {
			t.Errorf("user %d: %v, %v; want offline", id, ag.Availability, err)
		}
	}
	storetest.CheckInvariants(t, db, admin)
}

// TestOnlineAgainstAJoinMeanwhile: x comes online while an administrator
// adds x to inbox Z, whose queue holds a conversation (Z had no members).
// The addition places Z's queue while x is still offline (nothing to
// place); x's coming online must then place it. (Found by a review of the
// lock-order change, which had dropped the look again after the update.)
func TestOnlineAgainstAJoinMeanwhile(t *testing.T) {
	dsn := lockDSN(t)
	ctx := context.Background()
	db, admin := openWithAdministrator(t, dsn)
	ag, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "x", Email: "x@example.com", Role: switchboard.RoleAgent, Availability: switchboard.Offline})
	if err != nil {
		t.Fatal(err)
	}
	x := ag.ID
	inboxOf(t, db, admin, "A", 0, x)
	z := inboxOf(t, db, admin, "Z", 0)
	conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: z})
	if err != nil {
		t.Fatal(err)
	}
	if conv.Assignee != nil || conv.WaitingSince == nil {
		t.Fatalf("setup: conversation %+v, want waiting unassigned", conv)
	}
	raw := rawPostgres(t, dsn)
	r := lockRow(t, raw, `SELECT user_id FROM account_users WHERE user_id = $1 FOR SHARE`, x)
	done := make(chan error, 1)
	go func() {
		done <- db.SetAvailability(ctx, switchboard.Caller{UserID: x, AccountID: admin.AccountID, Role: switchboard.RoleAgent}, x, switchboard.Online)
	}()
	waitLockWaiters(t, raw, 1) // x holds A's lock, waits to update their row
	if _, err := db.ChangeMembers(ctx, admin, z, []int64{x}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := db.Conversation(ctx, admin, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Assignee == nil || got.Assignee.ID != x {
		t.Errorf("conversation in Z: assignee %v, waiting %v; want x (%d), online member of Z", got.Assignee, got.WaitingSince, x)
	}
}

// TestSweepAgainstAnExplicitBusy: the presence sweep finds a user away and
// sets them offline; the user choosing Busy at that moment must come
// wholly before the sweep (which then leaves them alone) or after it (and
// stay Busy), never be overwritten by it.
func TestSweepAgainstAnExplicitBusy(t *testing.T) {
	dsn := lockDSN(t)
	ctx := context.Background()
	db, admin := openWithAdministrator(t, dsn)
	clock := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return clock }
	ag, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "x", Email: "x@example.com",
		Role: switchboard.RoleAgent, Availability: switchboard.Online, AutoOffline: true})
	if err != nil {
		t.Fatal(err)
	}
	x := switchboard.Caller{UserID: ag.ID, AccountID: admin.AccountID, Role: switchboard.RoleAgent}
	inboxOf(t, db, admin, "A", 0, x.UserID)
	conn, err := db.ConsoleConnected(ctx, x.AccountID, x.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ConsoleDisconnected(ctx, conn); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Minute)
	raw := rawPostgres(t, dsn)
	busy := make(chan error, 1)
	store.SetSweeping(db, func(int64, int64) {
		// The sweep has found x away: x chooses Busy now.
		go func() { busy <- db.SetAvailability(ctx, x, x.UserID, switchboard.Busy) }()
		waitDoneOrWaiting(t, raw, busy, 1)
	})
	if _, err := db.SweepPresence(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	store.SetSweeping(db, nil)
	if err := <-busy; err != nil {
		t.Fatalf("choosing Busy: %v", err)
	}
	got, err := db.Agent(ctx, admin, x.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Availability != switchboard.Busy {
		t.Errorf("x is %s after choosing Busy while the sweep ran, want busy", got.Availability)
	}
}

// TestOnlineAgainstAutoAssignmentSwitchedOn: x comes online while an
// administrator switches on the auto-assignment of inbox Z, where x is a
// member and a conversation waits. The switch places Z's queue, and
// coming online places the queues of x's inboxes that auto-assign: one of
// the two must see the other, so that the conversation goes to x. (Found
// by a review: coming online locked only the inboxes that auto-assigned
// when it started.)
func TestOnlineAgainstAutoAssignmentSwitchedOn(t *testing.T) {
	dsn := lockDSN(t)
	ctx := context.Background()
	db, admin := openWithAdministrator(t, dsn)
	clock := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return clock }
	ag, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "x", Email: "x@example.com", Role: switchboard.RoleAgent, Availability: switchboard.Offline})
	if err != nil {
		t.Fatal(err)
	}
	x := ag.ID
	inboxOf(t, db, admin, "A", 0, x)
	in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Z", EnableAutoAssignment: false, EnableAutoReassignment: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangeMembers(ctx, admin, in.ID, []int64{x}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	if conv.Assignee != nil {
		t.Fatalf("setup: %+v", conv)
	}
	// A stale console connection of x: coming online deletes it
	// (forgetPresence), after its look again; this holds it there.
	if _, err := db.ConsoleConnected(ctx, admin.AccountID, x); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Minute)
	raw := rawPostgres(t, dsn)
	r := lockRow(t, raw, `SELECT id FROM console_connections WHERE user_id = $1 FOR UPDATE`, x)
	done := make(chan error, 1)
	go func() {
		done <- db.SetAvailability(ctx, switchboard.Caller{UserID: x, AccountID: admin.AccountID, Role: switchboard.RoleAgent}, x, switchboard.Online)
	}()
	waitLockWaiters(t, raw, 1)
	// Z's auto-assignment switched on now: it ends, or waits for x's change.
	on := true
	switched := make(chan error, 1)
	go func() {
		_, err := db.UpdateInbox(ctx, admin, in.ID, switchboard.InboxUpdate{EnableAutoAssignment: &on})
		switched <- err
	}()
	waitDoneOrWaiting(t, raw, switched, 2)
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	for what, ch := range map[string]chan error{"coming online": done, "switching auto-assignment on": switched} {
		if err := <-ch; err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	got, err := db.Conversation(ctx, admin, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Assignee == nil || got.Assignee.ID != x {
		t.Errorf("conversation in Z: assignee %v, waiting %v; want x (%d), the online member of Z with auto-assignment on", got.Assignee, got.WaitingSince, x)
	}
}
