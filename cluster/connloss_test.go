package cluster

// What becomes of a deployment whose PostgreSQL connections die under it:
// a database restart, a failover, a DBA's pg_terminate_backend. Each test
// names the connections of its processes (application_name) and cuts only
// those, from a connection of its own, so that tests running beside it on
// the same server are untouched. (storetest.Postgres gives a URL; its query
// takes application_name beside search_path, and pgx sends it for the pool,
// the listener and the lead connection alike: checkNamed checks that.)

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	mathrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// keptFor is the store's authCacheFor: how long a process may serve a user
// that authentication found without asking the database again.
const keptFor = 5 * time.Second

// recoverWithin bounds every wait for something to work again after a cut.
// The Router looks again for a leader it found after leaderTTL, and after
// none after noLeaderTTL; this is well beyond both.
const recoverWithin = 25 * time.Second

// cutter cuts the connections of one test's processes, and only theirs:
// each process opens all of its connections (its pool, its listener, its
// lead connection) with an application_name of its own, starting with the
// test's unique prefix. The cutter's own connection has none.
type cutter struct {
	db     *sql.DB
	prefix string
	names  map[*process]string
}

func newCutter(t *testing.T, dsn string) *cutter {
	t.Helper()
	db, err := sql.Open("pgx", dsn) // the test's schema, for route_processes
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return &cutter{db: db, prefix: "sbcut" + strings.ToLower(rand.Text()[:12]) + "_", names: map[*process]string{}}
}

// start starts a process on d whose connections are named after name. With
// keep > 0 its lead connection is checked every keep, as the server checks
// it (Leads.Keep), until the test ends.
func (c *cutter) start(t *testing.T, d *deployment, name string, keep time.Duration) *process {
	t.Helper()
	u, err := url.Parse(d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", c.prefix+name)
	u.RawQuery = q.Encode()
	p := newProcess(t, u.String(), "token-"+name, "token-"+name)
	c.names[p] = c.prefix + name
	if keep > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.leads.Keep(ctx, keep)
		}()
		t.Cleanup(func() { cancel(); <-done }) // registered after p's: runs before p.stop
	}
	return p
}

// conns are the backends of one process, by what they are for.
type conns struct {
	pool, listener, lead []int
}

