package storetest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
	"github.com/switchboard/switchboard/store"
)

// Run runs the conformance suite, each test on a fresh database from newDSN.
func Run(t *testing.T, newDSN NewDSN) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"RoundRobinSplitsEquallyAmongOnlineMembers", testRoundRobin},
		{"IndexedPickAgreesWithTheRules", testIndexedPick},
		{"AllMembersWhenNoneOnline", testAllMembersFallback},
		{"AutoAssignmentOffLeavesUnassigned", testAutoAssignmentOff},
		{"SnoozedConversationsReopenWhenDue", testSnoozedWake},
		{"ExplicitAssigneeKeptAndRotationUnmoved", testExplicitAssignee},
		{"OfflineReassignsToNextOnlineOrUnassigns", testOfflineReassigns},
		{"SignOutReassigns", testSignOutReassigns},
		{"OfflineInStepsMovesAllBeforeTheReply", testOfflineInSteps},
		{"SignInSetsOnlineInEveryAccountWhereOffline", testSignInAccounts},
		{"LeavingInboxOrAccountMovesConversations", testLosingAccess},
		{"ManualAssignmentRules", testManualAssignment},
		{"AgentSeesOnlyTheirInboxes", testVisibility},
		{"ListFilterTakesAnyInboxID", testListFilterAnyID},
		{"ConversationIDsNumberedPerAccount", testDisplayIDs},
		{"RotationAndAvailabilitySurviveReopen", testRotationSurvivesReopen},
		{"EmailsAreOneUserWhateverTheirCase", testDuplicateEmail},
		{"NameOfAUserInOtherAccountsChangesOnlyByAllTheirAdministrators", testNameAcrossAccounts},
		{"CommittedChangesReachSubscribers", testChanges},
		{"PresenceSetsOfflineAfterTheConsoleCloses", testPresence},
		{"ConcurrentCreatesStayFair", testConcurrentFairness},
		{"ConcurrentChangesKeepInvariants", testConcurrentInvariants},
		{"ConcurrentChangesKeepInvariantsInSteps", testConcurrentInvariantsInSteps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newFixture(t, newDSN))
		})
	}
}

// fixture is a fresh database with account 1 and its administrator.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	dsn   string
	db    *store.DB
	admin switchboard.Caller
	seq   atomic.Int64
}

func newFixture(t testing.TB, newDSN NewDSN) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), dsn: newDSN(t)}
	f.open()
	a, u, err := f.db.CreateAccountWithAdministrator(f.ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	f.admin = switchboard.Caller{UserID: u.ID, AccountID: a.ID, Role: switchboard.RoleAdministrator}
	t.Cleanup(func() { f.db.Close() })
	return f
}

func (f *fixture) open() {
	db, err := store.Open(f.ctx, f.dsn)
	if err != nil {
		f.t.Fatal(err)
	}
	f.db = db
}

// reopen closes the database and opens it again, as a restart does.
func (f *fixture) reopen() {
	f.db.Close()
	f.open()
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// agent adds a user with role and availability to the account.
func (f *fixture) agent(role switchboard.Role, a switchboard.Availability) switchboard.Caller {
	f.t.Helper()
	ag, err := f.db.CreateAgent(f.ctx, f.admin, switchboard.NewAgent{
		Name: "Agent", Email: fmt.Sprintf("agent%d@example.com", f.seq.Add(1)), Role: role, Availability: a,
		AutoOffline: true,
	})
	f.must(err)
	return switchboard.Caller{UserID: ag.ID, AccountID: f.admin.AccountID, Role: role}
}

func (f *fixture) online() switchboard.Caller {
	return f.agent(switchboard.RoleAgent, switchboard.Online)
}

func (f *fixture) inbox(auto, reassign bool, members ...switchboard.Caller) int64 {
	f.t.Helper()
	in, err := f.db.CreateInbox(f.ctx, f.admin, switchboard.NewInbox{Name: "Inbox", EnableAutoAssignment: auto, EnableAutoReassignment: reassign})
	f.must(err)
	if len(members) > 0 {
		_, err = f.db.ChangeMembers(f.ctx, f.admin, in.ID, ids(members), store.AddMembers)
		f.must(err)
	}
	return in.ID
}

func ids(cs []switchboard.Caller) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.UserID)
	}
	return out
}

func (f *fixture) create(inbox int64, n switchboard.NewConversation) switchboard.Conversation {
	f.t.Helper()
	n.InboxID = inbox
	c, err := f.db.CreateConversation(f.ctx, f.admin, n)
	f.must(err)
	return c
}

func assigneeOf(c switchboard.Conversation) int64 {
	if c.Assignee == nil {
		return 0
	}
	return c.Assignee.ID
}

func (f *fixture) assignee(id int64) int64 {
	f.t.Helper()
	c, err := f.db.Conversation(f.ctx, f.admin, id)
	f.must(err)
	return assigneeOf(c)
}

func (f *fixture) setAvailability(c switchboard.Caller, a switchboard.Availability) {
	f.t.Helper()
	f.must(f.db.SetAvailability(f.ctx, c, c.UserID, a))
}

// conversations returns every conversation of the account.
func (f *fixture) conversations() []switchboard.Conversation {
	return AllConversations(f.t, f.db, f.admin)
}

