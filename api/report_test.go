package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/storetest"
)

// The routing report through the API on both databases, on a scripted
// history whose clock the test sets.

type reportCounts struct {
	Manual   int `json:"manual"`
	Auto     int `json:"auto"`
	Reassign int `json:"reassign"`
}

type reportRow struct {
	ID       int64        `json:"id"`
	Name     string       `json:"name"`
	Assigned reportCounts `json:"assigned"`
	First    struct {
		P50 *float64 `json:"p50"`
		P90 *float64 `json:"p90"`
	} `json:"first_assignment_seconds"`
	Open int `json:"open"`
}

type reportReply struct {
	Since   int64       `json:"since"`
	Until   int64       `json:"until"`
	Agents  []reportRow `json:"agents"`
	Inboxes []reportRow `json:"inboxes"`
}

func (r reportReply) agent(t *testing.T, id int64) reportRow {
	t.Helper()
	for _, a := range r.Agents {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("no row for agent %d in %+v", id, r.Agents)
	return reportRow{}
}

func (r reportReply) inbox(t *testing.T, id int64) reportRow {
	t.Helper()
	for _, in := range r.Inboxes {
		if in.ID == id {
			return in
		}
	}
	t.Fatalf("no row for inbox %d in %+v", id, r.Inboxes)
	return reportRow{}
}

func ids(rows []reportRow) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// want compares a row with expected figures; p50 and p90 are seconds, or
// negative for null.
func (row reportRow) want(t *testing.T, what string, manual, auto, reassign int, p50, p90 float64, open int) {
	t.Helper()
	got := fmt.Sprintf("assigned %d/%d/%d, first %s/%s, open %d", row.Assigned.Manual, row.Assigned.Auto,
		row.Assigned.Reassign, fmtSeconds(row.First.P50), fmtSeconds(row.First.P90), row.Open)
	p := func(v float64) *float64 {
		if v < 0 {
			return nil
		}
		return &v
	}
	want := fmt.Sprintf("assigned %d/%d/%d, first %s/%s, open %d", manual, auto, reassign, fmtSeconds(p(p50)), fmtSeconds(p(p90)), open)
	if got != want {
		t.Errorf("%s: %s; want %s", what, got, want)
	}
}

func fmtSeconds(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// testClock is the store's clock, set by the test.
type testClock struct{ ms atomic.Int64 }

func (c *testClock) now() time.Time     { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) set(t time.Time)    { c.ms.Store(t.UnixMilli()) }
func (c *testClock) at(d time.Duration) { c.set(reportT0.Add(d)) }

var reportT0 = time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)

// reportFixture is a history on a fresh server:
//
//   - Website (auto-assignment off; Ann and Bob): c0 created at T0-2h and
//     assigned to Ann 5s later; c1..c4 created at T0 and assigned by hand at
//     T0+10s (Ann), +20s (Ann), +30s (Bob), +40s (Bob); c1 then resolved; c5
//     created at T0+50s and never assigned.
//   - Billing (auto-assignment on; Bob and Cy): b1 and b2 created at T0+100s,
//     one each by the rotation; at T0+200s Cy goes offline and hers moves to
//     Bob.
type reportFixture struct {
	s                *testServer
	clock            *testClock
	ann, bob, cy     client
	website, billing int64
	convs            map[string]int64
}

func newReportFixture(t *testing.T, s *testServer) *reportFixture {
	t.Helper()
	f := &reportFixture{s: s, clock: &testClock{}, convs: map[string]int64{}}
	f.clock.at(-3 * time.Hour)
	s.db.Now = f.clock.now
	f.ann, f.bob, f.cy = s.newAgent("agent", "online"), s.newAgent("agent", "online"), s.newAgent("agent", "online")
	f.website = s.newInbox(map[string]any{"name": "Website", "enable_auto_assignment": false}, f.ann, f.bob)
	f.billing = s.newInbox(map[string]any{"name": "Billing"}, f.bob, f.cy)

	assign := func(name string, to client) {
		s.admin.must(200, "POST", acct("/conversations/%d/assignments", f.convs[name]), map[string]any{"assignee_id": to.id}, nil)
	}
	f.clock.at(-2 * time.Hour)
	f.convs["c0"] = s.admin.create(f.website, nil).ID
	f.clock.at(-2*time.Hour + 5*time.Second)
	assign("c0", f.ann)
	f.clock.at(0)
	for _, name := range []string{"c1", "c2", "c3", "c4"} {
		conv := s.admin.create(f.website, nil)
		if conv.assignee() != 0 {
			t.Fatalf("setup: %s assigned in an inbox without auto-assignment", name)
		}
		f.convs[name] = conv.ID
	}
	for i, step := range []struct {
		name string
		to   client
	}{{"c1", f.ann}, {"c2", f.ann}, {"c3", f.bob}, {"c4", f.bob}} {
		f.clock.at(time.Duration(i+1) * 10 * time.Second)
		assign(step.name, step.to)
	}
	f.clock.at(45 * time.Second)
	s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", f.convs["c1"]), map[string]any{"status": "resolved"}, nil)
	f.clock.at(50 * time.Second)
	f.convs["c5"] = s.admin.create(f.website, nil).ID

	f.clock.at(100 * time.Second)
	b1, b2 := s.admin.create(f.billing, nil), s.admin.create(f.billing, nil)
	got := []int64{b1.assignee(), b2.assignee()}
	slices.Sort(got)
	if want := []int64{min(f.bob.id, f.cy.id), max(f.bob.id, f.cy.id)}; !slices.Equal(got, want) {
		t.Fatalf("setup: Billing's rotation gave %v, want one each to %v", got, want)
	}
	f.clock.at(200 * time.Second)
	f.cy.setAvailability("offline")
	for _, b := range []int64{b1.ID, b2.ID} {
		if held := s.admin.conversation(b).assignee(); held != f.bob.id {
			t.Fatalf("setup: after Cy went offline conversation %d is held by %d, want Bob", b, held)
		}
	}
	return f
}

func (f *reportFixture) report(as client, query string) reportReply {
	f.s.t.Helper()
	var r reportReply
	as.must(200, "GET", acct("/reports/routing")+query, nil, &r)
	return r
}

// window is the query of [T0+from, T0+to).
func window(from, to time.Duration) string {
	return fmt.Sprintf("?since=%d&until=%d", reportT0.Add(from).Unix(), reportT0.Add(to).Unix())
}

func reportOnEachDB(t *testing.T, fn func(t *testing.T, f *reportFixture)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)(t)
			path := ""
			if b.Name == "SQLite" {
				path = dsn[len("sqlite:"):]
			}
			s := newServerOn(t, dsn, path)
			fn(t, newReportFixture(t, s))
			storetest.CheckInvariants(t, s.db, switchboard.Caller{UserID: s.admin.id, AccountID: 1, Role: switchboard.RoleAdministrator})
		})
	}
}

