package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard/switchboard"
)

// conversationFilter reads the list's query: assignee_type (default all),
// status (default open), inbox_id and page.
func conversationFilter(r *http.Request) (switchboard.ConversationFilter, error) {
	q := r.URL.Query()
	f := switchboard.ConversationFilter{AssigneeType: "all", Status: string(switchboard.StatusOpen), Page: 1}
	if v := q.Get("assignee_type"); v != "" {
		switch v {
		case "me", "unassigned", "assigned", "all":
			f.AssigneeType = v
		default:
			return f, switchboard.Invalid("assignee_type", "assignee_type must be me, unassigned, assigned or all")
		}
	}
	if v := q.Get("status"); v != "" && v != "all" {
		if _, err := switchboard.ParseStatus(v, "status"); err != nil {
			return f, switchboard.Invalid("status", "status must be open, pending, snoozed, resolved or all")
		}
		f.Status = v
	} else if v == "all" {
		f.Status = v
	}
	if v := q.Get("inbox_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, switchboard.Invalid("inbox_id", "inbox_id must be a positive integer id")
		}
		f.InboxID = &id
	}
	if v := q.Get("page"); v != "" {
		page, err := strconv.Atoi(v)
		if err != nil || page < 1 {
			return f, switchboard.Invalid("page", "page must be a positive integer")
		}
		f.Page = page
	}
	return f, nil
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	f, err := conversationFilter(r)
	if err != nil {
		return err
	}
	list, counts, err := s.store.Conversations(r.Context(), c, f)
	if err != nil {
		return err
	}
	payload := make([]conversationJSON, 0, len(list))
	for _, conv := range list {
		payload = append(payload, conversationPayload(conv))
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"data": map[string]any{"meta": countsPayload(counts), "payload": payload},
	})
}

func (s *Server) conversationMeta(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	f, err := conversationFilter(r)
	if err != nil {
		return err
	}
	_, counts, err := s.store.Conversations(r.Context(), c, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"meta": countsPayload(counts)})
}

func (s *Server) createConversation(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	b, err := readBody(w, r, "conversation")
	if err != nil {
		return err
	}
	var n switchboard.NewConversation
	if n.InboxID, err = b.requiredID("inbox_id"); err != nil {
		return err
	}
	if status, ok, err := b.str("status"); err != nil {
		return err
	} else if ok {
		if n.Status, err = switchboard.ParseStatus(status, "status"); err != nil {
			return err
		}
	}
	if id, ok, err := b.id("assignee_id"); err != nil {
		return err
	} else if ok {
		n.AssigneeID = &id
	}
	if id, ok, err := b.id("contact_id"); err != nil {
		return err
	} else if ok {
		n.ContactID = &id
	}
	if n.SourceID, _, err = b.str("source_id"); err != nil {
		return err
	}
	message, _, err := b.object("message")
	if err != nil {
		return err
	}
	if message != nil {
		if n.Message, _, err = message.str("content"); err != nil {
			return within("message", err)
		}
	}
	conv, err := s.store.CreateConversation(r.Context(), c, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, conversationPayload(conv))
}

func (s *Server) showConversation(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "conversation")
	if err != nil {
		return err
	}
	conv, err := s.store.Conversation(r.Context(), c, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, conversationPayload(conv))
}

func (s *Server) assign(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "conversation")
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "assignment")
	if err != nil {
		return err
	}
	if _, ok := b["assignee_id"]; !ok {
		return switchboard.Invalid("assignee_id", "assignee_id is required (null unassigns)")
	}
	var assignee *int64
	if assigneeID, ok, err := b.id("assignee_id"); err != nil {
		return err
	} else if ok {
		assignee = &assigneeID
	}
	a, err := s.store.Assign(r.Context(), c, id, assignee)
	if err != nil {
		return err
	}
	if a == nil {
		return writeJSON(w, http.StatusOK, nil)
	}
	return writeJSON(w, http.StatusOK, agentPayload(*a))
}

func (s *Server) toggleStatus(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "conversation")
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "conversation")
	if err != nil {
		return err
	}
	var ch switchboard.StatusChange
	if name, ok, err := b.str("status"); err != nil {
		return err
	} else if ok {
		status, err := switchboard.ParseStatus(name, "status")
		if err != nil {
			return err
		}
		ch.Status = &status
	}
	if _, ok := b["snoozed_until"]; ok && !b.isNull("snoozed_until") {
		secs, err := parseID(b["snoozed_until"], "snoozed_until")
		if err != nil || secs > maxUnixSeconds {
			return switchboard.Invalid("snoozed_until", "snoozed_until must be a Unix time in seconds, before the year 10000")
		}
		t := time.Unix(secs, 0).UTC()
		ch.SnoozedUntil = &t
	}
	if err := ch.Validate(time.Now()); err != nil {
		return err
	}
	conv, err := s.store.ChangeStatus(r.Context(), c, id, ch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"meta": map[string]any{},
		"payload": map[string]any{
			"success": true, "current_status": conv.Status, "conversation_id": conv.ID,
			"snoozed_until": unix(conv.SnoozedUntil),
		},
	})
}

func (s *Server) assignmentEvents(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "conversation")
	if err != nil {
		return err
	}
	events, err := s.store.AssignmentEvents(r.Context(), c, id)
	if err != nil {
		return err
	}
	payload := make([]eventJSON, 0, len(events))
	for _, e := range events {
		payload = append(payload, eventPayload(e))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": payload})
}
