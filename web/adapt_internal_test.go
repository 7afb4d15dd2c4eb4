package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard/switchboard"
)

// TestAdaptError: the console's one place that maps the store's errors to
// statuses, for its pages and for its own fetch calls. A write the
// database was too busy to finish is 503 with a Retry-After, as in the API,
// so that the console's script may send it again; a known error shows its
// message, anything else only a generic one.
func TestAdaptError(t *testing.T) {
	c, err := New(nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	busy := fmt.Errorf("assign: %w: %w", switchboard.Errorf(switchboard.EUNAVAILABLE, "Try again."), fmt.Errorf("deadlock"))
	for _, tc := range []struct {
		name       string
		err        error
		fetch      bool
		status     int
		retryAfter string
		message    string
	}{
		{"too busy, a page", busy, false, http.StatusServiceUnavailable, "1", "Try again."},
		{"too busy, a fetch", busy, true, http.StatusServiceUnavailable, "1", "Try again."},
		{"not found", switchboard.NotFound("conversation"), true, http.StatusNotFound, "", "conversation not found"},
		{"anything else", fmt.Errorf("disk full"), false, http.StatusInternalServerError, "", "Something went wrong on our side."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := c.adapt(func(http.ResponseWriter, *http.Request) error { return tc.err })
			r := httptest.NewRequest("GET", "/app/accounts/1/conversations/1", nil)
			if tc.fetch {
				r.Header.Set("X-Requested-With", "fetch")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if !strings.Contains(w.Body.String(), tc.message) {
				t.Errorf("body %s, want the message %q", w.Body, tc.message)
			}
		})
	}
}
