package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// The storage benchmarks: one pick (CreateConversation with auto-assignment)
// and one reassignment (an agent holding many conversations goes offline),
// on SQLite and, when SWITCHBOARD_TEST_POSTGRES is set, PostgreSQL. Members
// and stored conversations are written straight into the database (benchSeed)
// because ten thousand agents through CreateAgent cost ten thousand bcrypt
// hashes. Profile with e.g.
//
//	go test ./store -run '^$' -bench 'CreateConversation/SQLite/members=10$' -cpuprofile cpu.out

type benchBackend struct {
	name string
	dsn  func(b *testing.B) string
}

var benchBackends = []benchBackend{
	{"SQLite", func(b *testing.B) string { return storetest.SQLite(b) }},
	{"Postgres", func(b *testing.B) string { return storetest.Postgres(b)(b) }},
}

// benchFixture is an account with an administrator and one inbox.
type benchFixture struct {
	db    *store.DB
	seed  *benchSeed
	admin switchboard.Caller
	inbox int64
}

func newBenchFixture(b *testing.B, dsn string) *benchFixture {
	b.Helper()
	ctx := context.Background()
	db, admin := openWithAdministrator(b, dsn)
	in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web", EnableAutoAssignment: true, EnableAutoReassignment: true})
	if err != nil {
		b.Fatal(err)
	}
	s, err := openBenchSeed(dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.db.Close() })
	return &benchFixture{db: db, seed: s, admin: admin, inbox: in.ID}
}

// BenchmarkCreateConversation measures one storage pick: a conversation
// created open in an inbox with auto-assignment, in its own transaction
// (one commit, one fsync on SQLite), as the API does for each create.
func BenchmarkCreateConversation(b *testing.B) {
	cases := []struct {
		members, stored int
	}{
		{10, 0}, {1000, 0}, {10000, 0}, {10, 100_000},
	}
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, c := range cases {
				name := fmt.Sprintf("members=%d", c.members)
				if c.stored > 0 {
					name += fmt.Sprintf("/stored=%d", c.stored)
				}
				b.Run(name, func(b *testing.B) {
					f := newBenchFixture(b, be.dsn(b))
					ctx := context.Background()
					lo, hi, err := f.seed.members(ctx, f.admin.AccountID, f.inbox, c.members)
					if err != nil {
						b.Fatal(err)
					}
					if c.stored > 0 {
						// One stored conversation in a hundred is open, as in
						// an inbox whose history is mostly resolved.
						if err := f.seed.conversations(ctx, f.admin.AccountID, f.inbox, c.stored, lo, hi); err != nil {
							b.Fatal(err)
						}
					}
					n := switchboard.NewConversation{InboxID: f.inbox, Message: "Hello"}
					for range 10 { // warm the caches
						if _, err := f.db.CreateConversation(ctx, f.admin, n); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					for b.Loop() {
						conv, err := f.db.CreateConversation(ctx, f.admin, n)
						if err != nil {
							b.Fatal(err)
						}
						if conv.Assignee == nil {
							b.Fatal("not auto-assigned")
						}
					}
				})
			}
		})
	}
}

// BenchmarkCreateConcurrently measures creates that arrive together: 16 at
// a time in one inbox of 10 members, as the API's requests do under load,
// so that they share commits (SQLite's group commit; PostgreSQL's inbox
// batch, made in one statement: together.go). ns/op is per create.
func BenchmarkCreateConcurrently(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			f := newBenchFixture(b, be.dsn(b))
			ctx := context.Background()
			if _, _, err := f.seed.members(ctx, f.admin.AccountID, f.inbox, 10); err != nil {
				b.Fatal(err)
			}
			n := switchboard.NewConversation{InboxID: f.inbox, Message: "Hello"}
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					conv, err := f.db.CreateConversation(ctx, f.admin, n)
					if err != nil {
						b.Error(err)
						return
					}
					if conv.Assignee == nil {
						b.Error("not auto-assigned")
						return
					}
				}
			})
		})
	}
}

