package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// holdInbox keeps inboxID's batch busy (PostgreSQL) until the returned
// function is called, so that the creates started meanwhile queue, and the
// first of them leads the rest in one batch.
func holdInbox(t *testing.T, db *store.DB, inboxID int64) (release func()) {
	t.Helper()
	running, done := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- store.InboxBatch(context.Background(), db, inboxID, func(int64) {
			close(running)
			<-done
		})
	}()
	<-running
	return func() {
		close(done)
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

// waitQueued waits until n requests wait in inboxID's queue.
func waitQueued(t *testing.T, db *store.DB, inboxID int64, n int) {
	t.Helper()
	for range 1000 {
		if store.InboxWaiting(db, inboxID) == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never %d waiting in inbox %d", n, inboxID)
}

// togetherInbox is an inbox with four members, the third offline, and
// their ids in order.
func togetherInbox(t *testing.T, db *store.DB, admin switchboard.Caller) (switchboard.Inbox, []int64) {
	t.Helper()
	ctx := context.Background()
	in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web", EnableAutoAssignment: true, EnableAutoReassignment: true})
	if err != nil {
		t.Fatal(err)
	}
	var members []int64
	for i := range 4 {
		availability := switchboard.Online
		if i == 2 {
			availability = switchboard.Offline
		}
		a, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Agent", Email: fmt.Sprintf("t%d@example.com", i),
			Role: switchboard.RoleAgent, Availability: availability})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, a.ID)
	}
	if _, err := db.ChangeMembers(ctx, admin, in.ID, members, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	return in, members
}

// createQueued starts the creates ns while inboxID's batch is held, waits
// until all of them queue, releases the batch and returns their answers in
// the order of ns.
func createQueued(t *testing.T, db *store.DB, c switchboard.Caller, inboxID int64, ns []switchboard.NewConversation) []switchboard.Conversation {
	t.Helper()
	release := holdInbox(t, db, inboxID)
	convs := make([]switchboard.Conversation, len(ns))
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Go(func() { convs[i], errs[i] = db.CreateConversation(context.Background(), c, n) })
	}
	waitQueued(t, db, inboxID, len(ns))
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	return convs
}

