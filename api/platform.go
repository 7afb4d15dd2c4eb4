package api

import (
	"net/http"

	"github.com/switchboard/switchboard"
)

func (s *Server) platformCreateAccount(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r, "account")
	if err != nil {
		return err
	}
	name, _, err := b.str("name")
	if err != nil {
		return err
	}
	a, err := s.store.CreateAccount(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": a.ID, "name": a.Name})
}

func (s *Server) platformCreateUser(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r, "user")
	if err != nil {
		return err
	}
	name, _, err1 := b.str("name")
	email, _, err2 := b.str("email")
	password, _, err3 := b.str("password")
	if err := firstErr(err1, err2, err3); err != nil {
		return err
	}
	if password == "" {
		return switchboard.Invalid("password", "password is required")
	}
	u, err := s.store.CreateUser(r.Context(), name, email, password)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "name": u.Name, "email": u.Email, "access_token": u.AccessToken,
	})
}

func (s *Server) platformAddAccountUser(w http.ResponseWriter, r *http.Request) error {
	accountID, err := pathID(r, "id", "account")
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "account_user")
	if err != nil {
		return err
	}
	userID, err := b.requiredID("user_id")
	if err != nil {
		return err
	}
	name, _, err := b.str("role")
	if err != nil {
		return err
	}
	role, err := switchboard.ParseRole(name, "role")
	if err != nil {
		return err
	}
	if err := s.store.AddAccountUser(r.Context(), accountID, userID, role); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"account_id": accountID, "user_id": userID, "role": role})
}

func (s *Server) platformRemoveAccountUser(w http.ResponseWriter, r *http.Request) error {
	accountID, err := pathID(r, "id", "account")
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "account_user")
	if err != nil {
		return err
	}
	userID, err := b.requiredID("user_id")
	if err != nil {
		return err
	}
	if err := s.store.RemoveAccountUser(r.Context(), accountID, userID); err != nil {
		return err
	}
	return writeEmpty(w)
}
