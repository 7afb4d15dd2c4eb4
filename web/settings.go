package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard"
)

// Settings are for administrators; an agent who follows a link there is told
// so, and an inbox they are not a member of does not exist for them.

func adminOnly(caller switchboard.Caller) error {
	if !caller.IsAdministrator() {
		return switchboard.Errorf(switchboard.EFORBIDDEN, "Only administrators can open the settings.")
	}
	return nil
}

func (c *Console) agents(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	if err := adminOnly(caller); err != nil {
		return err
	}
	agents, err := c.store.Agents(r.Context(), caller)
	if err != nil {
		return err
	}
	p := pageFor(s, caller, "Agents", "agents")
	p.Data = struct {
		Agents     []switchboard.Agent
		AccountURL string
	}{agents, fmt.Sprintf("/app/accounts/%d", caller.AccountID)}
	return c.render(w, http.StatusOK, "agents.html", p)
}

func (c *Console) agentsURL(caller switchboard.Caller) string {
	return fmt.Sprintf("/app/accounts/%d/settings/agents", caller.AccountID)
}

func (c *Console) createAgent(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	role, err := switchboard.ParseRole(r.PostFormValue("role"), "role")
	if err != nil {
		return err
	}
	_, err = c.store.CreateAgent(r.Context(), caller, switchboard.NewAgent{
		Name: r.PostFormValue("name"), Email: r.PostFormValue("email"), Role: role,
		Password: r.PostFormValue("password"), AutoOffline: true,
	})
	if err != nil {
		return err
	}
	return done(w, r, c.agentsURL(caller))
}

func (c *Console) updateAgent(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("agent")
	}
	role, err := switchboard.ParseRole(r.PostFormValue("role"), "role")
	if err != nil {
		return err
	}
	if _, err := c.store.UpdateAgent(r.Context(), caller, id, switchboard.AgentUpdate{Role: &role}); err != nil {
		return err
	}
	return done(w, r, c.agentsURL(caller))
}

func (c *Console) removeAgent(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("agent")
	}
	if err := c.store.RemoveAgent(r.Context(), caller, id); err != nil {
		return err
	}
	return done(w, r, c.agentsURL(caller))
}

func (c *Console) inboxes(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	if err := adminOnly(caller); err != nil {
		return err
	}
	inboxes, err := c.store.Inboxes(r.Context(), caller)
	if err != nil {
		return err
	}
	p := pageFor(s, caller, "Inboxes", "inboxes")
	p.Data = struct {
		Inboxes    []switchboard.Inbox
		AccountURL string
	}{inboxes, fmt.Sprintf("/app/accounts/%d", caller.AccountID)}
	return c.render(w, http.StatusOK, "inboxes.html", p)
}

func (c *Console) createInbox(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	in, err := c.store.CreateInbox(r.Context(), caller, switchboard.NewInbox{
		Name: r.PostFormValue("name"), EnableAutoAssignment: true, EnableAutoReassignment: true,
	})
	if err != nil {
		return err
	}
	return done(w, r, fmt.Sprintf("/app/accounts/%d/settings/inboxes/%d/collaborators", caller.AccountID, in.ID))
}

func (c *Console) renameInbox(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("inbox")
	}
	name := r.PostFormValue("name")
	if _, err := c.store.UpdateInbox(r.Context(), caller, id, switchboard.InboxUpdate{Name: &name}); err != nil {
		return err
	}
	return done(w, r, fmt.Sprintf("/app/accounts/%d/settings/inboxes", caller.AccountID))
}

type collaborator struct {
	switchboard.Agent
	Member bool
}

func (c *Console) collaborators(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("inbox")
	}
	ctx := r.Context()
	inbox, err := c.store.Inbox(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := adminOnly(caller); err != nil {
		return err
	}
	agents, err := c.store.Agents(ctx, caller)
	if err != nil {
		return err
	}
	members, err := c.store.InboxMembers(ctx, caller, id)
	if err != nil {
		return err
	}
	var people []collaborator
	for _, a := range agents {
		people = append(people, collaborator{Agent: a, Member: slices.ContainsFunc(members, func(m switchboard.Agent) bool { return m.ID == a.ID })})
	}
	p := pageFor(s, caller, inbox.Name+" · Collaborators", "inboxes")
	p.Notice = r.URL.Query().Get("saved")
	if p.Notice != "" {
		p.Notice = "Saved."
	}
	p.Data = struct {
		Inbox      switchboard.Inbox
		People     []collaborator
		AccountURL string
	}{inbox, people, fmt.Sprintf("/app/accounts/%d", caller.AccountID)}
	return c.render(w, http.StatusOK, "collaborators.html", p)
}

// updateCollaborators saves the member picker and both toggles in one step.
func (c *Console) updateCollaborators(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return switchboard.NotFound("inbox")
	}
	if _, err := c.store.Inbox(r.Context(), caller, id); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return switchboard.Errorf(switchboard.EMALFORMED, "the form could not be read")
	}
	members := []int64{}
	for _, v := range r.PostForm["members"] {
		m, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return switchboard.Invalid("members", "members must be user ids")
		}
		members = append(members, m)
	}
	auto := r.PostFormValue("enable_auto_assignment") == "on"
	reassign := r.PostFormValue("enable_auto_reassignment") == "on"
	limit := 0
	if v := strings.TrimSpace(r.PostFormValue("max_assignment_limit")); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return switchboard.Invalid("max_assignment_limit", "Maximum assignment limit must be a positive number, or empty for no limit.")
		}
	}
	mode, err := switchboard.ParseAssignmentMode(r.PostFormValue("assignment_mode"), "assignment_mode")
	if err != nil {
		return err
	}
	err = c.store.UpdateCollaborators(r.Context(), caller, id, members, switchboard.InboxUpdate{
		EnableAutoAssignment: &auto, EnableAutoReassignment: &reassign, MaxAssignmentLimit: &limit, AssignmentMode: &mode,
	})
	if err != nil {
		return err
	}
	return done(w, r, fmt.Sprintf("/app/accounts/%d/settings/inboxes/%d/collaborators?saved=1", caller.AccountID, id))
}
