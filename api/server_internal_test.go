package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboard/switchboard"
)

// TestWriteError: the one place that maps the store's errors to statuses.
// A write the database was too busy to finish is 503 with a Retry-After, so
// that a client sends it again instead of taking it for a fault; a known
// error shows its message, anything else only "internal error".
func TestWriteError(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		message    string
	}{
		{"too busy", fmt.Errorf("create: %w: %w", switchboard.Errorf(switchboard.EUNAVAILABLE, "Try again."), fmt.Errorf("deadlock")),
			http.StatusServiceUnavailable, "1", "Try again."},
		{"not found", switchboard.NotFound("inbox"), http.StatusNotFound, "", "inbox not found"},
		{"limited", switchboard.Errorf(switchboard.ELIMITED, "Wait."), http.StatusTooManyRequests, "", "Wait."},
		{"anything else", fmt.Errorf("disk full"), http.StatusInternalServerError, "", "internal error"},
		{"a code this version does not know", switchboard.Errorf("newer", "From a newer process."), http.StatusInternalServerError, "", "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest("POST", "/api/v1/accounts/1/conversations", nil), tc.err)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != tc.message {
				t.Errorf("body %s (%v), want the error %q", w.Body, err, tc.message)
			}
		})
	}
}