// checkInvariants checks the account's promises at rest; see CheckInvariants.
func (f *fixture) checkInvariants() {
	f.t.Helper()
	CheckInvariants(f.t, f.db, f.admin)
}

// CheckInvariants checks, through the store, the promises of ROUTING.md that
// hold at rest in the account of admin (one of its administrators): every
// assignee may be the assignee, and each conversation's events chain from
// nobody to its current assignee, one per change. It returns the account's
// conversations.
func CheckInvariants(t testing.TB, db *store.DB, admin switchboard.Caller) []switchboard.Conversation {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	agents, err := db.Agents(ctx, admin)
	must(err)
	roles := map[int64]switchboard.Role{}
	for _, a := range agents {
		roles[a.ID] = a.Role
	}
	inboxes, err := db.Inboxes(ctx, admin)
	must(err)
	members := map[[2]int64]bool{}
	for _, in := range inboxes {
		ms, err := db.InboxMembers(ctx, admin, in.ID)
		must(err)
		for _, m := range ms {
			members[[2]int64{in.ID, m.ID}] = true
		}
	}
	conversations := AllConversations(t, db, admin)
	for _, c := range conversations {
		if a := assigneeOf(c); a != 0 {
			role := roles[a]
			if role != switchboard.RoleAdministrator && !(role == switchboard.RoleAgent && members[[2]int64{c.InboxID, a}]) {
				t.Errorf("conversation %d in inbox %d is assigned to %d (role %q), who may not hold it", c.ID, c.InboxID, a, role)
			}
		}
		events, err := db.AssignmentEvents(ctx, admin, c.ID)
		must(err)
		var holder int64
		for _, e := range events {
			from, to := deref(e.From), deref(e.To)
			if from != holder || from == to {
				t.Errorf("conversation %d: event %d from %d to %d, but the assignee then was %d", c.ID, e.ID, from, to, holder)
			}
			holder = to
		}
		if holder != assigneeOf(c) {
			t.Errorf("conversation %d: events end at %d, assignee is %d", c.ID, holder, assigneeOf(c))
		}
	}
	return conversations
}

// AllConversations returns every conversation of admin's account.
func AllConversations(t testing.TB, db *store.DB, admin switchboard.Caller) []switchboard.Conversation {
	t.Helper()
	var all []switchboard.Conversation
	for page := 1; ; page++ {
		list, _, err := db.Conversations(context.Background(), admin, switchboard.ConversationFilter{AssigneeType: "all", Status: "all", Page: page})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			return all
		}
		all = append(all, list...)
	}
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func testRoundRobin(t *testing.T, f *fixture) {
	a, b, c := f.online(), f.online(), f.online()
	off := f.agent(switchboard.RoleAgent, switchboard.Offline)
	busy := f.agent(switchboard.RoleAgent, switchboard.Busy)
	inbox := f.inbox(true, true, c, off, a, busy, b)
	want := []int64{a.UserID, b.UserID, c.UserID}
	for i := range 9 {
		if got := assigneeOf(f.create(inbox, switchboard.NewConversation{})); got != want[i%3] {
			t.Fatalf("pick %d went to %d, want %d", i, got, want[i%3])
		}
	}
}

func testAllMembersFallback(t *testing.T, f *fixture) {
	a := f.agent(switchboard.RoleAgent, switchboard.Offline)
	b := f.agent(switchboard.RoleAgent, switchboard.Busy)
	inbox := f.inbox(true, true, a, b)
	counts := map[int64]int{}
	for range 6 {
		counts[assigneeOf(f.create(inbox, switchboard.NewConversation{}))]++
	}
	if counts[a.UserID] != 3 || counts[b.UserID] != 3 {
		t.Errorf("counts %v, want 3 each", counts)
	}
}

func testAutoAssignmentOff(t *testing.T, f *fixture) {
	a := f.online()
	inbox := f.inbox(false, true, a)
	if got := assigneeOf(f.create(inbox, switchboard.NewConversation{})); got != 0 {
		t.Errorf("assigned to %d with auto-assignment off", got)
	}
	empty := f.inbox(true, true)
	if got := assigneeOf(f.create(empty, switchboard.NewConversation{})); got != 0 {
		t.Errorf("assigned to %d in an inbox without members", got)
	}
	pending := f.create(f.inbox(true, true, a), switchboard.NewConversation{Status: switchboard.StatusPending})
	if assigneeOf(pending) != 0 {
		t.Errorf("pending conversation was auto-assigned")
	}
	for _, st := range []switchboard.Status{switchboard.StatusSnoozed, switchboard.StatusResolved} {
		if c := f.create(pending.InboxID, switchboard.NewConversation{Status: st}); assigneeOf(c) != 0 {
			t.Errorf("conversation created %s was auto-assigned", st)
		}
	}
	open := switchboard.StatusOpen
	reopened, err := f.db.ChangeStatus(f.ctx, f.admin, pending.ID, switchboard.StatusChange{Status: &open})
	f.must(err)
	if assigneeOf(reopened) != a.UserID {
		t.Errorf("opened conversation went to %d, want %d", assigneeOf(reopened), a.UserID)
	}
}

