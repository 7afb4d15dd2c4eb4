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
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard/switchboard"
)

// Outbox is what the sender needs of storage; *store.DB provides it.
type Outbox interface {
	// ClaimDeliveries takes, for lease, the due deliveries of up to
	// webhooks webhooks not in skip, up to limit of each, in the order of
	// their events.
	ClaimDeliveries(ctx context.Context, webhooks, limit int, lease time.Duration, skip []int64) ([]switchboard.Delivery, error)
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
	// Turn is how long a webhook's share of a claim may take to send: no
	// delivery is started after it, and those not started are due again
	// at once. Turn plus the client's timeout stays under the lease, so
	// that no other process claims a delivery still being sent.
	Turn time.Duration
	// Keep is how long the outbox keeps a delivery, from its making, once
	// it is sent or given up; Run deletes older ones every PurgeEvery,
	// PurgeBatch of them per transaction.
	Keep, PurgeEvery time.Duration
	PurgeBatch       int
}

// New returns a sender with Switchboard's defaults: a look every second,
// 10 attempts, backoff doubling from 2 s to at most 10 minutes, turns of
// 20 s with a timeout of 10 s a delivery, and the deliveries done kept for
// 7 days, looked for hourly.
func New(outbox Outbox, log *slog.Logger) *Sender {
	return &Sender{
		Outbox: outbox, Log: log, Now: time.Now, Every: time.Second, MaxAttempts: 10,
		Turn: 20 * time.Second, Keep: 7 * 24 * time.Hour, PurgeEvery: time.Hour, PurgeBatch: 1000,
		Client: &http.Client{Timeout: 10 * time.Second},
		Backoff: func(n int) time.Duration {
			return min(2*time.Second<<min(n-1, 20), 10*time.Minute)
		},
	}
}

const (
	// claimSize is how many deliveries of a webhook a claim takes (a
	// turn's), and lease how long they are the claimer's.
	claimSize = 50
	lease     = time.Minute
	// receivers is how many webhooks Run has turns under way for at
	// most (a claim takes the one waiting longest first, so it is many:
	// receivers gone dark, whose retries wait longest, must not fill
	// them), and lanes how many deliveries a turn has in flight at once.
	receivers = 64
	lanes     = 8
	// maxRest is how long Run passes over a webhook after a failed
	// delivery at most.
	maxRest = 30 * time.Second
)

