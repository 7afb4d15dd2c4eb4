package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/storetest"
)

// TestKeepPresenceWakesSnoozed: the presence loop every process runs
// reopens a snoozed conversation whose time has come, at its start as at
// every sweep (the rules of the reopening are the conformance suite's
// SnoozedConversationsReopenWhenDue).
func TestKeepPresenceWakesSnoozed(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db, admin := openWithAdministrator(t, b.DSN(t)(t))
			in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web", EnableAutoAssignment: true, EnableAutoReassignment: true})
			if err != nil {
				t.Fatal(err)
			}
			conv, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID})
			if err != nil {
				t.Fatal(err)
			}
			snoozed, until := switchboard.StatusSnoozed, time.Now().Add(-time.Minute)
			if _, err := db.ChangeStatus(ctx, admin, conv.ID, switchboard.StatusChange{Status: &snoozed, SnoozedUntil: &until}); err != nil {
				t.Fatal(err)
			}
			loop, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				db.KeepPresence(loop, time.Hour, time.Hour, slog.New(slog.DiscardHandler))
			}()
			deadline := time.Now().Add(20 * time.Second) // a hang guard, not a speed check
			var got switchboard.Conversation
			for time.Now().Before(deadline) {
				if got, err = db.Conversation(ctx, admin, conv.ID); err != nil || got.Status == switchboard.StatusOpen {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-done
			if err != nil || got.Status != switchboard.StatusOpen {
				t.Errorf("the conversation is %s (%v) after the presence loop ran, want open", got.Status, err)
			}
		})
	}
}