// A PostgreSQL batch of open creates in a round-robin inbox is made in one
// statement (together.go), and each create is still what it would be made
// alone: the rotation's next online member in turn, wrapping round and
// skipping the offline one, its event, its message, its own number; and
// the rotation goes on after the batch's last pick.
func TestCreatesMadeTogether(t *testing.T) {
	ctx := context.Background()
	db, admin := openWithAdministrator(t, storetest.Postgres(t)(t))
	in, m := togetherInbox(t, db, admin)
	first, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	if first.Assignee == nil || first.Assignee.ID != m[0] {
		t.Fatalf("first create's assignee %+v, want %d", first.Assignee, m[0])
	}
	before := store.MadeTogether(db)
	var ns []switchboard.NewConversation
	for i := range 7 {
		ns = append(ns, switchboard.NewConversation{InboxID: in.ID, SourceID: fmt.Sprintf("s%d", i), Message: fmt.Sprintf("hello %d", i)})
	}
	ns[3].Message = "" // no message
	convs := createQueued(t, db, admin, in.ID, ns)
	if got := store.MadeTogether(db) - before; got != int64(len(ns)) {
		t.Fatalf("%d of the %d queued creates were made together", got, len(ns))
	}
	// In the order of their numbers, the picks go on from m[0] through
	// the online members m[1], m[3], m[0], ...
	byNumber := slices.Clone(convs)
	slices.SortFunc(byNumber, func(a, b switchboard.Conversation) int { return int(a.ID - b.ID) })
	online := []int64{m[0], m[1], m[3]}
	for j, c := range byNumber {
		want := online[(j+1)%len(online)]
		if c.Assignee == nil || c.Assignee.ID != want {
			t.Errorf("create numbered %d (%d in the batch): assignee %+v, want %d", c.ID, j, c.Assignee, want)
		}
		if j > 0 && c.ID != byNumber[j-1].ID+1 {
			t.Errorf("numbers %d then %d: not consecutive", byNumber[j-1].ID, c.ID)
		}
	}
	for i, c := range convs {
		stored, err := db.Conversation(ctx, admin, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.SourceID != ns[i].SourceID || stored.Assignee == nil || c.Assignee == nil || stored.Assignee.ID != c.Assignee.ID {
			t.Errorf("create %d answered %+v, stored %+v", i, c, stored)
		}
		wantMessages := 1
		if ns[i].Message == "" {
			wantMessages = 0
		}
		if len(c.Messages) != wantMessages || len(stored.Messages) != wantMessages ||
			wantMessages == 1 && (c.Messages[0].Content != ns[i].Message || stored.Messages[0].ID != c.Messages[0].ID) {
			t.Errorf("create %d: messages answered %+v, stored %+v, want %q", i, c.Messages, stored.Messages, ns[i].Message)
		}
		events, err := db.AssignmentEvents(ctx, admin, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Reason != switchboard.ReasonAuto || events[0].From != nil ||
			events[0].To == nil || *events[0].To != c.Assignee.ID || events[0].ActorID != nil {
			t.Errorf("create %d: events %+v, want one auto event to %d", i, events, c.Assignee.ID)
		}
	}
	next, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := online[(len(byNumber)+1)%len(online)]
	if next.Assignee == nil || next.Assignee.ID != want {
		t.Errorf("the create after the batch: assignee %+v, want %d (the rotation after the batch's last pick)", next.Assignee, want)
	}
}

// When no member is online, creates made together go round all the
// members (ROUTING.md rule 2), each in turn, as they would one by one.
func TestCreatesMadeTogetherWhenNoneOnline(t *testing.T) {
	ctx := context.Background()
	db, admin := openWithAdministrator(t, storetest.Postgres(t)(t))
	in, m := togetherInbox(t, db, admin)
	for _, id := range m {
		if err := db.SetAvailability(ctx, admin, id, switchboard.Offline); err != nil {
			t.Fatal(err)
		}
	}
	before := store.MadeTogether(db)
	ns := make([]switchboard.NewConversation, 6)
	for i := range ns {
		ns[i] = switchboard.NewConversation{InboxID: in.ID}
	}
	convs := createQueued(t, db, admin, in.ID, ns)
	if got := store.MadeTogether(db) - before; got != int64(len(ns)) {
		t.Fatalf("%d of the %d queued creates were made together", got, len(ns))
	}
	slices.SortFunc(convs, func(a, b switchboard.Conversation) int { return int(a.ID - b.ID) })
	for j, c := range convs {
		if want := m[j%len(m)]; c.Assignee == nil || c.Assignee.ID != want {
			t.Errorf("create %d of the batch: assignee %+v, want %d (every member in turn)", j, c.Assignee, want)
		}
	}
}

// A create with a key is made once when made together: a second create
// with the key in the same batch, and one with the key of a conversation
// made before, are answered with that conversation, write nothing and take
// no pick.
func TestCreatesMadeTogetherWithKeys(t *testing.T) {
	ctx := context.Background()
	db, admin := openWithAdministrator(t, storetest.Postgres(t)(t))
	in, m := togetherInbox(t, db, admin)
	old, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID, Key: "old"})
	if err != nil {
		t.Fatal(err)
	}
	before := store.MadeTogether(db)
	ns := []switchboard.NewConversation{
		{InboxID: in.ID, Key: "new", SourceID: "a"},
		{InboxID: in.ID, Key: "old", SourceID: "b"},
		{InboxID: in.ID, Key: "new", SourceID: "c"},
		{InboxID: in.ID, SourceID: "d"},
	}
	convs := createQueued(t, db, admin, in.ID, ns)
	if got := store.MadeTogether(db) - before; got < 1 {
		t.Fatal("no create was made together")
	}
	if convs[1].ID != old.ID {
		t.Errorf("the create with the old key answered %d, want %d", convs[1].ID, old.ID)
	}
	if convs[0].ID != convs[2].ID {
		t.Errorf("two creates with one key made %d and %d", convs[0].ID, convs[2].ID)
	}
	_, counts, err := db.Conversations(ctx, admin, switchboard.ConversationFilter{AssigneeType: "all", Status: "all", Page: 1})
	if err != nil {
		t.Fatal(err)
	}
	if counts.All != 3 {
		t.Errorf("%d conversations stored, want 3 (old, new, and the one without a key)", counts.All)
	}
	// Two picks were taken, after old's m[0]: m[1], m[3].
	got := []int64{convs[0].Assignee.ID, convs[3].Assignee.ID}
	if convs[0].ID > convs[3].ID {
		got[0], got[1] = got[1], got[0]
	}
	if !slices.Equal(got, []int64{m[1], m[3]}) {
		t.Errorf("picks in the order of the numbers %v, want %v", got, []int64{m[1], m[3]})
	}
}