// Run delivers until ctx ends, and meanwhile deletes the deliveries done
// that are older than Keep, at its start and every PurgeEvery.
//
// Each webhook's deliveries of a claim are sent in a turn of their own,
// and Run claims again while turns are under way, passing over the
// webhooks whose turn is: a receiver that is slow or unreachable holds up
// only its own deliveries. A webhook whose turn had a delivery fail
// rests until the first of that turn's retries is due, or maxRest,
// whichever comes first: looking for what it could take costs the more,
// the more of its deliveries wait behind their conversations' failed
// ones, and what it could take would likely fail too. Run returns once
// its turns and its purge have ended.
func (s *Sender) Run(ctx context.Context) {
	var purging sync.WaitGroup
	defer purging.Wait()
	purging.Go(func() { s.purgeEvery(ctx) })
	var (
		mu      sync.Mutex
		busy    = map[int64]bool{}
		resting = map[int64]time.Time{}
		turns   sync.WaitGroup
		ended   = make(chan struct{}, 1)
	)
	defer turns.Wait()
	for {
		mu.Lock()
		inFlight := len(busy)
		skip := slices.Collect(maps.Keys(busy))
		now := s.Now()
		for hook, until := range resting {
			if !until.After(now) {
				delete(resting, hook)
			} else if !busy[hook] {
				skip = append(skip, hook)
			}
		}
		mu.Unlock()
		if inFlight < receivers {
			batch, err := s.Outbox.ClaimDeliveries(ctx, receivers-inFlight, claimSize, lease, skip)
			if err != nil && ctx.Err() == nil {
				s.Log.Warn("webhook outbox", "err", err)
			}
			for hook, deliveries := range byWebhook(batch) {
				mu.Lock()
				busy[hook] = true
				mu.Unlock()
				turns.Go(func() {
					rest, err := s.turn(ctx, deliveries)
					if err != nil && ctx.Err() == nil {
						s.Log.Warn("webhook outbox", "err", err)
					}
					mu.Lock()
					delete(busy, hook)
					if !rest.IsZero() {
						resting[hook] = rest
					}
					mu.Unlock()
					select {
					case ended <- struct{}{}:
					default:
					}
				})
			}
		}
		// The next claim when a turn ends (what it held may be due
		// again, and a full claim may have left more), or after Every.
		select {
		case <-ctx.Done():
			return
		case <-ended:
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

// Once claims the due deliveries of up to receivers webhooks, sends them
// and returns how many it claimed, once every webhook's turn has ended.
func (s *Sender) Once(ctx context.Context) (int, error) {
	batch, err := s.Outbox.ClaimDeliveries(ctx, receivers, claimSize, lease, nil)
	if err != nil {
		return 0, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, deliveries := range byWebhook(batch) {
		wg.Go(func() {
			if _, err := s.turn(ctx, deliveries); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(batch), errors.Join(errs...)
}

// byWebhook returns the deliveries of each webhook, in the order of the
// claim, which is the order of the events.
func byWebhook(batch []switchboard.Delivery) map[int64][]switchboard.Delivery {
	out := map[int64][]switchboard.Delivery{}
	for _, d := range batch {
		out[d.Webhook] = append(out[d.Webhook], d)
	}
	return out
}

// turn sends one webhook's deliveries of a claim. The deliveries of one
// conversation go one after the other, in the order of their events;
// other conversations' go side by side with them, up to lanes at once, so
// that a receiver far away is not sent one event per round trip.
//
// Once the receiver could not be reached (no answer, a refused
// connection, a timeout), the deliveries left are not sent but fail as if
// they had been, each counting an attempt. What else is not sent is given
// back untried: a conversation's events after one that failed and will be
// tried again, due with that retry (the claims take none of them before
// it); every delivery left once the turn has lasted Turn, due at once;
// and, as the sender stops, the rest, due at once.
//
// turn returns when the first of the retries it set is due, maxRest from
// now at the latest (zero if it set none).
func (s *Sender) turn(ctx context.Context, deliveries []switchboard.Delivery) (rest time.Time, err error) {
	t := &turnState{start: s.Now()}
	queues := map[int64][]switchboard.Delivery{}
	var order []int64
	for _, d := range deliveries {
		l := d.Conversation % lanes
		if _, ok := queues[l]; !ok {
			order = append(order, l)
		}
		queues[l] = append(queues[l], d)
	}
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, l := range order {
		wg.Go(func() { errs[i] = s.lane(ctx, t, queues[l]) })
	}
	wg.Wait()
	if !t.retry.IsZero() {
		rest = t.retry
		if most := s.Now().Add(maxRest); rest.After(most) {
			rest = most
		}
	}
	return rest, errors.Join(errs...)
}

// turnState is what the lanes of a turn share: why the receiver could
// not be reached, once one of them found it so, and the first retry a
// lane set.
type turnState struct {
	start time.Time
	mu    sync.Mutex
	down  string
	retry time.Time
}

func (t *turnState) retryAt(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.retry.IsZero() || at.Before(t.retry) {
		t.retry = at
	}
}

func (t *turnState) unreachable() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.down
}

func (t *turnState) setUnreachable(failure string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.down == "" {
		t.down = failure
	}
}

// recordEvery is how long a sender may hold the outcomes of the
// deliveries it sent before it records them: those of one lane are
// recorded together, one write instead of one per delivery, when its turn
// ends or this much later, whichever comes first. A sender stopped
// meanwhile sends them again once their lease ends.
const recordEvery = time.Second

// lane sends deliveries in order, as turn says, and records their
// outcomes.
func (s *Sender) lane(ctx context.Context, t *turnState, deliveries []switchboard.Delivery) error {
	var outcomes []switchboard.DeliveryOutcome
	heldUntil := map[int64]*time.Time{} // conversations whose delivery failed: their retry
	since := s.Now()
	for i, d := range deliveries {
		o := switchboard.DeliveryOutcome{ID: d.ID}
		down := t.unreachable()
		next, held := heldUntil[d.Conversation]
		switch {
		case ctx.Err() != nil:
			o.Untried = true
		case down != "":
			// Not sent, but an attempt all the same: a receiver that stays
			// unreachable has its backlog given up, as if each delivery
			// had waited out its own timeout.
			o = s.failed(d, "not sent, the receiver could not be reached: "+down)
		case held && d.Conversation != 0:
			o.Untried, o.Next = true, next
		case i > 0 && s.Now().Sub(t.start) >= s.Turn:
			o.Untried = true // each lane tries one at least: a claim makes headway
		default:
			failure, reached := s.send(ctx, d)
			switch {
			case failure != "" && ctx.Err() != nil:
				o.Untried = true // stopped, not failed
			case failure != "":
				o = s.failed(d, failure)
				if !reached {
					t.setUnreachable(failure)
				}
				s.Log.Warn("webhook delivery failed", "delivery", d.ID, "event", d.Event, "attempt", d.Attempts+1, "err", failure, "retry", o.Next != nil)
			}
		}
		if o.Error != "" && o.Next != nil {
			heldUntil[d.Conversation] = o.Next
			t.retryAt(*o.Next)
		}
		o.Claim = d.Claim // recorded only while the delivery is still this claim's
		outcomes = append(outcomes, o)
		if i == len(deliveries)-1 || s.Now().Sub(since) >= recordEvery {
			if err := s.record(ctx, outcomes); err != nil {
				return err
			}
			outcomes, since = outcomes[:0], s.Now()
		}
	}
	return nil
}

// recordTries is how many times a lane tries to record its outcomes, and
// recordPause how long it waits after the first failure, doubled after
// each.
const (
	recordTries = 3
	recordPause = 250 * time.Millisecond
)

// record records outcomes, even as the sender stops (what was sent is not
// sent again), trying again after a failure: a lane that gives up leaves
// what it sent to be sent again once the lease ends, and its conversations'
// later events waiting for that. A write that failed after its commit and
// is written again changes nothing: each outcome names its claim, which
// the first write ended.
func (s *Sender) record(ctx context.Context, outcomes []switchboard.DeliveryOutcome) error {
	var err error
	pause := recordPause
	for try := range recordTries {
		if try > 0 {
			time.Sleep(pause)
			pause *= 2
		}
		rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = s.Outbox.DeliveriesDone(rec, outcomes)
		cancel()
		if err == nil {
			return nil
		}
		s.Log.Warn("webhook outcomes not recorded", "deliveries", len(outcomes), "try", try+1, "err", err)
	}
	return err
}

// failed is the outcome of d's attempt that failed: tried again after the
// backoff, or given up after MaxAttempts.
func (s *Sender) failed(d switchboard.Delivery, failure string) switchboard.DeliveryOutcome {
	o := switchboard.DeliveryOutcome{ID: d.ID, Error: failure}
	if d.Attempts+1 < s.MaxAttempts {
		at := s.Now().Add(s.Backoff(d.Attempts + 1))
		o.Next = &at
	}
	return o
}

// send posts one delivery and returns what went wrong, or "", and whether
// the receiver answered.
func (s *Sender) send(ctx context.Context, d switchboard.Delivery) (failure string, reached bool) {
	ts := s.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, "POST", d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return err.Error(), false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhooks")
	req.Header.Set("X-Switchboard-Event", d.Event)
	req.Header.Set("X-Switchboard-Delivery", strconv.FormatInt(d.ID, 10))
	req.Header.Set("X-Switchboard-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Switchboard-Signature", Sign(d.Secret, ts, d.Payload))
	resp, err := s.Client.Do(req)
	if err != nil {
		return err.Error(), false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "receiver answered " + resp.Status, true
	}
	return "", true
}
