package routing_test

import (
	"slices"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

const (
	on  = switchboard.Online
	bsy = switchboard.Busy
	off = switchboard.Offline
)

func members(pairs ...any) []routing.Member {
	var ms []routing.Member
	for i := 0; i < len(pairs); i += 2 {
		ms = append(ms, routing.Member{UserID: int64(pairs[i].(int)), Availability: pairs[i+1].(switchboard.Availability)})
	}
	return ms
}

// Rule 1: agents see only their inboxes' conversations; administrators all.
// Rule 2: the assignee is a member of the inbox or an administrator.
func TestVisibilityAndEligibility(t *testing.T) {
	tests := []struct {
		name     string
		role     switchboard.Role
		isMember bool
		want     bool
	}{
		{"AgentMemberAllowed", switchboard.RoleAgent, true, true},
		{"AgentNonMemberRefused", switchboard.RoleAgent, false, false},
		{"AdministratorMemberAllowed", switchboard.RoleAdministrator, true, true},
		{"AdministratorNonMemberAllowed", switchboard.RoleAdministrator, false, true},
		{"NotInAccountRefused", "", false, false},
		{"NotInAccountMemberRowRefused", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := routing.MaySee(tt.role, tt.isMember); got != tt.want {
				t.Errorf("MaySee = %v, want %v", got, tt.want)
			}
			if got := routing.MayBeAssignee(tt.role, tt.isMember); got != tt.want {
				t.Errorf("MayBeAssignee = %v, want %v", got, tt.want)
			}
		})
	}
}

func ids(ms []routing.Member) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.UserID)
	}
	return out
}

// loaded sets the open conversations each member holds, in order.
func loaded(ms []routing.Member, open ...int) []routing.Member {
	for i := range ms {
		ms[i].Open = open[i]
	}
	return ms
}

// Auto-assignment rules 1, 2 and 5, with capacity: online members; else all;
// none without members; those at the limit are not candidates, and when the
// online ones are all full the conversation waits rather than going to
// someone absent.
func TestAutoCandidates(t *testing.T) {
	tests := []struct {
		name    string
		members []routing.Member
		limit   int
		want    []int64
	}{
		{"OnlyOnlineMembers", members(3, on, 1, off, 2, bsy, 5, on), 0, []int64{3, 5}},
		{"BusyAndOfflineSkippedWhileSomeoneOnline", members(1, bsy, 2, off, 4, on), 0, []int64{4}},
		{"AllMembersWhenNoneOnline", members(4, off, 2, bsy, 9, off), 0, []int64{2, 4, 9}},
		{"NoMembersNoCandidates", nil, 0, []int64{}},
		{"MemberAtLimitSkipped", loaded(members(1, on, 2, on, 3, on), 2, 1, 0), 2, []int64{2, 3}},
		{"OnlineAllFullWaitsInsteadOfOffline", loaded(members(1, on, 2, off), 2, 0), 2, []int64{}},
		{"LimitAppliesToAllOfflineFallback", loaded(members(1, off, 2, off, 3, bsy), 3, 1, 3), 3, []int64{2}},
		{"NoLimitIgnoresLoad", loaded(members(1, on, 2, on), 90, 0), 0, []int64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(routing.AutoCandidates(tt.members, tt.limit)); !slices.Equal(got, tt.want) {
				t.Errorf("AutoCandidates = %v, want %v", got, tt.want)
			}
		})
	}
}

// Auto-reassignment rules 1 and 3: online members other than the one leaving,
// with room; no fallback to everyone.
func TestReassignCandidates(t *testing.T) {
	tests := []struct {
		name    string
		members []routing.Member
		leaving int64
		limit   int
		want    []int64
	}{
		{"OnlineOthers", members(1, on, 2, on, 3, on), 2, 0, []int64{1, 3}},
		{"LeavingUserExcludedEvenIfOnline", members(1, on, 2, off), 1, 0, []int64{}},
		{"NoFallbackToOfflineMembers", members(1, off, 2, bsy, 3, on), 3, 0, []int64{}},
		{"BusyIsNotACandidate", members(1, bsy, 2, on, 3, off), 3, 0, []int64{2}},
		{"FullMembersSkipped", loaded(members(1, on, 2, on, 3, on), 1, 0, 0), 3, 1, []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(routing.ReassignCandidates(tt.members, tt.leaving, tt.limit)); !slices.Equal(got, tt.want) {
				t.Errorf("ReassignCandidates = %v, want %v", got, tt.want)
			}
		})
	}
}

