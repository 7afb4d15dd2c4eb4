package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// stepped is a store that moves step conversations per transaction when a
// user goes offline, and an account where agent a holds n conversations in
// an inbox that reassigns, with b and c online beside them.
type stepped struct {
	ctx        context.Context
	db         *store.DB
	dsn        string
	admin      switchboard.Caller
	a, b, c    switchboard.Caller
	held       []int64 // the display ids of a's conversations, in order
	stepsTaken int     // steps run after the first transaction
}

func newStepped(t *testing.T, dsn string, n, step int) *stepped {
	t.Helper()
	s := &stepped{ctx: context.Background(), dsn: dsn}
	s.db, s.admin = openWithAdministrator(t, dsn)
	s.db.ReassignStep = step
	agent := func(i int) switchboard.Caller {
		ag, err := s.db.CreateAgent(s.ctx, s.admin, switchboard.NewAgent{
			Name: "Agent", Email: fmt.Sprintf("agent%d@example.com", i), Role: switchboard.RoleAgent, Availability: switchboard.Online,
		})
		s.must(t, err)
		return switchboard.Caller{UserID: ag.ID, AccountID: s.admin.AccountID, Role: switchboard.RoleAgent}
	}
	s.a, s.b, s.c = agent(1), agent(2), agent(3)
	in, err := s.db.CreateInbox(s.ctx, s.admin, switchboard.NewInbox{Name: "Web", EnableAutoAssignment: true, EnableAutoReassignment: true})
	s.must(t, err)
	_, err = s.db.ChangeMembers(s.ctx, s.admin, in.ID, []int64{s.a.UserID, s.b.UserID, s.c.UserID}, store.AddMembers)
	s.must(t, err)
	for range n {
		conv, err := s.db.CreateConversation(s.ctx, s.admin, switchboard.NewConversation{InboxID: in.ID, AssigneeID: &s.a.UserID})
		s.must(t, err)
		s.held = append(s.held, conv.ID)
	}
	return s
}

func (s *stepped) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// between runs f before each step after the first, counting the steps.
func (s *stepped) between(f func() error) {
	store.SetBetweenSteps(s.db, func(accountID, userID int64) error {
		if accountID != s.admin.AccountID || userID != s.a.UserID {
			return fmt.Errorf("a step for user %d in account %d", userID, accountID)
		}
		s.stepsTaken++
		return f()
	})
}

// assignee returns who holds a conversation (0: nobody).
func (s *stepped) assignee(t *testing.T, id int64) int64 {
	t.Helper()
	conv, err := s.db.Conversation(s.ctx, s.admin, id)
	s.must(t, err)
	if conv.Assignee == nil {
		return 0
	}
	return conv.Assignee.ID
}

// holders counts a's former conversations by who holds them now.
func (s *stepped) holders(t *testing.T) map[int64]int {
	t.Helper()
	got := map[int64]int{}
	for _, id := range s.held {
		got[s.assignee(t, id)]++
	}
	return got
}

func (s *stepped) offline(by switchboard.Caller) error {
	return s.db.SetAvailability(s.ctx, by, s.a.UserID, switchboard.Offline)
}

// TestOfflineMovesInSteps: the steps a reassignment takes after the
// transaction of the change, which moves a third of a step itself. A step
// that finds fewer than it may move is the last.
func TestOfflineMovesInSteps(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range []struct{ held, step, steps int }{
				{held: 1, step: 6, steps: 0},
				{held: 2, step: 6, steps: 1}, // the first moved its whole third: the next finds none
				{held: 3, step: 6, steps: 1},
				{held: 7, step: 3, steps: 3}, // 1, then 3, 3, and one that finds none
				{held: 10, step: 60, steps: 0},
			} {
				t.Run(fmt.Sprintf("held=%d,step=%d", tc.held, tc.step), func(t *testing.T) {
					s := newStepped(t, b.DSN(t)(t), tc.held, tc.step)
					s.between(func() error { return nil })
					s.must(t, s.offline(s.a))
					if s.stepsTaken != tc.steps {
						t.Errorf("%d steps after the first transaction, want %d", s.stepsTaken, tc.steps)
					}
					if got := s.holders(t); got[s.a.UserID] != 0 {
						t.Errorf("after the reply %v by holder: %d still holds some", got, s.a.UserID)
					}
				})
			}
		})
	}
}

