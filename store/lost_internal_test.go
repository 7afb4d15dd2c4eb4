package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRefusedBefore: which errors of creates sent together leave them
// uncommitted (run one by one then) and which may have committed
// (answered with the error, never run again).
func TestRefusedBefore(t *testing.T) {
	fatal := &pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01"}
	// As a server whose lc_messages is German words it.
	fatalGerman := &pgconn.PgError{Severity: "SCHWERWIEGEND", SeverityUnlocalized: "FATAL", Code: "57P01"}
	refusal := &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "23505"}
	network := &net.OpError{Op: "read", Net: "tcp", Err: io.ErrUnexpectedEOF}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"AStatementRefused", refusal, true},
		{"TheCommitRefused", atCommit(refusal), true},
		{"SessionEndedBeforeTheCommit", fmt.Errorf("create together: %w", fatal), true},
		{"SessionEndedAtTheCommit", atCommit(fatal), false},
		{"SessionEndedAtTheCommitInGerman", atCommit(fatalGerman), false},
		{"NetworkLostAtAnUnknownMoment", network, false},
		{"NetworkLostAtTheCommit", atCommit(network), false},
		{"LostWhilePreparing", fmt.Errorf("create together: %w", pgx.ErrPreprocessingBatch{}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusedBefore(tc.err); got != tc.want {
				t.Errorf("refusedBefore(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestConnLost: which errors say the connection to PostgreSQL is gone.
func TestConnLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"AdminShutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true},
		{"CrashShutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P02"}, true},
		{"IdleSessionTimeout", &pgconn.PgError{Severity: "FATAL", Code: "57P05"}, true},
		{"Network", fmt.Errorf("begin: %w", &net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken pipe")}), true},
		{"UnexpectedEOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"Deadlock", &pgconn.PgError{Severity: "ERROR", Code: "40P01"}, false},
		{"UniqueViolation", &pgconn.PgError{Severity: "ERROR", Code: "23505"}, false},
		{"TooManyConnections", &pgconn.PgError{Severity: "FATAL", Code: "53300"}, false},
		{"Other", errors.New("no such inbox"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := connLost(tc.err); got != tc.want {
				t.Errorf("connLost(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestLostBeforeLeavesACancelledRequest: a request that was cancelled is
// not taken for a lost connection (pgx's stdlib reports the connection it
// gave up then as bad), and does not run again.
func TestLostBeforeLeavesACancelledRequest(t *testing.T) {
	db := &DB{}
	lost := &pgconn.PgError{Severity: "FATAL", Code: "57P01"}
	if err := db.lostBefore(context.Background(), lost); !errors.Is(err, errLostBefore) {
		t.Errorf("a live request's lost connection: %v, want it marked lost", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.lostBefore(ctx, lost); errors.Is(err, errLostBefore) {
		t.Errorf("a cancelled request's error: %v, want it left as it is", err)
	}
}
