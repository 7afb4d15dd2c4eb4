package store

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard"
)

// TestCreatedIn: what a create leaves for the next create of its
// PostgreSQL batch, which then skips locking and reading the inbox.
func TestCreatedIn(t *testing.T) {
	roundRobin := switchboard.Inbox{ID: 7, AccountID: 1, AssignmentMode: switchboard.RoundRobin}
	balanced, limited := roundRobin, roundRobin
	balanced.AssignmentMode = switchboard.Balanced
	limited.MaxAssignmentLimit = 2
	pick := int64(42)
	for _, tc := range []struct {
		name     string
		postgres bool
		inbox    switchboard.Inbox
		routed   bool
		assignee *int64
		keep     bool  // the next create goes on from the state
		last     int64 // the rotation's last pick it then holds (was 5)
	}{
		{"not routed: the rotation stays", true, roundRobin, false, nil, true, 5},
		{"an assignee given: the rotation stays", true, roundRobin, false, &pick, true, 5},
		{"a round-robin pick: the rotation moves to it", true, roundRobin, true, &pick, true, 42},
		{"queued, or nobody to pick: read again", true, roundRobin, true, nil, false, 0},
		{"balanced mode: read again", true, balanced, true, &pick, false, 0},
		{"a limit: read again", true, limited, true, &pick, false, 0},
		{"SQLite: never kept", false, roundRobin, false, nil, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := &DB{postgres: tc.postgres}
			tx := &txn{}
			// A state kept by a create before: this one replaces or drops it.
			tx.created = map[int64]*inboxState{7: {Inbox: tc.inbox, last: 5}}
			if !tc.postgres {
				tx.created = nil
			}
			db.createdIn(tx, &inboxState{Inbox: tc.inbox, last: 5}, tc.routed, tc.assignee)
			st, kept := tx.created[7]
			if kept != tc.keep {
				t.Fatalf("kept %v, want %v", kept, tc.keep)
			}
			if !kept {
				return
			}
			if st.last != tc.last {
				t.Errorf("last pick %d, want %d", st.last, tc.last)
			}
			got, err := db.lockForCreate(context.Background(), tx, 1, 7)
			if err != nil || got != st {
				t.Errorf("the next create of the account gets %p (%v), want the kept %p", got, err, st)
			}
		})
	}
}

// A state kept for one account's create is not another account's: its
// create locks and reads the inbox itself, and finds none.
func TestLockForCreateKeepsToTheAccount(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+t.TempDir()+"/switchboard.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acc, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := db.CreateAccountWithAdministrator(ctx, "Other", "Oz", "oz@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	admin := switchboard.Caller{UserID: u.ID, AccountID: acc.ID, Role: switchboard.RoleAdministrator}
	in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
	if err != nil {
		t.Fatal(err)
	}
	err = db.inTx(ctx, func(tx *txn) error {
		tx.created = map[int64]*inboxState{in.ID: {Inbox: in}}
		_, err := db.lockForCreate(ctx, tx, other.ID, in.ID)
		return err
	})
	if switchboard.ErrorCode(err) != switchboard.ENOTFOUND {
		t.Errorf("another account's create with a state kept for this one: %v, want not found", err)
	}
}
