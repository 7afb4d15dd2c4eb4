package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// counted is a process's store, counting the creates made in it.
type counted struct {
	*store.DB
	made atomic.Int64
}

func (c *counted) CreateConversation(ctx context.Context, caller switchboard.Caller, n switchboard.NewConversation) (switchboard.Conversation, error) {
	c.made.Add(1)
	return c.DB.CreateConversation(ctx, caller, n)
}

// process is one server process: its own store on the shared database, its
// leads, its router, and the endpoint where the others reach it.
type process struct {
	once   sync.Once
	db     *counted
	leads  *store.Leads
	router *Router
	srv    *httptest.Server
}

// newProcess starts a process on dsn whose leads say token; it takes
// creates with takes (the same, unless a test makes them differ).
func newProcess(t *testing.T, dsn, token, takes string) *process {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{db: &counted{DB: db}}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	if p.leads, err = db.OpenLeads(ctx, p.srv.URL, token); err != nil {
		t.Fatal(err)
	}
	p.router = New(p.db, p.leads, takes, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux.Handle(Path, p.router.Handler())
	t.Cleanup(func() { p.stop() })
	return p
}

// stop stops the process as a process that ends does: its endpoint, its
// leads and its connections go.
func (p *process) stop() {
	p.once.Do(func() {
		p.srv.Close()
		p.leads.Close()
		p.db.Close()
	})
}

// deployment is an account with online agents in one inbox, on a fresh
// PostgreSQL schema.
type deployment struct {
	dsn    string
	admin  switchboard.Caller
	agents []int64
	inbox  int64
}

func newDeployment(t *testing.T, agents int) *deployment {
	t.Helper()
	d := &deployment{dsn: storetest.Postgres(t)(t)}
	ctx := context.Background()
	db, err := store.Open(ctx, d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	d.admin = switchboard.Caller{UserID: u.ID, AccountID: a.ID, Role: switchboard.RoleAdministrator}
	for i := range agents {
		ag, err := db.CreateAgent(ctx, d.admin, switchboard.NewAgent{Name: "Agent", Email: fmt.Sprintf("agent%d@example.com", i),
			Role: switchboard.RoleAgent, Availability: switchboard.Online})
		if err != nil {
			t.Fatal(err)
		}
		d.agents = append(d.agents, ag.ID)
	}
	d.inbox = d.newInbox(t, db)
	return d
}

// twoProcesses starts two processes on d, a and b, each taking creates
// with its own token.
func (d *deployment) twoProcesses(t *testing.T) (a, b *process) {
	t.Helper()
	return newProcess(t, d.dsn, "token-a", "token-a"), newProcess(t, d.dsn, "token-b", "token-b")
}

// postToEndpoint sends body to p's endpoint for other processes with
// token, and returns the answer.
func postToEndpoint(t *testing.T, p *process, method, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, p.srv.URL+Path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// checkNoneStored checks that p's view of the database holds no
// conversation.
func (d *deployment) checkNoneStored(t *testing.T, p *process) {
	t.Helper()
	if n := len(storetest.AllConversations(t, p.db.DB, d.admin)); n != 0 {
		t.Errorf("%d conversations stored, want none", n)
	}
}

func (d *deployment) newInbox(t *testing.T, db *store.DB) int64 {
	t.Helper()
	ctx := context.Background()
	in, err := db.CreateInbox(ctx, d.admin, switchboard.NewInbox{Name: "Support", EnableAutoAssignment: true, EnableAutoReassignment: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangeMembers(ctx, d.admin, in.ID, d.agents, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	return in.ID
}

func (d *deployment) create(t *testing.T, p *process) switchboard.Conversation {
	t.Helper()
	conv, err := p.router.CreateConversation(context.Background(), d.admin, switchboard.NewConversation{InboxID: d.inbox, Message: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	return conv
}

// checkStored checks ROUTING.md's invariants in p's view of the database,
// that want conversations are stored, and that the round robin was fair.
func (d *deployment) checkStored(t *testing.T, p *process, want int) {
	t.Helper()
	all := storetest.CheckInvariants(t, p.db.DB, d.admin)
	if len(all) != want {
		t.Errorf("%d conversations stored, want %d", len(all), want)
	}
	checkFair(t, all, d.agents)
}

// checkCounts checks how many creates p's router sent to a leader and how
// many it made itself.
func checkCounts(t *testing.T, p *process, sent, here int, why string) {
	t.Helper()
	if s, h := p.router.Counts(); s != sent || h != here {
		t.Errorf("%d creates sent to a leader and %d made here, want %d and %d: %s", s, h, sent, here, why)
	}
}

// checkFair checks ROUTING.md's round robin over conversations: with the
// same online members throughout, each has been picked as often as any
// other, give or take one.
func checkFair(t *testing.T, conversations []switchboard.Conversation, agents []int64) {
	t.Helper()
	per := map[int64]int{}
	for _, a := range agents {
		per[a] = 0
	}
	for _, c := range conversations {
		if c.Assignee == nil {
			t.Fatalf("conversation %d has no assignee", c.ID)
		}
		per[c.Assignee.ID]++
	}
	low, high := len(conversations), 0
	for _, n := range per {
		low, high = min(low, n), max(high, n)
	}
	if high-low > 1 {
		t.Errorf("picks per agent %v: not fair to ±1", per)
	}
}

func TestCreatesAreMadeByTheInboxLeader(t *testing.T) {
	d := newDeployment(t, 3)
	a, b := d.twoProcesses(t)
	first := d.create(t, a) // a sees the inbox first, and leads it
	var wg sync.WaitGroup
	got := make([]switchboard.Conversation, 20)
	for i := range got {
		wg.Go(func() { got[i] = d.create(t, b) })
	}
	wg.Wait()
	if made := a.db.made.Load(); made != 21 {
		t.Errorf("the leader made %d creates, want all 21", made)
	}
	if made := b.db.made.Load(); made != 0 {
		t.Errorf("the other process made %d creates itself, want 0", made)
	}
	checkCounts(t, b, 20, 0, "every create sent to the leader")
	// What b answered is what was stored.
	stored := map[int64]switchboard.Conversation{}
	for _, c := range storetest.CheckInvariants(t, b.db.DB, d.admin) {
		stored[c.ID] = c
	}
	for _, c := range got {
		s, ok := stored[c.ID]
		switch {
		case !ok:
			t.Errorf("conversation %d answered but not stored", c.ID)
		case c.Assignee == nil || s.Assignee == nil || c.Assignee.ID != s.Assignee.ID:
			t.Errorf("conversation %d answered with assignee %v, stored with %v", c.ID, c.Assignee, s.Assignee)
		case len(c.Messages) != 1 || c.Messages[0].Content != "hello" || c.InboxID != d.inbox:
			t.Errorf("conversation %d answered as %+v", c.ID, c)
		}
	}
	checkFair(t, append(got, first), d.agents)
}

func TestTheLeadersRefusalIsTheAnswer(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	outsider := switchboard.Caller{UserID: d.agents[0], AccountID: d.admin.AccountID, Role: switchboard.RoleAgent}
	// An agent of the account who is not a member of the inbox.
	ctx := context.Background()
	ag, err := b.db.CreateAgent(ctx, d.admin, switchboard.NewAgent{Name: "Otto", Email: "otto@example.com", Role: switchboard.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	outsider.UserID = ag.ID
	stranger := ag.ID
	tests := []struct {
		name   string
		caller switchboard.Caller
		n      switchboard.NewConversation
		code   switchboard.Code
		field  string
	}{
		{"inbox not visible", outsider, switchboard.NewConversation{InboxID: d.inbox}, switchboard.ENOTFOUND, ""},
		{"assignee not a member", d.admin, switchboard.NewConversation{InboxID: d.inbox, AssigneeID: &stranger}, switchboard.EINVALID, "assignee_id"},
		{"source id too long", d.admin, switchboard.NewConversation{InboxID: d.inbox, SourceID: strings.Repeat("x", switchboard.MaxSourceIDLength+1)}, switchboard.EINVALID, "source_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.router.CreateConversation(ctx, tt.caller, tt.n)
			e, ok := err.(*switchboard.Error)
			if !ok || e.Code != tt.code || tt.field != "" && (len(e.Fields) != 1 || e.Fields[0] != tt.field) {
				t.Fatalf("error %#v, want code %s naming %q", err, tt.code, tt.field)
			}
		})
	}
	checkCounts(t, b, len(tests), 0, "refusals are the leader's answers")
	if n := len(storetest.AllConversations(t, b.db.DB, d.admin)); n != 1 {
		t.Errorf("%d conversations stored, want only the first", n)
	}
}

func TestAnotherProcessLeadsWhenTheLeaderIsGone(t *testing.T) {
	d := newDeployment(t, 3)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	d.create(t, b) // sent to a; b now knows a as the leader
	a.stop()
	d.create(t, b) // a is not there: made in b, which looks again
	d.create(t, b) // no one leads: b takes the lead
	c := newProcess(t, d.dsn, "token-c", "token-c")
	d.create(t, c) // sent to b
	if made := b.db.made.Load(); made != 3 {
		t.Errorf("b made %d creates, want 3", made)
	}
	checkCounts(t, c, 1, 0, "c sends to b, the new leader")
	d.checkStored(t, b, 5)
}

func TestARefusedSendIsMadeHereOnce(t *testing.T) {
	d := newDeployment(t, 2)
	// a's leads tell the others one token and it takes another, as a
	// process restarted on the same address would look to those that knew
	// it before.
	a := newProcess(t, d.dsn, "token-told", "token-taken")
	b := newProcess(t, d.dsn, "token-b", "token-b")
	d.create(t, a)
	d.create(t, b)
	checkCounts(t, b, 0, 1, "the refused request is made here")
	if n := len(storetest.AllConversations(t, b.db.DB, d.admin)); n != 2 {
		t.Errorf("%d conversations stored, want 2", n)
	}
}

func TestTheEndpointTakesOnlyTheProcessToken(t *testing.T) {
	d := newDeployment(t, 1)
	a := newProcess(t, d.dsn, "token-a", "token-a")
	body := fmt.Sprintf(`[{"Caller":{"UserID":%d,"AccountID":%d,"Role":"administrator"},"Conversation":{"InboxID":%d}}]`,
		d.admin.UserID, d.admin.AccountID, d.inbox)
	for _, token := range []string{"", "token-b", "token-a2", "TOKEN-A"} {
		resp := postToEndpoint(t, a, http.MethodPost, token, body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", token, resp.StatusCode)
		}
	}
	d.checkNoneStored(t, a)
}

func TestIdleLeadsGoToWhoNeedsThem(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	now := time.Now()
	a.router.Now = func() time.Time { return now }
	d.create(t, a)
	ctx := context.Background()
	a.router.releaseIdle(ctx) // used just now: kept
	if _, ok, err := b.leads.TryLead(ctx, d.inbox); err != nil || ok {
		t.Fatalf("b took the lead of a's busy inbox (%v, %v)", ok, err)
	}
	now = now.Add(idleLead)
	a.router.releaseIdle(ctx)
	if _, ok, err := b.leads.TryLead(ctx, d.inbox); err != nil || !ok {
		t.Fatalf("b could not take the lead a left (%v, %v)", ok, err)
	}
	d.create(t, a) // a finds b
	if sent, _ := a.router.Counts(); sent != 1 {
		t.Errorf("a sent %d creates to b, want 1", sent)
	}
}

func TestLeadsAreBounded(t *testing.T) {
	d := newDeployment(t, 0)
	a := newProcess(t, d.dsn, "token-a", "token-a")
	ctx := context.Background()
	for id := int64(1); id <= store.MaxLeads; id++ {
		if _, ok, err := a.leads.TryLead(ctx, 1000+id); err != nil || !ok {
			t.Fatalf("lead %d: %v, %v", id, ok, err)
		}
	}
	if _, ok, err := a.leads.TryLead(ctx, 5000); err != nil || ok {
		t.Fatalf("lead beyond MaxLeads taken (%v, %v)", ok, err)
	}
	if err := a.leads.Release(ctx, 1001); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.leads.TryLead(ctx, 5000); err != nil || !ok {
		t.Fatalf("lead after a release refused (%v, %v)", ok, err)
	}
}

// Three processes create in two inboxes from many goroutines at once, each
// process's first create of an inbox racing the others' for its lead: every
// create is acknowledged once and stored once, and each inbox's round robin
// stays fair.
func TestThreeProcessesHammered(t *testing.T) {
	d := newDeployment(t, 4)
	ps := []*process{
		newProcess(t, d.dsn, "token-a", "token-a"),
		newProcess(t, d.dsn, "token-b", "token-b"),
		newProcess(t, d.dsn, "token-c", "token-c"),
	}
	inboxes := []int64{d.inbox, d.newInbox(t, ps[0].db.DB)}
	const perWorker = 15
	var wg sync.WaitGroup
	var ids sync.Map
	for w := range 24 {
		wg.Go(func() {
			p, inbox := ps[w%3], inboxes[w%2]
			for range perWorker {
				conv, err := p.router.CreateConversation(context.Background(), d.admin, switchboard.NewConversation{InboxID: inbox})
				if err != nil {
					t.Error(err)
					return
				}
				if _, dup := ids.LoadOrStore(conv.ID, true); dup {
					t.Errorf("conversation %d answered twice", conv.ID)
				}
			}
		})
	}
	wg.Wait()
	all := storetest.CheckInvariants(t, ps[0].db.DB, d.admin)
	if len(all) != 24*perWorker {
		t.Fatalf("%d conversations stored, want %d", len(all), 24*perWorker)
	}
	byInbox := map[int64][]switchboard.Conversation{}
	for _, c := range all {
		byInbox[c.InboxID] = append(byInbox[c.InboxID], c)
	}
	for _, in := range inboxes {
		checkFair(t, byInbox[in], d.agents)
	}
	var sent int
	for _, p := range ps {
		s, _ := p.router.Counts()
		sent += s
	}
	if sent == 0 {
		t.Error("no create was sent to a leader")
	}
}

func TestAKeyedCreateIsMadeOnce(t *testing.T) {
	d := newDeployment(t, 3)
	a := newProcess(t, d.dsn, "token-a", "token-a")
	ctx := context.Background()
	n := switchboard.NewConversation{InboxID: d.inbox, Message: "hello", Key: "key-1"}
	first, err := a.db.CreateConversation(ctx, d.admin, n)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.db.CreateConversation(ctx, d.admin, n)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Assignee == nil || again.Assignee.ID != first.Assignee.ID {
		t.Errorf("the keyed create made again answered %d (assignee %v), want %d (assignee %d)", again.ID, again.Assignee, first.ID, first.Assignee.ID)
	}
	next := d.create(t, a) // the rotation moved once, for the first
	all := storetest.CheckInvariants(t, a.db.DB, d.admin)
	if len(all) != 2 {
		t.Fatalf("%d conversations stored, want 2", len(all))
	}
	checkFair(t, all, d.agents)
	if next.Assignee.ID == first.Assignee.ID {
		t.Errorf("the create after got the same assignee %d: the rotation did not move, or moved twice round", next.Assignee.ID)
	}
}

// A leader that makes a create and dies before it answers: the sender looks
// for the create's key and finds the leader's conversation, so the create
// is answered, as the leader would have, and stored once.
func TestALeaderThatDiesBeforeAnsweringIsNotAnsweredTwice(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	made := a.router.Handler()
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		made.ServeHTTP(httptest.NewRecorder(), req) // made, answer lost
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	})
	conv := d.create(t, b)
	checkCounts(t, b, 1, 0, "the unanswered create is found made by a")
	all := storetest.CheckInvariants(t, b.db.DB, d.admin)
	if len(all) != 2 {
		t.Fatalf("%d conversations stored, want 2", len(all))
	}
	if a.db.made.Load() != 2 || b.db.made.Load() != 0 {
		t.Errorf("a made %d and b %d, want 2 and 0", a.db.made.Load(), b.db.made.Load())
	}
	if len(conv.Messages) != 1 || conv.Messages[0].Content != "hello" {
		t.Errorf("b answered conversation %d with messages %v, want the stored \"hello\"", conv.ID, conv.Messages)
	}
	var stored bool
	for _, c := range all {
		stored = stored || c.ID == conv.ID && c.Assignee != nil && conv.Assignee != nil && c.Assignee.ID == conv.Assignee.ID
	}
	if !stored {
		t.Errorf("b answered conversation %d (%v), which is not the one stored", conv.ID, conv.Assignee)
	}
	checkFair(t, all, d.agents)
}

// waitFor waits until cond holds, and fails the test if it never does.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// heldLeader makes a's endpoint hold every request until release is
// closed, counting the requests and the creates they carry.
type heldLeader struct {
	release           chan struct{}
	requests, creates atomic.Int64
}

func holdLeader(a *process) *heldLeader {
	h := &heldLeader{release: make(chan struct{})}
	inner := a.router.Handler()
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		h.creates.Add(int64(strings.Count(string(body), `"Caller"`)))
		h.requests.Add(1)
		<-h.release
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		inner.ServeHTTP(w, req)
	})
	return h
}

func (r *Router) waitingFor(address string) int {
	r.mu.Lock()
	o := r.outboxes[address]
	r.mu.Unlock()
	if o == nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.waiting)
}

func TestCreatesWaitingForALeaderGoInOneRequest(t *testing.T) {
	d := newDeployment(t, 3)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	h := holdLeader(a)
	var wg sync.WaitGroup
	for range maxSending {
		wg.Go(func() { d.create(t, b) })
	}
	waitFor(t, "the first requests reach the leader", func() bool { return h.requests.Load() == maxSending })
	for range 5 {
		wg.Go(func() { d.create(t, b) })
	}
	waitFor(t, "five creates wait", func() bool { return b.router.waitingFor(a.srv.URL) == 5 })
	close(h.release)
	wg.Wait()
	if r, c := h.requests.Load(), h.creates.Load(); r != maxSending+1 || c != maxSending+5 {
		t.Errorf("the leader got %d requests carrying %d creates, want %d carrying %d", r, c, maxSending+1, maxSending+5)
	}
	d.checkStored(t, a, 1+maxSending+5)
}

func TestACreateWhoseCallerLeavesBeforeItIsSentIsNotMade(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	h := holdLeader(a)
	var wg sync.WaitGroup
	for range maxSending {
		wg.Go(func() { d.create(t, b) })
	}
	waitFor(t, "the first requests reach the leader", func() bool { return h.requests.Load() == maxSending })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.router.CreateConversation(ctx, d.admin, switchboard.NewConversation{InboxID: d.inbox})
		errc <- err
	}()
	waitFor(t, "the third create waits", func() bool { return b.router.waitingFor(a.srv.URL) == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Error("the create whose caller left was answered as made")
	}
	close(h.release)
	wg.Wait()
	if n := len(storetest.AllConversations(t, a.db.DB, d.admin)); n != 1+maxSending {
		t.Errorf("%d conversations stored, want %d: the one whose caller left was made", n, 1+maxSending)
	}
}

func TestAfterALeaderFailsItsWaitingCreatesAreMadeHere(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	var requests atomic.Int64
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1) // taken, and dropped unanswered
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	now := time.Now()
	b.router.Now = func() time.Time { return now }
	d.create(t, b)
	b.router.forget(d.inbox) // b would send to a again, but for its failure
	b.router.inboxes[d.inbox] = lead{address: a.srv.URL, token: "token-a", until: now.Add(leaderTTL)}
	d.create(t, b)
	if n := requests.Load(); n != 1 {
		t.Errorf("a got %d requests, want 1: after it failed, b sends it none for a while", n)
	}
	checkCounts(t, b, 0, 2, "after a failed, b makes its creates here")
	d.checkStored(t, b, 3)
}

func TestACallerThatLeavesDoesNotCostTheLeads(t *testing.T) {
	d := newDeployment(t, 1)
	a, b := d.twoProcesses(t)
	ctx := context.Background()
	if _, ok, err := a.leads.TryLead(ctx, d.inbox); err != nil || !ok {
		t.Fatal(ok, err)
	}
	gen := a.leads.Generation()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok, err := a.leads.TryLead(gone, d.inbox+1); err != nil || !ok {
		t.Errorf("a lead taken for a caller that left: %v, %v; want taken, for the process", ok, err)
	}
	if a.leads.Generation() != gen {
		t.Errorf("generation %d -> %d: a caller that left dropped the lead connection", gen, a.leads.Generation())
	}
	if _, ok, _ := b.leads.TryLead(ctx, d.inbox); ok {
		t.Errorf("b took the lead of a's inbox")
	}
}

// leadsReleasing runs during before a Release.
type leadsReleasing struct {
	Leads
	before func()
}

func (l leadsReleasing) Release(ctx context.Context, id int64) error {
	l.before()
	return l.Leads.Release(ctx, id)
}

// A create that comes while an idle lead is given up: the Router believes
// it leads the inbox only if it does.
func TestALeadGivenUpIsNotBelievedHeld(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	now := time.Now()
	r := a.router
	r.Now = func() time.Time { return now }
	found := make(chan lead, 1)
	r.leads = leadsReleasing{Leads: a.leads, before: func() {
		go func() {
			l, err := r.leadOf(context.Background(), d.inbox)
			if err != nil {
				t.Error(err)
			}
			found <- l
		}()
	}}
	d.create(t, a)
	now = now.Add(idleLead)
	r.releaseIdle(context.Background())
	l := <-found
	_, bLeads, err := b.leads.TryLead(context.Background(), d.inbox)
	if err != nil {
		t.Fatal(err)
	}
	if l.here == bLeads {
		t.Errorf("a's Router believes it leads: %v; b took the lead: %v; want exactly one", l.here, bLeads)
	}
}

func TestARequestCarriesAtMostMaxBatchCreates(t *testing.T) {
	d := newDeployment(t, 3)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	h := holdLeader(a)
	var wg sync.WaitGroup
	for range maxSending {
		wg.Go(func() { d.create(t, b) })
	}
	waitFor(t, "the first requests reach the leader", func() bool { return h.requests.Load() == maxSending })
	const waiting = maxBatch + 5
	for range waiting {
		wg.Go(func() { d.create(t, b) })
	}
	waitFor(t, "the creates wait", func() bool { return b.router.waitingFor(a.srv.URL) == waiting })
	close(h.release)
	wg.Wait()
	// Taken in order: maxBatch in one request, the 5 left in another.
	if r, c := h.requests.Load(), h.creates.Load(); r != maxSending+2 || c != maxSending+waiting {
		t.Errorf("the leader got %d requests carrying %d creates, want %d carrying %d", r, c, maxSending+2, maxSending+waiting)
	}
	d.checkStored(t, a, 1+maxSending+waiting)
}

func TestTheEndpointRefusesBadRequestsInJSON(t *testing.T) {
	d := newDeployment(t, 1)
	a := newProcess(t, d.dsn, "token-a", "token-a")
	one := fmt.Sprintf(`{"Caller":{"UserID":%d,"AccountID":%d,"Role":"administrator"},"Conversation":{"InboxID":%d}}`,
		d.admin.UserID, d.admin.AccountID, d.inbox)
	tests := []struct {
		name, method, body string
		status             int
		mentions           string
	}{
		{"not JSON", http.MethodPost, `{"Caller":`, http.StatusBadRequest, "body"},
		{"not an array", http.MethodPost, one, http.StatusBadRequest, "body"},
		{"too many", http.MethodPost, "[" + strings.Repeat(one+",", maxBatch) + one + "]", http.StatusBadRequest, "at most"},
		{"null", http.MethodPost, "null", http.StatusBadRequest, "body"},
		// As a newer version might send: refused, not made without it.
		{"a field unknown here", http.MethodPost, "[" + strings.Replace(one, `"InboxID"`, `"Priority":"urgent","InboxID"`, 1) + "]", http.StatusBadRequest, "unknown field"},
		{"too large", http.MethodPost, "[" + strings.Repeat(" ", maxRequest) + "]", http.StatusRequestEntityTooLarge, "over"},
		{"not POST", http.MethodGet, "", http.StatusMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postToEndpoint(t, a, tt.method, "token-a", tt.body)
			defer resp.Body.Close()
			var got struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("answer not JSON: %v", err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(got.Error, tt.mentions) {
				t.Errorf("status %d, error %q; want %d mentioning %q", resp.StatusCode, got.Error, tt.status, tt.mentions)
			}
		})
	}
	d.checkNoneStored(t, a)
}

func TestCreatesSentToTheLeaderKeepItsLead(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	now := time.Now()
	a.router.Now = func() time.Time { return now }
	d.create(t, a)
	now = now.Add(idleLead / 2)
	d.create(t, b) // made by a
	now = now.Add(idleLead/2 + time.Second)
	ctx := context.Background()
	a.router.releaseIdle(ctx) // a's own create is older than idleLead, b's is not
	if _, ok, err := b.leads.TryLead(ctx, d.inbox); err != nil || ok {
		t.Fatalf("b took the lead of an inbox a makes b's creates in (%v, %v)", ok, err)
	}
	if sent, _ := b.router.Counts(); sent != 1 {
		t.Errorf("b sent %d creates to a, want 1", sent)
	}
}

func TestALeadersInternalErrorIsSettledByTheKey(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	// The leader makes the create, then answers it as failed inside, as
	// after a commit whose end it did not learn.
	inner := a.router.Handler()
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		inner.ServeHTTP(httptest.NewRecorder(), req)
		json.NewEncoder(w).Encode([]reply{{Error: switchboard.Errorf(switchboard.EINTERNAL, "commit: connection reset")}})
	})
	conv, err := b.router.CreateConversation(context.Background(), d.admin, switchboard.NewConversation{InboxID: d.inbox, Message: "hi"})
	if err != nil {
		t.Fatalf("a create the leader made was answered with %v", err)
	}
	all := storetest.CheckInvariants(t, a.db.DB, d.admin)
	if len(all) != 2 {
		t.Fatalf("%d conversations stored, want 2", len(all))
	}
	if conv.ID != all[1].ID && conv.ID != all[0].ID {
		t.Errorf("answered conversation %d, not one stored", conv.ID)
	}
	if made, here := a.db.made.Load(), b.db.made.Load(); made != 2 || here != 0 {
		t.Errorf("a made %d creates and b %d, want 2 and 0", made, here)
	}
}

func TestARedirectDoesNotTakeTheToken(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	d.create(t, a)
	var leaked atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get(TokenHeader) != "" {
			leaked.Add(1)
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer elsewhere.Close()
	a.srv.Config.Handler = http.RedirectHandler(elsewhere.URL+Path, http.StatusTemporaryRedirect)
	d.create(t, b) // made by b
	if leaked.Load() != 0 {
		t.Error("the token followed a redirect to another server")
	}
	if _, here := b.router.Counts(); here != 1 {
		t.Errorf("b made %d creates itself, want 1", here)
	}
	if n := len(storetest.AllConversations(t, a.db.DB, d.admin)); n != 2 {
		t.Errorf("%d conversations stored, want 2", n)
	}
}

// failingLookups is a process's leads whose lookups of another leader fail,
// as when the database is out of connections.
type failingLookups struct {
	Leads
	lookups atomic.Int64
}

func (f *failingLookups) Leader(context.Context, int64) (string, string, bool, error) {
	f.lookups.Add(1)
	return "", "", false, errors.New("too many clients already")
}

func TestAFailedLeaderLookupIsNotRepeatedByEveryCreate(t *testing.T) {
	d := newDeployment(t, 2)
	a, b := d.twoProcesses(t)
	d.create(t, a) // a leads
	f := &failingLookups{Leads: b.leads}
	r := New(b.db, f, "token-b", slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range 3 {
		if _, err := r.CreateConversation(context.Background(), d.admin, switchboard.NewConversation{InboxID: d.inbox}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.lookups.Load(); n != 1 {
		t.Errorf("%d lookups of the leader for 3 creates, want 1 (then made here for a while)", n)
	}
	if _, here := r.Counts(); here != 3 {
		t.Errorf("made %d creates here, want 3", here)
	}
	if n := len(storetest.CheckInvariants(t, b.db.DB, d.admin)); n != 4 {
		t.Errorf("%d conversations stored, want 4", n)
	}
}

func TestForgettingALeaderKeepsThisProcessLead(t *testing.T) {
	d := newDeployment(t, 2)
	b := newProcess(t, d.dsn, "token-b", "token-b")
	d.create(t, b) // b leads
	// A create sent before, to a leader that has gone since, fails late.
	b.router.forget(d.inbox)
	if l, ok := b.router.known(d.inbox); !ok || !l.here {
		t.Fatal("b forgot its own lead: releaseIdle would never give it up")
	}
}

// TestAKeyedCreateRacedByTwoProcessesIsMadeOnce: the sender's own create
// with a key and the leader's may run at once (the leader still had it
// queued when its answer was lost): whichever takes the inbox's lock
// second finds the first's conversation.
func TestAKeyedCreateRacedByTwoProcessesIsMadeOnce(t *testing.T) {
	d := newDeployment(t, 3)
	a, b := d.twoProcesses(t)
	const keys, tries = 20, 4
	ctx := context.Background()
	got := make([][]int64, keys)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := range keys {
		for i := range tries {
			db := a.db.DB
			if i%2 == 1 {
				db = b.db.DB
			}
			wg.Go(func() {
				conv, err := db.CreateConversation(ctx, d.admin, switchboard.NewConversation{InboxID: d.inbox, Key: fmt.Sprintf("race-%d", k)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[k] = append(got[k], conv.ID)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for k, ids := range got {
		if len(ids) != tries || slices.Min(ids) != slices.Max(ids) {
			t.Errorf("key %d answered %v, want one conversation %d times", k, ids, tries)
		}
	}
	d.checkStored(t, a, keys)
}

// gatedPair starts two processes on a new deployment: a, which leads its
// inbox, and b, whose connections to the database go through gate.
func gatedPair(t *testing.T) (d *deployment, gate *storetest.Gate, a, b *process) {
	t.Helper()
	d = newDeployment(t, 2)
	gate = storetest.NewGate(t, d.dsn)
	a = newProcess(t, d.dsn, "token-a", "token-a")
	b = newProcess(t, gate.DSN(), "token-b", "token-b")
	d.create(t, a)
	return d, gate, a, b
}

// checkPerhapsMade fails t unless err answers a create as perhaps made:
// an internal error that says so, not one that says to try again.
func checkPerhapsMade(t *testing.T, err error, which string) {
	t.Helper()
	if code := switchboard.ErrorCode(err); code != switchboard.EINTERNAL || !strings.Contains(err.Error(), "may have been created") {
		t.Errorf("a create perhaps made, %s, was answered %v (code %q); want %s saying it may have been created", which, err, code, switchboard.EINTERNAL)
	}
}

// A create the leader may have made (it answered an internal error, as
// after a commit whose end it did not learn) is looked up by its key in
// the sending process. When the database is out of reach of that
// process meanwhile, the create is answered as perhaps made, an internal
// error, not as unavailable: "try again" could make it twice. It is not
// made in the sending process either.
func TestACreatePerhapsMadeWhoseKeyCannotBeReadIsNotAnsweredTryAgain(t *testing.T) {
	d, gate, a, b := gatedPair(t)
	inner := a.router.Handler()
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		inner.ServeHTTP(httptest.NewRecorder(), req)
		gate.Shut()
		json.NewEncoder(w).Encode([]reply{{Error: switchboard.Errorf(switchboard.EINTERNAL, "commit: connection reset")}})
	})
	_, err := b.router.CreateConversation(context.Background(), d.admin, switchboard.NewConversation{InboxID: d.inbox, Message: "hi"})
	checkPerhapsMade(t, err, "whose key could not be read")
	gate.Open()
	if all := storetest.CheckInvariants(t, a.db.DB, d.admin); len(all) != 2 {
		t.Errorf("%d conversations stored, want 2", len(all))
	}
	if made, here := a.db.made.Load(), b.db.made.Load(); made != 2 || here != 0 {
		t.Errorf("a made %d creates and b %d, want 2 and 0", made, here)
	}
}

// A create the leader may have made, and whose key is not found, is made
// in the sending process with its key. When the database goes out of
// reach of that process meanwhile, the create is answered as perhaps
// made, not as unavailable: the leader may still be making it, and "try
// again" could have it made twice.
func TestACreatePerhapsMadeThatCannotBeMadeHereIsNotAnsweredTryAgain(t *testing.T) {
	d, gate, a, b := gatedPair(t)
	// The leader answers an internal error without making the create.
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		json.NewEncoder(w).Encode([]reply{{Error: switchboard.Errorf(switchboard.EINTERNAL, "commit: connection reset")}})
	})
	b.router.beforeHere = gate.Shut
	_, err := b.router.CreateConversation(context.Background(), d.admin, switchboard.NewConversation{InboxID: d.inbox, Message: "hi"})
	checkPerhapsMade(t, err, "which could not be made here")
	if made := b.db.made.Load(); made != 1 {
		t.Errorf("b tried %d creates, want 1 (the key not found)", made)
	}
	gate.Open()
	if all := storetest.CheckInvariants(t, a.db.DB, d.admin); len(all) != 1 {
		t.Errorf("%d conversations stored, want 1", len(all))
	}
}
