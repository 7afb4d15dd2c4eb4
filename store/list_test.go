package store_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
	"github.com/switchboard/switchboard/storetest"
)

// TestListShowsPlacesInQueues: a conversation list shows each waiting
// conversation's place in its own inbox's queue (oldest first, from 1), and
// 0 for the others, whatever the page.
func TestListShowsPlacesInQueues(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db, admin := openWithAdministrator(t, b.DSN(t)(t))
			// Two inboxes, each with one online agent who takes one
			// conversation at a time: the rest wait.
			var inboxes []int64
			for i := range 2 {
				in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: fmt.Sprint("Inbox ", i),
					EnableAutoAssignment: true, EnableAutoReassignment: true, MaxAssignmentLimit: 1})
				if err != nil {
					t.Fatal(err)
				}
				a, err := db.CreateAgent(ctx, admin, switchboard.NewAgent{Name: "Agent", Email: fmt.Sprintf("a%d@example.com", i),
					Role: switchboard.RoleAgent, Availability: switchboard.Online})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.ChangeMembers(ctx, admin, in.ID, []int64{a.ID}, store.AddMembers); err != nil {
					t.Fatal(err)
				}
				inboxes = append(inboxes, in.ID)
			}
			// Created alternately, 4 in the first inbox and 3 in the second:
			// want[id] is the place each should show.
			want := map[int64]int{}
			places := map[int64]int{}
			for i := range 7 {
				in := inboxes[i%2]
				c, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in})
				if err != nil {
					t.Fatal(err)
				}
				if c.Assignee == nil {
					places[in]++
					want[c.ID] = places[in]
				} else {
					want[c.ID] = 0
				}
			}
			if places[inboxes[0]] != 3 || places[inboxes[1]] != 2 {
				t.Fatalf("queues of %v, want 3 and 2 waiting", places)
			}
			for _, f := range []switchboard.ConversationFilter{
				{AssigneeType: "all", Status: "open", Page: 1},
				{AssigneeType: "unassigned", Status: "all", Page: 1},
				{AssigneeType: "all", Status: "open", InboxID: &inboxes[1], Page: 1},
			} {
				page, _, err := db.Conversations(ctx, admin, f)
				if err != nil || len(page) == 0 {
					t.Fatalf("list %+v: %d rows (%v)", f, len(page), err)
				}
				for _, c := range page {
					if c.QueuePosition != want[c.ID] {
						t.Errorf("list %+v: conversation %d shows place %d, want %d", f, c.ID, c.QueuePosition, want[c.ID])
					}
				}
			}
		})
	}
}

// TestListFiltersByStatus: a list shows the conversations of the status
// asked for, or of every status for "all", and counts the same ones.
func TestListFiltersByStatus(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db, admin := openWithAdministrator(t, b.DSN(t)(t))
			in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
			if err != nil {
				t.Fatal(err)
			}
			// Two conversations in each status.
			want := map[string][]int64{}
			for _, st := range []switchboard.Status{switchboard.StatusOpen, switchboard.StatusPending, switchboard.StatusSnoozed, switchboard.StatusResolved} {
				for range 2 {
					c, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID})
					if err != nil {
						t.Fatal(err)
					}
					if st != switchboard.StatusOpen {
						change := switchboard.StatusChange{Status: &st}
						if _, err := db.ChangeStatus(ctx, admin, c.ID, change); err != nil {
							t.Fatal(err)
						}
					}
					want[string(st)] = append(want[string(st)], c.ID)
					want["all"] = append(want["all"], c.ID)
				}
			}
			for status, ids := range want {
				t.Run(status, func(t *testing.T) {
					page, counts, err := db.Conversations(ctx, admin, switchboard.ConversationFilter{AssigneeType: "all", Status: status, Page: 1})
					if err != nil {
						t.Fatal(err)
					}
					var got []int64
					for _, c := range page {
						got = append(got, c.ID)
					}
					if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ids))) || counts.All != len(ids) || counts.Unassigned != len(ids) {
						t.Errorf("status %s lists %v, counts %+v; want %v", status, got, counts, ids)
					}
				})
			}
		})
	}
}

// TestListPagesInOrder: a list's pages, one after another, give the
// conversations of its status (or every status, for "all") newest activity
// first and, among equal activities, the newest conversation first, each
// once; a page after the last, however far, is empty. The order is checked
// against each conversation read on its own.
func TestListPagesInOrder(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db, admin := openWithAdministrator(t, b.DSN(t)(t))
			in, err := db.CreateInbox(ctx, admin, switchboard.NewInbox{Name: "Web"})
			if err != nil {
				t.Fatal(err)
			}
			// 70 conversations, made in a burst (many share a millisecond),
			// then every third one changed to another status (which is
			// activity): three pages of the open ones and of "all", one of
			// each other status.
			statuses := []switchboard.Status{switchboard.StatusPending, switchboard.StatusSnoozed, switchboard.StatusResolved}
			var ids []int64
			for i := range 70 {
				c, err := db.CreateConversation(ctx, admin, switchboard.NewConversation{InboxID: in.ID})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, c.ID)
				if i%3 == 1 {
					st := statuses[i%len(statuses)]
					if _, err := db.ChangeStatus(ctx, admin, c.ID, switchboard.StatusChange{Status: &st}); err != nil {
						t.Fatal(err)
					}
				}
			}
			var stored []switchboard.Conversation
			for _, id := range ids {
				c, err := db.Conversation(ctx, admin, id)
				if err != nil {
					t.Fatal(err)
				}
				stored = append(stored, c)
			}
			slices.SortFunc(stored, func(a, b switchboard.Conversation) int {
				if c := b.LastActivityAt.Compare(a.LastActivityAt); c != 0 {
					return c
				}
				return cmp.Compare(b.ID, a.ID)
			})
			for _, status := range []string{"all", "open", "pending", "snoozed", "resolved"} {
				t.Run(status, func(t *testing.T) {
					var want []int64
					for _, c := range stored {
						if status == "all" || string(c.Status) == status {
							want = append(want, c.ID)
						}
					}
					var got []int64
					last := (len(want) + switchboard.PageSize - 1) / switchboard.PageSize
					for page := 1; page <= last; page++ {
						list, counts, err := db.Conversations(ctx, admin, switchboard.ConversationFilter{AssigneeType: "all", Status: status, Page: page})
						if err != nil {
							t.Fatal(err)
						}
						if counts.All != len(want) {
							t.Errorf("page %d counts %d, want %d", page, counts.All, len(want))
						}
						for _, c := range list {
							got = append(got, c.ID)
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("pages 1-%d list\n%v\nwant\n%v", last, got, want)
					}
					for _, page := range []int{last + 1, 1000, math.MaxInt32, math.MaxInt32 + 1, math.MaxInt} {
						list, _, err := db.Conversations(ctx, admin, switchboard.ConversationFilter{AssigneeType: "all", Status: status, Page: page})
						if err != nil || len(list) != 0 {
							t.Errorf("page %d: %d conversations (%v), want none", page, len(list), err)
						}
					}
				})
			}
		})
	}
}
