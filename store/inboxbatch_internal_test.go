package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard/switchboard"
)

// A leader runs other requests' work: a panic in it must come back as that
// request's error, so that the leader goes on to hand the queue over.
func TestNoPanic(t *testing.T) {
	want := errors.New("refused")
	for _, tc := range []struct {
		name string
		fn   func(*txn) error
		ok   func(error) bool
	}{
		{"returns nil", func(*txn) error { return nil }, func(err error) bool { return err == nil }},
		{"returns its error", func(*txn) error { return want }, func(err error) bool { return errors.Is(err, want) }},
		{"panics", func(*txn) error { panic("boom") }, func(err error) bool { return err != nil && strings.Contains(err.Error(), "boom") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := noPanic(tc.fn)(nil); !tc.ok(err) {
				t.Errorf("noPanic: %v", err)
			}
		})
	}
}

// Only a refusal (a domain error) lets the batch go on: an error that may
// come from a failed statement ends its transaction.
func TestRefused(t *testing.T) {
	notFound := switchboard.NotFound("inbox")
	for _, tc := range []struct {
		name    string
		err     error
		refusal bool
	}{
		{"no error", nil, false},
		{"not found", notFound, true},
		{"invalid, wrapped", fmt.Errorf("check: %w", switchboard.Invalid("assignee_id", "no")), true},
		{"a database error", errors.New("pq: current transaction is aborted"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refused(tc.err)
			if _, ok := errors.AsType[*refusal](err); ok != tc.refusal {
				t.Errorf("refused(%v) is a refusal: %v, want %v", tc.err, ok, tc.refusal)
			}
			if switchboard.ErrorCode(err) != switchboard.ErrorCode(tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("refused(%v) = %v: the caller must see the same error", tc.err, err)
			}
		})
	}
}
