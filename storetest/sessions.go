package storetest

import (
	"database/sql"
	"net/url"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
)

// Named returns the PostgreSQL URL dsn with application_name set to name,
// so that every session opened with it (a store's pool, its listener, its
// lead connection) can be found, and ended, by that name.
func Named(t testing.TB, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// EndSessions ends, through db (whose own sessions must have another
// name), every PostgreSQL session named name, as a restart, a failover or
// an administrator would, and waits until they are gone. It fails t if
// there was none.
func EndSessions(t testing.TB, db *sql.DB, name string) {
	t.Helper()
	// pg_terminate_backend is called in the select list, which only the
	// rows WHERE kept reach: in WHERE, PostgreSQL might call it before
	// comparing the name, and end anybody's session.
	rows, err := db.Query(`SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1`, name)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int64
	for rows.Next() {
		var pid int64
		var ended bool
		if err := rows.Scan(&pid, &ended); err != nil {
			t.Fatal(err)
		}
		if ended {
			pids = append(pids, pid)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pids) == 0 {
		t.Fatalf("no session named %s to end", name)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var left int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions %v still there 10 s after they were ended", pids)
		}
		time.Sleep(time.Millisecond)
	}
}

// HearsOf says whether a change of conversation id arrives on changes
// within d, passing over the other changes.
func HearsOf(changes <-chan switchboard.Change, id int64, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case ch := <-changes:
			if ch.Kind == switchboard.ConversationChanged && ch.ConversationID == id {
				return true
			}
		case <-timeout:
			return false
		}
	}
}
