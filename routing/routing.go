// Package routing holds the rules of ROUTING.md as pure functions: who may see
// a conversation, who may be its assignee, who the candidates for automatic
// assignment are and which of them the rotation picks next. It does no I/O;
// storage loads what a decision needs and calls these in its transaction.
package routing

import (
	"cmp"
	"slices"

	"github.com/switchboard/switchboard"
)

// Member is an inbox member as routing needs to see them: who, whether they
// are there, and how many open conversations of the inbox they hold.
type Member struct {
	UserID       int64
	Availability switchboard.Availability
	Open         int
}

// MaySee reports whether a user with role in the account (empty when they
// are not in it), who is or is not a member of a conversation's inbox, may see
// and act on it (rule 1).
func MaySee(role switchboard.Role, isMember bool) bool {
	return role == switchboard.RoleAdministrator || (role == switchboard.RoleAgent && isMember)
}

// MayBeAssignee reports whether a user with role in the account (empty when
// they are not in it), who is or is not a member of the conversation's inbox,
// may be its assignee (rule 2).
func MayBeAssignee(role switchboard.Role, isMember bool) bool {
	return role == switchboard.RoleAdministrator || (role == switchboard.RoleAgent && isMember)
}

// AutoCandidates returns the members that auto-assignment chooses among, in
// id order: the online members, or every member when none is online; then
// those at capacity (holding limit open conversations; limit 0 is no limit)
// are left out. None means the conversation waits.
func AutoCandidates(members []Member, limit int) []Member {
	pool := online(members, 0)
	if len(pool) == 0 {
		pool = members
	}
	return withRoom(pool, limit)
}

// ReassignCandidates returns the members that may take over the
// conversations of leaving: the online members other than leaving, less
// those at capacity. There is no "all members" fallback; none means the
// conversation becomes unassigned.
func ReassignCandidates(members []Member, leaving int64, limit int) []Member {
	return withRoom(online(members, leaving), limit)
}

// PlacementCandidates returns the members that a waiting conversation may be
// placed with: the online members with room. A backlog waits for people who
// are there, rather than going to absent ones.
func PlacementCandidates(members []Member, limit int) []Member {
	return withRoom(online(members, 0), limit)
}

func online(members []Member, except int64) []Member {
	var out []Member
	for _, m := range members {
		if m.Availability == switchboard.Online && m.UserID != except {
			out = append(out, m)
		}
	}
	return out
}

func withRoom(members []Member, limit int) []Member {
	out := make([]Member, 0, len(members))
	for _, m := range members {
		if limit <= 0 || m.Open < limit {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.UserID, b.UserID) })
	return out
}

// Pick returns the candidate that gets the next conversation. In round-robin
// mode it is the rotation's next (see Next); in balanced mode it is the
// candidate holding the fewest open conversations of the inbox, ties going
// by the rotation. candidates must be in id order.
func Pick(candidates []Member, last int64, mode switchboard.AssignmentMode) (int64, bool) {
	if mode == switchboard.Balanced && len(candidates) > 0 {
		fewest := slices.MinFunc(candidates, func(a, b Member) int { return cmp.Compare(a.Open, b.Open) }).Open
		candidates = slices.DeleteFunc(slices.Clone(candidates), func(m Member) bool { return m.Open != fewest })
	}
	ids := make([]int64, len(candidates))
	for i, m := range candidates {
		ids[i] = m.UserID
	}
	return Next(ids, last)
}

// Next returns the candidate the rotation picks after last: the smallest id
// greater than last, wrapping round to the smallest id. last is 0 in a fresh
// inbox. candidates must be in ascending order, as the functions above return
// them. ok is false when there are no candidates.
func Next(candidates []int64, last int64) (pick int64, ok bool) {
	if len(candidates) == 0 {
		return 0, false
	}
	i, found := slices.BinarySearch(candidates, last)
	if found {
		i++
	}
	if i == len(candidates) {
		i = 0
	}
	return candidates[i], true
}
