package routing_test

import (
	"fmt"
	"testing"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/routing"
)

var benchSizes = []int{10, 100, 1000, 10000}

// benchInbox returns n members in id order (as the store loads them): with
// online, every third one online and the others busy or offline; without,
// none online.
func benchInbox(n int, online bool) []routing.Member {
	ms := make([]routing.Member, n)
	for i := range ms {
		a := switchboard.Offline
		switch {
		case online && i%3 == 0:
			a = switchboard.Online
		case i%3 == 1:
			a = switchboard.Busy
		}
		ms[i] = routing.Member{UserID: int64(2*i + 1), Availability: a}
	}
	return ms
}

var sinkMembers []routing.Member
var sinkPick int64

func BenchmarkNext(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			candidates := make([]int64, n)
			for i := range candidates {
				candidates[i] = int64(2*i + 1)
			}
			var last int64
			for b.Loop() {
				pick, _ := routing.Next(candidates, last)
				last = pick
			}
			sinkPick = last
		})
	}
}

func BenchmarkAutoCandidates(b *testing.B) {
	for _, n := range benchSizes {
		for _, online := range []bool{true, false} {
			name := fmt.Sprintf("members=%d/online", n)
			if !online {
				name = fmt.Sprintf("members=%d/none-online", n)
			}
			b.Run(name, func(b *testing.B) {
				ms := benchInbox(n, online)
				b.ReportAllocs()
				for b.Loop() {
					sinkMembers = routing.AutoCandidates(ms, 0)
				}
			})
		}
	}
}

func BenchmarkReassignCandidates(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			ms := benchInbox(n, true)
			b.ReportAllocs()
			for b.Loop() {
				sinkMembers = routing.ReassignCandidates(ms, 1, 0)
			}
		})
	}
}

// BenchmarkPick is what the store computes for one auto-assignment once the
// members are loaded: the candidates, then the pick, in both modes.
func BenchmarkPick(b *testing.B) {
	for _, n := range benchSizes {
		for _, mode := range []switchboard.AssignmentMode{switchboard.RoundRobin, switchboard.Balanced} {
			b.Run(fmt.Sprintf("members=%d/%s", n, mode), func(b *testing.B) {
				ms := benchInbox(n, true)
				for i := range ms {
					ms[i].Open = i % 7
				}
				var last int64
				b.ReportAllocs()
				for b.Loop() {
					last, _ = routing.Pick(routing.AutoCandidates(ms, 0), last, mode)
				}
				sinkPick = last
			})
		}
	}
}