// Where one statement cannot make a batch's creates as each would be made
// alone, the batch makes them one by one, and they are still right: an
// inbox whose queue holds a conversation (a create joins the queue).
func TestCreatesNotMadeTogether(t *testing.T) {
	ctx := context.Background()
	t.Run("no members, then a queue", func(t *testing.T) {
		db, admin := openWithAdministrator(t, storetest.Postgres(t)(t))
		in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Empty", EnableAutoAssignment: true})
		if err != nil {
			t.Fatal(err)
		}
		before := store.MadeTogether(db)
		convs := createQueued(t, db, admin, in.ID, []switchboard.NewConversation{{InboxID: in.ID}, {InboxID: in.ID}, {InboxID: in.ID}})
		if got := store.MadeTogether(db) - before; got != 0 {
			t.Errorf("%d made together in an inbox without members", got)
		}
		for _, c := range convs {
			if c.Assignee != nil || c.WaitingSince == nil {
				t.Errorf("conversation %d: assignee %+v, waiting since %v; want none, and waiting", c.ID, c.Assignee, c.WaitingSince)
			}
		}
		queue, err := db.Queue(ctx, admin, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(queue) != len(convs) {
			t.Errorf("%d in the queue, want %d", len(queue), len(convs))
		}
	})
}

// In an account with webhooks, a batch's creates are made together too,
// and its transaction writes what each create would have sent: for each
// webhook subscribed, conversation_created then assignee_changed, create
// after create in the order of their numbers, each payload the
// conversation as made. The batch that finds the webhooks first makes
// them so as well as the batches after it, and once the webhooks are gone
// a batch sends nothing.
func TestCreatesMadeTogetherWithWebhooks(t *testing.T) {
	ctx := context.Background()
	db, admin := openWithAdministrator(t, storetest.Postgres(t)(t))
	in, _ := togetherInbox(t, db, admin)
	all, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "http://127.0.0.1:1/all"})
	if err != nil {
		t.Fatal(err)
	}
	created, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "http://127.0.0.1:1/created",
		Subscriptions: []string{switchboard.EventConversationCreated}})
	if err != nil {
		t.Fatal(err)
	}
	var convs []switchboard.Conversation
	for batch := range 2 { // the first finds the webhooks, the second knows of them
		before := store.MadeTogether(db)
		ns := make([]switchboard.NewConversation, 4)
		for i := range ns {
			ns[i] = switchboard.NewConversation{InboxID: in.ID, Message: "hello"}
		}
		made := createQueued(t, db, admin, in.ID, ns)
		if got := store.MadeTogether(db) - before; got != int64(len(ns)) {
			t.Fatalf("batch %d: %d of %d creates made together", batch, got, len(ns))
		}
		convs = append(convs, made...)
	}
	slices.SortFunc(convs, func(a, b switchboard.Conversation) int { return int(a.ID - b.ID) })
	deliveries, err := db.ClaimDeliveries(ctx, 16, 100, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	type payload struct {
		Event        string `json:"event"`
		AccountID    int64  `json:"account_id"`
		Conversation struct {
			ID           int64  `json:"id"`
			InboxID      int64  `json:"inbox_id"`
			Status       string `json:"status"`
			AssigneeID   *int64 `json:"assignee_id"`
			WaitingSince *int64 `json:"waiting_since"`
			CreatedAt    int64  `json:"created_at"`
		} `json:"conversation"`
		Change *struct {
			From   *int64 `json:"from_assignee_id"`
			To     *int64 `json:"to_assignee_id"`
			Reason string `json:"reason"`
			Actor  *int64 `json:"actor_id"`
		} `json:"change"`
	}
	want := map[string][]string{} // per URL: event and conversation, in order
	for _, c := range convs {
		for _, e := range []string{switchboard.EventConversationCreated, switchboard.EventAssigneeChanged} {
			want[all.URL] = append(want[all.URL], fmt.Sprintf("%s %d", e, c.ID))
		}
		want[created.URL] = append(want[created.URL], fmt.Sprintf("%s %d", switchboard.EventConversationCreated, c.ID))
	}
	got := map[string][]string{}
	for _, d := range deliveries {
		var p payload
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			t.Fatalf("delivery %d: %v", d.ID, err)
		}
		got[d.URL] = append(got[d.URL], fmt.Sprintf("%s %d", d.Event, p.Conversation.ID))
		i := slices.IndexFunc(convs, func(c switchboard.Conversation) bool { return c.ID == p.Conversation.ID })
		if i < 0 {
			t.Errorf("delivery %d is of conversation %d, not made here", d.ID, p.Conversation.ID)
			continue
		}
		c := convs[i]
		pc := p.Conversation
		if p.Event != d.Event || p.AccountID != admin.AccountID || pc.InboxID != in.ID || pc.Status != "open" ||
			pc.AssigneeID == nil || *pc.AssigneeID != c.Assignee.ID || pc.WaitingSince != nil || pc.CreatedAt != c.CreatedAt.Unix() {
			t.Errorf("delivery %d: payload %s, conversation %+v", d.ID, d.Payload, c)
		}
		ch := p.Change
		switch {
		case d.Event == switchboard.EventAssigneeChanged && (ch == nil || ch.From != nil || ch.To == nil || *ch.To != c.Assignee.ID || ch.Reason != "auto" || ch.Actor != nil):
			t.Errorf("delivery %d: change %s", d.ID, d.Payload)
		case d.Event == switchboard.EventConversationCreated && ch != nil:
			t.Errorf("delivery %d: a change beside a creation: %s", d.ID, d.Payload)
		}
	}
	for url, w := range want {
		if !slices.Equal(got[url], w) {
			t.Errorf("%s heard %v, want %v", url, got[url], w)
		}
	}
	if len(deliveries) != len(want[all.URL])+len(want[created.URL]) {
		t.Errorf("%d deliveries, want %d", len(deliveries), len(want[all.URL])+len(want[created.URL]))
	}

	for _, w := range []switchboard.Webhook{all, created} {
		if err := db.DeleteWebhook(ctx, admin, w.ID); err != nil {
			t.Fatal(err)
		}
	}
	before := store.MadeTogether(db)
	createQueued(t, db, admin, in.ID, []switchboard.NewConversation{{InboxID: in.ID}, {InboxID: in.ID}})
	if got := store.MadeTogether(db) - before; got != 2 {
		t.Errorf("without webhooks, %d of 2 creates made together", got)
	}
	if more, err := db.ClaimDeliveries(ctx, 16, 100, time.Minute, nil); err != nil || len(more) != 0 {
		t.Errorf("without webhooks, %d deliveries (%v)", len(more), err)
	}
}

