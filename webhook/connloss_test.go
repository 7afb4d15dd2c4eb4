package webhook_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
	"github.com/switchboard/switchboard/webhook"
)

// TestDeliveriesOutliveCutConnections: PostgreSQL ends every session of a
// process again and again (restarts, failovers) while conversations are
// created and its sender delivers their webhooks. Every acknowledged
// create's conversation_created reaches the receiver all the same: its
// delivery was written with the create, and the sender's claims and
// records that met an ended connection are made again.
func TestDeliveriesOutliveCutConnections(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.Postgres(t)(t)
	name := "sbhookcut" + strings.ToLower(rand.Text()[:12])
	db, err := store.Open(ctx, storetest.Named(t, dsn, name))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	killer, err := sql.Open("pgx", dsn) // no application_name: never cut
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close()

	var mu sync.Mutex
	created := map[int64]int{} // conversation_created deliveries per conversation
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d struct {
			Event        string `json:"event"`
			Conversation struct {
				ID int64 `json:"id"`
			} `json:"conversation"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("delivery %s: %v", body, err)
		}
		if d.Event == switchboard.EventConversationCreated {
			mu.Lock()
			created[d.Conversation.ID]++
			mu.Unlock()
		}
	}))
	defer receiver.Close()

	a, user, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	admin := switchboard.Caller{UserID: user.ID, AccountID: a.ID, Role: switchboard.RoleAdministrator}
	agent, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Ann", Email: "ann@example.com", Role: switchboard.RoleAgent, Availability: switchboard.Online})
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Support", EnableAutoAssignment: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangeMembers(ctx, admin, inbox.ID, []int64{agent.ID}, store.AddMembers); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: receiver.URL, Subscriptions: []string{switchboard.EventConversationCreated}}); err != nil {
		t.Fatal(err)
	}

	sender := webhook.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sender.Every = 20 * time.Millisecond
	sending, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sender.Run(sending); close(done) }()
	defer func() { stop(); <-done }()

	// Eight creators while the sessions are cut ten times.
	var acked sync.Map
	var failed sync.Map
	var creators sync.WaitGroup
	quit := make(chan struct{})
	for range 8 {
		creators.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
				}
				conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox.ID, Message: "hello"})
				if err != nil {
					failed.Store(err.Error(), true)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				acked.Store(conv.ID, true)
			}
		})
	}
	for range 10 {
		time.Sleep(150 * time.Millisecond)
		// A storm: end whatever sessions are there, without waiting (the
		// select list, not WHERE, calls pg_terminate_backend).
		if _, err := killer.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, name); err != nil {
			t.Fatal(err)
		}
	}
	close(quit)
	creators.Wait()
	var want []int64
	acked.Range(func(k, _ any) bool { want = append(want, k.(int64)); return true })
	failed.Range(func(k, _ any) bool { t.Logf("a create failed: %v", k); return true })
	if len(want) == 0 {
		t.Fatal("no create was acknowledged")
	}

	// Every acknowledged create's delivery arrives; one whose record was
	// lost with its connection may arrive twice (at least once).
	deadline := time.Now().Add(90 * time.Second)
	for {
		mu.Lock()
		var missing []int64
		for _, id := range want {
			if created[id] == 0 {
				missing = append(missing, id)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged creates never delivered, e.g. %v", len(missing), len(want), missing[:min(len(missing), 10)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	twice := 0
	for _, n := range created {
		if n > 1 {
			twice++
		}
	}
	mu.Unlock()
	t.Logf("%d creates acknowledged, all delivered (%d more than once)", len(want), twice)
}
