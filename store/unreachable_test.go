package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// TestAnswersWhileTheDatabaseIsOutOfReach: PostgreSQL goes down or out of
// reach under a running store (its sessions end, new connections are
// refused). Reads, sign-ins and writes then fail as unavailable (503 and
// Retry-After at the API: try again), each saying what happened, and none
// as an internal error; once the database is back, each succeeds again.
func TestAnswersWhileTheDatabaseIsOutOfReach(t *testing.T) {
	ctx := context.Background()
	g := storetest.NewGate(t, storetest.Postgres(t)(t))
	db, err := store.Open(ctx, g.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	admin, agent, inbox := newDeskOn(t, db)
	conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
		want string // what the error says when the database is out of reach
	}{
		{"Query", func() error {
			inboxes, err := db.Inboxes(ctx, admin)
			if err == nil && (len(inboxes) != 1 || inboxes[0].ID != inbox) {
				err = fmt.Errorf("inboxes %+v, want inbox %d", inboxes, inbox)
			}
			return err
		}, "could not be reached"},
		{"QueryRow", func() error {
			n, err := db.CountAccounts(ctx)
			if err == nil && n != 1 {
				err = fmt.Errorf("%d accounts, want 1", n)
			}
			return err
		}, "could not be reached"},
		{"ReadOnlyTransaction", func() error {
			got, err := db.Conversation(ctx, admin, conv.ID)
			if err == nil && got.ID != conv.ID {
				err = fmt.Errorf("conversation %d, want %d", got.ID, conv.ID)
			}
			return err
		}, "could not be reached"},
		{"Agents", func() error {
			agents, err := db.Agents(ctx, admin)
			if err == nil && len(agents) != 2 {
				err = fmt.Errorf("%d agents, want 2", len(agents))
			}
			return err
		}, "could not be reached"},
		{"Agent", func() error {
			a, err := db.Agent(ctx, admin, agent)
			if err == nil && a.ID != agent {
				err = fmt.Errorf("agent %d, want %d", a.ID, agent)
			}
			return err
		}, "could not be reached"},
		{"Inbox", func() error {
			in, err := db.Inbox(ctx, admin, inbox)
			if err == nil && in.ID != inbox {
				err = fmt.Errorf("inbox %d, want %d", in.ID, inbox)
			}
			return err
		}, "could not be reached"},
		{"Webhooks", func() error {
			_, err := db.Webhooks(ctx, admin)
			return err
		}, "could not be reached"},
		{"SignIn", func() error {
			_, _, err := db.SignIn(ctx, "ada@example.com", "password123")
			return err
		}, "could not be reached"},
		{"Write", func() error {
			_, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox})
			return err
		}, "lost before the change was committed"},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s, the database in reach: %v", c.name, err)
		}
	}
	g.Shut()
	for _, c := range calls {
		err := c.call()
		if code := switchboard.ErrorCode(err); code != switchboard.EUNAVAILABLE || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s, the database out of reach: %v (code %q), want %s saying %q", c.name, err, code, switchboard.EUNAVAILABLE, c.want)
		}
	}
	g.Open()
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s, the database back: %v", c.name, err)
		}
	}
}
