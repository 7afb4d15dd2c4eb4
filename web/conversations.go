package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

type conversationRow struct {
	switchboard.Conversation
	InboxName string
}

type listData struct {
	Tab        string
	Status     string
	InboxID    int64
	Inboxes    []switchboard.Inbox
	Counts     switchboard.ConversationCounts
	Rows       []conversationRow
	Page       int
	PrevURL    string
	NextURL    string
	Tabs       []tab
	Statuses   []string
	AccountURL string
}

type tab struct {
	Name, Label, URL string
	Count            int
	Active           bool
}

func (c *Console) conversations(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	q := r.URL.Query()
	d := listData{Tab: q.Get("tab"), Status: q.Get("status"), Page: 1,
		Statuses:   []string{"open", "pending", "snoozed", "resolved", "all"},
		AccountURL: fmt.Sprintf("/app/accounts/%d", caller.AccountID)}
	if d.Tab == "" {
		d.Tab = "mine"
	}
	if d.Status == "" {
		d.Status = "open"
	}
	f := switchboard.ConversationFilter{Status: d.Status, AssigneeType: map[string]string{"mine": "me", "unassigned": "unassigned", "all": "all"}[d.Tab]}
	if f.AssigneeType == "" {
		return switchboard.Invalid("tab", "tab must be mine, unassigned or all")
	}
	if f.Status != "all" {
		if _, err := switchboard.ParseStatus(f.Status, "status"); err != nil {
			return err
		}
	}
	if v := q.Get("inbox_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return switchboard.Invalid("inbox_id", "inbox_id must be a number")
		}
		d.InboxID, f.InboxID = id, &id
	}
	if v := q.Get("page"); v != "" {
		if p, err := strconv.Atoi(v); err == nil && p > 0 {
			d.Page = p
		}
	}
	f.Page = d.Page
	list, counts, err := c.store.Conversations(r.Context(), caller, f)
	if err != nil {
		return err
	}
	inboxes, err := c.store.Inboxes(r.Context(), caller)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, in := range inboxes {
		names[in.ID] = in.Name
	}
	d.Inboxes, d.Counts = inboxes, counts
	for _, conv := range list {
		d.Rows = append(d.Rows, conversationRow{Conversation: conv, InboxName: names[conv.InboxID]})
	}
	link := func(tabName string, page int) string {
		v := url.Values{"tab": {tabName}, "status": {d.Status}}
		if d.InboxID != 0 {
			v.Set("inbox_id", strconv.FormatInt(d.InboxID, 10))
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		return d.AccountURL + "/conversations?" + v.Encode()
	}
	for _, t := range []struct {
		name, label string
		count       int
	}{{"mine", "Mine", counts.Mine}, {"unassigned", "Unassigned", counts.Unassigned}, {"all", "All", counts.All}} {
		d.Tabs = append(d.Tabs, tab{Name: t.name, Label: t.label, Count: t.count, URL: link(t.name, 1), Active: t.name == d.Tab})
	}
	if d.Page > 1 {
		d.PrevURL = link(d.Tab, d.Page-1)
	}
	if len(list) == switchboard.PageSize {
		d.NextURL = link(d.Tab, d.Page+1)
	}
	p := pageFor(s, caller, "Conversations", "conversations")
	p.Data = d
	return c.render(w, http.StatusOK, "conversations.html", p)
}

type candidate struct {
	switchboard.Agent
	Selected bool
}

type eventRow struct {
	switchboard.AssignmentEvent
	From, To, Actor string
}

type detailData struct {
	Conversation switchboard.Conversation
	Inbox        switchboard.Inbox
	Candidates   []candidate
	Events       []eventRow
	AccountURL   string
	// Zone names the time zone that the Snooze control's date and time are
	// read in (snoozeUntil).
	Zone string
	// SnoozeNote says what happens to a snoozed conversation whose time has
	// passed (snoozeNote).
	SnoozeNote string
}

func (c *Console) conversation(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("conversation")
	}
	ctx := r.Context()
	conv, err := c.store.Conversation(ctx, caller, id)
	if err != nil {
		return err
	}
	inbox, err := c.store.Inbox(ctx, caller, conv.InboxID)
	if err != nil {
		return err
	}
	agents, err := c.store.Agents(ctx, caller)
	if err != nil {
		return err
	}
	members, err := c.store.InboxMembers(ctx, caller, conv.InboxID)
	if err != nil {
		return err
	}
	isMember := map[int64]bool{}
	for _, m := range members {
		isMember[m.ID] = true
	}
	now := c.now()
	d := detailData{Conversation: conv, Inbox: inbox, AccountURL: fmt.Sprintf("/app/accounts/%d", caller.AccountID),
		Zone: now.In(time.Local).Format("MST")}
	if conv.Status == switchboard.StatusSnoozed && conv.SnoozedUntil != nil {
		d.SnoozeNote = snoozeNote(*conv.SnoozedUntil, now)
	}
	names := map[int64]string{}
	for _, a := range agents {
		names[a.ID] = a.Name
		// Exactly the users who may be the assignee (ROUTING.md rule 2).
		if routing.MayBeAssignee(a.Role, isMember[a.ID]) {
			d.Candidates = append(d.Candidates, candidate{Agent: a, Selected: conv.Assignee != nil && conv.Assignee.ID == a.ID})
		}
	}
	events, err := c.store.AssignmentEvents(ctx, caller, id)
	if err != nil {
		return err
	}
	name := func(p *int64, none string) string {
		if p == nil {
			return none
		}
		if n, ok := names[*p]; ok {
			return n
		}
		return fmt.Sprintf("user %d", *p)
	}
	for _, e := range events {
		d.Events = append(d.Events, eventRow{AssignmentEvent: e, From: name(e.From, "nobody"), To: name(e.To, "nobody"), Actor: name(e.ActorID, "Switchboard")})
	}
	p := pageFor(s, caller, fmt.Sprintf("Conversation #%d", conv.ID), "conversations")
	p.Data = d
	return c.render(w, http.StatusOK, "conversation.html", p)
}

func (c *Console) assign(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("conversation")
	}
	var assignee *int64
	if v := r.PostFormValue("assignee_id"); v != "" {
		a, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return switchboard.Invalid("assignee_id", "assignee_id must be a user id")
		}
		assignee = &a
	}
	if _, err := c.store.Assign(r.Context(), caller, id, assignee); err != nil {
		return err
	}
	return done(w, r, fmt.Sprintf("/app/accounts/%d/conversations/%d", caller.AccountID, id))
}

func (c *Console) status(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("conversation")
	}
	st, err := switchboard.ParseStatus(r.PostFormValue("status"), "status")
	if err != nil {
		return err
	}
	ch := switchboard.StatusChange{Status: &st}
	if st == switchboard.StatusSnoozed {
		// An hour is an hour anywhere: a zone this server does not know (a
		// browser's newer than its own) refuses only a time of day.
		loc := time.Local
		if r.PostForm.Get("snooze") != snoozeHour {
			if loc, err = formZone(r.PostForm); err != nil {
				return err
			}
		}
		until, err := snoozeUntil(r.PostForm, c.now(), loc)
		if err != nil {
			return err
		}
		ch.SnoozedUntil = &until
	}
	if _, err := c.store.ChangeStatus(r.Context(), caller, id, ch); err != nil {
		return err
	}
	return done(w, r, fmt.Sprintf("/app/accounts/%d/conversations/%d", caller.AccountID, id))
}
