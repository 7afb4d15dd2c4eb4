package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Where the CPU goes during a run: the servers' own figure
// (process_cpu_seconds_total of their /metrics), the bench's, and the
// machine's from /proc (Linux); what is left of the machine's is the
// database's and the system's. On a machine whose every part shares the same
// cores, a deployment that needs more CPU per create serves fewer.

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const userHZ = 100

// cpuSample is the CPU used so far, in seconds.
type cpuSample struct {
	servers float64 // switchboard processes, together
	bench   float64 // this process
	busy    float64 // the machine, all cores; 0 when /proc is not there
	idle    float64
	at      time.Time
}

func sampleCPU(ctx context.Context, e *env, urls []string) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	for _, u := range urls {
		series, err := scrape(ctx, e, u)
		if err != nil {
			return s, err
		}
		s.servers += series["process_cpu_seconds_total"]
	}
	s.bench = selfCPU()
	s.busy, s.idle = machineCPU()
	return s, nil
}

// selfCPU returns this process's user and system time, or 0 without /proc.
func selfCPU() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses and may hold
	// spaces: state is the first, utime the 12th, stime the 13th.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / userHZ
}

// machineCPU returns the seconds all cores have been busy and idle (idle
// and waiting for I/O), or zeros without /proc.
func machineCPU() (busy, idle float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0
	}
	// user nice system idle iowait irq softirq steal (guest is in user)
	for i, v := range f[1:min(len(f), 9)] {
		x, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 {
			idle += x
		} else {
			busy += x
		}
	}
	return busy / userHZ, idle / userHZ
}

// cpuUse is the CPU used between two samples, per create.
type cpuUse struct {
	servers, bench, rest float64 // milliseconds per create; rest: database and system
	busy                 float64 // share of the machine's cores busy, 0..1; -1 unknown
}

func cpuBetween(a, b cpuSample, creates int) cpuUse {
	u := cpuUse{busy: -1}
	if creates == 0 {
		return u
	}
	per := func(s float64) float64 { return s * 1000 / float64(creates) }
	u.servers, u.bench = per(b.servers-a.servers), per(b.bench-a.bench)
	if total := (b.busy - a.busy) + (b.idle - a.idle); b.busy > 0 && total > 0 {
		u.busy = (b.busy - a.busy) / total
		u.rest = per(b.busy-a.busy) - u.servers - u.bench
	}
	return u
}

func (u cpuUse) String() string {
	s := fmt.Sprintf("CPU per create: %.2f ms in switchboard, %.2f ms in the bench", u.servers, u.bench)
	if u.busy >= 0 {
		s += fmt.Sprintf(", %.2f ms in the rest (PostgreSQL, kernel); cores %.0f%% busy", u.rest, u.busy*100)
	}
	return s
}

// cpuDuring says where the CPU went between two samples, in all: how busy
// the cores were and the milliseconds each part used. The kernel counts in
// ticks of 10 ms and the samples are taken a few milliseconds apart, so
// over a second the parts are good to some tens of milliseconds; the rest,
// what is left over, is shown as 0 when the others' error makes it less.
func cpuDuring(a, b cpuSample) string {
	s := fmt.Sprintf("CPU: %.0f ms in switchboard, %.0f ms in the bench", (b.servers-a.servers)*1000, (b.bench-a.bench)*1000)
	if total := (b.busy - a.busy) + (b.idle - a.idle); b.busy > 0 && total > 0 {
		rest := max(0, b.busy-a.busy-(b.servers-a.servers)-(b.bench-a.bench))
		s += fmt.Sprintf(", %.0f ms in the rest (database, kernel); cores %.0f%% busy over %.0f ms", rest*1000, (b.busy-a.busy)/total*100, b.at.Sub(a.at).Seconds()*1000)
	}
	return s
}