// The waiting queue is placed with online members who have room only.
func TestPlacementCandidates(t *testing.T) {
	tests := []struct {
		name    string
		members []routing.Member
		limit   int
		want    []int64
	}{
		{"OnlineWithRoom", loaded(members(1, on, 2, on, 3, off), 1, 0, 0), 1, []int64{2}},
		{"NobodyOnlineNobodyPlaced", members(1, off, 2, bsy), 0, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(routing.PlacementCandidates(tt.members, tt.limit)); !slices.Equal(got, tt.want) {
				t.Errorf("PlacementCandidates = %v, want %v", got, tt.want)
			}
		})
	}
}

// Balanced mode: the candidate with the fewest open conversations; ties go by
// the rotation. Round robin ignores the load.
func TestPick(t *testing.T) {
	tests := []struct {
		name       string
		candidates []routing.Member
		last       int64
		mode       switchboard.AssignmentMode
		want       int64
		ok         bool
	}{
		{"RoundRobinFollowsRotation", loaded(members(1, on, 2, on, 3, on), 0, 5, 9), 1, switchboard.RoundRobin, 2, true},
		{"BalancedTakesFewest", loaded(members(1, on, 2, on, 3, on), 4, 5, 1), 1, switchboard.Balanced, 3, true},
		{"BalancedTieGoesByRotation", loaded(members(1, on, 2, on, 3, on), 2, 2, 2), 1, switchboard.Balanced, 2, true},
		{"BalancedTieWrapsRound", loaded(members(1, on, 2, on, 3, on), 1, 4, 1), 2, switchboard.Balanced, 3, true},
		{"NoCandidates", nil, 0, switchboard.Balanced, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := routing.Pick(tt.candidates, tt.last, tt.mode)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Pick = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// Auto-assignment rule 3: the first candidate after the last pick, wrapping round.
func TestNext(t *testing.T) {
	tests := []struct {
		name       string
		candidates []int64
		last       int64
		want       int64
		ok         bool
	}{
		{"FreshInboxSmallestID", []int64{4, 7, 9}, 0, 4, true},
		{"AfterLastPick", []int64{4, 7, 9}, 4, 7, true},
		{"WrapsRound", []int64{4, 7, 9}, 9, 4, true},
		{"LastPickLeftTheInbox", []int64{4, 7, 9}, 5, 7, true},
		{"LastPickBeyondAll", []int64{4, 7, 9}, 12, 4, true},
		{"SingleCandidateAgain", []int64{7}, 7, 7, true},
		{"NoCandidates", nil, 3, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := routing.Next(tt.candidates, tt.last)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Next(%v, %d) = %d, %v; want %d, %v", tt.candidates, tt.last, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// Over an unchanging candidate set, picks come in a fixed cycle, so the counts
// differ by at most one after any number of picks.
func TestNextIsFair(t *testing.T) {
	candidates := []int64{2, 3, 5, 8, 13}
	counts := map[int64]int{}
	var last int64
	var order []int64
	for i := range 23 {
		pick, _ := routing.Next(candidates, last)
		counts[pick]++
		last = pick
		order = append(order, pick)
		lo, hi := i+1, 0
		for _, c := range candidates {
			lo, hi = min(lo, counts[c]), max(hi, counts[c])
		}
		if hi-lo > 1 {
			t.Fatalf("after %d picks counts %v differ by more than one", i+1, counts)
		}
	}
	for i := len(candidates); i < len(order); i++ {
		if order[i] != order[i-len(candidates)] {
			t.Fatalf("picks %v do not repeat in a fixed cycle", order)
		}
	}
}