// A snoozed conversation reopens once its snoozed_until has passed
// (WakeSnoozed), and is then routed as one reopened by hand: kept by an
// online assignee, given the rotation's next member when it has none. One
// snoozed until later, or without a time, or due longer ago than
// WakeWindow, stays snoozed.
func testSnoozedWake(t *testing.T, f *fixture) {
	now := time.Now()
	var skew atomic.Int64
	f.db.Now = func() time.Time { return now.Add(time.Duration(skew.Load())) }
	a, b := f.online(), f.online() // a's id is the smaller
	inbox := f.inbox(true, true, a, b)
	kept := f.create(inbox, switchboard.NewConversation{})       // to a
	unassigned := f.create(inbox, switchboard.NewConversation{}) // to b, then to nobody
	untimed := f.create(inbox, switchboard.NewConversation{})    // to a
	later := f.create(inbox, switchboard.NewConversation{})      // to b
	stale := f.create(inbox, switchboard.NewConversation{})      // to a
	if assigneeOf(kept) != a.UserID || assigneeOf(unassigned) != b.UserID {
		t.Fatalf("the rotation gave %d and %d, want %d and %d", assigneeOf(kept), assigneeOf(unassigned), a.UserID, b.UserID)
	}
	_, err := f.db.Assign(f.ctx, f.admin, unassigned.ID, nil)
	f.must(err)
	snoozed := switchboard.StatusSnoozed
	for _, s := range []struct {
		id    int64
		until time.Duration // 0: no time
	}{{kept.ID, time.Hour}, {unassigned.ID, time.Hour}, {untimed.ID, 0}, {later.ID, 3 * time.Hour},
		{stale.ID, -store.WakeWindow - time.Hour}} {
		ch := switchboard.StatusChange{Status: &snoozed}
		if s.until != 0 {
			until := now.Add(s.until)
			ch.SnoozedUntil = &until
		}
		_, err := f.db.ChangeStatus(f.ctx, f.admin, s.id, ch)
		f.must(err)
	}
	if n, err := f.db.WakeSnoozed(f.ctx, 100); err != nil || n != 0 {
		t.Fatalf("woke %d (%v) before their time", n, err)
	}
	skew.Store(int64(2 * time.Hour))
	if n, err := f.db.WakeSnoozed(f.ctx, 100); err != nil || n != 2 {
		t.Fatalf("woke %d (%v), want the 2 due", n, err)
	}
	for _, tc := range []struct {
		name     string
		id       int64
		status   switchboard.Status
		assignee int64
	}{
		{"due, its assignee online", kept.ID, switchboard.StatusOpen, a.UserID},
		{"due, unassigned: the rotation's next after a, the last pick", unassigned.ID, switchboard.StatusOpen, b.UserID},
		{"no time to wake", untimed.ID, switchboard.StatusSnoozed, a.UserID},
		{"not due yet", later.ID, switchboard.StatusSnoozed, b.UserID},
		{"due longer ago than WakeWindow", stale.ID, switchboard.StatusSnoozed, a.UserID},
	} {
		c, err := f.db.Conversation(f.ctx, f.admin, tc.id)
		f.must(err)
		if c.Status != tc.status || assigneeOf(c) != tc.assignee {
			t.Errorf("%s: %s, assignee %d; want %s, %d", tc.name, c.Status, assigneeOf(c), tc.status, tc.assignee)
		}
	}
	events, err := f.db.AssignmentEvents(f.ctx, f.admin, unassigned.ID)
	f.must(err)
	if last := events[len(events)-1]; last.Reason != switchboard.ReasonAuto || deref(last.To) != b.UserID {
		t.Errorf("the woken conversation's last event %+v, want auto to %d", last, b.UserID)
	}
	if n, err := f.db.WakeSnoozed(f.ctx, 100); err != nil || n != 0 {
		t.Errorf("woke %d more (%v)", n, err)
	}
}

func testExplicitAssignee(t *testing.T, f *fixture) {
	a, b := f.online(), f.online()
	inbox := f.inbox(true, true, a, b)
	conv := f.create(inbox, switchboard.NewConversation{AssigneeID: &b.UserID})
	if assigneeOf(conv) != b.UserID {
		t.Fatalf("explicit assignee not kept: %d", assigneeOf(conv))
	}
	events, err := f.db.AssignmentEvents(f.ctx, f.admin, conv.ID)
	f.must(err)
	if len(events) != 1 || events[0].Reason != switchboard.ReasonManual || deref(events[0].ActorID) != f.admin.UserID {
		t.Errorf("events %+v, want one manual event by the creator", events)
	}
	if got := assigneeOf(f.create(inbox, switchboard.NewConversation{})); got != a.UserID {
		t.Errorf("first auto pick %d, want %d: the explicit assignee moved the rotation", got, a.UserID)
	}
}

