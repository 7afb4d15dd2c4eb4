package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
	"golang.org/x/crypto/bcrypt"
)

func init() { store.BcryptCost = bcrypt.MinCost }

// openWithAdministrator opens a store on dsn, closed when the test ends,
// with a new account and its administrator.
func openWithAdministrator(t testing.TB, dsn string) (*store.DB, switchboard.Caller) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acc, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Admin", "admin@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	return db, switchboard.Caller{UserID: u.ID, AccountID: acc.ID, Role: switchboard.RoleAdministrator}
}

// TestConformance runs the storage conformance suite on every backend.
func TestConformance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			storetest.Run(t, b.DSN(t))
		})
	}
}

// TestPostgresChangesCrossProcesses: a change committed through one
// connection pool (a process) reaches the subscribers of another.
func TestPostgresChangesCrossProcesses(t *testing.T) {
	dsn := storetest.Postgres(t)(t)
	ctx := context.Background()
	a, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	changes, cancel := b.Subscribe()
	defer cancel()
	acc, u, err := a.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	admin := switchboard.Caller{UserID: u.ID, AccountID: acc.ID, Role: switchboard.RoleAdministrator}
	in, err := a.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := a.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := switchboard.Change{Kind: switchboard.ConversationChanged, AccountID: acc.ID, ConversationID: conv.ID, InboxID: in.ID}
	deadline := time.After(20 * time.Second) // a hang guard, not a speed check
	for {
		select {
		case got := <-changes:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("the other process never heard of %+v", want)
		}
	}
}
