package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/storetest"
)

// TestFormsRefuseWhatIsNotText: a console form value that is not text (a NUL
// character, bytes that are not UTF-8) is refused with 422, naming the
// field, and changes nothing, on both databases (PostgreSQL cannot store
// either, and answered 500).
func TestFormsRefuseWhatIsNotText(t *testing.T) {
	for _, backend := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return storetest.SQLite(t) }},
		{"Postgres", func(t *testing.T) string { return storetest.Postgres(t)(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			ctx := context.Background()
			l := newConsoleServer(t, backend.dsn(t))
			db, admin, srv := l.db, l.admin, l.srv
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			post := func(path string, form url.Values) (int, string) {
				t.Helper()
				resp, err := browser.PostForm(srv.URL+path, form)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body)
			}
			if status, _ := post("/app/login", url.Values{"email": {"ada@example.com"}, "password": {password}}); status != http.StatusSeeOther {
				t.Fatalf("sign-in: status %d", status)
			}
			inboxes := func() int {
				list, err := db.Inboxes(ctx, admin)
				if err != nil {
					t.Fatal(err)
				}
				return len(list)
			}
			before := inboxes()
			for _, tc := range []struct {
				name, path, field, value string
			}{
				{"InboxNameNUL", "/app/accounts/1/settings/inboxes", "name", "Sales\x00"},
				{"InboxNameNotUTF8", "/app/accounts/1/settings/inboxes", "name", "Sales\xff"},
				{"AgentNameNUL", "/app/accounts/1/settings/agents", "name", "Bo\x00b"},
				{"SignInEmailNUL", "/app/login", "email", "ada\x00@example.com"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					form := url.Values{"name": {"Ok"}, "email": {"new@example.com"}, "role": {"agent"}, "password": {password}}
					form.Set(tc.field, tc.value)
					status, body := post(tc.path, form)
					if status != http.StatusUnprocessableEntity || !strings.Contains(body, tc.field+" must be text") {
						t.Errorf("status %d, want 422 naming %s; body %.300s", status, tc.field, body)
					}
				})
			}
			if after := inboxes(); after != before {
				t.Errorf("%d inboxes after the refused forms, want %d", after, before)
			}
			agents, err := db.Agents(ctx, admin)
			if err != nil || len(agents) != 1 {
				t.Errorf("%d agents after the refused forms (%v), want only the administrator", len(agents), err)
			}
		})
	}
}