// TestAssignedDuringTheStepsStays: a conversation given to the user after
// they went offline, while their reassignment is still under way, is not
// taken from them by a later step; ROUTING.md's manual assignment ignores
// availability.
func TestAssignedDuringTheStepsStays(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := newStepped(t, b.DSN(t)(t), 10, 3)
			first, last := s.held[0], s.held[len(s.held)-1] // moved by the change itself, and not yet
			s.between(func() error {
				if s.stepsTaken > 1 {
					return nil
				}
				if _, err := s.db.Assign(s.ctx, s.admin, first, &s.a.UserID); err != nil {
					return err
				}
				if _, err := s.db.Assign(s.ctx, s.admin, last, &s.b.UserID); err != nil {
					return err
				}
				_, err := s.db.Assign(s.ctx, s.admin, last, &s.a.UserID)
				return err
			})
			s.must(t, s.offline(s.a))
			for _, id := range s.held {
				got := s.assignee(t, id)
				if want := id == first || id == last; (got == s.a.UserID) != want {
					t.Errorf("conversation %d is with %d; given back to %d during the steps: %v", id, got, s.a.UserID, want)
				}
			}
			storetest.CheckInvariants(t, s.db, s.admin)
		})
	}
}

// TestComingBackWaitsForTheSteps: a user who comes back online while their
// reassignment is under way does so after its last step: the change that
// set them online returns with none of their old conversations left.
func TestComingBackWaitsForTheSteps(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := newStepped(t, b.DSN(t)(t), 10, 3)
			var held int
			s.between(func() error {
				if s.stepsTaken > 1 {
					return nil
				}
				if err := s.db.SetAvailability(s.ctx, s.a, s.a.UserID, switchboard.Online); err != nil {
					return err
				}
				for _, id := range s.held {
					if s.assignee(t, id) == s.a.UserID {
						held++
					}
				}
				return nil
			})
			s.must(t, s.offline(s.a))
			if held != 0 {
				t.Errorf("back online with %d of the conversations held when they went offline, want 0", held)
			}
			agent, err := s.db.Agent(s.ctx, s.admin, s.a.UserID)
			s.must(t, err)
			if agent.Availability != switchboard.Online {
				t.Errorf("availability %s after coming back, want online", agent.Availability)
			}
			if got := s.holders(t); got[s.a.UserID] != 0 {
				t.Errorf("%v by holder at the end, want none with %d", got, s.a.UserID)
			}
		})
	}
}

// TestSignOutDuringTheStepsLeavesNothing: a user who, while their
// reassignment is under way, is given conversations back and then signs
// out (going offline again, with a newer bound) loses every one of them,
// even when the sign-out's own steps stop after its first transaction and
// the first reassignment is the one left to finish.
func TestSignOutDuringTheStepsLeavesNothing(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := newStepped(t, b.DSN(t)(t), 10, 2)
			signingOut := false
			stopped := errors.New("the sign-out's process stopped")
			s.between(func() error {
				if signingOut {
					return stopped // the sign-out's first step after its own transaction
				}
				if s.stepsTaken != 3 {
					return nil
				}
				// Six are moved; the first three come back to the user.
				for _, id := range s.held[:3] {
					if _, err := s.db.Assign(s.ctx, s.admin, id, &s.a.UserID); err != nil {
						return err
					}
				}
				signingOut = true
				if err := s.db.SignOut(s.ctx, s.a.UserID, ""); !errors.Is(err, stopped) {
					return fmt.Errorf("the sign-out returned %v, want its stop", err)
				}
				signingOut = false
				return nil
			})
			s.must(t, s.offline(s.a))
			if got := s.holders(t); got[s.a.UserID] != 0 {
				t.Errorf("after the first reassignment's reply %v by holder, want none left with %d", got, s.a.UserID)
			}
			storetest.CheckInvariants(t, s.db, s.admin)
		})
	}
}

