package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/webhook"
)

// receiver is a real HTTP endpoint that records the deliveries it accepts
// and refuses the first fail of them.
type receiver struct {
	mu       sync.Mutex
	secret   string
	fail     int
	calls    int
	accepted []delivery
	srv      *httptest.Server
	t        *testing.T
}

type delivery struct {
	Event        string
	ID           string
	Conversation struct {
		ID         int64  `json:"id"`
		Status     string `json:"status"`
		AssigneeID *int64 `json:"assignee_id"`
	} `json:"conversation"`
	Change *struct {
		From   *int64 `json:"from_assignee_id"`
		To     *int64 `json:"to_assignee_id"`
		Reason string `json:"reason"`
	} `json:"change"`
}

func newReceiver(t *testing.T, fail int) *receiver {
	return newReceiverBefore(t, fail, nil)
}

// newReceiverBefore is newReceiver whose requests run before first, unless
// nil; before returns whether the receiver goes on to serve the request.
func newReceiverBefore(t *testing.T, fail int, before func(w http.ResponseWriter, req *http.Request) bool) *receiver {
	r := &receiver{fail: fail, t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if before == nil || before(w, req) {
			r.serve(w, req)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.fail {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	// Check the signature the way a receiver would, without Switchboard's code.
	ts := req.Header.Get("X-Switchboard-Timestamp")
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Switchboard-Signature"))) {
		r.t.Errorf("delivery %s has a bad signature", req.Header.Get("X-Switchboard-Delivery"))
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Hour {
		r.t.Errorf("timestamp %q", ts)
	}
	var d delivery
	if err := json.Unmarshal(body, &d); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	var env struct {
		Event string `json:"event"`
	}
	json.Unmarshal(body, &env)
	if d.Event = req.Header.Get("X-Switchboard-Event"); d.Event != env.Event {
		r.t.Errorf("header event %q, body event %q", d.Event, env.Event)
	}
	d.ID = req.Header.Get("X-Switchboard-Delivery")
	r.accepted = append(r.accepted, d)
}

func (r *receiver) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.accepted {
		out = append(out, d.Event)
	}
	return out
}

// subscribe creates a webhook for the receiver and returns it.
func (s *testServer) subscribe(r *receiver, events ...string) int64 {
	s.t.Helper()
	var reply struct {
		Payload struct {
			Webhook struct {
				ID     int64  `json:"id"`
				Secret string `json:"secret"`
			} `json:"webhook"`
		} `json:"payload"`
	}
	body := map[string]any{"url": r.srv.URL + "/hooks"}
	if len(events) > 0 {
		body["subscriptions"] = events
	}
	s.admin.must(200, "POST", acct("/webhooks"), body, &reply)
	r.secret = reply.Payload.Webhook.Secret
	return reply.Payload.Webhook.ID
}

// sender is a webhook sender on the server's database that retries at once,
// driven step by step by the test.
func (s *testServer) sender() *webhook.Sender {
	w := webhook.New(s.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.Backoff = func(int) time.Duration { return 0 }
	return w
}

// drain runs the sender until nothing is due, a bounded number of times.
func drain(t *testing.T, w *webhook.Sender) {
	t.Helper()
	for range 20 {
		n, err := w.Once(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the outbox never emptied")
}

func TestWebhooks(t *testing.T) {
	t.Run("DeliveredSignedInTheOrderOfTheChanges", func(t *testing.T) {
		eachDB(t, func(t *testing.T, s *testServer) {
			r := newReceiver(t, 0)
			s.subscribe(r)
			a := s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a)
			conv := s.admin.create(inbox, nil)
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]string{"status": "resolved"}, nil)
			drain(t, s.sender())
			want := []string{"conversation_created", "assignee_changed", "conversation_updated"}
			if got := r.events(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
				t.Fatalf("events %v, want %v", got, want)
			}
			ch := r.accepted[1].Change
			if ch == nil || ch.From != nil || ch.To == nil || *ch.To != a.id || ch.Reason != "auto" {
				t.Errorf("assignee_changed change %+v", ch)
			}
			if r.accepted[2].Conversation.Status != "resolved" || r.accepted[0].Conversation.ID != conv.ID {
				t.Errorf("payloads %+v", r.accepted)
			}
		})
	})
	t.Run("OnlySubscribedEvents", func(t *testing.T) {
		s := newServer(t)
		r := newReceiver(t, 0)
		s.subscribe(r, "assignee_changed")
		a := s.newAgent("agent", "online")
		s.admin.create(s.newInbox(nil, a), nil)
		drain(t, s.sender())
		if got := r.events(); len(got) != 1 || got[0] != "assignee_changed" {
			t.Errorf("events %v, want only assignee_changed", got)
		}
	})
	t.Run("RetriedUntilAccepted", func(t *testing.T) {
		s := newServer(t)
		r := newReceiver(t, 2)
		s.subscribe(r, "conversation_created")
		s.admin.create(s.newInbox(nil), nil)
		drain(t, s.sender())
		if got := r.events(); len(got) != 1 || r.calls != 3 {
			t.Errorf("accepted %v after %d calls, want one after 3", got, r.calls)
		}
	})
	t.Run("GivenUpAfterMaxAttempts", func(t *testing.T) {
		s := newServer(t)
		r := newReceiver(t, 1000)
		s.subscribe(r, "conversation_created")
		s.admin.create(s.newInbox(nil), nil)
		w := s.sender()
		w.MaxAttempts = 3
		drain(t, w)
		if r.calls != 3 {
			t.Errorf("%d attempts, want 3", r.calls)
		}
	})
	t.Run("EachOutcomeRecordedOnceTheLeaseEnds", func(t *testing.T) {
		// The sender records a receiver's outcomes together: what was
		// accepted is never sent again, what failed is tried until
		// given up, each for its own webhook, even once the lease under
		// which they were claimed has ended.
		eachDB(t, func(t *testing.T, s *testServer) {
			var skew atomic.Int64
			s.db.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			ok, failing := newReceiver(t, 0), newReceiver(t, 1000)
			s.subscribe(ok, "conversation_created")
			s.subscribe(failing, "conversation_created")
			inbox := s.newInbox(nil)
			for range 3 {
				s.admin.create(inbox, nil)
			}
			w := s.sender()
			w.MaxAttempts = 2
			drain(t, w)
			skew.Store(int64(2 * time.Minute)) // every lease has ended
			drain(t, w)
			ids := map[string]bool{}
			for _, d := range ok.accepted {
				ids[d.ID] = true
			}
			if len(ok.accepted) != 3 || len(ids) != 3 {
				t.Errorf("the accepting receiver heard %d deliveries (%d ids), want 3 once each", len(ok.accepted), len(ids))
			}
			if failing.calls != 6 {
				t.Errorf("the failing receiver was called %d times, want 2 attempts of 3 deliveries", failing.calls)
			}
		})
	})
	t.Run("DoneDeliveriesPurgedAfterKeep", func(t *testing.T) {
		// The outbox keeps what it sent or gave up for Keep, then
		// deletes it, a batch at a time; what is still to send stays,
		// however old, even between deliveries that go.
		eachDB(t, func(t *testing.T, s *testServer) {
			ctx := context.Background()
			var skew atomic.Int64
			s.db.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			ok, failing := newReceiver(t, 0), newReceiver(t, 1000)
			s.subscribe(ok, "conversation_created")
			s.subscribe(failing, "conversation_created")
			inbox := s.newInbox(nil)
			s.admin.create(inbox, nil)
			s.admin.create(inbox, nil) // the outbox: sent, to retry, sent, to retry
			w := s.sender()
			w.MaxAttempts, w.PurgeBatch = 2, 1
			w.Backoff = func(int) time.Duration { return time.Hour }
			drain(t, w)
			if n, err := w.Purge(ctx); err != nil || n != 0 {
				t.Fatalf("purged %d (%v) before Keep had passed", n, err)
			}
			w.Now = func() time.Time { return time.Now().Add(w.Keep + time.Hour) }
			if n, err := w.Purge(ctx); err != nil || n != 2 {
				t.Fatalf("purged %d (%v), want the 2 sent", n, err)
			}
			w.Now = time.Now
			skew.Store(int64(2 * time.Hour)) // the retries are due
			drain(t, w)
			if failing.calls != 4 || len(ok.accepted) != 2 {
				t.Errorf("the failing receiver was called %d times, the other heard %d; want 4 (the retries were kept) and 2", failing.calls, len(ok.accepted))
			}
			w.Now = func() time.Time { return time.Now().Add(w.Keep + 3*time.Hour) }
			if n, err := w.Purge(ctx); err != nil || n != 2 {
				t.Fatalf("purged %d (%v), want the 2 given up", n, err)
			}
			if n, err := w.Purge(ctx); err != nil || n != 0 {
				t.Fatalf("purged %d more (%v)", n, err)
			}
		})
	})
	t.Run("RolledBackChangeSendsNothing", func(t *testing.T) {
		s := newServer(t)
		r := newReceiver(t, 0)
		inbox := s.newInbox(map[string]any{"enable_auto_assignment": false})
		conv := s.admin.create(inbox, nil)
		s.subscribe(r)
		s.admin.must(422, "POST", acct("/conversations/%d/assignments", conv.ID), map[string]any{"assignee_id": 99999}, nil)
		drain(t, s.sender())
		if got := r.events(); len(got) != 0 {
			t.Errorf("a refused change sent %v", got)
		}
	})
	t.Run("OutboxSurvivesARestart", func(t *testing.T) {
		eachDB(t, func(t *testing.T, s *testServer) {
			r := newReceiver(t, 0)
			s.subscribe(r, "conversation_created")
			s.admin.create(s.newInbox(nil), nil)
			s.restart() // nothing was sent before the stop
			drain(t, s.sender())
			if got := r.events(); len(got) != 1 {
				t.Errorf("after a restart %v were sent, want the one conversation_created", got)
			}
		})
	})
	t.Run("DeliveryIDsNeverRepeat", func(t *testing.T) {
		// Receivers drop repeats by the delivery id: a webhook deleted and
		// made again (a new secret, say) must not hear an id it has seen.
		eachDB(t, func(t *testing.T, s *testServer) {
			r := newReceiver(t, 0)
			inbox := s.newInbox(nil)
			for range 2 {
				id := s.subscribe(r, "conversation_created")
				s.admin.create(inbox, nil)
				drain(t, s.sender())
				s.admin.must(200, "DELETE", acct("/webhooks/%d", id), nil, nil)
			}
			if len(r.accepted) != 2 || r.accepted[0].ID == r.accepted[1].ID {
				t.Errorf("deliveries %+v, want two with different ids", r.accepted)
			}
		})
	})
	t.Run("WebhookIDsNeverRepeat", func(t *testing.T) {
		// A client changes and deletes a webhook by its id: one deleted
		// must not lend its id to the next, which a late PATCH or DELETE
		// of the old would then reach.
		eachDB(t, func(t *testing.T, s *testServer) {
			r := newReceiver(t, 0)
			first := s.subscribe(r)
			s.admin.must(200, "DELETE", acct("/webhooks/%d", first), nil, nil)
			if next := s.subscribe(r); next == first {
				t.Errorf("the webhook made after %d was deleted has its id", first)
			}
		})
	})
	t.Run("ASlowReceiverHoldsUpOnlyItsOwn", func(t *testing.T) {
		// The slow receiver's delivery comes first in the outbox and
		// answers only once the other receiver has had its own: one after
		// the other, it would give up waiting (and the test fails).
		s := newServer(t)
		heard := make(chan struct{})
		var once sync.Once
		fast := newReceiverBefore(t, 0, func(http.ResponseWriter, *http.Request) bool {
			once.Do(func() { close(heard) })
			return true
		})
		slow := newReceiverBefore(t, 0, func(w http.ResponseWriter, req *http.Request) bool {
			select {
			case <-heard:
				return true
			case <-time.After(5 * time.Second):
				t.Error("the slow receiver's delivery held up the other receiver's")
				http.Error(w, "gave up", http.StatusServiceUnavailable)
				return false
			}
		})
		s.subscribe(slow, "conversation_created")
		s.subscribe(fast, "conversation_created")
		s.admin.create(s.newInbox(nil), nil)
		drain(t, s.sender())
		if len(fast.events()) != 1 || len(slow.events()) != 1 {
			t.Errorf("fast heard %v, slow %v; want one each", fast.events(), slow.events())
		}
	})
	t.Run("AConversationInOrderOthersSideBySide", func(t *testing.T) {
		// One receiver, two conversations: the first conversation's
		// first delivery is answered only once the second
		// conversation's has arrived. One after the other, it would give
		// up waiting (and the test fails). Each conversation's events
		// still arrive in their order.
		eachDB(t, func(t *testing.T, s *testServer) {
			heard := make(chan struct{})
			var once sync.Once
			r := newReceiverBefore(t, 0, func(w http.ResponseWriter, req *http.Request) bool {
				body, _ := io.ReadAll(req.Body)
				req.Body = io.NopCloser(bytes.NewReader(body))
				var d delivery
				json.Unmarshal(body, &d)
				if d.Conversation.ID != 1 {
					once.Do(func() { close(heard) })
					return true
				}
				select {
				case <-heard:
				case <-time.After(5 * time.Second):
					t.Error("the first conversation's delivery held up the second's")
				}
				return true
			})
			s.subscribe(r)
			a := s.newAgent("agent", "online")
			inbox := s.newInbox(nil, a)
			first, second := s.admin.create(inbox, nil), s.admin.create(inbox, nil)
			if first.ID != 1 || second.ID != 2 {
				t.Fatalf("conversations %d and %d, want 1 and 2", first.ID, second.ID)
			}
			drain(t, s.sender())
			byConversation := map[int64][]string{}
			r.mu.Lock()
			for _, d := range r.accepted {
				byConversation[d.Conversation.ID] = append(byConversation[d.Conversation.ID], d.Event)
			}
			r.mu.Unlock()
			for _, id := range []int64{1, 2} {
				if got := byConversation[id]; !slices.Equal(got, []string{"conversation_created", "assignee_changed"}) {
					t.Errorf("conversation %d: events %v, want created then assignee_changed", id, got)
				}
			}
		})
	})
	t.Run("ADeadReceiverHoldsUpOnlyItself", func(t *testing.T) {
		// The dead receiver never answers its first delivery (until the
		// test lets it). Meanwhile the running sender keeps claiming:
		// the healthy receiver hears every later conversation, and the
		// dead one is sent nothing more while its turn is under way.
		eachDB(t, func(t *testing.T, s *testServer) {
			release := make(chan struct{})
			var deadCalls atomic.Int32
			dead := newReceiverBefore(t, 0, func(w http.ResponseWriter, req *http.Request) bool {
				deadCalls.Add(1)
				select {
				case <-release:
					return true
				case <-req.Context().Done():
					return false
				}
			})
			healthy := newReceiver(t, 0)
			s.subscribe(dead, "conversation_created")
			s.subscribe(healthy, "conversation_created")
			inbox := s.newInbox(nil)
			s.admin.create(inbox, nil)
			w := s.sender()
			w.Every = 10 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { w.Run(ctx); close(stopped) }()
			defer func() { cancel(); <-stopped }()
			waitFor(t, "the dead receiver's first delivery", func() bool { return deadCalls.Load() == 1 })
			for range 5 {
				s.admin.create(inbox, nil)
			}
			waitFor(t, "the healthy receiver's six deliveries beside the dead one", func() bool { return len(healthy.events()) == 6 })
			if n := deadCalls.Load(); n != 1 {
				t.Errorf("the dead receiver was sent %d deliveries while its first hung, want only that one", n)
			}
			close(release)
			waitFor(t, "the dead receiver's six deliveries once it answers", func() bool { return len(dead.events()) == 6 })
		})
	})
	t.Run("ManyDeadReceiversDoNotCrowdOutALiveOne", func(t *testing.T) {
		// Twenty receivers hang on their first delivery, a turn each
		// under way: the live one, subscribed last (its delivery the
		// newest), still hears the conversation.
		eachDB(t, func(t *testing.T, s *testServer) {
			release := make(chan struct{})
			defer close(release)
			for range 20 {
				s.subscribe(newReceiverBefore(t, 0, func(w http.ResponseWriter, req *http.Request) bool {
					select {
					case <-release:
						return true
					case <-req.Context().Done():
						return false
					}
				}), "conversation_created")
			}
			live := newReceiver(t, 0)
			s.subscribe(live, "conversation_created")
			s.admin.create(s.newInbox(nil), nil)
			w := s.sender()
			w.Client = &http.Client{Timeout: time.Minute}
			w.Every = 10 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { w.Run(ctx); close(stopped) }()
			defer func() { cancel(); <-stopped }()
			waitFor(t, "the live receiver's delivery beside twenty hung ones", func() bool { return len(live.events()) == 1 })
		})
	})
	t.Run("OutcomesNotRecordedAreRecordedAgain", func(t *testing.T) {
		// The first write of the outcomes fails, as over a connection
		// the database dropped: the sender writes them again, so what
		// it sent is done, not sent again once its lease ends.
		eachDB(t, func(t *testing.T, s *testServer) {
			var skew atomic.Int64
			s.db.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			r := newReceiver(t, 0)
			s.subscribe(r, "conversation_created")
			s.admin.create(s.newInbox(nil), nil)
			w := s.sender()
			flaky := &flakyOutbox{DB: s.db}
			flaky.failures.Store(1)
			w.Outbox = flaky
			if n, err := w.Once(context.Background()); err != nil || n != 1 {
				t.Fatalf("sent %d (%v), want 1 and its outcome recorded", n, err)
			}
			skew.Store(int64(2 * time.Minute)) // the lease has ended
			if again, err := s.db.ClaimDeliveries(context.Background(), 16, 50, time.Minute, nil); err != nil || len(again) != 0 {
				t.Errorf("claimed %d (%v) after it was sent, want none", len(again), err)
			}
			if got := len(r.events()); got != 1 {
				t.Errorf("the receiver heard %d deliveries, want 1", got)
			}
		})
	})
	t.Run("AnOutcomeWrittenAgainCountsOnce", func(t *testing.T) {
		// The receiver refuses the delivery; the write of that outcome
		// commits and reports an error all the same, and the sender
		// writes it again: one attempt is counted, not two.
		eachDB(t, func(t *testing.T, s *testServer) {
			var skew atomic.Int64
			s.db.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			s.subscribe(newReceiver(t, 1), "conversation_created")
			s.admin.create(s.newInbox(nil), nil)
			w := s.sender()
			w.Backoff = func(int) time.Duration { return time.Hour }
			flaky := &flakyOutbox{DB: s.db, committed: true}
			flaky.failures.Store(1)
			w.Outbox = flaky
			if n, err := w.Once(context.Background()); err != nil || n != 1 {
				t.Fatalf("sent %d (%v), want 1 and its outcome recorded", n, err)
			}
			skew.Store(int64(2 * time.Hour)) // its retry is due
			again, err := s.db.ClaimDeliveries(context.Background(), 16, 50, time.Minute, nil)
			if err != nil || len(again) != 1 {
				t.Fatalf("claimed %d (%v) for its retry, want 1", len(again), err)
			}
			if again[0].Attempts != 1 {
				t.Errorf("the delivery has %d attempts, want 1", again[0].Attempts)
			}
		})
	})
	t.Run("AClaimPassesOverTheWebhooksGiven", func(t *testing.T) {
		eachDB(t, func(t *testing.T, s *testServer) {
			busy := s.subscribe(newReceiver(t, 0), "conversation_created")
			free := s.subscribe(newReceiver(t, 0), "conversation_created")
			s.admin.create(s.newInbox(nil), nil)
			claimed, err := s.db.ClaimDeliveries(context.Background(), 16, 50, time.Minute, []int64{busy})
			if err != nil {
				t.Fatal(err)
			}
			if len(claimed) != 1 || claimed[0].Webhook != free {
				t.Errorf("claimed %+v, want only the delivery to webhook %d", claimed, free)
			}
		})
	})
	t.Run("AClaimTakesUpToItsLimitOfEachWebhookOldestFirst", func(t *testing.T) {
		// a has the deliveries of six creates, b of the last three: a claim
		// of two a webhook takes the first two of each, and a claim of one
		// webhook takes the one whose first delivery waits longest, a.
		eachDB(t, func(t *testing.T, s *testServer) {
			ctx := context.Background()
			inbox := s.newInbox(nil)
			a := s.subscribe(newReceiver(t, 0), "conversation_created")
			var convs []int64
			for i := range 6 {
				if i == 3 {
					s.subscribe(newReceiver(t, 0), "conversation_created")
				}
				convs = append(convs, s.admin.create(inbox, nil).ID)
			}
			byHook := func(claimed []switchboard.Delivery) map[int64][]int64 {
				out := map[int64][]int64{}
				for _, d := range claimed {
					out[d.Webhook] = append(out[d.Webhook], d.Conversation)
				}
				return out
			}
			first, err := s.db.ClaimDeliveries(ctx, 16, 2, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := byHook(first)
			if len(got) != 2 || !slices.Equal(got[a], convs[:2]) {
				t.Errorf("claim of two each: %v, want webhook %d's %v and the other's %v", got, a, convs[:2], convs[3:5])
			}
			for hook, cs := range got {
				if hook != a && !slices.Equal(cs, convs[3:5]) {
					t.Errorf("claim of two each: webhook %d's %v, want %v", hook, cs, convs[3:5])
				}
			}
			second, err := s.db.ClaimDeliveries(ctx, 1, 50, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := byHook(second); len(got) != 1 || !slices.Equal(got[a], convs[2:]) {
				t.Errorf("claim of one webhook: %v, want only webhook %d's %v", got, a, convs[2:])
			}
		})
	})
	t.Run("AWebhookWithOnlyHeldDeliveriesTakesNoPlaceInAClaim", func(t *testing.T) {
		// a's one due delivery waits behind its conversation's leased one:
		// a claim of one webhook takes b's, made after it.
		eachDB(t, func(t *testing.T, s *testServer) {
			ctx := context.Background()
			a := s.subscribe(newReceiver(t, 0), "conversation_updated")
			b := s.subscribe(newReceiver(t, 0), "conversation_created")
			inbox := s.newInbox(nil)
			conv := s.admin.create(inbox, nil)
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]string{"status": "resolved"}, nil)
			for _, skip := range []int64{b, a} {
				if got, err := s.db.ClaimDeliveries(ctx, 16, 50, time.Minute, []int64{skip}); err != nil || len(got) != 1 {
					t.Fatalf("claimed %v (%v), want one delivery", got, err)
				}
			}
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]string{"status": "open"}, nil)
			later := s.admin.create(inbox, nil)
			got, err := s.db.ClaimDeliveries(ctx, 1, 50, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Webhook != b || got[0].Conversation != later.ID {
				t.Errorf("claimed %+v, want webhook %d's delivery of conversation %d", got, b, later.ID)
			}
		})
	})
	t.Run("AClaimComesInTheOrderOfTheEvents", func(t *testing.T) {
		// The conversation's first delivery fails and is written anew
		// (PostgreSQL puts the new row after the others): claimed again
		// with the two after it, it still comes first.
		eachDB(t, func(t *testing.T, s *testServer) {
			ctx := context.Background()
			var skew atomic.Int64
			s.db.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			s.subscribe(newReceiver(t, 0))
			conv := s.admin.create(s.newInbox(nil, s.newAgent("agent", "online")), nil)
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]string{"status": "resolved"}, nil)
			first, err := s.db.ClaimDeliveries(ctx, 16, 50, time.Minute, nil)
			if err != nil || len(first) != 3 {
				t.Fatalf("claimed %d (%v), want 3", len(first), err)
			}
			ids := []int64{first[0].ID, first[1].ID, first[2].ID}
			slices.Sort(ids)
			due := time.Now()
			if err := s.db.DeliveriesDone(ctx, []switchboard.DeliveryOutcome{{ID: ids[0], Error: "refused", Next: &due}}); err != nil {
				t.Fatal(err)
			}
			skew.Store(int64(2 * time.Minute)) // the others' lease has ended
			again, err := s.db.ClaimDeliveries(ctx, 16, 50, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, d := range again {
				got = append(got, d.ID)
			}
			if !slices.Equal(got, ids) {
				t.Errorf("claimed %v, want %v", got, ids)
			}
		})
	})
	t.Run("AFailedDeliveryHoldsItsConversationsLaterEvents", func(t *testing.T) {
		// The conversation's first event is refused and waits an hour
		// for its retry: its next, claimed with it, and a third made
		// after, wait for it, then all three go in their order.
		eachDB(t, func(t *testing.T, s *testServer) {
			var skew atomic.Int64
			s.db.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			r := newReceiver(t, 1)
			s.subscribe(r)
			inbox := s.newInbox(nil, s.newAgent("agent", "online"))
			conv := s.admin.create(inbox, nil)
			w := s.sender()
			w.Backoff = func(int) time.Duration { return time.Hour }
			if _, err := w.Once(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]string{"status": "resolved"}, nil)
			drain(t, w)
			if got := r.events(); len(got) != 0 {
				t.Fatalf("%v sent while the conversation's first event waited for its retry", got)
			}
			skew.Store(int64(2 * time.Hour))
			drain(t, w)
			want := []string{"conversation_created", "assignee_changed", "conversation_updated"}
			if got := r.events(); !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
		})
	})
	t.Run("AFailingReceiverRestsUntilItsRetry", func(t *testing.T) {
		// The receiver drops every connection, or refuses every delivery,
		// and its retry waits an hour: the running sender sends a
		// conversation made after that failure nothing while it waits,
		// though the delivery is due; a receiver beside it is sent its
		// deliveries meanwhile.
		refusals := map[string]func(w http.ResponseWriter){
			"Unreachable": func(w http.ResponseWriter) {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
			},
			"Refusing": func(w http.ResponseWriter) { http.Error(w, "no", http.StatusInternalServerError) },
		}
		for name, refuse := range refusals {
			t.Run(name, func(t *testing.T) {
				eachDB(t, func(t *testing.T, s *testServer) {
					var calls atomic.Int32
					dark := newReceiverBefore(t, 0, func(w http.ResponseWriter, req *http.Request) bool {
						calls.Add(1)
						refuse(w)
						return false
					})
					s.subscribe(dark, "conversation_created")
					inbox := s.newInbox(nil)
					s.admin.create(inbox, nil)
					w := s.sender()
					w.Backoff = func(int) time.Duration { return time.Hour }
					w.Every = 10 * time.Millisecond
					ctx, cancel := context.WithCancel(context.Background())
					stopped := make(chan struct{})
					go func() { w.Run(ctx); close(stopped) }()
					defer func() { cancel(); <-stopped }()
					waitFor(t, "the first delivery's failure", func() bool { return calls.Load() == 1 })
					live := newReceiver(t, 0)
					s.subscribe(live, "conversation_created")
					s.admin.create(inbox, nil)
					// The live receiver's delivery shows the sender claimed after
					// the dark one's was due.
					waitFor(t, "the live receiver's delivery", func() bool { return len(live.events()) == 1 })
					time.Sleep(100 * time.Millisecond) // ten more claims
					if n := calls.Load(); n != 1 {
						t.Errorf("the resting receiver was sent %d deliveries, want only its first", n)
					}
				})
			})
		}
	})
	t.Run("AnUnreachableReceiversBacklogIsGivenUp", func(t *testing.T) {
		// The receiver drops every connection. After the first failure
		// in a lane, the rest of the turn is not sent but fails all the
		// same: the backlog of a receiver that stays unreachable is given
		// up after MaxAttempts (here two), with a send per lane and turn
		// at most.
		eachDB(t, func(t *testing.T, s *testServer) {
			var down atomic.Bool
			down.Store(true)
			var calls atomic.Int32
			r := newReceiverBefore(t, 0, func(w http.ResponseWriter, req *http.Request) bool {
				if !down.Load() {
					return true
				}
				calls.Add(1)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return false
				}
				conn.Close()
				return false
			})
			s.subscribe(r, "conversation_created")
			inbox := s.newInbox(nil)
			for range 20 {
				s.admin.create(inbox, nil)
			}
			w := s.sender()
			w.MaxAttempts = 2
			for range 2 {
				if n, err := w.Once(context.Background()); err != nil || n != 20 {
					t.Fatalf("claimed %d (%v), want 20", n, err)
				}
			}
			if tried := calls.Load(); tried < 2 || tried > 16 {
				t.Errorf("the unreachable receiver was sent %d deliveries in two turns of 20 in 8 lanes, want 2 to 16", tried)
			}
			down.Store(false)
			drain(t, w)
			if got := len(r.events()); got != 0 {
				t.Errorf("%d delivered once it was back, want none: after two turns every one had its two attempts", got)
			}
		})
	})
	t.Run("ATurnEndsAfterTurn", func(t *testing.T) {
		// A turn starts no delivery after Turn but its first: the rest
		// go in the next claims, in order, with no attempt charged.
		eachDB(t, func(t *testing.T, s *testServer) {
			r := newReceiver(t, 0)
			s.subscribe(r)
			inbox := s.newInbox(map[string]any{"enable_auto_assignment": false})
			conv := s.admin.create(inbox, nil)
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]string{"status": "resolved"}, nil)
			s.admin.must(200, "POST", acct("/conversations/%d/toggle_status", conv.ID), map[string]string{"status": "open"}, nil)
			w := s.sender()
			w.Turn, w.MaxAttempts = time.Nanosecond, 1
			if n, err := w.Once(context.Background()); err != nil || n != 3 || len(r.events()) != 1 {
				t.Fatalf("claimed %d (%v) and sent %v, want 3 claimed and the first sent", n, err, r.events())
			}
			drain(t, w)
			want := []string{"conversation_created", "conversation_updated", "conversation_updated"}
			if got := r.events(); !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
		})
	})
	t.Run("AStoppedSenderChargesNoAttempt", func(t *testing.T) {
		// The sender stops while its delivery waits for an answer: the
		// delivery is given back untried, not given up (one attempt
		// allowed), and the next sender sends it.
		eachDB(t, func(t *testing.T, s *testServer) {
			var calls atomic.Int32
			r := newReceiverBefore(t, 0, func(w http.ResponseWriter, req *http.Request) bool {
				if calls.Add(1) > 1 {
					return true
				}
				io.ReadAll(req.Body) // the server then hears the client hang up
				<-req.Context().Done()
				return false
			})
			s.subscribe(r, "conversation_created")
			s.admin.create(s.newInbox(nil), nil)
			w := s.sender()
			w.MaxAttempts = 1
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { w.Run(ctx); close(stopped) }()
			waitFor(t, "the first delivery", func() bool { return calls.Load() == 1 })
			cancel()
			<-stopped
			drain(t, w)
			if got := r.events(); len(got) != 1 {
				t.Errorf("after the stop the receiver heard %v, want the conversation_created", got)
			}
		})
	})
	t.Run("ManagedByAdministrators", func(t *testing.T) {
		s := newServer(t)
		r := newReceiver(t, 0)
		id := s.subscribe(r)
		agent := s.newAgent("agent", "online")
		agent.must(403, "GET", acct("/webhooks"), nil, nil)
		s.admin.must(422, "POST", acct("/webhooks"), map[string]any{"url": "ftp://x"}, nil)
		s.admin.must(422, "POST", acct("/webhooks"), map[string]any{"url": r.srv.URL, "subscriptions": []string{"message_created"}}, nil)
		var list struct {
			Payload struct {
				Webhooks []struct{ ID int64 } `json:"webhooks"`
			} `json:"payload"`
		}
		s.admin.must(200, "GET", acct("/webhooks"), nil, &list)
		if len(list.Payload.Webhooks) != 1 || list.Payload.Webhooks[0].ID != id {
			t.Errorf("webhooks %+v", list.Payload.Webhooks)
		}
		s.admin.must(200, "DELETE", acct("/webhooks/%d", id), nil, nil)
		s.admin.create(s.newInbox(nil), nil)
		drain(t, s.sender())
		if got := r.events(); len(got) != 0 {
			t.Errorf("a deleted webhook got %v", got)
		}
	})
}

