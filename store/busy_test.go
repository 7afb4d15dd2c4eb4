package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// TestTooBusy: a write that meets other writes at every attempt (a
// deadlock, a serialization failure, an inbox lock needed out of order) is
// undone each time and ends, after its last attempt, as EUNAVAILABLE, which
// the API answers 503: the request was fine and may be sent again. Any other
// failure ends at once, as it was.
func TestTooBusy(t *testing.T) {
	refused := switchboard.Invalid("name", "name is refused")
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db, admin := openWithAdministrator(t, b.DSN(t)(t))
			ctx := context.Background()
			for _, tc := range []struct {
				name     string
				fail     error
				runs     int
				wantCode switchboard.Code
			}{
				{"lock order", store.ErrLockOrder, 5, switchboard.EUNAVAILABLE},
				{"serialization failure", &pgconn.PgError{Code: "40001"}, 5, switchboard.EUNAVAILABLE},
				{"deadlock", &pgconn.PgError{Code: "40P01"}, 5, switchboard.EUNAVAILABLE},
				{"a refusal", refused, 1, switchboard.EINVALID},
				{"another database error", &pgconn.PgError{Code: "23505"}, 1, switchboard.EINTERNAL},
			} {
				t.Run(tc.name, func(t *testing.T) {
					runs, err := store.WriteAndFail(ctx, db, tc.fail, "UPDATE accounts SET name = ? WHERE id = ?", "Changed", admin.AccountID)
					if runs != tc.runs {
						t.Errorf("ran %d times, want %d", runs, tc.runs)
					}
					if !errors.Is(err, tc.fail) {
						t.Errorf("error %v does not hold %v", err, tc.fail)
					}
					if got := switchboard.ErrorCode(err); got != tc.wantCode {
						t.Errorf("code %q, want %q (%v)", got, tc.wantCode, err)
					}
					u, err := db.User(ctx, admin.UserID)
					if err != nil {
						t.Fatal(err)
					}
					if m, ok := membershipIn(u, admin.AccountID); !ok || m.AccountName != "Acme" {
						t.Errorf("the account is named %q: the failed write stayed", m.AccountName)
					}
				})
			}
		})
	}
}
