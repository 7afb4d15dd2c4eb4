package routing_test

// Fuzz targets for the rotation and the candidate rules. Each checks the
// properties the functions promise for any input of the shape storage gives
// them: distinct positive user ids, any availability, any open count, any
// limit, any last pick. Run one with
//
//	go test -run='^$' -fuzz='^FuzzNext$' -fuzztime=10s ./routing/

import (
	"slices"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

// fuzzAvailabilities are the values a member's availability takes.
var fuzzAvailabilities = []switchboard.Availability{switchboard.Online, switchboard.Busy, switchboard.Offline}

// fuzzMembers decodes members, three bytes each: the user id (1..256; a
// repeated id is skipped, as an inbox has each user once), the availability
// and the number of open conversations held. The order is the input's.
func fuzzMembers(data []byte) []routing.Member {
	var ms []routing.Member
	seen := map[int64]bool{}
	for i := 0; i+2 < len(data); i += 3 {
		id := int64(data[i]) + 1
		if seen[id] {
			continue
		}
		seen[id] = true
		ms = append(ms, routing.Member{
			UserID:       id,
			Availability: fuzzAvailabilities[int(data[i+1])%len(fuzzAvailabilities)],
			Open:         int(data[i+2] % 8),
		})
	}
	return ms
}

// fuzzCandidates decodes a candidate list as the functions above Next return
// it: distinct ids in ascending order, two bytes each (1..65536).
func fuzzCandidates(data []byte) []int64 {
	var ids []int64
	for i := 0; i+1 < len(data); i += 2 {
		ids = append(ids, int64(data[i])<<8|int64(data[i+1])+1)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// fuzzLimit folds the fuzzed limit into the range where it matters: below 1
// (no limit) up to a little above the largest open count.
func fuzzLimit(limit int8) int { return int(limit) % 10 }

func fuzzIDs(ms []routing.Member) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.UserID)
	}
	return out
}

func fuzzHasRoom(m routing.Member, limit int) bool { return limit <= 0 || m.Open < limit }

// fuzzWant returns the members that pass keep, in id order: what a candidate
// function must return.
func fuzzWant(ms []routing.Member, keep func(routing.Member) bool) []routing.Member {
	out := []routing.Member{}
	for _, m := range ms {
		if keep(m) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b routing.Member) int { return int(a.UserID - b.UserID) })
	return out
}

// fuzzCheckCandidates fails unless got is exactly want (same members, same
// fields, in ascending id order) and the input is untouched.
func fuzzCheckCandidates(t *testing.T, what string, members, before, got, want []routing.Member) {
	t.Helper()
	if !slices.IsSortedFunc(got, func(a, b routing.Member) int { return int(a.UserID - b.UserID) }) {
		t.Fatalf("%s: candidates %v are not in id order", what, fuzzIDs(got))
	}
	for _, c := range got {
		if !slices.Contains(members, c) {
			t.Fatalf("%s: candidate %+v is not one of the members %+v", what, c, members)
		}
	}
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: candidates %v, want %v (members %+v)", what, fuzzIDs(got), fuzzIDs(want), members)
	}
	if !slices.Equal(members, before) {
		t.Fatalf("%s: the members passed in were changed: %+v, were %+v", what, members, before)
	}
}

// fuzzCheckNext fails unless Next(candidates, last) is the smallest
// candidate greater than last, or the smallest of all.
func fuzzCheckNext(t *testing.T, candidates []int64, last int64) {
	t.Helper()
	pick, ok := routing.Next(candidates, last)
	if len(candidates) == 0 {
		if ok {
			t.Fatalf("Next(%v, %d) = %d, true; want no pick", candidates, last, pick)
		}
		return
	}
	if !ok {
		t.Fatalf("Next(%v, %d): no pick", candidates, last)
	}
	if !slices.Contains(candidates, pick) {
		t.Fatalf("Next(%v, %d) = %d, not a candidate", candidates, last, pick)
	}
	want := candidates[0]
	for _, c := range candidates {
		if c > last {
			want = c
			break
		}
	}
	if pick != want {
		t.Fatalf("Next(%v, %d) = %d, want %d", candidates, last, pick, want)
	}
}

