package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// membershipIn returns u's membership in accountID, if any.
func membershipIn(u switchboard.User, accountID int64) (switchboard.Membership, bool) {
	for _, m := range u.Accounts {
		if m.AccountID == accountID {
			return m, true
		}
	}
	return switchboard.Membership{}, false
}

// signedInAgent creates an administrator of the caller's account, signs
// them in and returns them with their session.
func signedInAgent(t *testing.T, db *store.DB, admin switchboard.Caller, email string) (switchboard.User, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Bea", Email: email, Role: switchboard.RoleAdministrator, Password: "password123"}); err != nil {
		t.Fatal(err)
	}
	u, session, err := db.SignIn(ctx, email, "password123")
	if err != nil {
		t.Fatal(err)
	}
	return u, session
}

// onEachBackend runs test on a store of each backend with an account and
// its administrator, whose authentication keeps users for an hour: only
// writes end what it keeps.
func onEachBackend(t *testing.T, test func(t *testing.T, db *store.DB, admin switchboard.Caller)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db, admin := openWithAdministrator(t, b.DSN(t)(t))
			store.SetAuthCacheFor(db, time.Hour)
			test(t, db, admin)
		})
	}
}

// TestAuthenticationSeesWrites: authentication keeps the users it finds,
// and every write that changes what it finds drops them before the write
// is answered, so the next request sees the write.
func TestAuthenticationSeesWrites(t *testing.T) {
	onEachBackend(t, func(t *testing.T, db *store.DB, admin switchboard.Caller) {
		ctx := context.Background()
		other, err := db.CreateAccount(ctx, "Other")
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name      string
			bySession bool
			change    func(t *testing.T, u switchboard.User, session string) error
			check     func(t *testing.T, u switchboard.User, err error)
		}{
			{name: "renamed",
				change: func(t *testing.T, u switchboard.User, _ string) error {
					name := "Renamed"
					_, err := db.UpdateAgent(ctx, admin, u.ID, switchboard.AgentUpdate{Name: &name})
					return err
				},
				check: func(t *testing.T, u switchboard.User, err error) {
					if err != nil || u.Name != "Renamed" {
						t.Errorf("after a rename: %q, %v; want Renamed", u.Name, err)
					}
				}},
			{name: "demoted",
				change: func(t *testing.T, u switchboard.User, _ string) error {
					role := switchboard.RoleAgent
					_, err := db.UpdateAgent(ctx, admin, u.ID, switchboard.AgentUpdate{Role: &role})
					return err
				},
				check: func(t *testing.T, u switchboard.User, err error) {
					m, _ := membershipIn(u, admin.AccountID)
					if err != nil || m.Role != switchboard.RoleAgent {
						t.Errorf("after a demotion: role %q, %v; want agent", m.Role, err)
					}
				}},
			{name: "busy",
				change: func(t *testing.T, u switchboard.User, _ string) error {
					self := switchboard.Caller{UserID: u.ID, AccountID: admin.AccountID, Role: switchboard.RoleAdministrator}
					return db.SetAvailability(ctx, self, u.ID, switchboard.Busy)
				},
				check: func(t *testing.T, u switchboard.User, err error) {
					m, _ := membershipIn(u, admin.AccountID)
					if err != nil || m.Availability != switchboard.Busy {
						t.Errorf("after going busy: %q, %v; want busy", m.Availability, err)
					}
				}},
			{name: "removed from the account",
				change: func(t *testing.T, u switchboard.User, _ string) error {
					return db.RemoveAgent(ctx, admin, u.ID)
				},
				check: func(t *testing.T, u switchboard.User, err error) {
					if _, in := membershipIn(u, admin.AccountID); err != nil || in {
						t.Errorf("after a removal: still in the account %v, %v", in, err)
					}
				}},
			{name: "added to an account",
				change: func(t *testing.T, u switchboard.User, _ string) error {
					return db.AddAccountUser(ctx, other.ID, u.ID, switchboard.RoleAgent)
				},
				check: func(t *testing.T, u switchboard.User, err error) {
					if _, in := membershipIn(u, other.ID); err != nil || !in {
						t.Errorf("after an addition: in the other account %v, %v", in, err)
					}
				}},
			{name: "signed out", bySession: true,
				change: func(t *testing.T, u switchboard.User, session string) error {
					return db.SignOut(ctx, u.ID, session)
				},
				check: func(t *testing.T, u switchboard.User, err error) {
					if e, ok := errors.AsType[*switchboard.Error](err); !ok || e.Code != switchboard.EUNAUTHORIZED {
						t.Errorf("the session after its sign-out: user %d, %v; want unauthorized", u.ID, err)
					}
				}},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				u, session := signedInAgent(t, db, admin, fmt.Sprintf("kept%d@example.com", i))
				lookUp := func() (switchboard.User, error) {
					if c.bySession {
						return db.UserBySession(ctx, session)
					}
					return db.UserByAccessToken(ctx, u.AccessToken)
				}
				before := store.AuthKept(db) // the users of the cases before
				for range 2 {
					if _, err := lookUp(); err != nil {
						t.Fatal(err)
					}
				}
				if n := store.AuthKept(db); n != before+1 {
					t.Fatalf("after two lookups %d users kept, want %d", n, before+1)
				}
				if err := c.change(t, u, session); err != nil {
					t.Fatal(err)
				}
				// Only the user changed is dropped.
				if n := store.AuthKept(db); n != before {
					t.Errorf("after the change %d users kept, want %d", n, before)
				}
				got, err := lookUp()
				c.check(t, got, err)
			})
		}
	})
}

