package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every scenario tiny against a freshly built switchboard and
// checks that the bench completes and reports sane numbers. It asserts
// nothing about speed: the targets are reported, not enforced.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	// Two inboxes: processes then checks fairness in each. Two consoles:
	// create checks that they hear of its creates. A webhook: create
	// checks that every delivery arrives, beside a dead one's.
	args := []string{"-smoke", "-scenario", "all", "-inboxes", "2", "-consoles", "2", "-agent-consoles", "2", "-webhooks", "1", "-dead-webhooks", "1", "-postgres", os.Getenv("SWITCHBOARD_TEST_POSTGRES")}
	rep, err := run(ctx, args, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("scenarios failed: %v", rep.Errors)
	}
	for _, s := range rep.Skipped {
		if !strings.HasPrefix(s, "processes:") || os.Getenv("SWITCHBOARD_TEST_POSTGRES") != "" {
			t.Errorf("skipped: %s", s)
		}
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		seen[r.Scenario] = true
		if r.Count <= 0 || r.Errors != 0 {
			t.Errorf("%s %s: %d ok, %d errors (%s)", r.Scenario, r.Name, r.Count, r.Errors, r.FirstError)
		}
		if r.Throughput <= 0 || r.Elapsed <= 0 {
			t.Errorf("%s %s: throughput %.1f/s over %s", r.Scenario, r.Name, r.Throughput, r.Elapsed)
		}
		if r.P50 <= 0 || r.P50 > r.P90 || r.P90 > r.P99 || r.P99 > r.Max {
			t.Errorf("%s %s: percentiles out of order: p50 %s p90 %s p99 %s max %s", r.Scenario, r.Name, r.P50, r.P90, r.P99, r.Max)
		}
		if r.Scenario == "create" && strings.HasPrefix(r.Name, "switchboard") && r.Extra["console events per console per s"] <= 0 {
			t.Errorf("create %s: the consoles heard %v events a second", r.Name, r.Extra["console events per console per s"])
		}
		if r.Scenario == "create" && strings.HasPrefix(r.Name, "switchboard") && r.Extra["webhook deliveries"] != float64(deliveriesPerCreate*(r.Count+warmups)) {
			t.Errorf("create %s: %v webhook deliveries for %d creates", r.Name, r.Extra["webhook deliveries"], r.Count+warmups)
		}
		if r.Scenario == "processes" && r.Extra["slices"] != 2 {
			t.Errorf("processes %s: measured in %v slices, want -smoke's 2", r.Name, r.Extra["slices"])
		}
	}
	if rep.Disk.Count <= 0 {
		t.Errorf("no disk probe in the report: %+v", rep.Disk)
	}
	for _, s := range allScenarios {
		if !seen[s] && !(s == "processes" && os.Getenv("SWITCHBOARD_TEST_POSTGRES") == "") {
			t.Errorf("no results from scenario %s", s)
		}
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %s %s failed: %s", c.Scenario, c.Name, c.Detail)
		}
	}
	if rep.failed() {
		t.Error("the report says the run failed")
	}
}

