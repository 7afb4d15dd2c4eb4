package api

import (
	"net/http"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
)

func (s *Server) listInboxes(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	inboxes, err := s.store.Inboxes(r.Context(), c)
	if err != nil {
		return err
	}
	payload := make([]inboxJSON, 0, len(inboxes))
	for _, in := range inboxes {
		payload = append(payload, inboxPayload(in))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": payload})
}

func (s *Server) showInbox(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "inbox")
	if err != nil {
		return err
	}
	in, err := s.store.Inbox(r.Context(), c, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inboxPayload(in))
}

// inboxSettings reads the settings an inbox create or update may carry.
func inboxSettings(b body) (u switchboard.InboxUpdate, err error) {
	var errs [4]error
	var mode *string
	u.Name, errs[0] = optStr(b, "name")
	u.EnableAutoAssignment, errs[1] = optBool(b, "enable_auto_assignment")
	u.EnableAutoReassignment, errs[2] = optBool(b, "enable_auto_reassignment")
	mode, errs[3] = optStr(b, "assignment_mode")
	if err := firstErr(errs[:]...); err != nil {
		return u, err
	}
	if mode != nil {
		m, err := switchboard.ParseAssignmentMode(*mode, "assignment_mode")
		if err != nil {
			return u, err
		}
		u.AssignmentMode = &m
	}
	config, _, err := b.object("auto_assignment_config")
	if err != nil || config == nil {
		return u, err
	}
	const field = "auto_assignment_config.max_assignment_limit"
	if _, ok := config["max_assignment_limit"]; ok {
		limit := 0 // null: no limit
		if !config.isNull("max_assignment_limit") {
			n, err := parseID(config["max_assignment_limit"], field)
			if err != nil || n > 100000 {
				return u, switchboard.Invalid(field, "%s must be a positive number, or null for no limit", field)
			}
			limit = int(n)
		}
		u.MaxAssignmentLimit = &limit
	}
	return u, nil
}

func (s *Server) createInbox(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	b, err := readBody(w, r, "inbox")
	if err != nil {
		return err
	}
	settings, err := inboxSettings(b)
	if err != nil {
		return err
	}
	n := switchboard.NewInbox{EnableAutoAssignment: true, EnableAutoReassignment: true}
	if settings.Name != nil {
		n.Name = *settings.Name
	}
	if settings.EnableAutoAssignment != nil {
		n.EnableAutoAssignment = *settings.EnableAutoAssignment
	}
	if settings.EnableAutoReassignment != nil {
		n.EnableAutoReassignment = *settings.EnableAutoReassignment
	}
	if settings.MaxAssignmentLimit != nil {
		n.MaxAssignmentLimit = *settings.MaxAssignmentLimit
	}
	if settings.AssignmentMode != nil {
		n.AssignmentMode = *settings.AssignmentMode
	}
	channel, _, err := b.object("channel")
	if err != nil {
		return err
	}
	if channel != nil {
		kind, ok, err := channel.str("type")
		if err != nil {
			return within("channel", err)
		}
		if ok && kind != "api" {
			return switchboard.Invalid("channel.type", "channel.type must be api")
		}
		if n.WebhookURL, _, err = channel.str("webhook_url"); err != nil {
			return within("channel", err)
		}
	}
	in, err := s.store.CreateInbox(r.Context(), c, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inboxPayload(in))
}

func (s *Server) updateInbox(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "inbox")
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "inbox")
	if err != nil {
		return err
	}
	u, err := inboxSettings(b)
	if err != nil {
		return err
	}
	in, err := s.store.UpdateInbox(r.Context(), c, id, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inboxPayload(in))
}

func (s *Server) listQueue(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "inbox")
	if err != nil {
		return err
	}
	queue, err := s.store.Queue(r.Context(), c, id)
	if err != nil {
		return err
	}
	payload := make([]conversationJSON, 0, len(queue))
	for _, conv := range queue {
		payload = append(payload, conversationPayload(conv))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": payload})
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "inbox_id", "inbox")
	if err != nil {
		return err
	}
	members, err := s.store.InboxMembers(r.Context(), c, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": agentsPayload(members)})
}

// changeMembers serves the three ways to change an inbox's members. The
// inbox is named in the body, or in the path for the SDK's DELETE.
func (s *Server) changeMembers(how store.MemberChange) accountHandler {
	return func(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
		b, err := readBody(w, r, "inbox_member")
		if err != nil {
			return err
		}
		var inboxID int64
		if r.PathValue("inbox_id") != "" {
			if inboxID, err = pathID(r, "inbox_id", "inbox"); err != nil {
				return err
			}
			// The body may name it too (the JavaScript SDK sends both),
			// but not another one.
			if named, ok, err := b.id("inbox_id"); err != nil {
				return err
			} else if ok && named != inboxID {
				return switchboard.Invalid("inbox_id", "inbox_id %d in the body is not the inbox %d of the path", named, inboxID)
			}
		} else if inboxID, err = b.requiredID("inbox_id"); err != nil {
			return err
		}
		userIDs, ok, err := b.ids("user_ids")
		if err == nil && !ok {
			err = switchboard.Invalid("user_ids", "user_ids is required")
		}
		if err != nil {
			return err
		}
		members, err := s.store.ChangeMembers(r.Context(), c, inboxID, userIDs, how)
		if err != nil {
			return err
		}
		if how == store.RemoveMembers {
			return writeEmpty(w)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"payload": agentsPayload(members)})
	}
}
