package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/storetest"
)

// TestLiveUpdatesCrossProcesses: a console connected to process B hears of an
// assignment made through process A (PostgreSQL LISTEN/NOTIFY).
func TestLiveUpdatesCrossProcesses(t *testing.T) {
	dsn := storetest.Postgres(t)(t)
	a := startProcess(t, dsn)
	b := startProcess(t, dsn)
	admin := signIn(t, a.url, adminEmail, adminPassword)
	var inbox, agent agentReply
	admin.must(t, "POST", "/api/v1/accounts/1/inboxes", map[string]any{"name": "Web", "enable_auto_assignment": false}, &inbox)
	admin.must(t, "POST", "/api/v1/accounts/1/agents", map[string]any{"name": "Ann", "email": "ann@example.com", "role": "agent"}, &agent)
	admin.must(t, "POST", "/api/v1/accounts/1/inbox_members", map[string]any{"inbox_id": inbox.ID, "user_ids": []int64{agent.ID}}, nil)
	var conv convReply
	admin.must(t, "POST", "/api/v1/accounts/1/conversations", map[string]any{"inbox_id": inbox.ID}, &conv)

	// The console's session on B: sign in there for the cookie, then open
	// the event stream as the console's script does.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Post(b.url+"/app/login", "application/x-www-form-urlencoded",
		strings.NewReader("email="+adminEmail+"&password="+strings.ReplaceAll(adminPassword, " ", "+")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/app/accounts/1/events", nil)
	stream, err := browser.Do(req)
	if err != nil || stream.StatusCode != 200 || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream on B: %v %v", stream, err)
	}
	defer stream.Body.Close()
	lines := bufio.NewScanner(stream.Body)
	lines.Scan() // ": connected", sent once B is subscribed

	admin.must(t, "POST", fmt.Sprintf("/api/v1/accounts/1/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": agent.ID}, nil)
	want := fmt.Sprintf(`"conversation_id":%d`, conv.ID)
	for lines.Scan() {
		if line := lines.Text(); strings.HasPrefix(line, "data:") && strings.Contains(line, want) && strings.Contains(line, `"kind":"conversation"`) {
			return
		}
	}
	t.Fatalf("the console on B never heard of the assignment made on A: %v", lines.Err())
}

// TestGracefulShutdown: SIGTERM closes the live-update streams and the
// process exits cleanly, without waiting for its shutdown deadline.
func TestGracefulShutdown(t *testing.T) {
	p := startProcess(t, "sqlite:"+t.TempDir()+"/sb.db")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Post(p.url+"/app/login", "application/x-www-form-urlencoded",
		strings.NewReader("email="+adminEmail+"&password="+strings.ReplaceAll(adminPassword, " ", "+")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stream, err := browser.Get(p.url + "/app/accounts/1/events")
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("event stream: %v %v", stream, err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		ended <- err
	}()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the stream ended with %v, want a clean end", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the live-update stream was not closed on SIGTERM")
	}
	select {
	case <-p.done:
	case <-time.After(8 * time.Second):
		t.Fatal("the process did not exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; logs:\n%s", code, p.logs)
	}
}
