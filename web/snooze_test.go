package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// dateTimeLocal is the form of a datetime-local input's value; the console
// reads it in the server's time zone, which is this process's.
const dateTimeLocal = "2006-01-02T15:04"

// snoozeTestConversation makes an inbox with Ann in it and a conversation
// there, open and auto-assigned to Ann.
func snoozeTestConversation(t *testing.T, c *console) switchboard.Conversation {
	t.Helper()
	ann := c.agent("Ann", switchboard.RoleAgent)
	in := c.inbox("Website", ann)
	conv, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: in.ID, Message: "Hello"})
	if err != nil || conv.Status != switchboard.StatusOpen || conv.Assignee == nil {
		t.Fatalf("setup: an open conversation assigned to Ann: %+v %v", conv, err)
	}
	return conv
}

// apiConversation reads a conversation through the API: its status and
// snoozed_until.
func (c *console) apiConversation(t *testing.T, id int64) (status string, snoozedUntil *int64) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/accounts/%d/conversations/%d", c.srv.URL, c.admin.AccountID, id), nil)
	req.Header.Set("api_access_token", c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status       string `json:"status"`
		SnoozedUntil *int64 `json:"snoozed_until"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("read conversation %d through the API: %d %v", id, resp.StatusCode, err)
	}
	return body.Status, body.SnoozedUntil
}

// otherZone returns a time zone whose clock differs from this process's
// (the server's) by hours now, so that a time read in the wrong one shows.
func otherZone(t *testing.T) *time.Location {
	t.Helper()
	now := time.Now()
	_, local := now.Zone()
	for _, name := range []string{"Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"} {
		zone, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, offset := now.In(zone).Zone(); offset-local >= 3*3600 || local-offset >= 3*3600 {
			return zone
		}
	}
	t.Fatal("no time zone three hours from this one")
	return nil
}

// shownWake is the time that the page says the conversation wakes at (the
// datetime of the time element in "Snoozed until ..."), "" when none.
func shownWake(t *testing.T, ctx context.Context) string {
	t.Helper()
	return js[string](t, ctx, `document.querySelector("#snoozed-until time")?.getAttribute("datetime") ?? ""`)
}

// unchanged fails t unless the conversation is as before: open, with no time
// to wake, with the same assignee.
func unchanged(t *testing.T, db *store.DB, admin switchboard.Caller, before switchboard.Conversation) {
	t.Helper()
	got, err := db.Conversation(context.Background(), admin, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != before.Status || got.SnoozedUntil != nil || got.Assignee == nil || got.Assignee.ID != before.Assignee.ID {
		t.Errorf("a refused snooze changed the conversation: status %s, snoozed until %v, assignee %+v; want %s, none, %d",
			got.Status, got.SnoozedUntil, got.Assignee, before.Status, before.Assignee.ID)
	}
}

func TestSnoozeForAnHourFromThePage(t *testing.T) {
	c := newConsole(t)
	conv := snoozeTestConversation(t, c)
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive())
	if shown := textOf(t, admin, "snoozed-until"); shown != "" {
		t.Fatalf("an open conversation shows %q", shown)
	}

	before := time.Now()
	do(t, admin, chromedp.Click(chromedp.ID("snooze-hour")), within("#snoozed-until"))
	after := time.Now()

	got, err := c.db.Conversation(context.Background(), c.admin, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != switchboard.StatusSnoozed || got.SnoozedUntil == nil {
		t.Fatalf("after For an hour: status %s, snoozed until %v; want snoozed with a time", got.Status, got.SnoozedUntil)
	}
	// An hour from the click, in whole seconds.
	if earliest, latest := before.Add(time.Hour).Truncate(time.Second), after.Add(time.Hour); got.SnoozedUntil.Before(earliest) || got.SnoozedUntil.After(latest) {
		t.Errorf("snoozed until %v, want an hour after the click, between %v and %v", got.SnoozedUntil, earliest, latest)
	}
	if status, until := c.apiConversation(t, conv.ID); status != "snoozed" || until == nil || *until != got.SnoozedUntil.Unix() {
		t.Errorf("through the API: status %s, snoozed_until %v; want snoozed, %d", status, until, got.SnoozedUntil.Unix())
	}
	if shown, want := shownWake(t, admin), got.SnoozedUntil.UTC().Format(time.RFC3339); shown != want {
		t.Errorf("the page says it wakes at %q, want %q", shown, want)
	}
	if text := textOf(t, admin, "snoozed-until"); !strings.Contains(text, "Snoozed until") || !strings.Contains(text, got.SnoozedUntil.Local().Format("15:04")) {
		t.Errorf("the page reads %q, want Snoozed until and the time", text)
	}
	if reopen, snooze := textOf(t, admin, "reopen"), textOf(t, admin, "snooze"); reopen != "Reopen" || snooze != "" {
		t.Errorf("a snoozed conversation's page offers reopen %q and snooze %q; want Reopen only", reopen, snooze)
	}
}

func TestSnoozeUntilAPastTimeIsRefusedOnThePage(t *testing.T) {
	c := newConsole(t)
	conv := snoozeTestConversation(t, c)
	admin := c.browser(t, "ada@example.com")
	past := time.Now().Add(-time.Hour).Format(dateTimeLocal)
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive(),
		chromedp.SetValue(chromedp.ID("snooze-until"), past),
		chromedp.Click(chromedp.ID("snooze-custom")),
		within("#snooze-error:not([hidden])"))
	if shown := textOf(t, admin, "snooze-error"); !strings.Contains(shown, "in the future") {
		t.Errorf("the refusal reads %q, want it to ask for a time in the future", shown)
	}
	// The page stays, with what was typed, to be put right; a change by
	// someone else, which rereads the page, keeps both.
	n := reread(t, admin)
	if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: conv.InboxID}); err != nil {
		t.Fatal(err)
	}
	do(t, admin, rereadSince(n))
	if shown := textOf(t, admin, "snooze-error"); !strings.Contains(shown, "in the future") {
		t.Errorf("after a live update the refusal reads %q", shown)
	}
	if typed := js[string](t, admin, `document.getElementById("snooze-until").value`); typed != past {
		t.Errorf("the date and time input holds %q after the refusal, want %q", typed, past)
	}
	unchanged(t, c.db, c.admin, conv)
	if status, until := c.apiConversation(t, conv.ID); status != "open" || until != nil {
		t.Errorf("through the API: status %s, snoozed_until %v; want open, null", status, until)
	}
}

// A date and time being typed is the user's: a change elsewhere does not
// reread the page from under them, and once they leave the field the
// reread keeps what they typed; Enter then snoozes until exactly that.
func TestASnoozeTimeBeingTypedSurvivesALiveUpdate(t *testing.T) {
	c := newConsole(t)
	conv := snoozeTestConversation(t, c)
	admin := c.browser(t, "ada@example.com")
	now := time.Now()
	want := time.Date(now.Year(), now.Month(), now.Day()+2, 14, 30, 0, 0, time.Local)
	typed := want.Format(dateTimeLocal)
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive(),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("snooze-until").focus()`),
		chromedp.SetValue(chromedp.ID("snooze-until"), typed))
	n := reread(t, admin)
	if _, err := c.db.CreateConversation(context.Background(), c.admin, switchboard.NewConversation{InboxID: conv.InboxID}); err != nil {
		t.Fatal(err)
	}
	do(t, admin, within("body[data-refresh-held]"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("snooze-until").blur()`),
		rereadSince(n))
	if kept := js[string](t, admin, `document.getElementById("snooze-until").value`); kept != typed {
		t.Fatalf("after a live update the date and time input holds %q, want the typed %q", kept, typed)
	}
	// Enter in the field sends it (and the page, no longer held by the
	// field, shows the snooze).
	do(t, admin, chromedp.Evaluate[chromedp.Void](`document.getElementById("snooze-until").focus()`),
		chromedp.KeyEvent(kb.Enter), within("#snoozed-until"))
	got, err := c.db.Conversation(context.Background(), c.admin, conv.ID)
	if err != nil || got.Status != switchboard.StatusSnoozed || got.SnoozedUntil == nil || !got.SnoozedUntil.Equal(want) {
		t.Errorf("after Snooze: %s until %v (%v), want snoozed until %v", got.Status, got.SnoozedUntil, err, want)
	}
	if shown := shownWake(t, admin); shown != want.UTC().Format(time.RFC3339) {
		t.Errorf("the page says it wakes at %q, want %v", shown, want.UTC())
	}
}

func TestReopenASnoozedConversationFromThePage(t *testing.T) {
	c := newConsole(t)
	conv := snoozeTestConversation(t, c)
	snoozed := switchboard.StatusSnoozed
	until := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	if _, err := c.db.ChangeStatus(context.Background(), c.admin, conv.ID, switchboard.StatusChange{Status: &snoozed, SnoozedUntil: &until}); err != nil {
		t.Fatal(err)
	}
	admin := c.browser(t, "ada@example.com")
	do(t, admin, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), chromedp.WaitVisible(chromedp.ID("snoozed-until")))
	if shown := shownWake(t, admin); shown != until.UTC().Format(time.RFC3339) {
		t.Errorf("the page says it wakes at %q, want %v", shown, until.UTC())
	}
	do(t, admin, chromedp.Click(chromedp.ID("reopen")), within("#conversation-status.open"))
	got, err := c.db.Conversation(context.Background(), c.admin, conv.ID)
	if err != nil || got.Status != switchboard.StatusOpen || got.SnoozedUntil != nil {
		t.Errorf("after Reopen: %s, snoozed until %v (%v); want open, no time", got.Status, got.SnoozedUntil, err)
	}
	if shown, resolve := textOf(t, admin, "snoozed-until"), textOf(t, admin, "resolve"); shown != "" || resolve != "Resolve" {
		t.Errorf("the reopened conversation's page shows %q and offers %q; want no snooze and Resolve", shown, resolve)
	}
}

// TestTimesInTheAgentsZone: with the script, the conversation page shows
// its times in the browser's time zone, not the server's, names that zone
// beside the date and time to type, and reads the Snooze control's choices
// and typed times in it.
func TestTimesInTheAgentsZone(t *testing.T) {
	c := newConsole(t)
	conv := snoozeTestConversation(t, c)
	zone := otherZone(t)
	admin := c.browser(t, "ada@example.com")
	inZone := chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone.String()})
		return err
	})
	do(t, admin, inZone, chromedp.Navigate(c.url("/conversations/%d", conv.ID)), waitLive())

	// The message's time and the assignment's.
	for _, selector := range []string{".message time", "#assignment-history time"} {
		shown := js[[]string](t, admin, fmt.Sprintf(`(e => [e.getAttribute("datetime"), e.innerText])(document.querySelector(%q))`, selector))
		at, err := time.Parse(time.RFC3339, shown[0])
		if err != nil {
			t.Fatalf("%s: datetime %q: %v", selector, shown[0], err)
		}
		if want := at.In(zone).Format("2 Jan 15:04:05"); shown[1] != want {
			t.Errorf("%s reads %q, want %q (%s)", selector, shown[1], want, zone)
		}
	}
	if label, want := js[string](t, admin, `document.querySelector("[data-zone-name]").innerText`), "("+zone.String()+")"; label != want {
		t.Errorf("the date and time to type is said to be in %q, want %q", label, want)
	}

	tomorrow := func(now time.Time) time.Time {
		local := now.In(zone)
		return time.Date(local.Year(), local.Month(), local.Day()+1, 9, 0, 0, 0, zone)
	}
	before := time.Now()
	do(t, admin, chromedp.Click(chromedp.ID("snooze-tomorrow")), within("#snoozed-until"))
	after := time.Now()
	got, err := c.db.Conversation(context.Background(), c.admin, conv.ID)
	if err != nil || got.Status != switchboard.StatusSnoozed || got.SnoozedUntil == nil {
		t.Fatalf("after Until tomorrow: %s until %v (%v)", got.Status, got.SnoozedUntil, err)
	}
	if w := *got.SnoozedUntil; !w.Equal(tomorrow(before)) && !w.Equal(tomorrow(after)) {
		t.Errorf("snoozed until %v, want tomorrow 09:00 in %s, %v", w, zone, tomorrow(before))
	}
	if text, want := textOf(t, admin, "snoozed-until"), got.SnoozedUntil.In(zone).Format("Mon 2 Jan 2006, 15:04"); !strings.Contains(text, want) {
		t.Errorf("the page reads %q, want the time to wake in %s, %q", text, zone, want)
	}

	// A date and time typed: reopen, then snooze until the day after
	// tomorrow, 10:15, where the agent is.
	// Reopen posts a plain form: the page is loaded anew, and its script
	// must have run before the time is typed.
	do(t, admin, chromedp.Click(chromedp.ID("reopen")), within("#snooze-custom"), waitLive())
	local := time.Now().In(zone)
	until := time.Date(local.Year(), local.Month(), local.Day()+2, 10, 15, 0, 0, zone)
	do(t, admin,
		chromedp.SetValue(chromedp.ID("snooze-until"), until.Format(dateTimeLocal)),
		chromedp.Click(chromedp.ID("snooze-custom")),
		within("#snoozed-until"))
	if got, err = c.db.Conversation(context.Background(), c.admin, conv.ID); err != nil || got.SnoozedUntil == nil || !got.SnoozedUntil.Equal(until) {
		t.Errorf("after a typed time: snoozed until %v (%v), want %v", got.SnoozedUntil, err, until)
	}
}

// Without JavaScript the Snooze control is a plain form: a choice snoozes
// and the page says until when; a refusal is the console's error page.
func TestSnoozeWithoutTheScript(t *testing.T) {
	c := newConsole(t)
	conv := snoozeTestConversation(t, c)
	admin := c.browserWithoutScripts(t, "ada@example.com")
	page := c.url("/conversations/%d", conv.ID)

	t.Run("PastTimeRefused", func(t *testing.T) {
		past := time.Now().Add(-24 * time.Hour).Format(dateTimeLocal)
		do(t, admin, chromedp.Navigate(page),
			chromedp.SetValue(chromedp.ID("snooze-until"), past),
			chromedp.Click(chromedp.ID("snooze-custom")),
			within("main > .error[role=alert]"))
		// The error page, not the script's message beside the control.
		if title, alert := get(t, admin, chromedp.Title()), textOf(t, admin, "main"); !strings.Contains(title, "Unprocessable") || !strings.Contains(alert, "in the future") {
			t.Errorf("the error page %q reads %q, want it to ask for a time in the future", title, alert)
		}
		unchanged(t, c.db, c.admin, conv)
	})
	t.Run("UntilTomorrow", func(t *testing.T) {
		tomorrow := func(now time.Time) time.Time {
			return time.Date(now.Year(), now.Month(), now.Day()+1, 9, 0, 0, 0, time.Local)
		}
		before := time.Now()
		do(t, admin, chromedp.Navigate(page),
			chromedp.Click(chromedp.ID("snooze-tomorrow")),
			within("#snoozed-until"))
		after := time.Now()
		got, err := c.db.Conversation(context.Background(), c.admin, conv.ID)
		if err != nil || got.Status != switchboard.StatusSnoozed || got.SnoozedUntil == nil {
			t.Fatalf("after Until tomorrow: %s until %v (%v)", got.Status, got.SnoozedUntil, err)
		}
		// Tomorrow of the click: at midnight, either day's.
		if w := *got.SnoozedUntil; !w.Equal(tomorrow(before)) && !w.Equal(tomorrow(after)) {
			t.Errorf("snoozed until %v, want tomorrow 09:00, %v", w, tomorrow(before))
		}
		if shown := shownWake(t, admin); shown != got.SnoozedUntil.UTC().Format(time.RFC3339) {
			t.Errorf("the page says it wakes at %q, want %v", shown, got.SnoozedUntil.UTC())
		}
	})
}

// TestSnoozeFormRefusesBadInput: the console's snooze, posted as a plain
// form, refuses a missing, unreadable or past time and an unknown choice
// with 422 and a message naming the field, and changes nothing; a good one
// snoozes. Who may snooze is who may change the status through the API: an
// agent gets 404 for a conversation of an inbox they are not a member of.
func TestSnoozeFormRefusesBadInput(t *testing.T) {
	for _, backend := range storetest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := context.Background()
			l := newConsoleServer(t, backend.DSN(t)(t))
			inbox, other := l.inbox(t, "Website"), l.inbox(t, "Billing")
			l.agent(t, "olga@example.com", other)
			conv := l.create(t, inbox)
			path := fmt.Sprintf("/app/accounts/1/conversations/%d/status", conv.ID)
			// signIn returns a post function for a user's own session.
			signIn := func(email string) func(form url.Values, fetch bool) (int, string) {
				jar, _ := cookiejar.New(nil)
				browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := browser.PostForm(l.srv.URL+"/app/login", url.Values{"email": {email}, "password": {password}})
				if err != nil || resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("sign-in as %s: %v %v", email, resp, err)
				}
				resp.Body.Close()
				return func(form url.Values, fetch bool) (int, string) {
					t.Helper()
					req, _ := http.NewRequest("POST", l.srv.URL+path, strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if fetch {
						req.Header.Set("X-Requested-With", "fetch")
					}
					resp, err := browser.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					return resp.StatusCode, string(body)
				}
			}
			post := signIn("ada@example.com")
			snooze := func(fields ...string) url.Values {
				form := url.Values{"status": {"snoozed"}}
				for i := 0; i+1 < len(fields); i += 2 {
					form.Set(fields[i], fields[i+1])
				}
				return form
			}
			past := time.Now().Add(-time.Minute).Format(dateTimeLocal)
			for _, tc := range []struct {
				name        string
				form        url.Values
				field, says string
			}{
				{"NoTime", snooze(), "snoozed_until", "Choose the date and time"},
				{"EmptyCustomTime", snooze("snooze", "custom", "snoozed_until", ""), "snoozed_until", "Choose the date and time"},
				{"UnreadableTime", snooze("snooze", "custom", "snoozed_until", "next tuesday"), "snoozed_until", "snoozed_until must be a date and time"},
				{"NoSuchDay", snooze("snoozed_until", "2030-02-30T09:00"), "snoozed_until", "snoozed_until must be a date and time"},
				{"PastTime", snooze("snooze", "custom", "snoozed_until", past), "snoozed_until", "in the future"},
				{"UnknownChoice", snooze("snooze", "forever"), "snooze", "snooze must be"},
				{"UnknownZone", snooze("snooze", "tomorrow", "zone", "Mars/Olympus_Mons"), "zone", "zone must be a time zone"},
				{"ZoneAsAPath", snooze("snooze", "next_week", "zone", "../../etc/passwd"), "zone", "zone must be a time zone"},
				{"CustomTimeInAnUnknownZone", snooze("snoozed_until", "2030-02-03T09:00", "zone", "Mars/Olympus_Mons"), "zone", "zone must be a time zone"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if status, body := post(tc.form, false); status != http.StatusUnprocessableEntity || !strings.Contains(body, tc.says) || !strings.Contains(body, `role="alert"`) {
						t.Errorf("plain form: status %d, want 422 with an alert saying %q; body %.600s", status, tc.says, body)
					}
					status, body := post(tc.form, true)
					var answer struct{ Error string }
					if err := json.Unmarshal([]byte(body), &answer); status != http.StatusUnprocessableEntity || err != nil || !strings.Contains(answer.Error, tc.says) {
						t.Errorf("the script's post: status %d, want 422 with the JSON error %q; body %.300s", status, tc.says, body)
					}
				})
			}
			got, err := l.db.Conversation(ctx, l.admin, conv.ID)
			if err != nil || got.Status != conv.Status || got.SnoozedUntil != nil || !got.LastActivityAt.Equal(conv.LastActivityAt) {
				t.Fatalf("after the refused snoozes: %s until %v, last activity %v (%v); want it unchanged: %s, no time, %v",
					got.Status, got.SnoozedUntil, got.LastActivityAt, err, conv.Status, conv.LastActivityAt)
			}

			t.Run("OutsiderGetsNotFound", func(t *testing.T) {
				if status, _ := signIn("olga@example.com")(snooze("snooze", "hour"), false); status != http.StatusNotFound {
					t.Errorf("an agent of another inbox: status %d, want 404", status)
				}
				if got, _ := l.db.Conversation(ctx, l.admin, conv.ID); got.Status != switchboard.StatusOpen {
					t.Errorf("an outsider's snooze made the conversation %s", got.Status)
				}
			})
			t.Run("GoodTimeInTheAgentsZoneSnoozes", func(t *testing.T) {
				zone := otherZone(t)
				now := time.Now().In(zone)
				until := time.Date(now.Year(), now.Month(), now.Day()+2, 12, 0, 0, 0, zone)
				status, _ := post(snooze("snooze", "custom", "snoozed_until", until.Format(dateTimeLocal), "zone", zone.String()), false)
				if status != http.StatusSeeOther {
					t.Fatalf("status %d, want 303 back to the conversation", status)
				}
				got, err := l.db.Conversation(ctx, l.admin, conv.ID)
				if err != nil || got.Status != switchboard.StatusSnoozed || got.SnoozedUntil == nil || !got.SnoozedUntil.Equal(until) {
					t.Errorf("snoozed %s until %v (%v), want snoozed until %v", got.Status, got.SnoozedUntil, err, until)
				}
			})
			t.Run("AnHourNeedsNoZone", func(t *testing.T) {
				// A zone this server does not know, as a browser's newer
				// than its own might name: an hour is an hour anywhere.
				before := time.Now()
				status, _ := post(snooze("snooze", "hour", "zone", "Mars/Olympus_Mons"), false)
				got, err := l.db.Conversation(ctx, l.admin, conv.ID)
				if status != http.StatusSeeOther || err != nil || got.SnoozedUntil == nil || got.SnoozedUntil.Before(before.Add(time.Hour).Truncate(time.Second)) {
					t.Errorf("status %d, snoozed until %v (%v); want 303 and an hour from now", status, got.SnoozedUntil, err)
				}
			})
			t.Run("GoodTimeSnoozes", func(t *testing.T) {
				now := time.Now()
				until := time.Date(now.Year(), now.Month(), now.Day()+2, 12, 0, 0, 0, time.Local)
				status, _ := post(snooze("snooze", "custom", "snoozed_until", until.Format(dateTimeLocal)), false)
				if status != http.StatusSeeOther {
					t.Fatalf("status %d, want 303 back to the conversation", status)
				}
				got, err := l.db.Conversation(ctx, l.admin, conv.ID)
				if err != nil || got.Status != switchboard.StatusSnoozed || got.SnoozedUntil == nil || !got.SnoozedUntil.Equal(until) {
					t.Errorf("snoozed %s until %v (%v), want snoozed until %v", got.Status, got.SnoozedUntil, err, until)
				}
			})
		})
	}
}