func testOfflineReassigns(t *testing.T, f *fixture) {
	var clock atomic.Int64 // a second per write: activity times differ
	clock.Store(1_700_000_000)
	f.db.Now = func() time.Time { return time.Unix(clock.Add(1), 0) }
	a, b, c := f.online(), f.online(), f.online()
	inbox := f.inbox(true, true, a, b, c)
	first := f.create(inbox, switchboard.NewConversation{}) // a
	f.create(inbox, switchboard.NewConversation{})          // b
	f.setAvailability(a, switchboard.Offline)
	if got := f.assignee(first.ID); got != c.UserID {
		t.Errorf("reassigned to %d, want %d (next online after the last pick)", got, c.UserID)
	}
	// A reassignment is activity: the list shows the conversation first.
	if now, err := f.db.Conversation(f.ctx, f.admin, first.ID); err != nil || !now.LastActivityAt.After(first.LastActivityAt) {
		t.Errorf("last activity %v after the reassignment (%v), want later than at its creation (%v)", now.LastActivityAt, err, first.LastActivityAt)
	}
	// The reassignment's pick is the rotation's last pick now.
	if got := assigneeOf(f.create(inbox, switchboard.NewConversation{})); got != b.UserID {
		t.Errorf("the create after the reassignment went to %d, want %d (next online after its pick)", got, b.UserID)
	}
	f.setAvailability(b, switchboard.Busy)
	f.setAvailability(c, switchboard.Offline)
	if got := f.assignee(first.ID); got != 0 {
		t.Errorf("with nobody online the conversation went to %d, want unassigned", got)
	}
	f.checkInvariants()
}

func testSignOutReassigns(t *testing.T, f *fixture) {
	a, b := f.online(), f.online()
	inbox := f.inbox(true, true, a, b)
	conv := f.create(inbox, switchboard.NewConversation{})
	f.must(f.db.SignOut(f.ctx, a.UserID, ""))
	if got := f.assignee(conv.ID); got != b.UserID {
		t.Errorf("after sign-out the conversation is with %d, want %d", got, b.UserID)
	}
	f.checkInvariants()
}

// testOfflineInSteps: a user who goes offline holding more conversations
// than one transaction moves (the store's ReassignStep, made small here) has
// lost every one of them when the change returns, whichever way they went
// offline, each through its inbox's rotation; those that stay theirs
// (resolved, or in an inbox that does not reassign) are passed over.
func testOfflineInSteps(t *testing.T, f *fixture) {
	f.db.ReassignStep = 2
	offline := switchboard.Offline
	for _, tc := range []struct {
		name string
		off  func(a switchboard.Caller) error
	}{
		{"Availability", func(a switchboard.Caller) error {
			return f.db.SetAvailability(f.ctx, a, a.UserID, offline)
		}},
		{"SignOut", func(a switchboard.Caller) error { return f.db.SignOut(f.ctx, a.UserID, "") }},
		{"AdministratorUpdate", func(a switchboard.Caller) error {
			_, err := f.db.UpdateAgent(f.ctx, f.admin, a.UserID, switchboard.AgentUpdate{Availability: &offline})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c := f.online(), f.online(), f.online()
			reassigns, keeps := f.inbox(true, true, a, b, c), f.inbox(true, false, a, b)
			held := switchboard.NewConversation{AssigneeID: &a.UserID}
			var moving, staying []int64
			for i := range 11 {
				moving = append(moving, f.create(reassigns, held).ID)
				switch i {
				case 2:
					staying = append(staying, f.create(keeps, held).ID)
				case 5:
					resolved := held
					resolved.Status = switchboard.StatusResolved
					staying = append(staying, f.create(reassigns, resolved).ID)
				}
			}
			f.must(tc.off(a))
			got := map[int64]int{}
			for _, id := range moving {
				got[f.assignee(id)]++
			}
			if got[a.UserID] != 0 || got[b.UserID]+got[c.UserID] != len(moving) || max(got[b.UserID]-got[c.UserID], got[c.UserID]-got[b.UserID]) > 1 {
				t.Errorf("after the reply: %v by assignee; want none left with %d and the %d split between %d and %d to ±1",
					got, a.UserID, len(moving), b.UserID, c.UserID)
			}
			for _, id := range staying {
				if got := f.assignee(id); got != a.UserID {
					t.Errorf("conversation %d went to %d; it is resolved or in an inbox that does not reassign", id, got)
				}
			}
			if n, err := f.db.FinishReassignments(f.ctx); err != nil || n != 0 {
				t.Errorf("a sweep after the reply finished %d reassignments (%v), want none left", n, err)
			}
		})
	}
	f.checkInvariants()
}

func testLosingAccess(t *testing.T, f *fixture) {
	a, b, c := f.online(), f.online(), f.online()
	inbox := f.inbox(true, true, a, b, c)
	ca := f.create(inbox, switchboard.NewConversation{})
	cb := f.create(inbox, switchboard.NewConversation{})
	_, err := f.db.ChangeMembers(f.ctx, f.admin, inbox, []int64{a.UserID}, store.RemoveMembers)
	f.must(err)
	if got := f.assignee(ca.ID); got != c.UserID {
		t.Errorf("after leaving the inbox the conversation is with %d, want %d", got, c.UserID)
	}
	f.must(f.db.RemoveAgent(f.ctx, f.admin, b.UserID))
	if got := f.assignee(cb.ID); got != c.UserID {
		t.Errorf("after leaving the account the conversation is with %d, want %d", got, c.UserID)
	}
	f.checkInvariants()
}

