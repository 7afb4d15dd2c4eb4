package throttle_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchboard/switchboard/throttle"
)

func TestSignIns(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	newLimiter := func() *throttle.SignIns {
		s := throttle.New()
		s.Now = func() time.Time { return now }
		return s
	}
	t.Run("EmailBlockedAfterFiveFailures", func(t *testing.T) {
		s := newLimiter()
		r := httptest.NewRequest("POST", "/auth/sign_in", nil)
		for i := range 5 {
			if wait := s.Check(r, "ann@example.com"); wait != 0 {
				t.Fatalf("blocked after %d failures", i)
			}
			s.Fail(r, "ann@example.com")
		}
		if wait := s.Check(r, "ANN@example.com "); wait != 15*time.Minute {
			t.Errorf("wait %v after 5 failures, want 15m (e-mail compared without case)", wait)
		}
		if wait := s.Check(r, "bob@example.com"); wait != 0 {
			t.Errorf("another e-mail from the same address waits %v", wait)
		}
	})
	t.Run("AddressBlockedAfterTwentyFailures", func(t *testing.T) {
		s := newLimiter()
		r := httptest.NewRequest("POST", "/auth/sign_in", nil)
		r.RemoteAddr = "192.0.2.7:5555"
		for i := range 20 {
			s.Fail(r, "user"+string(rune('a'+i))+"@example.com")
		}
		if wait := s.Check(r, "new@example.com"); wait == 0 {
			t.Error("the address is not blocked after 20 failures")
		}
		other := httptest.NewRequest("POST", "/auth/sign_in", nil)
		other.RemoteAddr = "192.0.2.8:5555"
		if wait := s.Check(other, "new@example.com"); wait != 0 {
			t.Errorf("another address waits %v", wait)
		}
	})
	t.Run("FailuresExpire", func(t *testing.T) {
		s := newLimiter()
		r := httptest.NewRequest("POST", "/auth/sign_in", nil)
		for range 5 {
			s.Fail(r, "ann@example.com")
		}
		now = now.Add(10 * time.Minute)
		if wait := s.Check(r, "ann@example.com"); wait != 5*time.Minute {
			t.Errorf("wait %v ten minutes later, want 5m", wait)
		}
		now = now.Add(5 * time.Minute)
		if wait := s.Check(r, "ann@example.com"); wait != 0 {
			t.Errorf("still blocked after the window: %v", wait)
		}
	})
}
