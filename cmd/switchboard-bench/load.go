package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// load says how hard and how long to drive an operation.
type load struct {
	// Concurrency is the number of requests in flight: the number of closed
	// loop workers, or the cap on in-flight requests at a fixed rate.
	Concurrency int
	// Rate is the requests per second of an open loop; 0 is a closed loop
	// (each worker sends its next request when the previous one answered).
	Rate float64
	// N bounds the number of requests and Duration the time; whichever ends
	// first ends the run. Requests in flight at the deadline finish.
	N        int
	Duration time.Duration
}

func (l load) String() string {
	if l.Rate > 0 {
		return fmt.Sprintf("rate=%.0f/s max-inflight=%d n<=%d t<=%s", l.Rate, l.Concurrency, l.N, l.Duration)
	}
	return fmt.Sprintf("concurrency=%d n<=%d t<=%s", l.Concurrency, l.N, l.Duration)
}

// op sends request number k and returns an error unless it got the reply it
// expected.
type op func(ctx context.Context, k int) error

// stats is the outcome of one run.
type stats struct {
	Count      int           `json:"count"`  // requests answered as expected
	Errors     int           `json:"errors"` // requests that failed
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Throughput float64       `json:"throughput_per_s"` // Count / Elapsed
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	Mean       time.Duration `json:"mean_ns"`

	lats []time.Duration // the latencies, sorted
}

type recorder struct {
	mu       sync.Mutex
	lats     []time.Duration
	errors   int
	firstErr error
}

func (r *recorder) add(lats []time.Duration, errors int, firstErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lats = append(r.lats, lats...)
	r.errors += errors
	if r.firstErr == nil {
		r.firstErr = firstErr
	}
}

// summarize computes the stats of successful latencies.
func summarize(lats []time.Duration, errors int, firstErr error, elapsed time.Duration) stats {
	s := stats{Count: len(lats), Errors: errors, Elapsed: elapsed}
	if firstErr != nil {
		s.FirstError = firstErr.Error()
	}
	if elapsed > 0 {
		s.Throughput = float64(len(lats)) / elapsed.Seconds()
	}
	if len(lats) == 0 {
		return s
	}
	sorted := slices.Clone(lats)
	slices.Sort(sorted)
	s.lats = sorted
	var sum time.Duration
	for _, l := range sorted {
		sum += l
	}
	s.Mean = sum / time.Duration(len(sorted))
	s.P50, s.P90, s.P99 = percentile(sorted, 0.50), percentile(sorted, 0.90), percentile(sorted, 0.99)
	s.Max = sorted[len(sorted)-1]
	return s
}

// mergeStats returns the stats of parts as one measurement: their
// requests, errors and time added, and the percentiles of their latencies
// together.
func mergeStats(parts []stats) stats {
	var lats []time.Duration
	var errs int
	var first error
	var elapsed time.Duration
	for _, p := range parts {
		lats = append(lats, p.lats...)
		errs += p.Errors
		if first == nil && p.FirstError != "" {
			first = errors.New(p.FirstError)
		}
		elapsed += p.Elapsed
	}
	return summarize(lats, errs, first, elapsed)
}

// percentile returns the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// drive runs o under l and returns its stats. In a closed loop the latency
// of a request is from its send to its reply; at a fixed rate it is from the
// time the schedule meant to send it, so a server that falls behind is
// charged for the queue it causes (no coordinated omission).
func drive(ctx context.Context, l load, o op) stats {
	if l.Concurrency < 1 {
		l.Concurrency = 1
	}
	start := time.Now()
	deadline := start.Add(l.Duration)
	rec := &recorder{}
	var wg sync.WaitGroup
	var lastDone atomic.Int64
	finish := func() {
		now := int64(time.Since(start))
		for {
			old := lastDone.Load()
			if now <= old || lastDone.CompareAndSwap(old, now) {
				return
			}
		}
	}
	if l.Rate <= 0 {
		var next atomic.Int64
		for range l.Concurrency {
			wg.Go(func() {
				var lats []time.Duration
				var errs int
				var firstErr error
				for ctx.Err() == nil && time.Now().Before(deadline) {
					k := int(next.Add(1) - 1)
					if k >= l.N {
						break
					}
					t0 := time.Now()
					err := o(ctx, k)
					finish()
					if err != nil {
						errs++
						if firstErr == nil {
							firstErr = err
						}
						continue
					}
					lats = append(lats, time.Since(t0))
				}
				rec.add(lats, errs, firstErr)
			})
		}
	} else {
		type job struct {
			k  int
			at time.Time
		}
		jobs := make(chan job)
		for range l.Concurrency {
			wg.Go(func() {
				var lats []time.Duration
				var errs int
				var firstErr error
				for j := range jobs {
					err := o(ctx, j.k)
					finish()
					if err != nil {
						errs++
						if firstErr == nil {
							firstErr = err
						}
						continue
					}
					lats = append(lats, time.Since(j.at))
				}
				rec.add(lats, errs, firstErr)
			})
		}
		interval := time.Duration(float64(time.Second) / l.Rate)
	schedule:
		for k := 0; k < l.N; k++ {
			at := start.Add(time.Duration(k) * interval)
			if !at.Before(deadline) {
				break
			}
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					break schedule
				}
			}
			select {
			case jobs <- job{k: k, at: at}:
			case <-ctx.Done():
				break schedule
			}
		}
		close(jobs)
	}
	wg.Wait()
	return summarize(rec.lats, rec.errors, rec.firstErr, time.Duration(lastDone.Load()))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
