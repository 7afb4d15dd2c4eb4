package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard/switchboard"
)

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r, "user")
	if err != nil {
		return err
	}
	email, _, err1 := b.str("email")
	password, _, err2 := b.str("password")
	if err := firstErr(err1, err2); err != nil {
		return err
	}
	if email == "" {
		return switchboard.Invalid("email", "email is required")
	}
	if password == "" {
		return switchboard.Invalid("password", "password is required")
	}
	if err := throttled(w, s.config.SignIns.Check(r, email)); err != nil {
		return err
	}
	u, session, err := s.store.SignIn(r.Context(), email, password)
	if switchboard.ErrorCode(err) == switchboard.EUNAUTHORIZED {
		s.config.SignIns.Fail(r, email)
	}
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: session, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	return writeJSON(w, http.StatusOK, map[string]any{"data": userPayload(u, 0)})
}

// throttled refuses a sign-in that must wait, saying for how long.
func throttled(w http.ResponseWriter, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	seconds := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	return switchboard.Errorf(switchboard.ELIMITED, "Too many failed sign-ins. Try again in %d seconds.", seconds)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	auth, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := s.store.SignOut(r.Context(), auth.user.ID, auth.session); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	return writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request) error {
	auth, err := s.authenticate(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userPayload(auth.user, 0))
}

func (s *Server) setProfileAvailability(w http.ResponseWriter, r *http.Request) error {
	auth, err := s.authenticate(r)
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "profile")
	if err != nil {
		return err
	}
	name, ok, err := b.str("availability")
	if err == nil && !ok {
		err = switchboard.Invalid("availability", "availability is required")
	}
	if err != nil {
		return err
	}
	availability, err := switchboard.ParseAvailability(name, "availability")
	if err != nil {
		return err
	}
	accountID, ok, err := b.id("account_id")
	if err != nil {
		return err
	}
	if !ok {
		// Unambiguous for the many users who are in one account.
		if len(auth.user.Accounts) != 1 {
			return switchboard.Invalid("account_id", "account_id is required")
		}
		accountID = auth.user.Accounts[0].AccountID
	}
	c, err := auth.user.CallerIn(accountID)
	if err != nil {
		return err
	}
	if err := s.store.SetAvailability(r.Context(), c, auth.user.ID, availability); err != nil {
		return err
	}
	u, err := s.store.User(r.Context(), auth.user.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userPayload(u, accountID))
}