// conns returns p's backends as pg_stat_activity shows them: the listener
// has run LISTEN, the lead connection is the one registered with p's
// address in route_processes, the others are the pool's.
func (c *cutter) conns(t *testing.T, p *process) conns {
	t.Helper()
	rows, err := c.db.Query(`SELECT a.pid, a.query LIKE 'LISTEN %',
			a.pid IN (SELECT backend_pid FROM route_processes WHERE address = $2)
		FROM pg_stat_activity a WHERE a.application_name = $1 ORDER BY a.pid`, c.names[p], p.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cs conns
	for rows.Next() {
		var pid int
		var listener, lead bool
		if err := rows.Scan(&pid, &listener, &lead); err != nil {
			t.Fatal(err)
		}
		switch {
		case listener:
			cs.listener = append(cs.listener, pid)
		case lead:
			cs.lead = append(cs.lead, pid)
		default:
			cs.pool = append(cs.pool, pid)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cs
}

// checkNamed checks that every kind of p's connections carries p's name:
// the cuts reach them all.
func (c *cutter) checkNamed(t *testing.T, p *process) {
	t.Helper()
	cs := c.conns(t, p)
	if len(cs.pool) == 0 || len(cs.listener) != 1 || len(cs.lead) != 1 {
		t.Fatalf("process %s: pool %v, listener %v, lead connection %v named %q; want at least one, one and one",
			p.srv.URL, cs.pool, cs.listener, cs.lead, c.names[p])
	}
}

// cutAll terminates every backend of the test's processes, and returns how
// many.
func (c *cutter) cutAll(ctx context.Context) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()`, c.prefix).Scan(&n)
	return n, err
}

// cut terminates one backend of the test's and waits until it is gone.
func (c *cutter) cut(t *testing.T, pid int) {
	t.Helper()
	var ok bool
	err := c.db.QueryRow(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE pid = $1 AND starts_with(application_name, $2)`, pid, c.prefix).Scan(&ok)
	if err != nil || !ok {
		t.Fatalf("terminate backend %d: %v, %v", pid, ok, err)
	}
	waitFor(t, fmt.Sprintf("backend %d ends", pid), func() bool {
		var alive bool
		if err := c.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		return !alive
	})
}

// connectionRetries counts the writes a store ran again because their
// connection was lost before the commit.
type connectionRetries struct{ n *atomic.Int64 }

func (o *connectionRetries) Assigned(string)      {}
func (o *connectionRetries) Picked(time.Duration) {}
func (o *connectionRetries) Batched(int)          {}
func (o *connectionRetries) DatabaseError()       {}
func (o *connectionRetries) Retried(reason string) {
	if reason == store.RetryConnection {
		o.n.Add(1)
	}
}

// ledger keeps every create's outcome: the conversations acknowledged, and
// the failures.
type ledger struct {
	mu     sync.Mutex
	acks   map[int64]switchboard.Conversation // by id
	twice  []int64                            // ids acknowledged more than once
	failed int
	errors map[string]int // a sample of the failures' messages
	seq    atomic.Int64   // numbers each create's message
}

func newLedger() *ledger {
	return &ledger{acks: map[int64]switchboard.Conversation{}, errors: map[string]int{}}
}

// create creates a conversation through p's router, as the API does, and
// notes what became of it.
func (l *ledger) create(p *process, caller switchboard.Caller, inbox int64) (switchboard.Conversation, error) {
	// Each create's message is its own: a create made twice shows as two
	// conversations with one message (checkMadeOnce).
	message := fmt.Sprintf("hello %d", l.seq.Add(1))
	conv, err := p.router.CreateConversation(context.Background(), caller, switchboard.NewConversation{InboxID: inbox, Message: message})
	if err == nil && (len(conv.Messages) != 1 || conv.Messages[0].Content != message) {
		err = fmt.Errorf("create answered with messages %v, want %q", conv.Messages, message)
	}
	l.note(conv, err)
	return conv, err
}

func (l *ledger) note(conv switchboard.Conversation, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed++
		if msg := err.Error(); len(l.errors) < 12 || l.errors[msg] > 0 {
			l.errors[msg]++
		}
		return
	}
	if _, dup := l.acks[conv.ID]; dup {
		l.twice = append(l.twice, conv.ID)
	}
	l.acks[conv.ID] = conv
}

// check checks that every acknowledged conversation is stored as it was
// answered, once, and returns the stored conversations by inbox.
func (l *ledger) check(t *testing.T, stored []switchboard.Conversation) map[int64][]switchboard.Conversation {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.twice) > 0 {
		t.Errorf("conversations answered to more than one create: %v", l.twice)
	}
	byID := map[int64]switchboard.Conversation{}
	byInbox := map[int64][]switchboard.Conversation{}
	for _, c := range stored {
		byID[c.ID] = c
		byInbox[c.InboxID] = append(byInbox[c.InboxID], c)
	}
	lost := 0
	for id, a := range l.acks {
		s, ok := byID[id]
		switch {
		case !ok:
			lost++
			if lost <= 10 {
				t.Errorf("conversation %d was acknowledged (inbox %d, assignee %v) and is not stored", id, a.InboxID, a.Assignee)
			}
		case a.Assignee == nil || s.Assignee == nil || a.Assignee.ID != s.Assignee.ID:
			t.Errorf("conversation %d answered with assignee %v, stored with %v", id, a.Assignee, s.Assignee)
		case a.InboxID != s.InboxID:
			t.Errorf("conversation %d answered in inbox %d, stored in %d", id, a.InboxID, s.InboxID)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged conversations are not stored", lost, len(l.acks))
	}
	return byInbox
}