func testManualAssignment(t *testing.T, f *fixture) {
	member, outsider := f.online(), f.online()
	boss := f.agent(switchboard.RoleAdministrator, switchboard.Offline)
	inbox := f.inbox(false, true, member)
	f.inbox(false, true, outsider)
	conv := f.create(inbox, switchboard.NewConversation{})
	tests := []struct {
		name     string
		by       switchboard.Caller
		assignee *int64
		code     switchboard.Code
	}{
		{"MemberAssignsAdministrator", member, &boss.UserID, ""},
		{"NonMemberRefused", member, &outsider.UserID, switchboard.EINVALID},
		{"OtherInboxAgentCannotSee", outsider, &member.UserID, switchboard.ENOTFOUND},
		{"UnknownUserRefused", member, new(int64(999999)), switchboard.EINVALID},
		{"Unassign", member, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.assignee(conv.ID)
			_, err := f.db.Assign(f.ctx, tt.by, conv.ID, tt.assignee)
			if tt.code == "" {
				f.must(err)
				if got := f.assignee(conv.ID); got != deref(tt.assignee) {
					t.Errorf("assignee %d, want %d", got, deref(tt.assignee))
				}
				return
			}
			if got := switchboard.ErrorCode(err); got != tt.code {
				t.Errorf("error %v, want code %s", err, tt.code)
			}
			if got := f.assignee(conv.ID); got != before {
				t.Errorf("a refused assignment changed the assignee from %d to %d", before, got)
			}
		})
	}
	f.checkInvariants()
}

func testVisibility(t *testing.T, f *fixture) {
	a, b := f.online(), f.online()
	f.inbox(true, true, a)
	other := f.inbox(true, true, b)
	conv := f.create(other, switchboard.NewConversation{})
	if _, err := f.db.Conversation(f.ctx, a, conv.ID); switchboard.ErrorCode(err) != switchboard.ENOTFOUND {
		t.Errorf("agent read another inbox's conversation: %v", err)
	}
	if _, err := f.db.Inbox(f.ctx, a, other); switchboard.ErrorCode(err) != switchboard.ENOTFOUND {
		t.Errorf("agent read another inbox: %v", err)
	}
	inboxes, err := f.db.Inboxes(f.ctx, a)
	f.must(err)
	if len(inboxes) != 1 {
		t.Errorf("agent sees %d inboxes, want 1", len(inboxes))
	}
	if _, err := f.db.CreateInbox(f.ctx, a, switchboard.NewInbox{Name: "x"}); switchboard.ErrorCode(err) != switchboard.EFORBIDDEN {
		t.Errorf("agent created an inbox: %v", err)
	}
}

// testListFilterAnyID: an inbox filter is an id like any other, 8 bytes
// wide; one that matches no inbox lists nothing.
func testListFilterAnyID(t *testing.T, f *fixture) {
	inbox := f.inbox(true, true, f.online())
	f.create(inbox, switchboard.NewConversation{})
	for _, id := range []int64{inbox, 1 << 31, math.MaxInt64} {
		list, counts, err := f.db.Conversations(f.ctx, f.admin, switchboard.ConversationFilter{
			AssigneeType: "all", Status: "all", InboxID: &id, Page: 1})
		want := 0
		if id == inbox {
			want = 1
		}
		if err != nil || len(list) != want || counts.All != want {
			t.Errorf("inbox_id %d: %d conversations, count %d (%v), want %d", id, len(list), counts.All, err, want)
		}
	}
}

func testDisplayIDs(t *testing.T, f *fixture) {
	inbox := f.inbox(true, true)
	first := f.create(inbox, switchboard.NewConversation{})
	// Refused creates use no number: an unknown inbox, an assignee who may
	// not hold it, an agent's create in an inbox they may not see.
	stranger, agent := int64(1_000_000), f.online()
	for _, refused := range []struct {
		c switchboard.Caller
		n switchboard.NewConversation
	}{
		{f.admin, switchboard.NewConversation{InboxID: inbox + 1000}},
		{f.admin, switchboard.NewConversation{InboxID: inbox, AssigneeID: &stranger}},
		{f.admin, switchboard.NewConversation{InboxID: inbox, AssigneeID: &agent.UserID}},
		{agent, switchboard.NewConversation{InboxID: inbox}},
	} {
		if _, err := f.db.CreateConversation(f.ctx, refused.c, refused.n); err == nil {
			t.Fatalf("create %+v by %d was not refused", refused.n, refused.c.UserID)
		}
	}
	second := f.create(inbox, switchboard.NewConversation{})
	if first.ID != 1 || second.ID != 2 {
		t.Errorf("ids %d, %d; want 1, 2", first.ID, second.ID)
	}
	acc, u, err := f.db.CreateAccountWithAdministrator(f.ctx, "Other", "Otto", "otto@example.com", "password123")
	f.must(err)
	otto := switchboard.Caller{UserID: u.ID, AccountID: acc.ID, Role: switchboard.RoleAdministrator}
	in, err := f.db.CreateInbox(f.ctx, otto, switchboard.NewInbox{Name: "Other"})
	f.must(err)
	conv, err := f.db.CreateConversation(f.ctx, otto, switchboard.NewConversation{InboxID: in.ID})
	f.must(err)
	if conv.ID != 1 {
		t.Errorf("first conversation of a second account has id %d, want 1", conv.ID)
	}
	if _, err := f.db.Inbox(f.ctx, otto, inbox); switchboard.ErrorCode(err) != switchboard.ENOTFOUND {
		t.Errorf("an administrator reads another account's inbox: %v", err)
	}
}

