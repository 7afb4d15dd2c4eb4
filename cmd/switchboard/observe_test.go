package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
)

// TestMetricsAndRequestLog: /metrics reports assignments by reason, request
// latency by route and status, and the waiting queues; every request logs one
// line with its route, status, duration and user.
func TestMetricsAndRequestLog(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	admin := switchboard.Caller{UserID: u.ID, AccountID: a.ID, Role: switchboard.RoleAdministrator}
	var logs bytes.Buffer
	handler, console, err := newHandler(db, nil, slog.New(slog.NewJSONHandler(&logs, nil)), config{})
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	srv := httptest.NewServer(handler)
	defer srv.Close()

	agent, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Ann", Email: "ann@example.com", Availability: switchboard.Online})
	if err != nil {
		t.Fatal(err)
	}
	in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web", EnableAutoAssignment: true, MaxAssignmentLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangeMembers(ctx, admin, in.ID, []int64{agent.ID}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second waits: Ann is at her limit
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/accounts/1/conversations", strings.NewReader(`{"inbox_id": `+itoa(in.ID)+`}`))
		req.Header.Set("api_access_token", u.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("create: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %v %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`switchboard_assignments_total{reason="auto"} 1`,
		`switchboard_assignments_total{reason="manual"} 0`,
		`switchboard_http_request_seconds_count{route="POST /api/v1/accounts/{account_id}/conversations",status="200"} 2`,
		`switchboard_waiting_conversations{account_id="1",inbox_id="` + itoa(in.ID) + `"} 1`,
		`switchboard_pick_seconds_count 2`,
		`switchboard_database_errors_total 0`,
		`switchboard_write_retries_total{reason="lock_order"} 0`,
		`switchboard_writes_per_commit_count `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	line := ""
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, `"route":"POST /api/v1/accounts/{account_id}/conversations"`) {
			line = l
		}
	}
	for _, want := range []string{`"status":200`, `"user_id":` + itoa(u.ID), `"duration":`, `"msg":"request"`} {
		if !strings.Contains(line, want) {
			t.Errorf("request log line %q lacks %s", line, want)
		}
	}
	if strings.Contains(logs.String(), u.AccessToken) {
		t.Error("the log contains an access token")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
