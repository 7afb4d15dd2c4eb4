package store

import (
	"errors"
	"strings"
	"testing"
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