// BenchmarkReassign measures an agent holding held open conversations going
// offline: every one moves to the next online colleague in the same
// transaction. ns/op is the whole reassignment; ns/conversation is per
// conversation.
func BenchmarkReassign(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, held := range []int{1000, 10000} {
				b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
					if be.name == "Postgres" && held > 1000 && testing.Short() {
						b.Skip("long on PostgreSQL")
					}
					f := newBenchFixture(b, be.dsn(b))
					ctx := context.Background()
					lo, _, err := f.seed.members(ctx, f.admin.AccountID, f.inbox, 3)
					if err != nil {
						b.Fatal(err)
					}
					for b.Loop() {
						b.StopTimer()
						if err := f.db.SetAvailability(ctx, f.admin, lo, switchboard.Online); err != nil {
							b.Fatal(err)
						}
						if err := f.seed.assignTo(ctx, f.admin.AccountID, f.inbox, held, lo); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						if err := f.db.SetAvailability(ctx, f.admin, lo, switchboard.Offline); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					if left, err := f.seed.heldBy(ctx, lo); err != nil || left != 0 {
						b.Fatalf("the agent still holds %d (%v)", left, err)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*held), "ns/conversation")
				})
			}
		})
	}
}

// BenchmarkListConversations measures the first page of a conversation list
// (what the console and GET conversations show) while waiting conversations
// queue in the inbox: each row on the page shows its place in the queue.
func BenchmarkListConversations(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, waiting := range []int{1000, 10000} {
				b.Run(fmt.Sprintf("waiting=%d", waiting), func(b *testing.B) {
					f := newBenchFixture(b, be.dsn(b))
					ctx := context.Background()
					if err := f.seed.queue(ctx, f.admin.AccountID, f.inbox, waiting); err != nil {
						b.Fatal(err)
					}
					filter := switchboard.ConversationFilter{AssigneeType: "all", Status: "open", Page: 1}
					for b.Loop() {
						page, counts, err := f.db.Conversations(ctx, f.admin, filter)
						if err != nil || len(page) != switchboard.PageSize || counts.All != waiting {
							b.Fatalf("a page of %d, counts %+v (%v)", len(page), counts, err)
						}
						// Newest first: the page is the end of the queue.
						if last := page[0].QueuePosition; last != waiting {
							b.Fatalf("the newest waits at %d, want %d", last, waiting)
						}
					}
				})
			}
		})
	}
}

