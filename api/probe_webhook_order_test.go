package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/api"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
	"github.com/switchboard/switchboard/webhook"
)

// orderSeed drives the receiver's refusals and the changes the workers
// make; the goroutines still interleave as they will, so a failure is
// not replayed exactly, but the mix of refusals and changes is the same.
const orderSeed = 20260515

// TestProbeWebhookOrder hammers the webhook outbox with README's two
// promises in view: nothing acknowledged is lost (every delivery the
// outbox holds reaches the receiver at least once), and the deliveries
// of one conversation are posted in the order of its events, each after
// the one before was accepted, while a receiver refuses a quarter of
// them (503, or a dropped connection) and several senders run at once:
// three on SQLite's one handle, one on each of three handles on one
// PostgreSQL schema, which stand for three processes (each also serving
// a share of the changes).
//
// What it asserts does not depend on how the goroutines interleave; it
// waits for the outbox to empty, bounded, and asserts nothing of time.
func TestProbeWebhookOrder(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)(t)
			path := ""
			if b.Name == "SQLite" {
				path = strings.TrimPrefix(dsn, "sqlite:")
			}
			s := newServerOn(t, dsn, path)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("seed %d", orderSeed)
				}
			})
			dbs, urls := []*store.DB{s.db}, []string{s.srv.URL}
			if b.Name == "Postgres" {
				for range 2 {
					db, url := openProcess(t, dsn)
					dbs, urls = append(dbs, db), append(urls, url)
				}
			}
			outbox := openOutbox(t, b.Name, dsn, path)
			probeWebhookOrder(t, s, dbs, urls, outbox)
		})
	}
}

// openProcess opens another handle on the database and serves the API
// on it: another process of the deployment.
func openProcess(t *testing.T, dsn string) (*store.DB, string) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewServer(api.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), api.Config{PlatformToken: platformToken}))
	t.Cleanup(srv.Close)
	return db, srv.URL
}

