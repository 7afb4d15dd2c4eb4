package main

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestCPUBetween(t *testing.T) {
	tests := []struct {
		name    string
		a, b    cpuSample
		creates int
		want    cpuUse
	}{
		{"with /proc", cpuSample{servers: 1, bench: 2, busy: 10, idle: 10}, cpuSample{servers: 2, bench: 2.5, busy: 13, idle: 11}, 1000,
			cpuUse{servers: 1, bench: 0.5, rest: 1.5, busy: 0.75}},
		{"without /proc", cpuSample{servers: 1}, cpuSample{servers: 3}, 500,
			cpuUse{servers: 4, busy: -1}},
		{"no creates", cpuSample{}, cpuSample{servers: 3, busy: 1}, 0,
			cpuUse{busy: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cpuBetween(tt.a, tt.b, tt.creates)
			for _, f := range []struct {
				name      string
				got, want float64
			}{{"servers", got.servers, tt.want.servers}, {"bench", got.bench, tt.want.bench}, {"rest", got.rest, tt.want.rest}, {"busy", got.busy, tt.want.busy}} {
				if math.Abs(f.got-f.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestMachineCPUReadsProc(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat on this system")
	}
	busy, idle := machineCPU()
	if busy <= 0 || idle < 0 {
		t.Errorf("machineCPU() = %v busy, %v idle seconds; want busy > 0", busy, idle)
	}
	// This process's time grows as it works: spin until it shows.
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for selfCPU() == 0 && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
	}
	if s := selfCPU(); s <= 0 {
		t.Errorf("selfCPU() = %v after spinning (%d), want > 0", s, x)
	}
}

func TestCPUDuring(t *testing.T) {
	at := time.Unix(100, 0)
	a := cpuSample{servers: 1, bench: 2, busy: 10, idle: 10, at: at}
	b := cpuSample{servers: 1.5, bench: 2.1, busy: 11, idle: 11, at: at.Add(time.Second)}
	want := "CPU: 500 ms in switchboard, 100 ms in the bench, 400 ms in the rest (database, kernel); cores 50% busy over 1000 ms"
	if got := cpuDuring(a, b); got != want {
		t.Errorf("cpuDuring = %q, want %q", got, want)
	}
	// The servers' counter ran ahead of the machine's: the rest is none.
	b.servers = 2
	want = "CPU: 1000 ms in switchboard, 100 ms in the bench, 0 ms in the rest (database, kernel); cores 50% busy over 1000 ms"
	if got := cpuDuring(a, b); got != want {
		t.Errorf("cpuDuring = %q, want %q", got, want)
	}
}