// TestPostgresAuthenticationHearsOtherProcesses: a demotion made by one
// process reaches the users that another keeps, by its notification alone
// (they would serve for an hour otherwise).
func TestPostgresAuthenticationHearsOtherProcesses(t *testing.T) {
	dsn := storetest.Postgres(t)(t)
	ctx := context.Background()
	a, admin := openWithAdministrator(t, dsn)
	b, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	store.SetAuthCacheFor(b, time.Hour)
	u, _ := signedInAgent(t, a, admin, "bea@example.com")
	other, _ := signedInAgent(t, a, admin, "cy@example.com")
	// Making them told b of them too, a moment later; had that arrived
	// after b began keeping them, it would end what b keeps below. b hears
	// a's notifications in the order a sent them: once a change made after
	// theirs has ended what b kept of a third user, theirs have been heard.
	third, _ := signedInAgent(t, a, admin, "dee@example.com")
	if _, err := b.UserByAccessToken(ctx, third.AccessToken); err != nil {
		t.Fatal(err)
	}
	name := "Dee"
	if _, err := a.UpdateAgent(ctx, admin, third.ID, switchboard.AgentUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second) // a hang guard, not a speed check
	for store.AuthKeeps(b, third.AccessToken) {
		if time.Now().After(deadline) {
			t.Fatal("the other process never heard of the rename")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 2 {
		got, err := b.UserByAccessToken(ctx, u.AccessToken)
		if m, _ := membershipIn(got, admin.AccountID); err != nil || m.Role != switchboard.RoleAdministrator {
			t.Fatalf("before: role %q, %v", m.Role, err)
		}
		if _, err := b.UserByAccessToken(ctx, other.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.AuthKept(b); n != 2 {
		t.Fatalf("the other process keeps %d users, want 2", n)
	}
	role := switchboard.RoleAgent
	if _, err := a.UpdateAgent(ctx, admin, u.ID, switchboard.AgentUpdate{Role: &role}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		got, err := b.UserByAccessToken(ctx, u.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := membershipIn(got, admin.AccountID); m.Role == switchboard.RoleAgent {
			// The notification named the user: the other stays kept.
			if !store.AuthKeeps(b, other.AccessToken) {
				t.Error("the demotion of one user dropped another that the other process kept")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the other process still finds the demoted user an administrator")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDemotedAdministratorWritesNothing: a caller who was an administrator
// when authentication found them, and no longer is (another process
// demoted them a moment ago, or removed them), may not leave what an
// administrator's write leaves: a role, a member, an inbox, a webhook.
func TestDemotedAdministratorWritesNothing(t *testing.T) {
	onEachBackend(t, func(t *testing.T, db *store.DB, admin switchboard.Caller) {
		ctx := context.Background()
		in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
		if err != nil {
			t.Fatal(err)
		}
		writes := []struct {
			name  string
			write func(stale switchboard.Caller) error
		}{
			{"promote themselves", func(stale switchboard.Caller) error {
				role := switchboard.RoleAdministrator
				_, err := db.UpdateAgent(ctx, stale, stale.UserID, switchboard.AgentUpdate{Role: &role})
				return err
			}},
			{"create an administrator", func(stale switchboard.Caller) error {
				_, err := db.CreateAgent(ctx, stale, switchboard.NewAgent{Name: "Mal", Email: fmt.Sprintf("mal%d@example.com", stale.UserID), Role: switchboard.RoleAdministrator})
				return err
			}},
			{"join an inbox", func(stale switchboard.Caller) error {
				_, err := db.ChangeMembers(ctx, stale, in.ID, []int64{stale.UserID}, store.AddMembers)
				return err
			}},
			{"create an inbox", func(stale switchboard.Caller) error {
				_, err := db.CreateInbox(ctx, stale, switchboard.NewInbox{Name: "Mine"})
				return err
			}},
			{"add a webhook", func(stale switchboard.Caller) error {
				_, err := db.CreateWebhook(ctx, stale, switchboard.NewWebhook{URL: "https://example.com/hook"})
				return err
			}},
		}
		for i, w := range writes {
			for _, how := range []string{"demoted", "removed"} {
				t.Run(w.name+"/"+how, func(t *testing.T) {
					u, _ := signedInAgent(t, db, admin, fmt.Sprintf("stale%d%s@example.com", i, how))
					stale := switchboard.Caller{UserID: u.ID, AccountID: admin.AccountID, Role: switchboard.RoleAdministrator}
					if how == "demoted" {
						role := switchboard.RoleAgent
						if _, err := db.UpdateAgent(ctx, admin, u.ID, switchboard.AgentUpdate{Role: &role}); err != nil {
							t.Fatal(err)
						}
					} else if err := db.RemoveAgent(ctx, admin, u.ID); err != nil {
						t.Fatal(err)
					}
					err := w.write(stale)
					if e, ok := errors.AsType[*switchboard.Error](err); !ok || e.Code != switchboard.EFORBIDDEN {
						t.Fatalf("a %s administrator's write: %v, want forbidden", how, err)
					}
				})
			}
		}
	})
}

// TestAuthenticationKeepsNothingFromBeforeAWrite: a lookup that read the
// database before a write that changes it committed does not keep what it
// read.
func TestAuthenticationKeepsNothingFromBeforeAWrite(t *testing.T) {
	onEachBackend(t, func(t *testing.T, db *store.DB, admin switchboard.Caller) {
		ctx := context.Background()
		u, _ := signedInAgent(t, db, admin, "bea@example.com")
		renamed := false
		store.SetAuthLooked(db, func() {
			if renamed {
				return
			}
			renamed = true
			name := "Renamed"
			if _, err := db.UpdateAgent(ctx, admin, u.ID, switchboard.AgentUpdate{Name: &name}); err != nil {
				t.Error(err)
			}
		})
		if got, err := db.UserByAccessToken(ctx, u.AccessToken); err != nil || got.Name != "Bea" {
			t.Fatalf("the lookup the rename overtook: %q, %v", got.Name, err)
		}
		if got, err := db.UserByAccessToken(ctx, u.AccessToken); err != nil || got.Name != "Renamed" {
			t.Fatalf("the next lookup: %q, %v; want Renamed", got.Name, err)
		}
	})
}

// TestAuthenticationKeepsTokensAndSessionsApart: a session's value is not
// an access token, nor the reverse, kept or not.
func TestAuthenticationKeepsTokensAndSessionsApart(t *testing.T) {
	onEachBackend(t, func(t *testing.T, db *store.DB, admin switchboard.Caller) {
		ctx := context.Background()
		u, session := signedInAgent(t, db, admin, "bea@example.com")
		for range 2 {
			if _, err := db.UserBySession(ctx, session); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UserByAccessToken(ctx, u.AccessToken); err != nil {
				t.Fatal(err)
			}
			if got, err := db.UserByAccessToken(ctx, session); err == nil {
				t.Fatalf("a session's value taken as an access token: user %d", got.ID)
			}
			if got, err := db.UserBySession(ctx, u.AccessToken); err == nil {
				t.Fatalf("an access token taken as a session: user %d", got.ID)
			}
		}
	})
}

// TestAuthenticationSeesSignOutOfUserWithoutAccounts: a sign-out that
// changes no availability (the user belongs to no account) still ends the
// session kept.
func TestAuthenticationSeesSignOutOfUserWithoutAccounts(t *testing.T) {
	onEachBackend(t, func(t *testing.T, db *store.DB, _ switchboard.Caller) {
		ctx := context.Background()
		if _, err := db.CreateUser(ctx, "Lone", "lone@example.com", "password123"); err != nil {
			t.Fatal(err)
		}
		u, session, err := db.SignIn(ctx, "lone@example.com", "password123")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := db.UserBySession(ctx, session); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.SignOut(ctx, u.ID, session); err != nil {
			t.Fatal(err)
		}
		if got, err := db.UserBySession(ctx, session); err == nil {
			t.Fatalf("the session after its sign-out found user %d", got.ID)
		}
	})
}

// TestAuthenticationDropsOnlyTheUserChanged: a write about one user keeps
// what authentication keeps of the others (an availability changes often
// in a busy team).
func TestAuthenticationDropsOnlyTheUserChanged(t *testing.T) {
	onEachBackend(t, func(t *testing.T, db *store.DB, admin switchboard.Caller) {
		ctx := context.Background()
		ann, _ := signedInAgent(t, db, admin, "ann@example.com")
		bea, _ := signedInAgent(t, db, admin, "bea@example.com")
		for _, u := range []switchboard.User{ann, bea} {
			if _, err := db.UserByAccessToken(ctx, u.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		self := switchboard.Caller{UserID: bea.ID, AccountID: admin.AccountID, Role: switchboard.RoleAdministrator}
		if err := db.SetAvailability(ctx, self, bea.ID, switchboard.Busy); err != nil {
			t.Fatal(err)
		}
		if store.AuthKeeps(db, bea.AccessToken) {
			t.Error("the user who went busy is still kept")
		}
		if !store.AuthKeeps(db, ann.AccessToken) {
			t.Error("another user's change of availability dropped what was kept of Ann")
		}
	})
}