// openOutbox opens a read-only connection to the database, to read the
// outbox, which the store shows to no one but its senders.
func openOutbox(t *testing.T, backend, dsn, path string) *sql.DB {
	t.Helper()
	driver, name := "pgx", dsn
	if backend == "SQLite" {
		driver, name = "sqlite", "file:"+path+"?_pragma=query_only(1)"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// probeWebhookOrder runs the test on a server whose database dbs are
// handles on (one per process, the server's first), with the API served
// at urls, one per handle; outbox reads the database.
func probeWebhookOrder(t *testing.T, s *testServer, dbs []*store.DB, urls []string, outbox *sql.DB) {
	const (
		workers         = 8
		changesAWorker  = 20
		sendersOnSQLite = 3
		waitAtMost      = 60 * time.Second
	)
	r := newChaosReceiver(t)
	hook := s.subscribe(&receiver{srv: r.srv})
	var agents []int64
	for range 4 {
		agents = append(agents, s.newAgent("agent", "online").id)
	}
	members := make([]client, 0, len(agents))
	for _, id := range agents {
		members = append(members, client{s: s, id: id})
	}
	inboxes := []int64{s.newInbox(nil, members...), s.newInbox(nil, members...)}
	agents = append(agents, s.admin.id)

	// The senders run from before the first change to after the last
	// delivery, so claims meet the changes' commits and the retries.
	ctx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	defer func() { stop(); running.Wait() }()
	senders := dbs
	if len(dbs) == 1 {
		senders = slices.Repeat(dbs, sendersOnSQLite)
	}
	for _, db := range senders {
		w := webhook.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		w.Every, w.MaxAttempts = 5*time.Millisecond, 1000
		w.Backoff = func(n int) time.Duration { return time.Duration(min(n, 20)) * time.Millisecond }
		w.Client = &http.Client{Timeout: 10 * time.Second}
		running.Go(func() { w.Run(ctx) })
	}

	began := time.Now()
	load := &orderLoad{token: s.admin.token, urls: urls, inboxes: inboxes, agents: agents}
	var workersDone sync.WaitGroup
	for i := range workers {
		workersDone.Go(func() { load.work(i, changesAWorker) })
	}
	workersDone.Wait()
	loaded := time.Since(began)
	for _, p := range load.problems {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Wait until the outbox has sent every delivery. It records one as
	// sent once the receiver answered 2xx, and the receiver numbers an
	// acceptance before it answers: what the receiver lacks then is lost.
	var rows []outboxRow
	for deadline := time.Now().Add(waitAtMost); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if rows, err = readOutbox(outbox, hook); err != nil {
			t.Fatal(err)
		}
		if given := slices.IndexFunc(rows, func(o outboxRow) bool { return !o.pending && !o.delivered }); given >= 0 {
			t.Fatalf("delivery %d was given up after %d attempts: %s", rows[given].id, rows[given].attempts, rows[given].lastError)
		}
		pending := 0
		for _, o := range rows {
			if o.pending {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of %d deliveries are still to send", waitAtMost, pending, len(rows))
		}
	}
	stop()
	running.Wait()
	r.srv.Close() // nothing is posted after this point
	posts, refused, dropped := r.counts()
	t.Logf("%d changes by %d workers in %v; %d deliveries of %d conversations sent by %d senders in %v: %d posts, %d answered 503, %d dropped",
		load.changes(), workers, loaded.Round(time.Millisecond), len(rows), len(load.convs), len(senders),
		time.Since(began).Round(time.Millisecond), posts, refused, dropped)

	r.check(t, rows)
	checkAcknowledged(t, s, load, rows)
	if refused == 0 || dropped == 0 {
		t.Errorf("the receiver answered 503 %d times and dropped %d connections: the retries were not tested", refused, dropped)
	}
	storetest.CheckInvariants(t, s.db, switchboard.Caller{UserID: s.admin.id, AccountID: 1, Role: switchboard.RoleAdministrator})
}

// orderLoad is the changes the workers make through the API: creates,
// status changes and assignments, most of them on the conversations
// made last, so that several workers change one conversation at once.
type orderLoad struct {
	token   string
	urls    []string // a worker calls the process urls[worker % len]
	inboxes []int64
	agents  []int64

	mu       sync.Mutex
	convs    []int64  // acknowledged creates, in order
	made     int      // acknowledged changes
	problems []string // what went wrong in a worker
}

func (l *orderLoad) work(worker, changes int) {
	rng := rand.New(rand.NewPCG(orderSeed, uint64(worker)+1))
	url := l.urls[worker%len(l.urls)]
	for range changes {
		l.mu.Lock()
		n := len(l.convs)
		var conv int64
		if n > 0 {
			conv = l.convs[n-1-rng.IntN(min(n, 10))]
		}
		l.mu.Unlock()
		var (
			path string
			body map[string]any
		)
		switch p := rng.IntN(100); {
		case conv == 0 || p < 30:
			path, body = "/conversations", map[string]any{"inbox_id": l.inboxes[rng.IntN(len(l.inboxes))]}
		case p < 65:
			path, body = fmt.Sprintf("/conversations/%d/toggle_status", conv), map[string]any{"status": []string{"resolved", "open"}[rng.IntN(2)]}
		case p < 90:
			path, body = fmt.Sprintf("/conversations/%d/assignments", conv), map[string]any{"assignee_id": l.agents[rng.IntN(len(l.agents))]}
		default:
			path, body = fmt.Sprintf("/conversations/%d/assignments", conv), map[string]any{"assignee_id": nil}
		}
		var reply struct {
			ID int64 `json:"id"`
		}
		if err := l.post(url, path, body, &reply); err != nil {
			l.mu.Lock()
			l.problems = append(l.problems, err.Error())
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		l.made++
		if path == "/conversations" {
			l.convs = append(l.convs, reply.ID)
		}
		l.mu.Unlock()
	}
}

func (l *orderLoad) changes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.made
}

// post sends a change as the administrator and decodes the reply, which
// must be 200.
func (l *orderLoad) post(url, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", url+acct("%s", path), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header["api_access_token"] = []string{l.token}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s %s: status %d, body %s", path, data, resp.StatusCode, reply)
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("POST %s: %v in %s", path, err, reply)
	}
	return nil
}

// outboxRow is a delivery as the outbox holds it.
type outboxRow struct {
	id                   int64
	conversation         int64 // the conversation's id in the database, not in the API
	event                string
	pending, delivered   bool
	attempts             int
	lastError            string
	convID               int64  // the payload's conversation id, as the API shows it
	status               string // the payload's conversation status
	assignee             *int64 // and assignee
	changeFrom, changeTo *int64 // an assignee_changed's change
}

// readOutbox returns the deliveries of a webhook, in id order.
func readOutbox(db *sql.DB, hook int64) ([]outboxRow, error) {
	// The id is an integer: no quoting to get wrong, and one text for
	// both databases' placeholders.
	rows, err := db.Query(fmt.Sprintf(`SELECT id, conversation_id, event, payload, next_attempt_at IS NOT NULL, delivered_at IS NOT NULL, attempts, last_error
		FROM webhook_outbox WHERE webhook_id = %d ORDER BY id`, hook))
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var o outboxRow
		var conv sql.NullInt64
		var payload string
		if err := rows.Scan(&o.id, &conv, &o.event, &payload, &o.pending, &o.delivered, &o.attempts, &o.lastError); err != nil {
			return nil, fmt.Errorf("read the outbox: %w", err)
		}
		var p delivery // the payload's fields that webhooks_test reads
		if err := json.Unmarshal([]byte(payload), &p); err != nil {
			return nil, fmt.Errorf("delivery %d: %v in %s", o.id, err, payload)
		}
		o.conversation, o.convID, o.status, o.assignee = conv.Int64, p.Conversation.ID, p.Conversation.Status, p.Conversation.AssigneeID
		if p.Change != nil {
			o.changeFrom, o.changeTo = p.Change.From, p.Change.To
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// chaosReceiver refuses a quarter of the posts, half of those with 503
// and half by dropping the connection, and otherwise accepts. It numbers
// what it sees, so that the test can tell what came before what: each
// post's arrival, and each acceptance, which it numbers before it
// answers (the sender cannot know of it earlier).
type chaosReceiver struct {
	srv *httptest.Server

	mu                      sync.Mutex
	rng                     *rand.Rand
	seq                     int
	inFlight                map[int64]bool
	firstPost, firstAccept  map[int64]int // by delivery id: the seq
	posts, refused, dropped int
	problems                []string
}

func newChaosReceiver(t *testing.T) *chaosReceiver {
	r := &chaosReceiver{
		rng:      rand.New(rand.NewPCG(orderSeed, 0)),
		inFlight: map[int64]bool{}, firstPost: map[int64]int{}, firstAccept: map[int64]int{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *chaosReceiver) serve(w http.ResponseWriter, req *http.Request) {
	io.Copy(io.Discard, req.Body)
	id, err := strconv.ParseInt(req.Header.Get("X-Switchboard-Delivery"), 10, 64)
	r.mu.Lock()
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("a post without a delivery id: %q", req.Header.Get("X-Switchboard-Delivery")))
		r.mu.Unlock()
		http.Error(w, "no id", http.StatusBadRequest)
		return
	}
	r.seq++
	r.posts++
	if r.inFlight[id] {
		r.problems = append(r.problems, fmt.Sprintf("delivery %d posted while another post of it was under way", id))
	}
	r.inFlight[id] = true
	if _, ok := r.firstPost[id]; !ok {
		r.firstPost[id] = r.seq
	}
	fate := r.rng.IntN(100)
	// A while in flight, for the posts of another sender or lane to
	// overlap with.
	wait := time.Duration(r.rng.IntN(2000)) * time.Microsecond
	r.mu.Unlock()

	time.Sleep(wait)

	// The post leaves the in-flight set, and an acceptance is numbered,
	// before the sender can hear the answer.
	r.mu.Lock()
	delete(r.inFlight, id)
	r.seq++
	switch {
	case fate < 12:
		r.refused++
	case fate < 25:
		r.dropped++
	default:
		if _, ok := r.firstAccept[id]; !ok {
			r.firstAccept[id] = r.seq
		}
	}
	r.mu.Unlock()

	switch {
	case fate < 12:
		http.Error(w, "not now", http.StatusServiceUnavailable)
	case fate < 25:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			r.mu.Lock()
			r.problems = append(r.problems, fmt.Sprintf("hijack: %v", err))
			r.mu.Unlock()
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		conn.Close()
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// check fails the test for each delivery of rows never accepted, each
// posted before the delivery of its conversation before it was accepted,
// each post not of rows, and each post the receiver found wrong; ten of
// each at most, and how many there were.
func (r *chaosReceiver) check(t *testing.T, rows []outboxRow) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var lost, early, strange []string
	ids := map[int64]bool{}
	last := map[int64]outboxRow{} // by conversation: its delivery before
	for _, o := range rows {
		ids[o.id] = true
		prev, ok := last[o.conversation]
		last[o.conversation] = o
		if _, heard := r.firstAccept[o.id]; !heard {
			lost = append(lost, fmt.Sprintf("delivery %d (%s of conversation %d) was never accepted", o.id, o.event, o.convID))
			continue
		}
		if accepted, heard := r.firstAccept[prev.id]; ok && heard && r.firstPost[o.id] < accepted {
			early = append(early, fmt.Sprintf("conversation %d: delivery %d (%s) was posted (#%d) before delivery %d (%s) was accepted (#%d)",
				o.convID, o.id, o.event, r.firstPost[o.id], prev.id, prev.event, accepted))
		}
	}
	for id := range r.firstPost {
		if !ids[id] {
			strange = append(strange, fmt.Sprintf("delivery %d was posted but is not in the outbox", id))
		}
	}
	for _, list := range [][]string{lost, early, strange, r.problems} {
		for _, p := range list[:min(len(list), 10)] {
			t.Error(p)
		}
		if len(list) > 10 {
			t.Errorf("... %d like it in all", len(list))
		}
	}
}

// counts returns how many posts the receiver heard, and how many of them
// it answered 503 and dropped.
func (r *chaosReceiver) counts() (posts, refused, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts, r.refused, r.dropped
}

// checkAcknowledged fails the test unless the outbox holds what the
// acknowledged changes made: a conversation_created for each create, an
// assignee_changed chain from no one to the assignee, and, last, the
// conversation as it is now. Delivery ids follow the events of a
// conversation, which the ordering check takes for granted.
func checkAcknowledged(t *testing.T, s *testServer, load *orderLoad, rows []outboxRow) {
	t.Helper()
	byConv := map[int64][]outboxRow{} // by the API's id
	dbID := map[int64]int64{}
	for _, o := range rows {
		if prev, ok := dbID[o.convID]; ok && prev != o.conversation {
			t.Errorf("delivery %d: conversation %d is %d in the outbox, %d in an earlier delivery", o.id, o.convID, o.conversation, prev)
		}
		dbID[o.convID] = o.conversation
		byConv[o.convID] = append(byConv[o.convID], o)
	}
	if len(byConv) != len(load.convs) {
		t.Errorf("the outbox has deliveries of %d conversations, %d were created", len(byConv), len(load.convs))
	}
	for _, id := range load.convs {
		events := byConv[id]
		if len(events) == 0 || events[0].event != "conversation_created" {
			t.Errorf("conversation %d: the first delivery is not its conversation_created: %v", id, eventNames(events))
			continue
		}
		var holder *int64
		for _, o := range events[1:] {
			switch o.event {
			case "conversation_created":
				t.Errorf("conversation %d: created twice (delivery %d)", id, o.id)
			case "assignee_changed":
				if !sameID(o.changeFrom, holder) {
					t.Errorf("conversation %d: delivery %d changes the assignee from %s, but it was %s: %v", id, o.id, showID(o.changeFrom), showID(holder), eventNames(events))
				}
				holder = o.changeTo
			}
		}
		now := s.admin.conversation(id)
		final := events[len(events)-1]
		if final.status != now.Status || !sameID(final.assignee, nilIfZero(now.assignee())) || !sameID(holder, final.assignee) {
			t.Errorf("conversation %d is %s with assignee %d; its last delivery %d shows %s with %s, its changes end at %s",
				id, now.Status, now.assignee(), final.id, final.status, showID(final.assignee), showID(holder))
		}
	}
}

func eventNames(rows []outboxRow) []string {
	var out []string
	for _, o := range rows {
		out = append(out, fmt.Sprintf("%d:%s", o.id, o.event))
	}
	return out
}

func sameID(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func showID(id *int64) string {
	if id == nil {
		return "no one"
	}
	return strconv.FormatInt(*id, 10)
}

func nilIfZero(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