// checkMadeOnce checks that no create was made twice: each create of the
// ledger has a message of its own ("hello N", ledger.create), so it is
// stored once at most. (Other creates say "hello".)
func (c *cutter) checkMadeOnce(t *testing.T) {
	t.Helper()
	rows, err := c.db.Query(`SELECT content, count(*) FROM messages WHERE content LIKE 'hello %'
		GROUP BY content HAVING count(*) > 1 LIMIT 10`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var content string
		var n int
		if err := rows.Scan(&content, &n); err != nil {
			t.Fatal(err)
		}
		t.Errorf("the create of %q was made %d times", content, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// waitToHear makes creates in from until changes, a subscriber's in
// another process, hears one of them.
func waitToHear(t *testing.T, d *deployment, from *process, changes <-chan switchboard.Change, l *ledger, what string) {
	t.Helper()
	deadline := time.Now().Add(recoverWithin)
	var last error
	for time.Now().Before(deadline) {
		conv, err := from.db.DB.CreateConversation(context.Background(), d.admin, switchboard.NewConversation{InboxID: d.inbox, Message: "hello"})
		if l != nil {
			l.note(conv, err)
		}
		if err != nil {
			last = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if storetest.HearsOf(changes, conv.ID, 300*time.Millisecond) {
			return
		}
	}
	t.Fatalf("%s: no create of the other process heard in %v (last error %v)", what, recoverWithin, last)
}

// Three processes create in two inboxes from many goroutines while every
// connection they have to PostgreSQL (pools, listeners, lead connections)
// is cut again and again. Creates may fail meanwhile; none that was
// acknowledged may be lost or answered twice, and after the cuts stop every
// process creates again, hears the others again, and each inbox is led
// again by one process that the others send their creates to.
func TestConnectionsCutUnderLoadLoseNothingAcknowledged(t *testing.T) {
	d := newDeployment(t, 4)
	c := newCutter(t, d.dsn)
	const keepEvery = 200 * time.Millisecond // the server's is 5 s
	ps := []*process{c.start(t, d, "a", keepEvery), c.start(t, d, "b", keepEvery), c.start(t, d, "c", keepEvery)}
	inboxes := []int64{d.inbox, d.newInbox(t, ps[0].db.DB)}
	agent := func(i int) switchboard.Caller {
		return switchboard.Caller{UserID: d.agents[i%len(d.agents)], AccountID: d.admin.AccountID, Role: switchboard.RoleAgent}
	}
	l := newLedger()
	for _, in := range inboxes {
		for _, p := range ps {
			if _, err := l.create(p, d.admin, in); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range ps {
		c.checkNamed(t, p)
	}
	// Writes that met a cut connection before their commit run again
	// (store.RetryConnection); those that met it at their commit fail.
	var reran atomic.Int64
	for _, p := range ps {
		p.db.Observer = &connectionRetries{n: &reran}
	}
	subs := make([]<-chan switchboard.Change, len(ps))
	for i, p := range ps {
		ch, cancel := p.db.Subscribe()
		defer cancel()
		subs[i] = ch
	}

	// The storm. An administrator's creates may be made together in one
	// statement, an agent's are made one by one: both kinds run.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Go(func() {
			p, inbox := ps[w%3], inboxes[w%2]
			caller := d.admin
			if (w/6)%2 == 1 {
				caller = agent(w)
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.create(p, caller, inbox); err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	var cuts []int
	for range 20 {
		time.Sleep(100*time.Millisecond + mathrand.N(150*time.Millisecond))
		n, err := c.cutAll(context.Background())
		if err != nil {
			t.Errorf("cut: %v", err)
		}
		cuts = append(cuts, n)
	}
	close(stop)
	calm := time.Now()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("creates still under way a minute after the cuts stopped: some hang")
	}
	l.mu.Lock()
	acked, failed := len(l.acks), l.failed
	l.mu.Unlock()
	t.Logf("storm: backends cut %v; %d creates acknowledged, %d failed, %d writes ran again", cuts, acked, failed, reran.Load())
	if cuts[0] < 3*len(ps) {
		t.Errorf("the first cut ended %d backends, want every pool, listener and lead connection of the %d processes", cuts[0], len(ps))
	}
	if failed == 0 && reran.Load() == 0 {
		t.Error("no create failed and no write ran again: the cuts did not reach the processes' connections")
	}

	// Every process creates again, in each inbox.
	for _, p := range ps {
		for _, in := range inboxes {
			deadline := time.Now().Add(recoverWithin)
			for {
				_, err := l.create(p, d.admin, in)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("process %s still fails to create in inbox %d %v after the cuts: %v", c.names[p], in, recoverWithin, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}

	// Every process hears the others' changes again: its listener is back.
	for i, ch := range subs {
		waitToHear(t, d, ps[(i+1)%len(ps)], ch, l, fmt.Sprintf("process %s after the cuts", c.names[ps[i]]))
		if listener := c.conns(t, ps[i]).listener; len(listener) != 1 {
			t.Errorf("process %s listens on %v after the cuts, want one connection", c.names[ps[i]], listener)
		}
	}

	// Each inbox is led again: one process holds its lead, makes its own
	// creates, and the others send theirs to it.
	for _, in := range inboxes {
		deadline, rounds := time.Now().Add(recoverWithin), 0
		for {
			leader, ok, why := leadRound(ps, d, l, in)
			rounds++
			if ok {
				t.Logf("inbox %d led again by %s %v after the cuts, at round %d", in, c.names[ps[leader]], time.Since(calm).Round(time.Millisecond), rounds)
				if lead := c.conns(t, ps[leader]).lead; len(lead) != 1 {
					t.Errorf("inbox %d is led by process %s on lead connections %v, want one of its own", in, c.names[ps[leader]], lead)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("inbox %d not led again %v after the cuts: %s", in, recoverWithin, why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// What was acknowledged is stored, as answered; the rules hold, and each
	// inbox's round robin was fair over all it stored, acknowledged or not.
	check, err := store.Open(context.Background(), d.dsn) // a process started after the storm
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	all := storetest.CheckInvariants(t, check, d.admin)
	byInbox := l.check(t, all)
	c.checkMadeOnce(t)
	for _, in := range inboxes {
		checkFair(t, byInbox[in], d.agents)
	}
	if len(byInbox) != len(inboxes) {
		t.Errorf("conversations stored in %d inboxes, want %d", len(byInbox), len(inboxes))
	}
	l.mu.Lock()
	t.Logf("%d conversations stored, %d acknowledged, %d creates failed; failures: %v", len(all), len(l.acks), l.failed, l.errors)
	l.mu.Unlock()
}

// leadRound makes a create in inbox from each process in turn, and reports
// whether the inbox is led: one process held its lead before and after
// (Leads.Leader, from the lock in the database), made every create of the
// round itself, and the others sent theirs to it; otherwise why not.
func leadRound(ps []*process, d *deployment, l *ledger, inbox int64) (leader int, ok bool, why string) {
	type counts struct {
		sent, here int
		made       int64
	}
	snapshot := func() []counts {
		cs := make([]counts, len(ps))
		for i, p := range ps {
			cs[i].sent, cs[i].here = p.router.Counts()
			cs[i].made = p.db.made.Load()
		}
		return cs
	}
	leading := func() (int, error) {
		address, _, found, err := ps[0].leads.Leader(context.Background(), inbox)
		if err != nil || !found {
			return -1, err
		}
		for i, p := range ps {
			if p.srv.URL == address {
				return i, nil
			}
		}
		return -1, fmt.Errorf("led by %s, not one of the processes", address)
	}
	before := snapshot()
	for _, p := range ps {
		if _, err := l.create(p, d.admin, inbox); err != nil {
			return -1, false, fmt.Sprintf("a create failed: %v", err)
		}
	}
	after := snapshot()
	first, err := leading()
	if err != nil || first < 0 {
		return -1, false, fmt.Sprintf("no process holds the lead (%v)", err)
	}
	var problems []string
	for i := range ps {
		sent, here, made := after[i].sent-before[i].sent, after[i].here-before[i].here, after[i].made-before[i].made
		want := counts{sent: 1}
		if i == first {
			want = counts{here: 1, made: int64(len(ps))}
		}
		if (counts{sent, here, made}) != want {
			problems = append(problems, fmt.Sprintf("process %d sent %d, made %d of its own and %d in all; want %d, %d, %d",
				i, sent, here, made, want.sent, want.here, want.made))
		}
	}
	if again, err := leading(); err != nil || again != first {
		problems = append(problems, fmt.Sprintf("the lead moved from process %d to %d during the round (%v)", first, again, err))
	}
	if len(problems) > 0 {
		return first, false, fmt.Sprintf("led by process %d: %s", first, strings.Join(problems, "; "))
	}
	return first, true, ""
}

// A process whose listener is cut listens again: its subscribers hear the
// changes another process commits after, every time.
func TestACutListenerHearsOtherProcessesAgain(t *testing.T) {
	d := newDeployment(t, 2)
	c := newCutter(t, d.dsn)
	a, b := c.start(t, d, "a", 0), c.start(t, d, "b", 0)
	changes, cancel := a.db.Subscribe()
	defer cancel()
	waitToHear(t, d, b, changes, nil, "before any cut")
	for round := 1; round <= 3; round++ {
		before := c.conns(t, a).listener
		if len(before) != 1 {
			t.Fatalf("a has listeners %v, want one", before)
		}
		c.cut(t, before[0])
		waitToHear(t, d, b, changes, nil, fmt.Sprintf("after cut %d of a's listener", round))
		if after := c.conns(t, a).listener; len(after) != 1 || after[0] == before[0] {
			t.Fatalf("after cut %d a listens on %v, want one new connection named %q (was %d)", round, after, c.names[a], before[0])
		}
	}
}

// A session that one process signs out is refused by another whose
// listener is cut, while it does not listen (it keeps no user then, not
// hearing of such writes), once it listens again (what it kept before is
// stale), and after it, as soon as it hears of the sign-out: not only once
// what it kept has expired.
func TestASessionSignedOutElsewhereIsRefusedAcrossACutListener(t *testing.T) {
	d := newDeployment(t, 1)
	c := newCutter(t, d.dsn)
	a, b := c.start(t, d, "a", 0), c.start(t, d, "b", 0)
	ctx := context.Background()
	sam, err := a.db.CreateAgent(ctx, d.admin, switchboard.NewAgent{Name: "Sam", Email: "sam@example.com", Password: "password123"})
	if err != nil {
		t.Fatal(err)
	}
	changes, cancel := a.db.Subscribe()
	defer cancel()
	// signIn signs Sam in at a and authenticates the session there, which
	// a keeps from then if it may.
	signIn := func() (string, time.Time) {
		t.Helper()
		_, session, err := a.db.SignIn(ctx, "sam@example.com", "password123")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		if u, err := a.db.UserBySession(ctx, session); err != nil || u.ID != sam.ID {
			t.Fatalf("the new session authenticated %d, %v; want %d", u.ID, err, sam.ID)
		}
		return session, at
	}
	refused := func(session string) bool {
		t.Helper()
		_, err := a.db.UserBySession(ctx, session)
		if err != nil && switchboard.ErrorCode(err) != switchboard.EUNAUTHORIZED {
			t.Fatalf("authenticate at a: %v", err)
		}
		return err != nil
	}

	var stale string
	var kept time.Time
	for attempt := 1; ; attempt++ {
		stale, kept = signIn()
		listener := c.conns(t, a).listener
		if len(listener) != 1 {
			t.Fatalf("a has listeners %v, want one", listener)
		}
		c.cut(t, listener[0])
		if err := b.db.SignOut(ctx, sam.ID, stale); err != nil {
			t.Fatal(err)
		}
		if !refused(stale) {
			t.Fatalf("a accepts a session that b signed out while a's listener was cut")
		}
		if len(c.conns(t, a).listener) == 0 {
			break // checked while a did not listen
		}
		if attempt == 3 {
			t.Fatal("a listened again before each check: the checks were never made while it did not")
		}
		waitToHear(t, d, b, changes, nil, "a listens again")
	}
	waitToHear(t, d, b, changes, nil, "a listens again")
	if !refused(stale) {
		t.Errorf("a accepts again, once it listens again, a session that b signed out while it did not")
	}
	if since := time.Since(kept); since >= keptFor {
		t.Logf("the check after listening again came %v after a kept the session, when it had expired anyway", since)
	}

	session, kept := signIn()
	if err := b.db.SignOut(ctx, sam.ID, session); err != nil {
		t.Fatal(err)
	}
	for !refused(session) {
		if since := time.Since(kept); since > 2*keptFor {
			t.Fatalf("a still accepts a session that b signed out, %v after it kept it", since)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if since := time.Since(kept); since >= keptFor {
		t.Errorf("a accepted a session that b signed out until %v after it kept it, when it expired: a did not hear the sign-out on its new listener", since)
	}
}

// leadAndCut has a lead d's inbox and cuts its one lead connection, and
// returns the generation of its leads before the cut and that connection.
func (c *cutter) leadAndCut(t *testing.T, d *deployment, a *process) (gen uint64, lead int) {
	t.Helper()
	d.create(t, a) // a leads
	gen = a.leads.Generation()
	conns := c.conns(t, a).lead
	if len(conns) != 1 {
		t.Fatalf("a's lead connections %v, want one", conns)
	}
	c.cut(t, conns[0])
	return gen, conns[0]
}

// A lead connection that is cut goes with the leads it held: the next
// TryLead, after the one that meets the cut, connects again, and the
// Router, seeing a new generation, finds the process that took the lead
// meanwhile and sends its creates there.
func TestACutLeadConnectionIsReplacedByTheNextLead(t *testing.T) {
	d := newDeployment(t, 2)
	c := newCutter(t, d.dsn)
	a, b := c.start(t, d, "a", 0), c.start(t, d, "b", 0)
	ctx := context.Background()
	gen, lead := c.leadAndCut(t, d, a)
	var ok bool
	var err error
	for try := range 2 {
		if _, ok, err = a.leads.TryLead(ctx, d.inbox+1000); err == nil {
			break
		}
		t.Logf("try %d to lead after the cut: %v", try+1, err)
	}
	if err != nil || !ok {
		t.Fatalf("a cannot lead again after its lead connection was cut: %v, %v", ok, err)
	}
	if a.leads.Generation() == gen {
		t.Errorf("generation still %d: the leads held on the cut connection still count", gen)
	}
	if now := c.conns(t, a).lead; len(now) != 1 || now[0] == lead {
		t.Errorf("a's lead connections %v after the cut, want one new one (was %d)", now, lead)
	}
	// The cut freed the inbox's lead: b takes it, and a follows.
	if _, ok, err := b.leads.TryLead(ctx, d.inbox); err != nil || !ok {
		t.Fatalf("b cannot take the lead that a's cut connection held: %v, %v", ok, err)
	}
	d.create(t, a)
	checkCounts(t, a, 1, 1, "after its lead went with its connection, a sends to b, which leads")
	if made := b.db.made.Load(); made != 1 {
		t.Errorf("b made %d creates, want 1", made)
	}
}

// Leads.Keep finds a lead connection cut while nothing uses it, and drops
// it with its leads: the process then leads only what it takes again, and
// sends its creates to the process that took its inbox.
func TestKeepDropsACutLeadConnectionAndTheLeadMoves(t *testing.T) {
	d := newDeployment(t, 2)
	c := newCutter(t, d.dsn)
	a, b := c.start(t, d, "a", 20*time.Millisecond), c.start(t, d, "b", 0)
	ctx := context.Background()
	gen, _ := c.leadAndCut(t, d, a)
	waitFor(t, "a's Keep drops its cut lead connection", func() bool { return a.leads.Generation() != gen })
	if _, ok, err := b.leads.TryLead(ctx, d.inbox); err != nil || !ok {
		t.Fatalf("b cannot take the lead that a's cut connection held: %v, %v", ok, err)
	}
	d.create(t, a)
	checkCounts(t, a, 1, 1, "after Keep dropped its cut lead, a sends to b, which leads")
	if made := b.db.made.Load(); made != 1 {
		t.Errorf("b made %d creates, want 1", made)
	}
}