func TestWebhookBackoffDoubles(t *testing.T) {
	w := webhook.New(nil, nil)
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 12: 10 * time.Minute} {
		if got := w.Backoff(n); got != want {
			t.Errorf("backoff after attempt %d: %v, want %v", n, got, want)
		}
	}
}

// TestWebhookUpdate: PATCH .../webhooks/{id} (Chatwoot's update_a_webhook)
// changes the URL or the events of a webhook, keeping its id and secret;
// what is sent after goes to the new URL, with the new events only. A bad
// value is 422 naming its field and changes nothing.
func TestWebhookUpdate(t *testing.T) {
	eachDB(t, func(t *testing.T, s *testServer) {
		before, after := newReceiver(t, 0), newReceiver(t, 0)
		id := s.subscribe(before)
		after.secret = before.secret
		type hook struct {
			ID            int64    `json:"id"`
			URL           string   `json:"url"`
			Secret        string   `json:"secret"`
			Subscriptions []string `json:"subscriptions"`
		}
		var reply struct {
			Payload struct {
				Webhook hook `json:"webhook"`
			} `json:"payload"`
		}
		stored := func() hook {
			t.Helper()
			var list struct {
				Payload struct {
					Webhooks []hook `json:"webhooks"`
				} `json:"payload"`
			}
			s.admin.must(200, "GET", acct("/webhooks"), nil, &list)
			if len(list.Payload.Webhooks) != 1 {
				t.Fatalf("webhooks %+v, want one", list.Payload.Webhooks)
			}
			return list.Payload.Webhooks[0]
		}
		s.admin.must(200, "PATCH", acct("/webhooks/%d", id), map[string]any{"webhook": map[string]any{
			"url": after.srv.URL + "/hooks", "subscriptions": []string{"assignee_changed"}}}, &reply)
		got := reply.Payload.Webhook
		if got.ID != id || got.URL != after.srv.URL+"/hooks" || got.Secret != before.secret || len(got.Subscriptions) != 1 || got.Subscriptions[0] != "assignee_changed" {
			t.Fatalf("updated webhook %+v", got)
		}
		if listed := stored(); listed.URL != got.URL || len(listed.Subscriptions) != 1 {
			t.Errorf("listed after the update: %+v", listed)
		}

		for _, tc := range []struct {
			name, field string
			body        map[string]any
		}{
			{"URLNotWeb", "url", map[string]any{"url": "ftp://example.com/hooks"}},
			{"URLNotString", "url", map[string]any{"url": 5}},
			{"UnknownEvent", "subscriptions", map[string]any{"subscriptions": []string{"message_created"}}},
			{"SubscriptionsNotList", "subscriptions", map[string]any{"subscriptions": "assignee_changed"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, data := s.admin.do("PATCH", acct("/webhooks/%d", id), tc.body)
				if status != 422 || !strings.Contains(string(data), `"`+tc.field+`"`) {
					t.Errorf("status %d %s, want 422 naming %s", status, data, tc.field)
				}
				if listed := stored(); listed.URL != got.URL || len(listed.Subscriptions) != 1 {
					t.Errorf("a refused update changed the webhook to %+v", listed)
				}
			})
		}
		s.admin.must(200, "PATCH", acct("/webhooks/%d", id), map[string]any{}, &reply)
		if reply.Payload.Webhook.URL != got.URL {
			t.Errorf("an empty update gave %+v", reply.Payload.Webhook)
		}
		s.admin.must(404, "PATCH", acct("/webhooks/%d", id+1000), map[string]any{"url": "https://example.com/x"}, nil)

		a := s.newAgent("agent", "online")
		s.admin.create(s.newInbox(nil, a), nil)
		drain(t, s.sender())
		if got := before.events(); len(got) != 0 {
			t.Errorf("the old URL heard %v after the update", got)
		}
		if got := after.events(); len(got) != 1 || got[0] != "assignee_changed" {
			t.Errorf("the new URL heard %v, want only assignee_changed", got)
		}
	})
}

// waitFor waits until cond holds, and fails the test if it does not within
// ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// flakyOutbox is the store whose next failures writes of outcomes fail:
// before they reach it, or with committed after the commit.
type flakyOutbox struct {
	*store.DB
	failures  atomic.Int32
	committed bool
}

func (f *flakyOutbox) DeliveriesDone(ctx context.Context, outcomes []switchboard.DeliveryOutcome) error {
	if f.failures.Add(-1) < 0 {
		return f.DB.DeliveriesDone(ctx, outcomes)
	}
	if f.committed {
		if err := f.DB.DeliveriesDone(ctx, outcomes); err != nil {
			return err
		}
	}
	return errors.New("connection reset by peer")
}
