package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/storetest"
)

// TestHowFarAClaimLooks: a conversation's first delivery waits an hour for
// its retry and its next 1000 wait behind it. On SQLite a claim looks among
// the webhook's first 1000 deliveries still to send, so another
// conversation's delivery after them waits; PostgreSQL's claims look as far
// as it takes and take it. Once the first is sent, its conversation's go,
// in order.
func TestHowFarAClaimLooks(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			dsn := be.DSN(t)(t)
			ctx := context.Background()
			db, admin := openWithAdministrator(t, dsn)
			hook, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "http://127.0.0.1:1/hook"})
			if err != nil {
				t.Fatal(err)
			}
			seed, err := openBenchSeed(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer seed.db.Close()
			now := time.Now().UnixMilli()
			insert := func(n int, next, conv int64) {
				t.Helper()
				_, err := seed.db.ExecContext(ctx, seed.q(`INSERT INTO webhook_outbox (webhook_id, event, payload, next_attempt_at, created_at, conversation_id)
					SELECT ?, 'conversation_updated', '{}', CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT) FROM `+seed.series()),
					hook.ID, next, now-1000, conv, n)
				if err != nil {
					t.Fatal(err)
				}
			}
			insert(1, now+time.Hour.Milliseconds(), 1)
			insert(1000, now-1000, 1)
			insert(1, now-1000, 2)
			var first int64
			if err := seed.db.QueryRowContext(ctx, "SELECT min(id) FROM webhook_outbox").Scan(&first); err != nil {
				t.Fatal(err)
			}
			got, err := db.ClaimDeliveries(ctx, 16, 50, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			if be.Name == "SQLite" && len(got) != 0 {
				t.Fatalf("claimed %d past 1000 held deliveries, want none", len(got))
			}
			if be.Name != "SQLite" && (len(got) != 1 || got[0].Conversation != 2) {
				t.Fatalf("claimed %+v, want conversation 2's delivery past the held ones", got)
			}
			if err := db.DeliveriesDone(ctx, []switchboard.DeliveryOutcome{{ID: first}}); err != nil {
				t.Fatal(err)
			}
			got, err = db.ClaimDeliveries(ctx, 16, 50, time.Minute, nil)
			if err != nil || len(got) != 50 {
				t.Fatalf("claimed %d (%v) once the first was sent, want 50", len(got), err)
			}
			for i, d := range got {
				if d.ID != first+1+int64(i) || d.Conversation != 1 {
					t.Fatalf("claim's %dth: delivery %d of conversation %d, want %d of 1", i, d.ID, d.Conversation, first+1+int64(i))
				}
			}
		})
	}
}

// TestAnOutcomeCountsOnlyOnItsClaim: an outcome written again after it was
// recorded, or after its lease ended and another claim took the delivery,
// changes nothing; the outcome of the claim that holds it counts. The
// clock stands still but when said: claims in the same millisecond are
// told apart too.
func TestAnOutcomeCountsOnlyOnItsClaim(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			dsn := be.DSN(t)(t)
			ctx := context.Background()
			db, admin := openWithAdministrator(t, dsn)
			clock := time.Now()
			db.Now = func() time.Time { return clock }
			if _, err := db.CreateWebhook(ctx, admin, switchboard.NewWebhook{URL: "http://127.0.0.1:1/hook"}); err != nil {
				t.Fatal(err)
			}
			in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID, Message: "hello"}); err != nil {
				t.Fatal(err)
			}
			claim := func() []switchboard.Delivery {
				t.Helper()
				got, err := db.ClaimDeliveries(ctx, 16, 50, time.Minute, nil)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			done := func(o switchboard.DeliveryOutcome) {
				t.Helper()
				if err := db.DeliveriesDone(ctx, []switchboard.DeliveryOutcome{o}); err != nil {
					t.Fatal(err)
				}
			}
			first := claim()
			if len(first) != 1 {
				t.Fatalf("claimed %d, want the conversation's one delivery", len(first))
			}
			d := first[0]
			untried := switchboard.DeliveryOutcome{ID: d.ID, Untried: true, Claim: d.Claim}
			done(untried)
			second := claim() // another process, in the same millisecond
			if len(second) != 1 || second[0].Claim == d.Claim {
				t.Fatalf("claimed %+v again, want it under a claim of its own", second)
			}
			done(untried) // the first outcome written again: the second claim keeps it
			if again := claim(); len(again) != 0 {
				t.Errorf("claimed %d while the second claim holds it, want none", len(again))
			}
			// The second claim fails it, and the write is repeated: one
			// attempt counts.
			retry := clock.Add(time.Minute)
			failed := switchboard.DeliveryOutcome{ID: d.ID, Error: "refused", Next: &retry, Claim: second[0].Claim}
			done(failed)
			done(failed)
			clock = retry
			third := claim()
			if len(third) != 1 || third[0].Attempts != 1 {
				t.Fatalf("claimed %+v for its retry, want it with one attempt", third)
			}
			// Its lease ends and a fourth claim takes it; the third's
			// outcome, late, changes nothing.
			clock = clock.Add(2 * time.Minute)
			fourth := claim()
			if len(fourth) != 1 {
				t.Fatalf("claimed %d after the third lease ended, want 1", len(fourth))
			}
			done(switchboard.DeliveryOutcome{ID: d.ID, Claim: third[0].Claim})
			clock = clock.Add(2 * time.Minute)
			if fifth := claim(); len(fifth) != 1 {
				t.Errorf("claimed %d after the fourth lease ended, want 1: the late outcome marked it sent", len(fifth))
			}
		})
	}
}