func testRotationSurvivesReopen(t *testing.T, f *fixture) {
	a, b, c := f.online(), f.online(), f.online()
	inbox := f.inbox(true, true, a, b, c)
	f.create(inbox, switchboard.NewConversation{})
	f.create(inbox, switchboard.NewConversation{})
	f.setAvailability(b, switchboard.Busy)
	f.reopen()
	if got := assigneeOf(f.create(inbox, switchboard.NewConversation{})); got != c.UserID {
		t.Errorf("pick after reopening went to %d, want %d", got, c.UserID)
	}
	agent, err := f.db.Agent(f.ctx, f.admin, b.UserID)
	f.must(err)
	if agent.Availability != switchboard.Busy {
		t.Errorf("availability after reopening %q, want busy", agent.Availability)
	}
}

func testDuplicateEmail(t *testing.T, f *fixture) {
	for _, email := range []string{"ada@example.com", "Ada@Example.COM"} {
		_, err := f.db.CreateUser(f.ctx, "Ada again", email, "password123")
		if switchboard.ErrorCode(err) != switchboard.EINVALID {
			t.Errorf("duplicate e-mail %s: %v, want invalid", email, err)
		}
		_, err = f.db.CreateAgent(f.ctx, f.admin, switchboard.NewAgent{Name: "Ada again", Email: email})
		if switchboard.ErrorCode(err) != switchboard.EINVALID {
			t.Errorf("agent with the administrator's e-mail %s: %v, want invalid", email, err)
		}
	}
	// One person is one user whatever case they type their address in.
	a, err := f.db.CreateAgent(f.ctx, f.admin, switchboard.NewAgent{Name: "Bo", Email: "Bo.Smith@Example.com", Password: "password456"})
	f.must(err)
	if a.Email != "bo.smith@example.com" {
		t.Errorf("stored e-mail %q, want it in lower case", a.Email)
	}
	for _, typed := range []string{"bo.smith@example.com", "BO.SMITH@EXAMPLE.COM", " Bo.Smith@Example.com "} {
		u, _, err := f.db.SignIn(f.ctx, typed, "password456")
		if err != nil || u.ID != a.ID {
			t.Errorf("sign in as %q: user %d, %v; want user %d", typed, u.ID, err, a.ID)
		}
	}
}

// testNameAcrossAccounts: a user's name is the same in every account of
// theirs, so an administrator of one of them may not change it for the
// others (ROUTING.md: nothing is changeable across accounts), unless they
// administer them all.
func testNameAcrossAccounts(t *testing.T, f *fixture) {
	cat := f.online()
	acc, u, err := f.db.CreateAccountWithAdministrator(f.ctx, "Other", "Eve", "eve@example.com", "password123")
	f.must(err)
	eve := switchboard.Caller{UserID: u.ID, AccountID: acc.ID, Role: switchboard.RoleAdministrator}
	catInOther, err := f.db.CreateAgent(f.ctx, eve, switchboard.NewAgent{Name: "Cat", Email: fmt.Sprintf("agent%d@example.com", f.seq.Load())})
	f.must(err)
	if catInOther.ID != cat.UserID {
		t.Fatalf("the known e-mail made user %d, want %d", catInOther.ID, cat.UserID)
	}
	nameOf := func() string {
		a, err := f.db.Agent(f.ctx, f.admin, cat.UserID)
		f.must(err)
		return a.Name
	}
	before := nameOf()
	renamed := "Renamed"
	for _, by := range []switchboard.Caller{eve, f.admin} {
		_, err := f.db.UpdateAgent(f.ctx, by, cat.UserID, switchboard.AgentUpdate{Name: &renamed})
		if switchboard.ErrorCode(err) != switchboard.EFORBIDDEN {
			t.Errorf("rename by the administrator of account %d only: %v, want forbidden", by.AccountID, err)
		}
	}
	if got := nameOf(); got != before {
		t.Errorf("name %q after refused renames, want %q", got, before)
	}
	// An administrator of both accounts may.
	_, err = f.db.CreateAgent(f.ctx, eve, switchboard.NewAgent{Name: "Ada", Email: "ada@example.com", Role: switchboard.RoleAdministrator})
	f.must(err)
	_, err = f.db.UpdateAgent(f.ctx, f.admin, cat.UserID, switchboard.AgentUpdate{Name: &renamed})
	f.must(err)
	if got := nameOf(); got != renamed {
		t.Errorf("name %q after a rename by an administrator of both accounts, want %q", got, renamed)
	}
}