// A batch whose deliveries PostgreSQL refuses (here, their webhook was
// deleted between the batch's two round trips) committed nothing: its
// creates run again one by one, each made once and answered, and what
// they send follows the webhooks as they are then (none).
func TestCreatesTogetherRefusedAtTheDeliveries(t *testing.T) {
	ctx := context.Background()
	db, admin := openWithAdministrator(t, storetest.Postgres(t)(t))
	in, _ := togetherInbox(t, db, admin)
	hook, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "http://127.0.0.1:1/all"})
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	store.SetBetweenTrips(db, func() {
		if !deleted {
			deleted = true
			if err := db.DeleteWebhook(ctx, admin, hook.ID); err != nil {
				t.Error(err)
			}
		}
	})
	before := store.MadeTogether(db)
	ns := []switchboard.NewConversation{{InboxID: in.ID}, {InboxID: in.ID}, {InboxID: in.ID}}
	convs := createQueued(t, db, admin, in.ID, ns) // fails the test on an error
	if !deleted {
		t.Fatal("the batch never reached its second round trip")
	}
	if got := store.MadeTogether(db) - before; got != 0 {
		t.Errorf("%d counted as made together, by a transaction that was refused", got)
	}
	list, _, err := db.Conversations(ctx, admin, switchboard.ConversationFilter{AssigneeType: "all", Status: "all", Page: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(ns) || len(convs) != len(ns) {
		t.Errorf("%d conversations stored for %d creates answered, want %d", len(list), len(convs), len(ns))
	}
	if more, err := db.ClaimDeliveries(ctx, 16, 100, time.Minute, nil); err != nil || len(more) != 0 {
		t.Errorf("%d deliveries (%v) for a deleted webhook", len(more), err)
	}
}
