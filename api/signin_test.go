package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// ROUTING.md: the login limit counts failed sign-ins only, per address and
// per e-mail.
func TestSignInLimit(t *testing.T) {
	s := newServer(t)
	anon := client{s: s}
	signIn := func(email, password string) (int, http.Header) {
		req, _ := http.NewRequest("POST", s.srv.URL+"/auth/sign_in", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	t.Run("SuccessesDoNotCount", func(t *testing.T) {
		for range 8 {
			anon.must(200, "POST", "/auth/sign_in", map[string]string{"email": adminEmail, "password": adminPassword}, nil)
		}
	})
	t.Run("FifthFailureBlocksTheEmail", func(t *testing.T) {
		for i := range 5 {
			if status, _ := signIn(adminEmail, "wrong"); status != 401 {
				t.Fatalf("failure %d: status %d, want 401", i+1, status)
			}
		}
		status, header := signIn(adminEmail, adminPassword)
		if status != 429 {
			t.Fatalf("sign-in after 5 failures: %d, want 429", status)
		}
		if secs, err := strconv.Atoi(header.Get("Retry-After")); err != nil || secs <= 0 || secs > 15*60 {
			t.Errorf("Retry-After %q, want seconds up to 15 minutes", header.Get("Retry-After"))
		}
	})
	t.Run("OtherEmailsStillSignIn", func(t *testing.T) {
		a := s.newAgent("agent", "online")
		var me agentReply
		a.must(200, "GET", "/api/v1/profile", nil, &me)
		if status, _ := signIn(me.Email, "password123"); status != 200 {
			t.Errorf("another user's sign-in: %d, want 200", status)
		}
	})
	t.Run("TokensStillWork", func(t *testing.T) {
		s.admin.must(200, "GET", "/api/v1/profile", nil, nil)
	})
}