func testConcurrentFairness(t *testing.T, f *fixture) {
	agents := []switchboard.Caller{f.online(), f.online(), f.online(), f.online()}
	inbox := f.inbox(true, true, agents...)
	const n = 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int64]int{}
	for range 12 {
		wg.Go(func() {
			for range n / 12 {
				c, err := f.db.CreateConversation(f.ctx, f.admin, switchboard.NewConversation{InboxID: inbox})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				counts[assigneeOf(c)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	lo, hi := n, 0
	for _, a := range agents {
		lo, hi = min(lo, counts[a.UserID]), max(hi, counts[a.UserID])
	}
	if hi-lo > 1 || counts[0] != 0 {
		t.Errorf("counts %v differ by more than one", counts)
	}
	f.checkInvariants()
}

func testConcurrentInvariants(t *testing.T, f *fixture) {
	var agents []switchboard.Caller
	for range 6 {
		agents = append(agents, f.online())
	}
	agents = append(agents, f.agent(switchboard.RoleAdministrator, switchboard.Online))
	inboxes := []int64{f.inbox(true, true, agents[:4]...), f.inbox(true, true, agents[2:6]...), f.inbox(true, false, agents[0], agents[5])}
	availabilities := []switchboard.Availability{switchboard.Online, switchboard.Busy, switchboard.Offline}
	var created atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 40 {
				inbox := inboxes[rng.IntN(len(inboxes))]
				agent := agents[rng.IntN(len(agents))]
				var err error
				switch op := rng.IntN(10); {
				case op < 4:
					_, err = f.db.CreateConversation(f.ctx, f.admin, switchboard.NewConversation{InboxID: inbox})
					if err == nil {
						created.Add(1)
					}
				case op < 6:
					err = f.db.SetAvailability(f.ctx, agent, agent.UserID, availabilities[rng.IntN(3)])
				case op < 7:
					how := []store.MemberChange{store.AddMembers, store.RemoveMembers}[rng.IntN(2)]
					_, err = f.db.ChangeMembers(f.ctx, f.admin, inbox, []int64{agent.UserID}, how)
				case op < 9:
					id := int64(1 + rng.IntN(int(created.Load())+1))
					_, err = f.db.Assign(f.ctx, f.admin, id, &agent.UserID)
					if c := switchboard.ErrorCode(err); c == switchboard.EINVALID || c == switchboard.ENOTFOUND {
						err = nil // not a member of that inbox right now, or not created yet
					}
				default:
					id := int64(1 + rng.IntN(int(created.Load())+1))
					_, err = f.db.ChangeStatus(f.ctx, f.admin, id, switchboard.StatusChange{})
					if switchboard.ErrorCode(err) == switchboard.ENOTFOUND {
						err = nil
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := len(f.conversations()); int64(got) != created.Load() {
		t.Errorf("%d conversations stored, %d acknowledged", got, created.Load())
	}
	f.checkInvariants()
}

// testConcurrentInvariantsInSteps is testConcurrentInvariants with users
// going offline moving their conversations two per transaction, so that
// the other changes run between the steps.
func testConcurrentInvariantsInSteps(t *testing.T, f *fixture) {
	f.db.ReassignStep = 2
	testConcurrentInvariants(t, f)
}

// waitForChange reads changes until want arrives and returns those read
// before it; nothing arriving within a few seconds fails the test. Changes
// made before the subscription may still arrive first on PostgreSQL, where
// they travel through the database.
func waitForChange(t *testing.T, ch <-chan switchboard.Change, want switchboard.Change) []switchboard.Change {
	t.Helper()
	var before []switchboard.Change
	deadline := time.After(5 * time.Second)
	for {
		select {
		case c := <-ch:
			if c == want {
				return before
			}
			before = append(before, c)
		case <-deadline:
			t.Fatalf("change %+v never arrived; got %+v", want, before)
			return nil
		}
	}
}

func testChanges(t *testing.T, f *fixture) {
	a := f.online()
	inbox := f.inbox(true, true, a)
	changes, cancel := f.db.Subscribe()
	defer cancel()
	conv := f.create(inbox, switchboard.NewConversation{})
	waitForChange(t, changes, switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: f.admin.AccountID, ConversationID: conv.ID, InboxID: inbox})
	// A refused change rolls back and tells nobody: nothing about the
	// conversation comes before the availability change that follows it.
	if _, err := f.db.Assign(f.ctx, f.admin, conv.ID, new(int64(999999))); err == nil {
		t.Fatal("assignment to an unknown user accepted")
	}
	f.setAvailability(a, switchboard.Busy)
	before := waitForChange(t, changes, switchboard.Change{Kind: switchboard.AgentChanged, AccountID: f.admin.AccountID, UserID: a.UserID})
	for _, c := range before {
		if c.Kind == switchboard.ConversationChanged {
			t.Errorf("a rolled-back change was published: %+v", c)
		}
	}
}

func testPresence(t *testing.T, f *fixture) {
	clock := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f.db.Now = func() time.Time { return clock }
	const grace = 5 * time.Minute
	leaver, stayer, apiOnly := f.online(), f.online(), f.online()
	crashed, optedOut := f.online(), f.online()
	inbox := f.inbox(true, true, leaver, stayer)
	conv := f.create(inbox, switchboard.NewConversation{}) // leaver
	optOut := false
	_, err := f.db.UpdateAgent(f.ctx, f.admin, optedOut.UserID, switchboard.AgentUpdate{AutoOffline: &optOut})
	f.must(err)
	connect := func(c switchboard.Caller) int64 {
		id, err := f.db.ConsoleConnected(f.ctx, c.AccountID, c.UserID)
		f.must(err)
		return id
	}
	leaving := connect(leaver)
	connect(stayer)
	f.must(f.db.ConsoleDisconnected(f.ctx, connect(optedOut)))
	// Another process holds the crashed user's console, then dies: no
	// disconnect, and no more heartbeats.
	other, err := store.Open(f.ctx, f.dsn)
	f.must(err)
	other.Now = f.db.Now
	_, err = other.ConsoleConnected(f.ctx, crashed.AccountID, crashed.UserID)
	f.must(err)
	other.Close()
	f.must(f.db.ConsoleDisconnected(f.ctx, leaving))
	availability := func(c switchboard.Caller) switchboard.Availability {
		a, err := f.db.Agent(f.ctx, f.admin, c.UserID)
		f.must(err)
		return a.Availability
	}
	beat := func(d time.Duration) {
		clock = clock.Add(d)
		f.must(f.db.Heartbeat(f.ctx)) // this process beats; the crashed one is another
	}

	beat(4 * time.Minute)
	if n, err := f.db.SweepPresence(f.ctx, grace); err != nil || n != 0 {
		t.Fatalf("within the grace period %d users went offline (%v)", n, err)
	}
	beat(2 * time.Minute)
	if _, err := f.db.SweepPresence(f.ctx, grace); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		c    switchboard.Caller
		want switchboard.Availability
	}{
		"ConsoleClosedPastGraceGoesOffline": {leaver, switchboard.Offline},
		"DeadProcessConnectionExpires":      {crashed, switchboard.Offline},
		"ConnectedStaysOnline":              {stayer, switchboard.Online},
		"APIOnlyKeepsWhatTheySet":           {apiOnly, switchboard.Online},
		"AutoOfflineOffKeeps":               {optedOut, switchboard.Online},
	}
	for name, w := range want {
		if got := availability(w.c); got != w.want {
			t.Errorf("%s: %s, want %s", name, got, w.want)
		}
	}
	if got := f.assignee(conv.ID); got != stayer.UserID {
		t.Errorf("the absent agent's conversation is with %d, want %d", got, stayer.UserID)
	}
	t.Run("ExplicitChoiceWinsUntilTheNextConsole", func(t *testing.T) {
		f.setAvailability(leaver, switchboard.Online)
		beat(time.Hour)
		if _, err := f.db.SweepPresence(f.ctx, grace); err != nil {
			t.Fatal(err)
		}
		if got := availability(leaver); got != switchboard.Online {
			t.Errorf("after choosing online by hand: %s", got)
		}
	})
}

// testIndexedPick: the store asks the index for a round-robin inbox's next
// pick; it must give what package routing's rules give, whatever the mix of
// availabilities, the leavers and the fallback.
func testIndexedPick(t *testing.T, f *fixture) {
	rng := rand.New(rand.NewPCG(3, 9))
	availabilities := []switchboard.Availability{switchboard.Online, switchboard.Busy, switchboard.Offline}
	var agents []switchboard.Caller
	var members []routing.Member
	for range 8 {
		a := availabilities[rng.IntN(3)]
		c := f.agent(switchboard.RoleAgent, a)
		agents = append(agents, c)
		members = append(members, routing.Member{UserID: c.UserID, Availability: a})
	}
	inbox := f.inbox(true, true, agents...)
	var last int64
	for round := range 30 {
		if round%6 == 5 { // change someone's availability now and then
			i := rng.IntN(len(agents))
			a := availabilities[rng.IntN(3)]
			f.must(f.db.SetAvailability(f.ctx, f.admin, agents[i].UserID, a))
			members[i].Availability = a
		}
		want, ok := routing.Pick(routing.AutoCandidates(members, 0), last, switchboard.RoundRobin)
		got := assigneeOf(f.create(inbox, switchboard.NewConversation{}))
		if !ok || got != want {
			t.Fatalf("round %d: picked %d, the rules give %d (members %+v, last %d)", round, got, want, members, last)
		}
		last = got
		// Keep loads out of it: resolve what was just assigned, so going
		// offline later moves nothing and the rotation is only ours.
		resolved := switchboard.StatusResolved
		list := f.conversations()
		_, err := f.db.ChangeStatus(f.ctx, f.admin, list[0].ID, switchboard.StatusChange{Status: &resolved})
		f.must(err)
	}
}

// ROUTING.md: signing in sets the user online in every account of theirs
// where they were offline; a busy one stays busy.
func testSignInAccounts(t *testing.T, f *fixture) {
	u, err := f.db.CreateUser(f.ctx, "Multi", "multi@example.com", "password123")
	f.must(err)
	var accounts []int64
	for i, role := range []switchboard.Role{switchboard.RoleAgent, switchboard.RoleAgent, switchboard.RoleAdministrator} {
		a, err := f.db.CreateAccount(f.ctx, fmt.Sprintf("Account %d", i))
		f.must(err)
		f.must(f.db.AddAccountUser(f.ctx, a.ID, u.ID, role))
		accounts = append(accounts, a.ID)
	}
	busy := switchboard.Caller{UserID: u.ID, AccountID: accounts[1], Role: switchboard.RoleAgent}
	f.setAvailability(busy, switchboard.Busy)
	signedIn, _, err := f.db.SignIn(f.ctx, "multi@example.com", "password123")
	f.must(err)
	want := map[int64]switchboard.Availability{accounts[0]: switchboard.Online, accounts[1]: switchboard.Busy, accounts[2]: switchboard.Online}
	for _, m := range signedIn.Accounts {
		if m.Availability != want[m.AccountID] {
			t.Errorf("account %d: %s after sign-in, want %s", m.AccountID, m.Availability, want[m.AccountID])
		}
	}
	stored, err := f.db.User(f.ctx, u.ID)
	f.must(err)
	for _, m := range stored.Accounts {
		if m.Availability != want[m.AccountID] {
			t.Errorf("account %d stores %s, want %s", m.AccountID, m.Availability, want[m.AccountID])
		}
	}
}