func TestReportFiguresForAdministrator(t *testing.T) {
	reportOnEachDB(t, func(t *testing.T, f *reportFixture) {
		r := f.report(f.s.admin, window(-time.Hour, time.Hour))
		if r.Since != reportT0.Add(-time.Hour).Unix() || r.Until != reportT0.Add(time.Hour).Unix() {
			t.Errorf("since %d, until %d; want the window asked for", r.Since, r.Until)
		}
		if got, want := ids(r.Agents), []int64{f.s.admin.id, f.ann.id, f.bob.id, f.cy.id}; !slices.Equal(got, want) {
			t.Errorf("agents %v, want every user of the account %v", got, want)
		}
		if got, want := ids(r.Inboxes), []int64{f.website, f.billing}; !slices.Equal(got, want) {
			t.Errorf("inboxes %v, want %v", got, want)
		}
		if a := r.agent(t, f.ann.id); a.Name == "" {
			t.Errorf("Ann's row has no name")
		}
		if in := r.inbox(t, f.website); in.Name != "Website" {
			t.Errorf("inbox name %q, want Website", in.Name)
		}
		// c0's assignment is before the window and c0 was created before it,
		// but Ann still holds it: open load is now.
		r.agent(t, f.ann.id).want(t, "Ann", 2, 0, 0, 10, 20, 2)
		// Bob: c3 (30s) and c4 (40s) by hand, one Billing conversation at
		// once (0s) by the rotation, Cy's by reassignment; holds all four.
		r.agent(t, f.bob.id).want(t, "Bob", 2, 1, 1, 30, 40, 4)
		r.agent(t, f.cy.id).want(t, "Cy", 0, 1, 0, 0, 0, 0)
		r.agent(t, f.s.admin.id).want(t, "Ada", 0, 0, 0, -1, -1, 0)
		// Website: 10, 20, 30, 40s (c5 never assigned); c0, c2, c3, c4 open.
		r.inbox(t, f.website).want(t, "Website", 4, 0, 0, 20, 40, 4)
		r.inbox(t, f.billing).want(t, "Billing", 0, 2, 1, 0, 0, 2)
	})
}

