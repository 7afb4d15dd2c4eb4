package store_test

import (
	"context"
	"database/sql"
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
