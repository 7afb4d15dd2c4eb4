// Package routing holds the rules of ROUTING.md as pure functions: who may see
// a conversation, who may be its assignee, who the candidates for automatic
// assignment are and which of them the rotation picks next. It does no I/O;
// storage loads what a decision needs and calls these in its transaction.
package routing

import (
	"slices"

	"github.com/switchboard/switchboard"
)

// Member is an inbox member as routing needs to see them.
type Member struct {
	UserID       int64
	Availability switchboard.Availability
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

// AutoCandidates returns the ids of the members that auto-assignment chooses
// among: the online ones, or every member when none is online.
func AutoCandidates(members []Member) []int64 {
	if online := onlineIDs(members, 0); len(online) > 0 {
		return online
	}
	ids := make([]int64, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.UserID)
	}
	slices.Sort(ids)
	return ids
}

// ReassignCandidates returns the ids of the members that may take over the
// conversations of leaving: the online members other than leaving. There is no
// "all members" fallback; none means the conversation becomes unassigned.
func ReassignCandidates(members []Member, leaving int64) []int64 {
	return onlineIDs(members, leaving)
}

func onlineIDs(members []Member, except int64) []int64 {
	var ids []int64
	for _, m := range members {
		if m.Availability == switchboard.Online && m.UserID != except {
			ids = append(ids, m.UserID)
		}
	}
	slices.Sort(ids)
	return ids
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
