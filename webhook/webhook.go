// Package webhook sends the events of the webhook outbox: JSON over HTTP
// POST, signed with HMAC-SHA256, retried with backoff until the receiver
// answers 2xx. Delivery is at least once: receivers drop repeats by the
// X-Switchboard-Delivery header.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard/switchboard"
)

// Outbox is what the sender needs of storage; *store.DB provides it.
type Outbox interface {
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]switchboard.Delivery, error)
	DeliveriesDone(ctx context.Context, outcomes []switchboard.DeliveryOutcome) error
	PurgeDeliveries(ctx context.Context, before time.Time, batch int) (int, error)
}

// Sign returns the signature header value of a delivery: HMAC-SHA256 of
// "<timestamp>.<body>" under the webhook's secret, in hex.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is the one Sign gives; receivers written
// in Go may use it.
func Verify(secret string, timestamp int64, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// Sender delivers the outbox.
type Sender struct {
	Outbox Outbox
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
	// Every is how long an idle sender waits before it looks again.
	Every time.Duration
	// MaxAttempts is how many tries a delivery gets before it is given up.
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt (n from 1).
	Backoff func(n int) time.Duration
	// Keep is how long the outbox keeps a delivery, from its making, once
	// it is sent or given up; Run deletes older ones every PurgeEvery,
	// PurgeBatch of them per transaction.
	Keep, PurgeEvery time.Duration
	PurgeBatch       int
}

// New returns a sender with Switchboard's defaults: a look every second,
// 10 attempts, backoff doubling from 2 s to at most 10 minutes, and the
// deliveries done kept for 7 days, looked for hourly.
func New(outbox Outbox, log *slog.Logger) *Sender {
	return &Sender{
		Outbox: outbox, Log: log, Now: time.Now, Every: time.Second, MaxAttempts: 10,
		Keep: 7 * 24 * time.Hour, PurgeEvery: time.Hour, PurgeBatch: 1000,
		Client: &http.Client{Timeout: 10 * time.Second},
		Backoff: func(n int) time.Duration {
			return min(2*time.Second<<min(n-1, 20), 10*time.Minute)
		},
	}
}

// Run delivers until ctx ends, and meanwhile deletes the deliveries done
// that are older than Keep, at its start and every PurgeEvery.
func (s *Sender) Run(ctx context.Context) {
	go s.purgeEvery(ctx)
	for {
		sent, err := s.Once(ctx)
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("webhook outbox", "err", err)
		}
		if sent > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.Every):
		}
	}
}

// purgeEvery runs Purge now and every PurgeEvery until ctx ends, beside
// the sending: a first purge of a long history takes a while.
func (s *Sender) purgeEvery(ctx context.Context) {
	for {
		if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("webhook outbox purge", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.PurgeEvery):
		}
	}
}

// Purge deletes the deliveries made more than Keep ago that are sent or
// given up, PurgeBatch per transaction, and returns how many it deleted.
func (s *Sender) Purge(ctx context.Context) (int, error) {
	return s.Outbox.PurgeDeliveries(ctx, s.Now().Add(-s.Keep), s.PurgeBatch)
}

// receivers is how many receivers (URLs) a sender posts to at once, and
// lanes how many deliveries it has in flight to one of them.
const (
	receivers = 8
	lanes     = 8
)

// Once claims the due deliveries and sends them, returning how many it
// tried. The deliveries of one conversation to one URL go one after the
// other, in the order of their events; other conversations' go side by
// side with them, up to lanes at once per URL, so that a receiver far away
// is not sent one event per round trip; and different URLs are posted to
// side by side, so that a slow or unreachable receiver (up to the client's
// timeout a delivery) holds up only its own.
func (s *Sender) Once(ctx context.Context) (int, error) {
	batch, err := s.Outbox.ClaimDeliveries(ctx, 50, time.Minute)
	if err != nil {
		return 0, err
	}
	// A lane per URL and conversation (modulo lanes), each in the order
	// of the claim, which is the order of the events.
	type lane struct {
		url string
		n   int64
	}
	queues := map[lane][]switchboard.Delivery{}
	byURL := map[string][]lane{}
	var urls []string
	for _, d := range batch {
		l := lane{d.URL, d.Conversation % lanes}
		if _, ok := byURL[d.URL]; !ok {
			urls = append(urls, d.URL)
		}
		if _, ok := queues[l]; !ok {
			byURL[d.URL] = append(byURL[d.URL], l)
		}
		queues[l] = append(queues[l], d)
	}
	errs := make([]error, len(queues))
	slots := make(chan struct{}, receivers)
	var wg sync.WaitGroup
	next := 0
	for _, url := range urls {
		first := next
		next += len(byURL[url])
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			var lanesWG sync.WaitGroup
			for i, l := range byURL[url] {
				lanesWG.Go(func() { errs[first+i] = s.deliver(ctx, queues[l]) })
			}
			lanesWG.Wait()
		})
	}
	wg.Wait()
	return len(batch), errors.Join(errs...)
}

// recordEvery is how long a sender may hold the outcomes of the
// deliveries it sent before it records them: those of one lane are
// recorded together, one write instead of one per delivery, when its turn
// ends or this much later, whichever comes first. A sender stopped
// meanwhile sends them again once their lease ends.
const recordEvery = time.Second

// deliver sends deliveries in order and records their outcomes.
func (s *Sender) deliver(ctx context.Context, deliveries []switchboard.Delivery) error {
	var outcomes []switchboard.DeliveryOutcome
	since := s.Now()
	for i, d := range deliveries {
		failure := s.send(ctx, d)
		o := switchboard.DeliveryOutcome{ID: d.ID, Error: failure}
		if failure != "" && d.Attempts+1 < s.MaxAttempts {
			t := s.Now().Add(s.Backoff(d.Attempts + 1))
			o.Next = &t
		}
		if failure != "" {
			s.Log.Warn("webhook delivery failed", "delivery", d.ID, "event", d.Event, "attempt", d.Attempts+1, "err", failure, "retry", o.Next != nil)
		}
		outcomes = append(outcomes, o)
		if i == len(deliveries)-1 || s.Now().Sub(since) >= recordEvery {
			// Recorded even as the sender stops: what was sent is not sent
			// again.
			record, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := s.Outbox.DeliveriesDone(record, outcomes)
			cancel()
			if err != nil {
				return err
			}
			outcomes, since = outcomes[:0], s.Now()
		}
	}
	return nil
}

// send posts one delivery and returns what went wrong, or "".
func (s *Sender) send(ctx context.Context, d switchboard.Delivery) string {
	ts := s.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, "POST", d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhooks")
	req.Header.Set("X-Switchboard-Event", d.Event)
	req.Header.Set("X-Switchboard-Delivery", strconv.FormatInt(d.ID, 10))
	req.Header.Set("X-Switchboard-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Switchboard-Signature", Sign(d.Secret, ts, d.Payload))
	resp, err := s.Client.Do(req)
	if err != nil {
		return err.Error()
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "receiver answered " + resp.Status
	}
	return ""
}
