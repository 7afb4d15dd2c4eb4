// Package throttle limits failed sign-ins, per client address and per e-mail,
// so that passwords cannot be guessed at speed. Only failures count: a team
// that signs in often is never slowed down.
package throttle

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SignIns counts the failed sign-ins of the last Window, by key, in this
// process.
type SignIns struct {
	// PerAddress and PerEmail are the failures allowed in a window.
	PerAddress, PerEmail int
	Window               time.Duration
	Now                  func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
	calls    int
}

// New returns a limiter with Switchboard's defaults: 20 failures per address
// and 5 per e-mail in 15 minutes.
func New() *SignIns {
	return &SignIns{PerAddress: 20, PerEmail: 5, Window: 15 * time.Minute, Now: time.Now}
}

func keys(r *http.Request, email string) (address, mail string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "address:" + host, "email:" + strings.ToLower(strings.TrimSpace(email))
}

// Check reports how long the sign-in of email from r must wait; zero means
// it may go ahead.
func (s *SignIns) Check(r *http.Request, email string) time.Duration {
	address, mail := keys(r, email)
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.wait(address, s.PerAddress), s.wait(mail, s.PerEmail))
}

// Fail records a failed sign-in of email from r.
func (s *SignIns) Fail(r *http.Request, email string) {
	address, mail := keys(r, email)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == nil {
		s.failures = map[string][]time.Time{}
	}
	now := s.Now()
	for _, k := range []string{address, mail} {
		s.failures[k] = append(s.recent(k, now), now)
	}
	if s.calls++; s.calls%1024 == 0 {
		s.sweep(now)
	}
}

// wait returns how long until key has fewer than limit recent failures.
func (s *SignIns) wait(key string, limit int) time.Duration {
	recent := s.recent(key, s.Now())
	if len(recent) < limit {
		return 0
	}
	// The oldest failure that keeps the key at its limit must expire first.
	return recent[len(recent)-limit].Add(s.Window).Sub(s.Now())
}

func (s *SignIns) recent(key string, now time.Time) []time.Time {
	times := s.failures[key]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= s.Window {
		i++
	}
	return times[i:]
}

// sweep forgets keys whose failures have all expired, so memory stays bounded
// by the failures of one window.
func (s *SignIns) sweep(now time.Time) {
	for k := range s.failures {
		if len(s.recent(k, now)) == 0 {
			delete(s.failures, k)
		}
	}
}
