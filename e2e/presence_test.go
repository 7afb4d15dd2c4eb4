package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/storetest"
)

// TestPresence: through the real binary on both databases, an agent whose
// console closes goes offline after the grace period and their conversation
// moves to the online colleague; a colleague who uses only the API keeps what
// they set.
func TestPresence(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)(t)
			p := startProcess(t, dsn, "--presence-grace", "1s", "--presence-check", "100ms")
			admin := signIn(t, p.url, adminEmail, adminPassword)
			var ann, bob, inbox agentReply
			admin.must(t, "POST", "/api/v1/accounts/1/agents", map[string]any{"name": "Ann", "email": "ann@example.com", "role": "agent", "password": "password123"}, &ann)
			admin.must(t, "POST", "/api/v1/accounts/1/agents", map[string]any{"name": "Bob", "email": "bob@example.com", "role": "agent", "availability": "online"}, &bob)
			admin.must(t, "POST", "/api/v1/accounts/1/inboxes", map[string]any{"name": "Web"}, &inbox)
			admin.must(t, "POST", "/api/v1/accounts/1/inbox_members", map[string]any{"inbox_id": inbox.ID, "user_ids": []int64{ann.ID, bob.ID}}, nil)

			// Ann signs in to the console (online) and opens its live stream.
			jar, _ := cookiejar.New(nil)
			console := &http.Client{Jar: jar}
			resp, err := console.Post(p.url+"/app/login", "application/x-www-form-urlencoded", strings.NewReader("email=ann@example.com&password=password123"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ctx, closeConsole := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/app/accounts/1/events", nil)
			stream, err := console.Do(req)
			if err != nil || stream.StatusCode != 200 {
				t.Fatalf("console stream: %v %v", stream, err)
			}
			var conv convReply
			admin.must(t, "POST", "/api/v1/accounts/1/conversations", map[string]any{"inbox_id": inbox.ID}, &conv)
			if conv.Meta.Assignee == nil || conv.Meta.Assignee.ID != ann.ID {
				t.Fatalf("setup: the conversation should go to Ann (first in the rotation): %+v", conv.Meta.Assignee)
			}
			// Connected for longer than the grace period: nothing may happen.
			time.Sleep(1500 * time.Millisecond)
			if got := availabilityOf(t, admin, ann.ID); got != "online" {
				t.Fatalf("Ann went %s while her console was open", got)
			}
			closeConsole()
			stream.Body.Close()

			deadline := time.Now().Add(20 * time.Second)
			for availabilityOf(t, admin, ann.ID) != "offline" {
				if time.Now().After(deadline) {
					t.Fatal("Ann is still not offline 20 s after her console closed (grace 1 s)")
				}
				time.Sleep(100 * time.Millisecond)
			}
			var after convReply
			admin.must(t, "GET", fmt.Sprintf("/api/v1/accounts/1/conversations/%d", conv.ID), nil, &after)
			if after.Meta.Assignee == nil || after.Meta.Assignee.ID != bob.ID {
				t.Errorf("Ann's conversation is with %+v, want Bob", after.Meta.Assignee)
			}
			if got := availabilityOf(t, admin, bob.ID); got != "online" {
				t.Errorf("Bob, who never had a console, is %s", got)
			}
		})
	}
}

func availabilityOf(t *testing.T, admin api, userID int64) string {
	t.Helper()
	var agents []struct {
		ID           int64  `json:"id"`
		Availability string `json:"availability_status"`
	}
	admin.must(t, "GET", "/api/v1/accounts/1/agents", nil, &agents)
	for _, a := range agents {
		if a.ID == userID {
			return a.Availability
		}
	}
	t.Fatalf("no agent %d", userID)
	return ""
}
