package store

import (
	"context"
	"errors"
	"testing"
)

// The inbox gates of PostgreSQL's creates: one transaction at a time per
// inbox, released when it ends, left by a waiter whose request is gone, and
// refused to a transaction already holding a routing lock (which could then
// wait at a gate while holding what the gate's holder waits for).
func TestInboxGates(t *testing.T) {
	db := &DB{}
	ctx := context.Background()
	first := &txn{}
	if err := db.enterGate(ctx, first, 7); err != nil {
		t.Fatalf("first through a free gate: %v", err)
	}
	if err := db.enterGate(ctx, &txn{}, 8); err != nil {
		t.Fatalf("another inbox's gate is its own: %v", err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.enterGate(gone, &txn{}, 7); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting at a held gate with a cancelled request: got %v, want context.Canceled", err)
	}
	first.leaveGates()
	second := &txn{}
	if err := db.enterGate(ctx, second, 7); err != nil {
		t.Fatalf("through the gate its holder left: %v", err)
	}
	second.leaveGates()

	locked := &txn{}
	locked.lockedInbox(3)
	if err := db.enterGate(ctx, locked, 7); err == nil {
		t.Fatal("a transaction holding a routing lock entered a gate")
	}
}