// FuzzNext checks the rotation: the pick is the smallest candidate after
// last, else the smallest; and cycling k*len times from any start gives each
// candidate exactly k picks, in a fixed cycle.
func FuzzNext(f *testing.F) {
	f.Add([]byte{}, int64(0), uint8(1))
	f.Add([]byte{0, 1, 0, 2, 0, 3}, int64(0), uint8(2))
	f.Add([]byte{0, 1, 0, 2, 0, 3}, int64(2), uint8(3))
	f.Add([]byte{0, 1, 0, 2, 0, 3}, int64(3), uint8(1))
	f.Add([]byte{0, 4, 0, 9}, int64(5), uint8(2))   // last left the inbox
	f.Add([]byte{0, 4, 0, 9}, int64(100), uint8(1)) // last above them all
	f.Add([]byte{0, 4, 0, 9}, int64(-7), uint8(1))  // nonsense last
	f.Add([]byte{255, 255, 0, 0}, int64(65536), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, last int64, rounds uint8) {
		candidates := fuzzCandidates(data)
		before := slices.Clone(candidates)
		fuzzCheckNext(t, candidates, last)
		if len(candidates) == 0 {
			return
		}
		k := int(rounds%4) + 1
		picks := map[int64]int{}
		var sequence []int64
		cur := last
		for range k * len(candidates) {
			pick, _ := routing.Next(candidates, cur)
			fuzzCheckNext(t, candidates, cur)
			picks[pick]++
			sequence = append(sequence, pick)
			cur = pick
		}
		for _, c := range candidates {
			if picks[c] != k {
				t.Fatalf("%d rounds over %v from %d: %d picked %d times, want %d (picks %v)", k, candidates, last, c, picks[c], k, sequence)
			}
		}
		n := len(candidates)
		for i := n; i < len(sequence); i++ {
			if sequence[i] != sequence[i-n] {
				t.Fatalf("picks over %v from %d do not come in a fixed cycle: %v", candidates, last, sequence)
			}
		}
		if !slices.Equal(candidates, before) {
			t.Fatalf("Next changed its candidates: %v, were %v", candidates, before)
		}
	})
}

// FuzzAutoCandidates checks who auto-assignment chooses among: the online
// members with room when any member is online, else every member with room;
// in id order. Then the rotation over them hands each the same number.
func FuzzAutoCandidates(f *testing.F) {
	f.Add([]byte{}, int8(0), int64(0))
	f.Add([]byte{1, 0, 0, 2, 1, 0, 3, 2, 0}, int8(0), int64(0))   // one online
	f.Add([]byte{5, 2, 0, 1, 2, 0, 3, 1, 0}, int8(0), int64(2))   // none online: all
	f.Add([]byte{1, 0, 3, 2, 0, 1, 3, 0, 0}, int8(2), int64(1))   // one online is full
	f.Add([]byte{1, 0, 2, 2, 0, 2, 3, 2, 1}, int8(2), int64(0))   // every online member full
	f.Add([]byte{9, 1, 5, 4, 2, 0, 9, 0, 0}, int8(-3), int64(10)) // repeated id, no limit
	f.Add([]byte{0, 0, 7, 255, 0, 7, 128, 1, 7}, int8(7), int64(256))
	f.Fuzz(func(t *testing.T, data []byte, limit8 int8, last int64) {
		members := fuzzMembers(data)
		limit := fuzzLimit(limit8)
		before := slices.Clone(members)
		got := routing.AutoCandidates(members, limit)
		anyOnline := slices.ContainsFunc(members, func(m routing.Member) bool { return m.Availability == switchboard.Online })
		want := fuzzWant(members, func(m routing.Member) bool {
			return (!anyOnline || m.Availability == switchboard.Online) && fuzzHasRoom(m, limit)
		})
		fuzzCheckCandidates(t, "AutoCandidates", members, before, got, want)
		for _, c := range got {
			if anyOnline && c.Availability != switchboard.Online {
				t.Fatalf("AutoCandidates: %+v is not online, though someone is", c)
			}
			if limit > 0 && c.Open >= limit {
				t.Fatalf("AutoCandidates: %+v is at the limit %d", c, limit)
			}
		}
		ids := fuzzIDs(got)
		fuzzCheckNext(t, ids, last)
		// The rotation hands an unchanging set of candidates the same number
		// of conversations each, whatever the start.
		counts := map[int64]int{}
		cur := last
		for range 3 * len(ids) {
			pick, _ := routing.Next(ids, cur)
			counts[pick]++
			cur = pick
		}
		for _, id := range ids {
			if counts[id] != 3 {
				t.Fatalf("three rounds over %v: %d picked %d times", ids, id, counts[id])
			}
		}
	})
}

