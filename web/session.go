package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/switchboard/switchboard"
)

func writeJSONError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": message})
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) error {
	p := page{Title: "Sign in"}
	if r.URL.Query().Get("signed_out") != "" {
		p.Notice = "You have signed out. You are offline now, and your open conversations went to colleagues who are online."
	}
	return c.render(w, http.StatusOK, "login.html", p)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) error {
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	if wait := c.signIns.Check(r, email); wait > 0 {
		seconds := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		return c.render(w, http.StatusTooManyRequests, "login.html", page{Title: "Sign in", Data: email,
			Error: fmt.Sprintf("Too many failed sign-ins. Try again in %d seconds.", seconds)})
	}
	u, token, err := c.store.SignIn(r.Context(), email, password)
	if switchboard.ErrorCode(err) == switchboard.EUNAUTHORIZED {
		c.signIns.Fail(r, email)
		return c.render(w, http.StatusUnauthorized, "login.html", page{Title: "Sign in", Error: "Wrong e-mail or password.", Data: email})
	} else if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: switchboard.SessionCookie, Value: token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	if len(u.Accounts) == 0 {
		return switchboard.Errorf(switchboard.EFORBIDDEN, "You do not belong to any account yet.")
	}
	http.Redirect(w, r, fmt.Sprintf("/app/accounts/%d/conversations", u.Accounts[0].AccountID), http.StatusSeeOther)
	return nil
}

// logout signs out, which sets the user offline and reassigns their
// conversations, then says so on the sign-in page.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) error {
	s, err := c.session(r)
	if err != nil {
		return err
	}
	if err := c.store.SignOut(r.Context(), s.user.ID, s.token); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: switchboard.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	http.Redirect(w, r, "/app/login?signed_out=1", http.StatusSeeOther)
	return nil
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) error {
	s, err := c.session(r)
	if err != nil {
		return err
	}
	if len(s.user.Accounts) == 0 {
		return switchboard.Errorf(switchboard.EFORBIDDEN, "You do not belong to any account yet.")
	}
	http.Redirect(w, r, fmt.Sprintf("/app/accounts/%d/conversations", s.user.Accounts[0].AccountID), http.StatusSeeOther)
	return nil
}

func (c *Console) availability(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	a, err := switchboard.ParseAvailability(r.PostFormValue("availability"), "availability")
	if err != nil {
		return err
	}
	if err := c.store.SetAvailability(r.Context(), caller, caller.UserID, a); err != nil {
		return err
	}
	back := r.Referer()
	if back == "" {
		back = fmt.Sprintf("/app/accounts/%d/conversations", caller.AccountID)
	}
	return done(w, r, back)
}
