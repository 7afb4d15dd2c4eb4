package web_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
)

// reportClock is the store's clock: real time, or a time the test sets.
type reportClock struct{ ms atomic.Int64 }

func (c *reportClock) now() time.Time {
	if ms := c.ms.Load(); ms != 0 {
		return time.UnixMilli(ms)
	}
	return time.Now()
}

// reportTableText reads a report table of the page as "id: figure=text ..."
// lines, keyed by row id.
func reportTableText(t *testing.T, ctx context.Context, table string) map[string]string {
	t.Helper()
	rows := js[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('#%s tbody tr[data-id]')].map(tr =>
		tr.dataset.id + ' ' + tr.querySelector('th').textContent.trim() + ': ' +
		[...tr.querySelectorAll('td[data-figure]')].map(td => td.dataset.figure + '=' + td.textContent.trim()).join(' '))`, table))
	out := map[string]string{}
	for _, r := range rows {
		id, rest, _ := strings.Cut(r, " ")
		out[id] = rest
	}
	return out
}

func TestReportPageShowsTheFigures(t *testing.T) {
	c := newConsole(t)
	clock := &reportClock{}
	c.db.Now = clock.now
	ctx := context.Background()
	ann, bob := c.agent("Ann", switchboard.RoleAgent), c.agent("Bob", switchboard.RoleAgent)
	website, err := c.db.CreateInbox(ctx, c.admin, switchboard.NewInbox{Name: "Website", EnableAutoAssignment: false})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.ChangeMembers(ctx, c.admin, website.ID, []int64{ann.ID, bob.ID}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	billing := c.inbox("Billing", ann)

	// An hour ago: two conversations in Website, assigned by hand after 30s
	// (Ann) and 90s (Bob); one in Billing that the rotation gives Ann at once.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(d time.Duration) { clock.ms.Store(t0.Add(d).UnixMilli()) }
	at(0)
	var convs []switchboard.Conversation
	for range 2 {
		conv, err := c.db.CreateConversation(ctx, c.admin, switchboard.NewConversation{InboxID: website.ID})
		if err != nil || conv.Assignee != nil {
			t.Fatalf("setup: %+v %v", conv.Assignee, err)
		}
		convs = append(convs, conv)
	}
	at(30 * time.Second)
	if _, err := c.db.Assign(ctx, c.admin, convs[0].ID, &ann.ID); err != nil {
		t.Fatal(err)
	}
	at(90 * time.Second)
	if _, err := c.db.Assign(ctx, c.admin, convs[1].ID, &bob.ID); err != nil {
		t.Fatal(err)
	}
	at(100 * time.Second)
	if conv, err := c.db.CreateConversation(ctx, c.admin, switchboard.NewConversation{InboxID: billing.ID}); err != nil || conv.Assignee == nil || conv.Assignee.ID != ann.ID {
		t.Fatalf("setup: Billing's conversation should go to Ann at once: %+v %v", conv.Assignee, err)
	}
	clock.ms.Store(0)

	admin := c.browser(t, "ada@example.com")
	before := time.Now().UTC().Format("2006-01-02")
	do(t, admin, chromedp.Click(chromedp.CSS(`nav a[href$="/reports"]`)), chromedp.WaitVisible(chromedp.ID("report-agents")))
	if heading := get(t, admin, chromedp.Text(chromedp.CSS("h1"))); heading != "Reports" {
		t.Errorf("the Reports link leads to %q", heading)
	}
	headers := js[[]string](t, admin, `[...document.querySelectorAll('#report-agents thead th')].map(th => th.textContent.trim())`)
	if want := "Agent,Assigned,First assignment,Open now,Manual,Auto,Reassign,p50,p90"; strings.Join(headers, ",") != want {
		t.Errorf("agents table headers %q, want %s", headers, want)
	}
	if h := js[string](t, admin, `document.querySelector('#report-inboxes thead th').textContent.trim()`); h != "Inbox" {
		t.Errorf("inboxes table's first header %q, want Inbox", h)
	}
	agents := reportTableText(t, admin, "report-agents")
	want := map[string]string{
		fmt.Sprint(c.admin.UserID): "Ada Admin: manual=0 auto=0 reassign=0 p50=— p90=— open=0",
		fmt.Sprint(ann.ID):         "Ann: manual=1 auto=1 reassign=0 p50=0s p90=30s open=2",
		fmt.Sprint(bob.ID):         "Bob: manual=1 auto=0 reassign=0 p50=1m 30s p90=1m 30s open=1",
	}
	if fmt.Sprint(agents) != fmt.Sprint(want) {
		t.Errorf("agents table:\n%v\nwant\n%v", agents, want)
	}
	inboxes := reportTableText(t, admin, "report-inboxes")
	want = map[string]string{
		fmt.Sprint(website.ID): "Website: manual=2 auto=0 reassign=0 p50=30s p90=1m 30s open=2",
		fmt.Sprint(billing.ID): "Billing: manual=0 auto=1 reassign=0 p50=0s p90=0s open=1",
	}
	if fmt.Sprint(inboxes) != fmt.Sprint(want) {
		t.Errorf("inboxes table:\n%v\nwant\n%v", inboxes, want)
	}
	// The To date is today (in UTC), whichever side of midnight the page loaded.
	after := time.Now().UTC().Format("2006-01-02")
	if until := js[string](t, admin, `document.getElementById('report-until').value`); until != before && until != after {
		t.Errorf("the To date is %q, want today %s", until, after)
	}

	t.Run("DatesChooseTheWindow", func(t *testing.T) {
		do(t, admin, chromedp.SetValue(chromedp.ID("report-since"), "2020-01-01"),
			chromedp.SetValue(chromedp.ID("report-until"), "2020-01-07"),
			chromedp.Click(chromedp.ID("report-show")),
			chromedp.WaitVisible(chromedp.CSS(`#report-since[value="2020-01-01"]`)))
		got := reportTableText(t, admin, "report-agents")[fmt.Sprint(ann.ID)]
		// Nothing happened in 2020; Ann still holds two open conversations.
		if want := "Ann: manual=0 auto=0 reassign=0 p50=— p90=— open=2"; got != want {
			t.Errorf("Ann in 2020: %q, want %q", got, want)
		}
		do(t, admin, chromedp.Navigate(c.url("/reports?since=yesterday")))
		if title := get(t, admin, chromedp.Title()); !strings.Contains(title, "Unprocessable") {
			t.Errorf("a bad date gives %q, want Unprocessable Entity", title)
		}
	})

	t.Run("AgentSeesTheirInboxesOnly", func(t *testing.T) {
		bobs := c.browser(t, "bob@example.com")
		do(t, bobs, chromedp.Click(chromedp.CSS(`nav a[href$="/reports"]`)), chromedp.WaitVisible(chromedp.ID("report-inboxes")))
		inboxes := reportTableText(t, bobs, "report-inboxes")
		if want := "Website: manual=2 auto=0 reassign=0 p50=30s p90=1m 30s open=2"; len(inboxes) != 1 || inboxes[fmt.Sprint(website.ID)] != want {
			t.Errorf("Bob's inboxes %v, want only %s", inboxes, want)
		}
		agents := reportTableText(t, bobs, "report-agents")
		// Ann's figures within Website only: not Billing's auto assignment.
		if want := "Ann: manual=1 auto=0 reassign=0 p50=30s p90=30s open=1"; len(agents) != 2 || agents[fmt.Sprint(ann.ID)] != want {
			t.Errorf("Bob's agents %v, want Ann and Bob, Ann as %s", agents, want)
		}
	})
}
