package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// rawDB opens a connection of the test's own to the database of dsn, to
// write what an older version of Switchboard left there.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver, name := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		driver, name = "sqlite", path
	}
	raw, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// Migration 0008 lowers the e-mails stored before addresses were kept in
// lower case, except those of users whose addresses differ only in case:
// both stay, and each still signs in with the address as stored.
func TestMigrationLowersEmails(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)(t)
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			_, admin, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
			if err != nil {
				t.Fatal(err)
			}
			caller := switchboard.Caller{UserID: admin.ID, AccountID: 1, Role: switchboard.RoleAdministrator}
			stored := map[string]string{ // as an older version stored them -> after the migration
				"Mixed.Case@Example.com": "mixed.case@example.com",
				"ÉVE@Example.com":        "Éve@example.com", // as CanonicalEmail: ASCII letters only
				"Twin@Example.com":       "Twin@Example.com",
				"twin@example.com":       "twin@example.com",
			}
			ids := map[string]int64{}
			raw := rawDB(t, dsn)
			rebind := func(q string) string {
				if strings.HasPrefix(dsn, "sqlite:") {
					return strings.ReplaceAll(q, "!", "?")
				}
				return strings.NewReplacer("?", "$1", "!", "$2").Replace(q)
			}
			for old := range stored {
				a, err := db.CreateAgent(ctx, caller, switchboard.NewAgent{Name: old, Email: "x" + strings.ToLower(old), Password: "password-" + old})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := raw.Exec(rebind("UPDATE users SET email = ? WHERE id = !"), old, a.ID); err != nil {
					t.Fatal(err)
				}
				ids[old] = a.ID
			}
			if _, err := raw.Exec(rebind("DELETE FROM schema_migrations WHERE version = ?"), "0008_emails_in_lower_case"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if db, err = store.Open(ctx, dsn); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for old, want := range stored {
				var got string
				if err := raw.QueryRow(rebind("SELECT email FROM users WHERE id = ?"), ids[old]).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s stored as %q after the migration, want %q", old, got, want)
				}
				for _, typed := range []string{got, old} {
					u, _, err := db.SignIn(ctx, typed, "password-"+old)
					if err != nil || u.ID != ids[old] {
						t.Errorf("sign in as %q: user %d, %v; want user %d", typed, u.ID, err, ids[old])
					}
				}
			}
			// Added by address to another account, a lowered user is the
			// same user, not a second one.
			_, otto, err := db.CreateAccountWithAdministrator(ctx, "Other", "Otto", "otto@example.com", "password123")
			if err != nil {
				t.Fatal(err)
			}
			other := switchboard.Caller{UserID: otto.ID, AccountID: 2, Role: switchboard.RoleAdministrator}
			for _, old := range []string{"Mixed.Case@Example.com", "ÉVE@Example.com"} {
				a, err := db.CreateAgent(ctx, other, switchboard.NewAgent{Name: "Again", Email: old})
				if err != nil || a.ID != ids[old] {
					t.Errorf("agent %s in another account: user %d, %v; want user %d", old, a.ID, err, ids[old])
				}
			}
		})
	}
}

// Migration 0009 (SQLite) rebuilds the webhooks and their outbox with
// AUTOINCREMENT: every webhook and every delivery still to send stays, with
// its id; neither table hands out an id it handed out before; and deleting
// a webhook still takes its deliveries. (Run again here on tables it has
// rebuilt, as a database restored from before it would see it.)
func TestMigrationKeepsWebhooksAndDeliveries(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.SQLite(t)
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, u, err := db.CreateAccountWithAdministrator(ctx, "Acme", "Ada", "ada@example.com", "password123")
	if err != nil {
		t.Fatal(err)
	}
	admin := switchboard.Caller{UserID: u.ID, AccountID: 1, Role: switchboard.RoleAdministrator}
	inbox, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "https://example.com/keep"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "https://example.com/gone"})
	if err != nil {
		t.Fatal(err)
	}
	create := func(db *store.DB) {
		t.Helper()
		if _, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: inbox.ID}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		create(db)
	}
	// The newest deliveries are the deleted webhook's: the outbox's
	// high-water mark lies above every delivery left.
	if err := db.DeleteWebhook(ctx, admin, gone.ID); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, dsn)
	outbox := func() []string {
		t.Helper()
		rows, err := raw.Query(`SELECT id, webhook_id, event FROM webhook_outbox ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, hook int64
			var event string
			if err := rows.Scan(&id, &hook, &event); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(id, hook, event))
		}
		return out
	}
	highWater := func() int64 {
		t.Helper()
		var seq int64
		if err := raw.QueryRow(`SELECT seq FROM sqlite_sequence WHERE name = 'webhook_outbox'`).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	before, high := outbox(), highWater()
	if len(before) == 0 {
		t.Fatal("no delivery to keep")
	}
	// 0009 runs again, and after it 0011 and 0015, which add columns to the
	// table 0009 rebuilds, and 0013 and 0014, which index it, as for a
	// database older than all of them.
	if _, err := raw.Exec(`DELETE FROM schema_migrations WHERE version IN ('0009_webhook_ids_never_reused', '0011_deliveries_know_their_conversation',
		'0013_deliveries_wait_for_their_conversation', '0014_claims_read_their_webhooks_queue', '0015_each_claim_names_itself')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = store.Open(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	if after := outbox(); !slices.Equal(after, before) {
		t.Errorf("deliveries after the migration %v, want %v", after, before)
	}
	if got := highWater(); got < high {
		t.Errorf("the outbox's high-water mark fell from %d to %d", high, got)
	}
	hooks, err := db.Webhooks(ctx, admin)
	if err != nil || len(hooks) != 1 || hooks[0].ID != keep.ID || hooks[0].Secret != keep.Secret || hooks[0].URL != keep.URL {
		t.Fatalf("webhooks after the migration %+v (%v), want %+v", hooks, err, keep)
	}
	again, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "https://example.com/again"})
	if err != nil || again.ID <= gone.ID {
		t.Errorf("a webhook made after the migration has id %d (%v); %d was handed out before", again.ID, err, gone.ID)
	}
	create(db)
	var newest int64
	if err := raw.QueryRow(`SELECT max(id) FROM webhook_outbox`).Scan(&newest); err != nil || newest <= high {
		t.Errorf("the newest delivery has id %d (%v); ids up to %d were handed out before", newest, err, high)
	}
	if err := db.DeleteWebhook(ctx, admin, keep.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := raw.QueryRow(`SELECT count(*) FROM webhook_outbox WHERE webhook_id = ?`, keep.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d deliveries of a deleted webhook stayed (%v)", left, err)
	}
}
