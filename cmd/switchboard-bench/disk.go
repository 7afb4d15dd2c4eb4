package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// probeDisk measures the disk under dir as a commit uses it: an 8 KiB
// append, then fsync, a millisecond apart (about the rate of SQLite's group
// commits at a thousand creates a second), for d. Every commit of the
// server and of the baseline waits for one, so the tail of the creates'
// latency is bounded by the tail of these; machines of the same kind have
// differed by several times.
func probeDisk(ctx context.Context, dir string, d time.Duration) (stats, error) {
	f, err := os.CreateTemp(dir, "disk-probe")
	if err != nil {
		return stats{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 8<<10)
	var lats []time.Duration
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := f.Write(buf); err != nil {
			return stats{}, err
		}
		t0 := time.Now()
		if err := f.Sync(); err != nil {
			return stats{}, err
		}
		lats = append(lats, time.Since(t0))
		time.Sleep(time.Millisecond)
	}
	return summarize(lats, 0, nil, time.Since(start)), nil
}

func (s stats) diskLine() string {
	return fmt.Sprintf("disk: %d fsyncs of 8 KiB appends, 1 ms apart: p50 %s p90 %s p99 %s max %s", s.Count, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
}
