package store

import (
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
