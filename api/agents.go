package api

import (
	"net/http"

	"github.com/switchboard/switchboard"
)

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	agents, err := s.store.Agents(r.Context(), c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, agentsPayload(agents))
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	b, err := readBody(w, r, "agent")
	if err != nil {
		return err
	}
	var n switchboard.NewAgent
	var role, availability string
	var roleSet, availabilitySet, autoOffline, autoOfflineSet bool
	var errs [6]error
	n.Name, _, errs[0] = b.str("name")
	n.Email, _, errs[1] = b.str("email")
	role, roleSet, errs[2] = b.str("role")
	availability, availabilitySet, errs[3] = b.str("availability")
	autoOffline, autoOfflineSet, errs[4] = b.boolean("auto_offline")
	n.Password, _, errs[5] = b.str("password")
	if err := firstErr(errs[:]...); err != nil {
		return err
	}
	n.AutoOffline = autoOffline || !autoOfflineSet // on unless turned off, as Chatwoot
	if roleSet {
		if n.Role, err = switchboard.ParseRole(role, "role"); err != nil {
			return err
		}
	}
	if availabilitySet {
		if n.Availability, err = switchboard.ParseAvailability(availability, "availability"); err != nil {
			return err
		}
	}
	a, err := s.store.CreateAgent(r.Context(), c, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, agentPayload(a))
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "agent")
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "agent")
	if err != nil {
		return err
	}
	var u switchboard.AgentUpdate
	var role, availability *string
	var errs [4]error
	u.Name, errs[0] = optStr(b, "name")
	role, errs[1] = optStr(b, "role")
	availability, errs[2] = optStr(b, "availability")
	u.AutoOffline, errs[3] = optBool(b, "auto_offline")
	if err := firstErr(errs[:]...); err != nil {
		return err
	}
	if role != nil {
		parsed, err := switchboard.ParseRole(*role, "role")
		if err != nil {
			return err
		}
		u.Role = &parsed
	}
	if availability != nil {
		parsed, err := switchboard.ParseAvailability(*availability, "availability")
		if err != nil {
			return err
		}
		u.Availability = &parsed
	}
	a, err := s.store.UpdateAgent(r.Context(), c, id, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, agentPayload(a))
}

func (s *Server) removeAgent(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "agent")
	if err != nil {
		return err
	}
	if err := s.store.RemoveAgent(r.Context(), c, id); err != nil {
		return err
	}
	return writeEmpty(w)
}