func TestPercentile(t *testing.T) {
	var lats []time.Duration
	for i := 1; i <= 100; i++ {
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	s := summarize(lats, 0, nil, time.Second)
	if s.P50 != 50*time.Millisecond || s.P90 != 90*time.Millisecond || s.P99 != 99*time.Millisecond || s.Max != 100*time.Millisecond {
		t.Errorf("percentiles of 1..100 ms: %+v", s)
	}
	if s.Throughput != 100 {
		t.Errorf("throughput %.1f, want 100", s.Throughput)
	}
}

// The slices of a measurement merge into the stats of one: the latencies of
// all of them, their requests, errors and time added.
func TestMergeStats(t *testing.T) {
	ms := func(d ...int) []time.Duration {
		var lats []time.Duration
		for _, x := range d {
			lats = append(lats, time.Duration(x)*time.Millisecond)
		}
		return lats
	}
	slow := summarize(ms(10, 20, 30), 1, errors.New("first"), time.Second)
	fast := summarize(ms(1, 2, 3, 4, 5, 6, 7), 2, errors.New("second"), time.Second)
	got := mergeStats([]stats{slow, fast})
	want := summarize(ms(1, 2, 3, 4, 5, 6, 7, 10, 20, 30), 3, errors.New("first"), 2*time.Second)
	if got.Count != 10 || got.Errors != 3 || got.Elapsed != 2*time.Second || got.Throughput != 5 {
		t.Errorf("merged %d ok, %d errors in %v (%.1f/s), want 10, 3 in 2s (5/s)", got.Count, got.Errors, got.Elapsed, got.Throughput)
	}
	if got.P50 != 5*time.Millisecond || got.P90 != 20*time.Millisecond || got.Max != 30*time.Millisecond || got.Mean != want.Mean {
		t.Errorf("merged p50 %v p90 %v max %v mean %v, want 5ms 20ms 30ms %v", got.P50, got.P90, got.Max, got.Mean, want.Mean)
	}
	if got.FirstError != "first" {
		t.Errorf("first error %q, want the first slice's", got.FirstError)
	}
	if one := mergeStats([]stats{fast}); one.P50 != fast.P50 || one.Count != fast.Count || one.Throughput != fast.Throughput {
		t.Errorf("one slice merged: %+v, want %+v", one, fast)
	}
}

func TestDriveBounds(t *testing.T) {
	ctx := context.Background()
	noop := func(context.Context, int) error { return nil }
	if s := drive(ctx, load{Concurrency: 3, N: 50, Duration: time.Minute}, noop); s.Count != 50 {
		t.Errorf("closed loop ran %d requests, want 50", s.Count)
	}
	if s := drive(ctx, load{Concurrency: 2, Rate: 1000, N: 20, Duration: time.Minute}, noop); s.Count != 20 {
		t.Errorf("open loop ran %d requests, want 20", s.Count)
	}
	start := time.Now()
	slow := func(context.Context, int) error { time.Sleep(10 * time.Millisecond); return nil }
	s := drive(ctx, load{Concurrency: 1, N: 1 << 30, Duration: 200 * time.Millisecond}, slow)
	if took := time.Since(start); took > 2*time.Second || s.Count == 0 {
		t.Errorf("time bound: %d requests in %s", s.Count, took)
	}
}

func TestProbeDisk(t *testing.T) {
	s, err := probeDisk(context.Background(), t.TempDir(), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count == 0 || s.P50 <= 0 || s.P50 > s.P99 || s.P99 > s.Max {
		t.Errorf("probe: %d fsyncs, p50 %v p99 %v max %v; want some, in order", s.Count, s.P50, s.P99, s.Max)
	}
	if !strings.Contains(s.diskLine(), fmt.Sprintf("%d fsyncs", s.Count)) {
		t.Errorf("line %q does not say the count", s.diskLine())
	}
}

// The processes scenario cuts a measurement into slices, and takes the two
// deployments in turn, each first as often as second.
func TestSlices(t *testing.T) {
	tests := []struct {
		l      load
		rounds int
		want   load
	}{
		{load{Concurrency: 16, N: 20000, Duration: time.Minute}, 12, load{Concurrency: 16, N: 1666, Duration: 5 * time.Second}},
		{load{Concurrency: 4, N: 40, Duration: 5 * time.Second}, 2, load{Concurrency: 4, N: 20, Duration: 2500 * time.Millisecond}},
		{load{Concurrency: 1, N: 3, Duration: time.Second}, 3, load{Concurrency: 1, N: 1, Duration: time.Second / 3}},
		{load{Concurrency: 8, N: 100, Duration: time.Second}, 1, load{Concurrency: 8, N: 100, Duration: time.Second}},
	}
	for _, tt := range tests {
		if got := sliceLoad(tt.l, tt.rounds); got != tt.want {
			t.Errorf("sliceLoad(%v, %d) = %v, want %v", tt.l, tt.rounds, got, tt.want)
		}
	}
	first := map[int]int{}
	for i := range 6 {
		order := roundOrder(i)
		if len(order) != 2 || order[0] == order[1] {
			t.Fatalf("round %d measures %v, want each deployment once", i, order)
		}
		first[order[0]]++
	}
	if first[0] != 3 || first[1] != 3 {
		t.Errorf("over 6 rounds, first: one process %d times, three %d times; want 3 and 3", first[0], first[1])
	}
}

func TestServerProcs(t *testing.T) {
	cores := runtime.NumCPU()
	tests := []struct {
		n     int
		share bool
		want  int
	}{
		{1, true, 0},
		{3, false, 0},
		{3, true, max(1, cores/3)},
		{2 * cores, true, 1},
	}
	for _, tt := range tests {
		e := &env{opts: &options{shareCores: tt.share}}
		if got := e.serverProcs(tt.n); got != tt.want {
			t.Errorf("%d processes, share %v on %d cores: GOMAXPROCS %d, want %d", tt.n, tt.share, cores, got, tt.want)
		}
	}
}

func TestOfflineClientsOption(t *testing.T) {
	tests := []struct {
		arg     string
		want    []string
		wantErr bool
	}{
		{"", offlineClientKinds, false},
		{"none", nil, false},
		{"reads", []string{"reads"}, false},
		{"creates, same-inbox", []string{"creates", "same-inbox"}, false},
		{"writes", nil, true},
		{"none,reads", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			args := []string{"-scenario", "offline"}
			if tt.arg != "" {
				args = append(args, "-offline-clients", tt.arg)
			}
			o, err := parseOptions(args, io.Discard)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "-offline-clients") {
					t.Fatalf("error %v, want one naming -offline-clients", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.offlineClients, tt.want) {
				t.Errorf("clients %q, want %q", o.offlineClients, tt.want)
			}
		})
	}
}
