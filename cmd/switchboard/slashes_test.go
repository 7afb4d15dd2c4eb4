package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// A client whose base URL ends in a slash asks for "//api/v1/...": the
// server answers it as the path with one slash, as Chatwoot does, instead
// of redirecting (a redirect that a POST's client may not follow, or
// follow without its body).
func TestDoubledSlashesAreServedAsOne(t *testing.T) {
	_, dsn := tempDB(t)
	addr := freeAddr(t)
	s := startServe(t, addr, map[string]string{
		"SWITCHBOARD_ADMIN_EMAIL": "root@example.com", "SWITCHBOARD_ADMIN_PASSWORD": "s3cret-password",
	}, "--db", dsn, "--addr", addr)
	token := s.signIn(t, "root@example.com", "s3cret-password")
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "//api/v1/accounts/1/agents", "", http.StatusOK},
		{"GET", "/api//v1/accounts/1///agents", "", http.StatusOK},
		{"GET", "//api/v1/accounts/1/agents/", "", http.StatusOK},
		{"POST", "//api/v1/accounts/1/inboxes", `{"name":"Support"}`, http.StatusOK},
		{"GET", "//api/v1/accounts/1/nothing-here", "", http.StatusNotFound},
		{"POST", "//auth/sign_in", `{"email":"root@example.com","password":"s3cret-password"}`, http.StatusOK},
		// Not the API's: redirected, as before, so that a proxy that
		// guards the path sees the client come back for it.
		{"GET", "//metrics", "", http.StatusTemporaryRedirect},
		{"GET", "//app/conversations", "", http.StatusTemporaryRedirect},
		{"POST", "//internal/v1/conversations", "[]", http.StatusTemporaryRedirect},
		// An encoded slash is a character of a segment, not a separator.
		{"GET", "/%2Fmetrics", "", http.StatusNotFound},
		{"GET", "/api/v1/accounts/1/agents%2F%2F", "", http.StatusNotFound},
		{"GET", "/api/v1/accounts/1/agents%2F", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, s.base+tt.path, bytes.NewBufferString(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("api_access_token", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: %s (Location %q), want %d", tt.method, tt.path, resp.Status, resp.Header.Get("Location"), tt.want)
		}
	}
	status, data := s.call(t, "GET", "/api/v1/accounts/1/inboxes", token, nil)
	var inboxes struct {
		Payload []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(data, &inboxes); status != http.StatusOK || err != nil || len(inboxes.Payload) != 1 || inboxes.Payload[0].Name != "Support" {
		t.Fatalf("after the POST to //api/v1/accounts/1/inboxes, the inboxes are %d %s; want Support alone", status, data)
	}
	// The id sent encoded, and a trailing slash: the slash is trimmed, the
	// id decoded as sent.
	var id strings.Builder
	for _, d := range strconv.FormatInt(inboxes.Payload[0].ID, 10) {
		fmt.Fprintf(&id, "%%%X", d)
	}
	status, data = s.call(t, "GET", "/api/v1/accounts/1/inboxes/"+id.String()+"/", token, nil)
	if status != http.StatusOK || !bytes.Contains(data, []byte(`"Support"`)) {
		t.Errorf("GET /api/v1/accounts/1/inboxes/%s/: %d %s; want the inbox Support", id.String(), status, data)
	}
}

func TestSqueezeSlashes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"//", "/"},
		{"///api", "/api"},
		{"/api//v1///accounts/", "/api/v1/accounts/"},
		{"/api/v1", "/api/v1"},
		{"/a%2F%2Fb//c", "/a%2F%2Fb/c"},
	}
	for _, tt := range tests {
		if got := squeezeSlashes(tt.in); got != tt.want {
			t.Errorf("squeezeSlashes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
