package store

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Every query is one statement ending with its semicolon: anything after it
// (a comment heading the next file) makes the SQLite driver treat the text
// as a script and parse it again on every call.
func TestQueriesAreSingleStatements(t *testing.T) {
	for _, dialect := range []struct {
		name      string
		overrides string
		postgres  bool
	}{
		{"SQLite", "", false},
		{"PostgreSQL", postgresQueryFile, true},
	} {
		q, err := loadQueries(queryFile+"\n"+reportFile, dialect.overrides, dialect.postgres)
		if err != nil {
			t.Fatalf("%s: %v", dialect.name, err)
		}
		v := reflect.ValueOf(q)
		for i := range v.NumField() {
			text := v.Field(i).String()
			only := v.Type().Field(i).Tag.Get("dialect")
			if text == "" && (only == "postgres" && !dialect.postgres || only == "sqlite" && dialect.postgres) {
				continue
			}
			if !strings.HasSuffix(text, ";") {
				t.Errorf("%s: query %s does not end with its statement's semicolon; it ends with %q",
					dialect.name, v.Type().Field(i).Name, text[max(0, len(text)-60):])
			}
		}
	}
}

func TestTrimTrailingComments(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1;\n", "SELECT 1;"},
		{"-- leads\nSELECT 1;\n\n-- The next file's heading\n-- second line\n\n", "-- leads\nSELECT 1;"},
		{"SELECT 1; -- same line\n", "SELECT 1; -- same line"},
		{"-- only a comment\n", ""},
	} {
		if got := trimTrailingComments(tc.in); got != tc.want {
			t.Errorf("trimTrailingComments(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A list's counts read conversations_activity alone (SQLite): every open
// console asks for them again after the changes it hears, and reading each
// conversation's row for its assignee and inbox made them three times
// slower at 20,000 open conversations (BenchmarkListManyOpen).
func TestCountsReadTheIndexAlone(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, admin := range []bool{true, false} {
		rows, err := db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+db.q.CountConversations,
			1, 1, "open", "open", "open", "open", 0, 0, admin, 1)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) == 0 || !strings.Contains(plan[0], "COVERING INDEX conversations_activity") {
			t.Errorf("administrator %v: the count's plan is %q, want it to read conversations_activity alone", admin, plan)
		}
	}
}