// FuzzReassignCandidates checks who takes over the conversations of a
// leaving user: the online members with room other than the leaving user,
// in id order, with no fallback to absent members.
func FuzzReassignCandidates(f *testing.F) {
	f.Add([]byte{}, int8(0), int64(1))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 2, 0, 0}, int8(0), int64(2)) // leaving is online
	f.Add([]byte{0, 2, 0, 1, 1, 0, 2, 0, 0}, int8(0), int64(3)) // only leaving online: none
	f.Add([]byte{0, 0, 3, 1, 0, 1, 2, 0, 2}, int8(2), int64(1)) // one at the limit
	f.Add([]byte{4, 2, 0, 5, 2, 0}, int8(0), int64(9))          // nobody online
	f.Add([]byte{0, 0, 0, 1, 0, 0}, int8(0), int64(0))          // leaving is nobody
	f.Add([]byte{7, 0, 1, 7, 0, 1, 8, 0, 6}, int8(-1), int64(-5))
	f.Fuzz(func(t *testing.T, data []byte, limit8 int8, leaving int64) {
		members := fuzzMembers(data)
		limit := fuzzLimit(limit8)
		// Half the time the leaving user is one of the members, as in use.
		if len(members) > 0 && leaving%2 == 0 {
			leaving = members[int(uint64(leaving)%uint64(len(members)))].UserID
		}
		before := slices.Clone(members)
		got := routing.ReassignCandidates(members, leaving, limit)
		want := fuzzWant(members, func(m routing.Member) bool {
			return m.Availability == switchboard.Online && m.UserID != leaving && fuzzHasRoom(m, limit)
		})
		fuzzCheckCandidates(t, "ReassignCandidates", members, before, got, want)
		for _, c := range got {
			if c.UserID == leaving {
				t.Fatalf("ReassignCandidates: the leaving user %d is a candidate", leaving)
			}
			if c.Availability != switchboard.Online {
				t.Fatalf("ReassignCandidates: %+v is not online", c)
			}
		}
		if slices.ContainsFunc(members, func(m routing.Member) bool { return m.UserID == leaving }) {
			if pick, ok := routing.Next(fuzzIDs(got), leaving); ok && pick == leaving {
				t.Fatalf("the rotation gives the leaving user %d their own conversations back", leaving)
			}
		}
	})
}

// FuzzPlacementCandidates checks who a waiting conversation may be placed
// with: online members with room only, in id order.
func FuzzPlacementCandidates(f *testing.F) {
	f.Add([]byte{}, int8(0))
	f.Add([]byte{0, 0, 0, 1, 2, 0, 2, 1, 0}, int8(0))
	f.Add([]byte{0, 0, 3, 1, 0, 1}, int8(2))
	f.Add([]byte{3, 2, 0, 4, 2, 0}, int8(1)) // nobody online: nobody, not everybody
	f.Fuzz(func(t *testing.T, data []byte, limit8 int8) {
		members := fuzzMembers(data)
		limit := fuzzLimit(limit8)
		before := slices.Clone(members)
		got := routing.PlacementCandidates(members, limit)
		want := fuzzWant(members, func(m routing.Member) bool {
			return m.Availability == switchboard.Online && fuzzHasRoom(m, limit)
		})
		fuzzCheckCandidates(t, "PlacementCandidates", members, before, got, want)
	})
}

// FuzzPick checks the choice among candidates: in round-robin mode the
// rotation's next; in balanced mode the rotation's next among those holding
// the fewest open conversations.
func FuzzPick(f *testing.F) {
	f.Add([]byte{}, int64(0), false)
	f.Add([]byte{0, 0, 2, 1, 0, 1, 2, 0, 1}, int64(0), true)
	f.Add([]byte{0, 0, 2, 1, 0, 1, 2, 0, 1}, int64(2), true)
	f.Add([]byte{0, 0, 2, 1, 0, 1, 2, 0, 1}, int64(2), false)
	f.Add([]byte{5, 0, 0, 3, 0, 0, 9, 0, 0}, int64(4), true)
	f.Fuzz(func(t *testing.T, data []byte, last int64, balanced bool) {
		candidates := fuzzWant(fuzzMembers(data), func(routing.Member) bool { return true })
		before := slices.Clone(candidates)
		mode := switchboard.RoundRobin
		if balanced {
			mode = switchboard.Balanced
		}
		pick, ok := routing.Pick(candidates, last, mode)
		if !slices.Equal(candidates, before) {
			t.Fatalf("Pick changed its candidates: %+v, were %+v", candidates, before)
		}
		pool := candidates
		if balanced && len(candidates) > 0 {
			fewest := candidates[0].Open
			for _, c := range candidates {
				fewest = min(fewest, c.Open)
			}
			pool = fuzzWant(candidates, func(m routing.Member) bool { return m.Open == fewest })
		}
		want, wantOK := routing.Next(fuzzIDs(pool), last)
		fuzzCheckNext(t, fuzzIDs(pool), last)
		if pick != want || ok != wantOK {
			t.Fatalf("Pick(%+v, %d, %s) = %d, %v; want %d, %v", candidates, last, mode, pick, ok, want, wantOK)
		}
	})
}