// TestAStoppedReassignmentIsFinished: a reassignment stopped between two
// steps (its process stopped) is finished by the next process, in the name
// of the administrator who set the user offline, and fairly: by the sweep
// itself, and by the presence loop that serve starts, at its start.
func TestAStoppedReassignmentIsFinished(t *testing.T) {
	for _, b := range storetest.Backends() {
		for _, how := range []string{"FinishReassignments", "KeepPresence"} {
			t.Run(b.Name+"/"+how, func(t *testing.T) {
				s := newStepped(t, b.DSN(t)(t), 10, 3)
				stopped := errors.New("the process stopped")
				s.between(func() error { return stopped })
				if err := s.offline(s.admin); !errors.Is(err, stopped) {
					t.Fatalf("the offline change returned %v, want the stop", err)
				}
				if got := s.holders(t); got[s.a.UserID] != 9 {
					t.Fatalf("after the first transaction %v by holder, want 9 still with %d", got, s.a.UserID)
				}
				s.db.Close()
				next, err := store.Open(s.ctx, s.dsn)
				s.must(t, err)
				defer next.Close()
				s.db = next
				switch how {
				case "FinishReassignments":
					if n, err := next.FinishReassignments(s.ctx); err != nil || n != 1 {
						t.Fatalf("the sweep finished %d (%v), want 1", n, err)
					}
				case "KeepPresence":
					ctx, stop := context.WithCancel(s.ctx)
					done := make(chan struct{})
					go func() {
						defer close(done)
						next.KeepPresence(ctx, time.Hour, time.Hour, slog.New(slog.DiscardHandler))
					}()
					deadline := time.Now().Add(20 * time.Second) // a hang guard, not a speed check
					for s.holders(t)[s.a.UserID] != 0 && time.Now().Before(deadline) {
						time.Sleep(10 * time.Millisecond)
					}
					stop()
					<-done
				}
				got := s.holders(t)
				if got[s.a.UserID] != 0 || got[s.b.UserID]+got[s.c.UserID] != 10 || max(got[s.b.UserID]-got[s.c.UserID], got[s.c.UserID]-got[s.b.UserID]) > 1 {
					t.Errorf("after the sweep %v by holder, want the 10 split between %d and %d to ±1", got, s.b.UserID, s.c.UserID)
				}
				events, err := next.AssignmentEvents(s.ctx, s.admin, s.held[len(s.held)-1])
				s.must(t, err)
				if e := events[len(events)-1]; e.Reason != switchboard.ReasonReassign || e.ActorID == nil || *e.ActorID != s.admin.UserID {
					t.Errorf("the sweep's move recorded as %+v, want a reassignment by %d", e, s.admin.UserID)
				}
				if n, err := next.FinishReassignments(s.ctx); err != nil || n != 0 {
					t.Errorf("a second sweep finished %d (%v), want none", n, err)
				}
				storetest.CheckInvariants(t, next, s.admin)
			})
		}
	}
}

// TestOfflineAgainFinishesTheSteps: a reassignment whose steps stopped after
// the change had committed (the request failed: the database too busy at
// every attempt of a step, or the process gone) is finished when the user
// is set offline again, as the answer to the failed request invites, not
// only by the next presence sweep.
func TestOfflineAgainFinishesTheSteps(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := newStepped(t, b.DSN(t)(t), 10, 3)
			stopped := errors.New("stopped between two steps")
			s.between(func() error { return stopped })
			if err := s.offline(s.admin); !errors.Is(err, stopped) {
				t.Fatalf("going offline: %v, want it stopped after its first transaction", err)
			}
			if got := s.holders(t); got[s.a.UserID] == 0 {
				t.Fatalf("%v by holder: the steps did not stop before the end", got)
			}
			s.between(func() error { return nil })
			s.must(t, s.offline(s.admin))
			if got := s.holders(t); got[s.a.UserID] != 0 {
				t.Errorf("set offline again: %v by holder, want none left with %d", got, s.a.UserID)
			}
			if n, err := s.db.FinishReassignments(s.ctx); err != nil || n != 0 {
				t.Errorf("the sweep then finished %d reassignments (%v), want none left", n, err)
			}
			storetest.CheckInvariants(t, s.db, s.admin)
		})
	}
}