// BenchmarkListOpenBesideResolved measures a page of open conversations
// (the console's default list, and its counts) in an account that has
// resolved many more: a year of a team's work. The list reads the open
// ones, however many were resolved before.
func BenchmarkListOpenBesideResolved(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, resolved := range []int{1000, 100000} {
				b.Run(fmt.Sprintf("resolved=%d", resolved), func(b *testing.B) {
					f := newBenchFixture(b, be.dsn(b))
					ctx := context.Background()
					const open = 100
					if err := f.seed.insert(ctx, f.admin.AccountID, f.inbox, resolved, "NULL", "'resolved'"); err != nil {
						b.Fatal(err)
					}
					if err := f.seed.insert(ctx, f.admin.AccountID, f.inbox, open, "NULL", "'open'"); err != nil {
						b.Fatal(err)
					}
					filter := switchboard.ConversationFilter{AssigneeType: "all", Status: "open", Page: 1}
					for b.Loop() {
						page, counts, err := f.db.Conversations(ctx, f.admin, filter)
						if err != nil || len(page) != switchboard.PageSize || counts.All != open || counts.Unassigned != open {
							b.Fatalf("a page of %d, counts %+v (%v)", len(page), counts, err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkListManyOpen measures the console's default list (open
// conversations, newest activity first, and its counts) in an account with
// a large backlog of open ones, as every open console rereads it after the
// changes it hears.
func BenchmarkListManyOpen(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, open := range []int{1000, 20000} {
				b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
					f := newBenchFixture(b, be.dsn(b))
					ctx := context.Background()
					if err := f.seed.insert(ctx, f.admin.AccountID, f.inbox, open, "NULL", "'open'"); err != nil {
						b.Fatal(err)
					}
					filter := switchboard.ConversationFilter{AssigneeType: "all", Status: "open", Page: 1}
					for b.Loop() {
						page, counts, err := f.db.Conversations(ctx, f.admin, filter)
						if err != nil || len(page) != switchboard.PageSize || counts.All != open {
							b.Fatalf("a page of %d, counts %+v (%v)", len(page), counts, err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkPurgeDeliveries: the hourly purge of the webhook outbox, whose
// first run after an upgrade meets the whole history, a delivery in ten
// still to retry among them. One op is the purge of old deliveries of
// done, of which a batch of 1,000 per transaction.
func BenchmarkPurgeDeliveries(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, done := range []int{10000, 100000} {
				b.Run(fmt.Sprintf("done=%d", done), func(b *testing.B) {
					f := newBenchFixture(b, be.dsn(b))
					ctx := context.Background()
					hook, err := f.db.CreateWebhook(ctx, f.admin, switchboard.NewWebhook{URL: "http://127.0.0.1:1/hook"})
					if err != nil {
						b.Fatal(err)
					}
					old := time.Now().Add(-30 * 24 * time.Hour).UnixMilli()
					for b.Loop() {
						b.StopTimer()
						// Nine in ten sent, one in ten due again in an hour.
						_, err := f.seed.db.ExecContext(ctx, f.seed.q(`INSERT INTO webhook_outbox (webhook_id, event, payload, next_attempt_at, created_at)
							SELECT ?, 'conversation_created', '{}', CASE WHEN i % 10 = 0 THEN CAST(? AS BIGINT) END, CAST(? AS BIGINT) FROM `+f.seed.series()),
							hook.ID, old+int64(time.Hour/time.Millisecond), old, done*10/9)
						if err != nil {
							b.Fatal(err)
						}
						if f.seed.postgres {
							// As autovacuum would have between two hourly
							// purges: the last one's dead rows are gone.
							if _, err := f.seed.db.ExecContext(ctx, "VACUUM ANALYZE webhook_outbox"); err != nil {
								b.Fatal(err)
							}
						}
						b.StartTimer()
						n, err := f.db.PurgeDeliveries(ctx, time.Now().Add(-7*24*time.Hour), 1000)
						if err != nil || n < done-done/9 || n > done+done/9 {
							b.Fatalf("purged %d (%v), want about %d", n, err, done)
						}
					}
				})
			}
		})
	}
}

// benchSeed writes members and conversations straight into a store's
// database, as the store would have (minus events and messages, which no pick
// reads).
type benchSeed struct {
	db       *sql.DB
	postgres bool
	users    int
}

func openBenchSeed(dsn string) (*benchSeed, error) {
	if strings.HasPrefix(dsn, "postgres://") {
		db, err := sql.Open("pgx", dsn)
		return &benchSeed{db: db, postgres: true}, err
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?_pragma=busy_timeout(30000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &benchSeed{db: db}, nil
}

func (s *benchSeed) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *benchSeed) series() string {
	if s.postgres {
		return "generate_series(1, ?::bigint) AS s(i)"
	}
	return "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) SELECT i FROM s) AS s"
}

// members adds n online agents to the account and the inbox, with
// contiguous ids lo..hi.
func (s *benchSeed) members(ctx context.Context, account, inbox int64, n int) (lo, hi int64, err error) {
	s.users++
	prefix := fmt.Sprintf("seed%d-", s.users)
	text, yes := "CAST(i AS TEXT)", "1"
	if s.postgres {
		text, yes = "i::text", "TRUE"
	}
	now := time.Now().UnixMilli()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	like := prefix + "%"
	stmts := []struct {
		query string
		args  []any
	}{
		{`INSERT INTO users (name, email, password_hash, access_token, access_token_hash, created_at)
		  SELECT 'Seeded', ? || ` + text + ` || '@bench.invalid', '!', ? || ` + text + `, ? || ` + text + `, ? FROM ` + s.series(),
			[]any{prefix, prefix + "t", prefix + "h", now, n}},
		{`INSERT INTO account_users (account_id, user_id, role, availability, auto_offline, created_at)
		  SELECT ?, id, 'agent', 'online', ` + yes + `, ? FROM users WHERE email LIKE ?`, []any{account, now, like}},
		{`INSERT INTO inbox_members (inbox_id, user_id) SELECT ?, id FROM users WHERE email LIKE ?`, []any{inbox, like}},
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, s.q(st.query), st.args...); err != nil {
			return 0, 0, fmt.Errorf("seed members: %w", err)
		}
	}
	if err := tx.QueryRowContext(ctx, s.q(`SELECT min(id), max(id) FROM users WHERE email LIKE ?`), like).Scan(&lo, &hi); err != nil {
		return 0, 0, err
	}
	if hi-lo+1 != int64(n) {
		return 0, 0, fmt.Errorf("seeded user ids %d..%d are not %d contiguous ids", lo, hi, n)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	if s.postgres {
		// What autovacuum does after a bulk insert, before the planner sees
		// ten thousand members as the handful it saw when the table was new.
		_, err = s.db.ExecContext(ctx, "ANALYZE")
	}
	return lo, hi, err
}

// conversations adds n conversations to the inbox assigned round robin to
// lo..hi, one in a hundred open and the others resolved.
func (s *benchSeed) conversations(ctx context.Context, account, inbox int64, n int, lo, hi int64) error {
	return s.insert(ctx, account, inbox, n, fmt.Sprintf("%d + (i %% %d)", lo, hi-lo+1), "CASE WHEN i % 100 = 0 THEN 'open' ELSE 'resolved' END")
}

// assignTo adds n open conversations to the inbox, all assigned to user.
func (s *benchSeed) assignTo(ctx context.Context, account, inbox int64, n int, user int64) error {
	return s.insert(ctx, account, inbox, n, fmt.Sprint(user), "'open'")
}

// queue adds n open, unassigned conversations to the inbox, waiting in the
// order they were created.
func (s *benchSeed) queue(ctx context.Context, account, inbox int64, n int) error {
	if err := s.insert(ctx, account, inbox, n, "NULL", "'open'"); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE conversations SET waiting_since = created_at
		WHERE inbox_id = ? AND status = 'open' AND assignee_id IS NULL`), inbox)
	return err
}

func (s *benchSeed) insert(ctx context.Context, account, inbox int64, n int, assignee, status string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Numbers taken as the store takes them: the account's counter on
	// SQLite, its sequence on PostgreSQL.
	var last int64
	if s.postgres {
		seq := fmt.Sprintf("conversation_display_ids_%d", account)
		if err := tx.QueryRowContext(ctx, `SELECT nextval($1::regclass) - 1`, seq).Scan(&last); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `SELECT setval($1::regclass, $2)`, seq, last+int64(n)); err != nil {
			return err
		}
	} else {
		if err := tx.QueryRowContext(ctx, `SELECT last_conversation_id FROM accounts WHERE id = ?`, account).Scan(&last); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET last_conversation_id = ? WHERE id = ?`, last+int64(n), account); err != nil {
			return err
		}
	}
	now := time.Now().UnixMilli()
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO conversations (account_id, display_id, inbox_id, status, assignee_id, source_id, created_at, last_activity_at)
		SELECT ?, ? + i, ?, `+status+`, `+assignee+`, '', ? - i, ? - i FROM `+s.series()), account, last, inbox, now, now, n)
	if err != nil {
		return fmt.Errorf("seed conversations: %w", err)
	}
	return tx.Commit()
}

func (s *benchSeed) heldBy(ctx context.Context, user int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM conversations WHERE assignee_id = ? AND status <> 'resolved'`), user).Scan(&n)
	return n, err
}

// BenchmarkClaimDeliveries measures one claim of the webhook sender (50
// deliveries) beside an outbox that holds 10^5 deliveries done and a
// backlog of due ones: of the webhook claimed for ("due"), or of another
// webhook whose turn is in flight and which the claim passes over
// ("skipped", a receiver gone dark), or of another webhook whose turn has
// ended ("held": 1000 conversations of 100 events each, the first waiting
// an hour for its retry, the rest due behind it; "+1": and one delivery
// before them it can take). Each claim's deliveries are given back
// untried before the next, outside the timer.
func BenchmarkClaimDeliveries(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			for _, c := range []struct {
				name               string
				due, skipped, held int
				claimable          int
			}{
				{"due=1000", 1000, 0, 0, 0},
				{"due=100000", 100000, 0, 0, 0},
				{"due=1000/skipped=100000", 1000, 100000, 0, 0},
				{"due=1000/held=100000", 1000, 0, 100000, 0},
				{"due=1000/held=100000+1", 1000, 0, 100000, 1},
			} {
				b.Run(c.name, func(b *testing.B) {
					f := newBenchFixture(b, be.dsn(b))
					ctx := context.Background()
					var hooks [2]int64
					for i := range hooks {
						h, err := f.db.CreateWebhook(ctx, f.admin, switchboard.NewWebhook{URL: "http://127.0.0.1:1/hook"})
						if err != nil {
							b.Fatal(err)
						}
						hooks[i] = h.ID
					}
					now := time.Now().UnixMilli()
					seed := func(hook int64, n int, done bool) {
						if n == 0 {
							return // the series counts from 1
						}
						next := "CAST(? AS BIGINT)"
						if done {
							next = "CAST(CASE WHEN CAST(? AS BIGINT) > 0 THEN NULL END AS BIGINT)"
						}
						// Conversations of two events each, in the order made.
						_, err := f.seed.db.ExecContext(ctx, f.seed.q(`INSERT INTO webhook_outbox (webhook_id, event, payload, next_attempt_at, created_at, conversation_id)
							SELECT ?, 'conversation_created', '{}', `+next+`, CAST(? AS BIGINT), (i + 1) / 2 FROM `+f.seed.series()),
							hook, now-1000, now-1000, n)
						if err != nil {
							b.Fatal(err)
						}
					}
					seed(hooks[0], 100000, true)
					seed(hooks[1], c.skipped, false)
					if c.claimable > 0 {
						seed(hooks[1], c.claimable, false) // conversation 1 of the first round's 1000: not held, it comes first
					}
					for round := range c.held / 1000 {
						next := now - 1000
						if round == 0 {
							next = now + time.Hour.Milliseconds()
						}
						_, err := f.seed.db.ExecContext(ctx, f.seed.q(`INSERT INTO webhook_outbox (webhook_id, event, payload, next_attempt_at, created_at, conversation_id)
							SELECT ?, 'conversation_updated', '{}', CAST(? AS BIGINT), CAST(? AS BIGINT), i FROM `+f.seed.series()),
							hooks[1], next, now-1000, 1000)
						if err != nil {
							b.Fatal(err)
						}
					}
					seed(hooks[0], c.due, false)
					if f.seed.postgres {
						if _, err := f.seed.db.ExecContext(ctx, "VACUUM ANALYZE webhook_outbox"); err != nil {
							b.Fatal(err)
						}
					}
					var skip []int64
					if c.skipped > 0 {
						skip = []int64{hooks[1]}
					}
					for b.Loop() {
						got, err := f.db.ClaimDeliveries(ctx, 16, 50, time.Minute, skip)
						if err != nil || len(got) != 50+c.claimable {
							b.Fatalf("claimed %d (%v), want %d", len(got), err, 50+c.claimable)
						}
						b.StopTimer()
						back := make([]switchboard.DeliveryOutcome, len(got))
						for i, d := range got {
							back[i] = switchboard.DeliveryOutcome{ID: d.ID, Untried: true}
						}
						if err := f.db.DeliveriesDone(ctx, back); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				})
			}
		})
	}
}
