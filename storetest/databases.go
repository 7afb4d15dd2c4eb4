// Package storetest is the conformance suite that every storage backend of
// Switchboard passes: the rules of ROUTING.md checked against the store
// itself, on a real database, alone and under concurrency.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver
)

// PostgresEnv names the environment variable with the URL of the PostgreSQL
// server that tests use, e.g. postgres://postgres@127.0.0.1:5432/postgres.
const PostgresEnv = "SWITCHBOARD_TEST_POSTGRES"

// NewDSN returns a function that makes a fresh, empty database for each call
// and returns its DSN, for the backend named "sqlite" or "postgres".
type NewDSN func(t testing.TB) string

// SQLite makes a fresh SQLite file in the test's temporary directory.
func SQLite(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "switchboard.db")
}

// Postgres returns a NewDSN that makes a fresh schema on the server named by
// SWITCHBOARD_TEST_POSTGRES for each call, dropped when the test ends. It
// skips the test, saying why, when the variable is unset; CI sets it and
// starts the server, so there the tests always run.
func Postgres(t testing.TB) NewDSN {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set on CI: the PostgreSQL suite must run there", PostgresEnv)
		}
		t.Skipf("%s is not set: skipping the PostgreSQL tests (e.g. %s=postgres://postgres@127.0.0.1:5432/postgres)", PostgresEnv, PostgresEnv)
	}
	return func(t testing.TB) string {
		t.Helper()
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		schema := "sbtest_" + strings.ToLower(rand.Text()[:12])
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			admin.Close()
			t.Fatalf("create schema on %s: %v", PostgresEnv, err)
		}
		t.Cleanup(func() {
			defer admin.Close()
			if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		if q.Get("sslmode") == "" {
			q.Set("sslmode", "disable")
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
}

// Backends returns the backends to run a suite on: SQLite always, PostgreSQL
// as Postgres says.
func Backends() []struct {
	Name string
	DSN  func(t testing.TB) NewDSN
} {
	return []struct {
		Name string
		DSN  func(t testing.TB) NewDSN
	}{
		{"SQLite", func(testing.TB) NewDSN { return SQLite }},
		{"Postgres", Postgres},
	}
}