func TestReportWindowIsHalfOpen(t *testing.T) {
	reportOnEachDB(t, func(t *testing.T, f *reportFixture) {
		// [T0+20s, T0+30s): c2's assignment (at 20s) counts, c3's (at 30s)
		// does not; no conversation was created in it.
		r := f.report(f.s.admin, window(20*time.Second, 30*time.Second))
		r.agent(t, f.ann.id).want(t, "Ann", 1, 0, 0, -1, -1, 2)
		r.agent(t, f.bob.id).want(t, "Bob", 0, 0, 0, -1, -1, 4)
		r.inbox(t, f.website).want(t, "Website", 1, 0, 0, -1, -1, 4)

		// Before T0: c0, created and assigned after 5s.
		r = f.report(f.s.admin, window(-3*time.Hour, 0))
		r.agent(t, f.ann.id).want(t, "Ann", 1, 0, 0, 5, 5, 2)
		r.inbox(t, f.website).want(t, "Website", 1, 0, 0, 5, 5, 4)
		r.inbox(t, f.billing).want(t, "Billing", 0, 0, 0, -1, -1, 2)
	})
}

func TestReportDefaultsToTheLastSevenDays(t *testing.T) {
	reportOnEachDB(t, func(t *testing.T, f *reportFixture) {
		now := reportT0.Add(3 * time.Hour)
		f.clock.set(now)
		r := f.report(f.s.admin, "")
		if r.Until != now.Unix() || r.Since != now.Add(-7*24*time.Hour).Unix() {
			t.Errorf("since %d, until %d; want %d, %d", r.Since, r.Until, now.Add(-7*24*time.Hour).Unix(), now.Unix())
		}
		// Everything so far is in the default window, c0 too.
		r.agent(t, f.ann.id).want(t, "Ann", 3, 0, 0, 10, 20, 2)
		r.inbox(t, f.website).want(t, "Website", 5, 0, 0, 20, 40, 4)

		// until alone: the seven days before it, which exclude T0's events.
		r = f.report(f.s.admin, fmt.Sprintf("?until=%d", reportT0.Unix()))
		if r.Since != reportT0.Add(-7*24*time.Hour).Unix() {
			t.Errorf("since %d with until alone, want seven days before until", r.Since)
		}
		r.agent(t, f.ann.id).want(t, "Ann", 1, 0, 0, 5, 5, 2)
	})
}

func TestReportAgentSeesOnlyTheirInboxes(t *testing.T) {
	reportOnEachDB(t, func(t *testing.T, f *reportFixture) {
		q := window(-time.Hour, time.Hour)
		ann := f.report(f.ann, q)
		if got := ids(ann.Inboxes); !slices.Equal(got, []int64{f.website}) {
			t.Errorf("Ann sees inboxes %v, want only Website %d", got, f.website)
		}
		if got := ids(ann.Agents); !slices.Equal(got, []int64{f.ann.id, f.bob.id}) {
			t.Errorf("Ann sees agents %v, want the members of Website %v", got, []int64{f.ann.id, f.bob.id})
		}
		// Bob's figures within Website only: none of Billing's.
		ann.agent(t, f.bob.id).want(t, "Bob as Ann sees him", 2, 0, 0, 30, 40, 2)
		ann.agent(t, f.ann.id).want(t, "Ann as she sees herself", 2, 0, 0, 10, 20, 2)

		cy := f.report(f.cy, q)
		if got := ids(cy.Inboxes); !slices.Equal(got, []int64{f.billing}) {
			t.Errorf("Cy sees inboxes %v, want only Billing %d", got, f.billing)
		}
		if got := ids(cy.Agents); !slices.Equal(got, []int64{f.bob.id, f.cy.id}) {
			t.Errorf("Cy sees agents %v, want the members of Billing", got)
		}
		cy.agent(t, f.bob.id).want(t, "Bob as Cy sees him", 0, 1, 1, 0, 0, 2)
		cy.inbox(t, f.billing).want(t, "Billing as Cy sees it", 0, 2, 1, 0, 0, 2)
	})
}

func TestReportRefusesBadParameters(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct{ query, field string }{
		{"?since=yesterday", "since"},
		{"?until=1.5", "until"},
		{"?since=-1", "since"},
		{"?until=99999999999999", "until"},
		{"?since=1700000000&until=1700000000", "since"},
		{"?since=1700000100&until=1700000000", "since"},
		{fmt.Sprintf("?since=%d", time.Now().Add(24*time.Hour).Unix()), "since"},
	} {
		status, body := s.admin.do("GET", acct("/reports/routing")+tc.query, nil)
		var reply struct {
			Attributes []string `json:"attributes"`
		}
		json.Unmarshal(body, &reply)
		if status != 422 || !slices.Equal(reply.Attributes, []string{tc.field}) {
			t.Errorf("%s: status %d, body %s; want 422 naming %s", tc.query, status, body, tc.field)
		}
	}
	if status, _ := (client{s: s}).do("GET", acct("/reports/routing"), nil); status != 401 {
		t.Errorf("without credentials: status %d, want 401", status)
	}
}
