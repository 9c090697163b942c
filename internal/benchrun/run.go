// Package benchrun measures what a stack can do the way its user would ask: an operation
// repeated by N concurrent workers for a while, reported as operations per second, latency
// percentiles and errors. `hsmsim bench` (internal/benchcmd) drives it against any PKCS#11 module
// or KMS endpoint, and the project's own benchmarks (package bench) use the same operations, so
// the figures in docs/BENCHMARKS.md are ones a user can reproduce.
package benchrun

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one call a worker repeats. A worker owns its Op (a session, an IV counter): Ops are not
// shared between goroutines.
type Op func(ctx context.Context) error

// Result is one measured run: one operation at one concurrency on one target.
type Result struct {
	Target      string        `json:"target"`
	Operation   string        `json:"operation"`
	Concurrency int           `json:"concurrency"`
	Ops         int           `json:"ops"`
	Errors      int           `json:"errors"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	OpsPerSec   float64       `json:"ops_per_sec"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	// FirstError is the first failure's text, so a run that only failed says why.
	FirstError string `json:"first_error,omitempty"`
}

// Options bound a run: it ends after Duration or, when Count > 0, after Count operations,
// whichever comes first. Progress, when set, receives a line every ProgressEvery.
type Options struct {
	Duration      time.Duration
	Count         int
	Progress      io.Writer
	ProgressEvery time.Duration
}

// worker is one goroutine's tally; latencies are kept whole (a few seconds of calls is at most
// some hundreds of thousands of samples) so percentiles are exact, not bucketed.
type worker struct {
	lat      []time.Duration
	errors   int
	firstErr error
}

// Run repeats each of ops (one per worker) until the options end the run or ctx is done. A
// failing call counts as an error and the worker goes on: a run under faults measures what
// still works.
func Run(ctx context.Context, target, operation string, ops []Op, o Options) Result {
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var (
		issued atomic.Int64 // calls started (bounded by Count)
		done   atomic.Int64 // calls finished
		wg     sync.WaitGroup
	)
	ws := make([]worker, len(ops))
	start := time.Now()
	stopProgress := progress(o, target, operation, len(ops), &done, start)
	for i, op := range ops {
		wg.Add(1)
		go func(w *worker, op Op) {
			defer wg.Done()
			for ctx.Err() == nil {
				if o.Count > 0 && issued.Add(1) > int64(o.Count) {
					return
				}
				t := time.Now()
				err := op(ctx)
				if err != nil && ctx.Err() != nil {
					return // cut short by the end of the run: neither a sample nor an error
				}
				w.lat = append(w.lat, time.Since(t))
				if err != nil {
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
				}
				done.Add(1)
			}
		}(&ws[i], op)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return summarize(target, operation, len(ops), elapsed, ws)
}

// summarize merges the workers' samples into one Result.
func summarize(target, operation string, concurrency int, elapsed time.Duration, ws []worker) Result {
	r := Result{Target: target, Operation: operation, Concurrency: concurrency, Elapsed: elapsed}
	var all []time.Duration
	for _, w := range ws {
		all = append(all, w.lat...)
		r.Errors += w.errors
		if r.FirstError == "" && w.firstErr != nil {
			r.FirstError = w.firstErr.Error()
		}
	}
	r.Ops = len(all)
	if elapsed > 0 {
		r.OpsPerSec = float64(r.Ops-r.Errors) / elapsed.Seconds()
	}
	slices.Sort(all)
	r.P50, r.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return r
}

// percentile is the nearest-rank percentile of sorted samples (0 without samples).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// progress prints "target op ×n: done ops, rate/s" every o.ProgressEvery on one rewritten line;
// the returned func stops it, leaving the run's last count on its own line.
func progress(o Options, target, operation string, n int, done *atomic.Int64, start time.Time) func() {
	if o.Progress == nil {
		return func() {}
	}
	every := o.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	line := func(d int64) {
		fmt.Fprintf(o.Progress, "\r\033[K%s %s ×%d: %d ops, %.0f/s", target, operation, n, d, float64(d)/time.Since(start).Seconds())
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				line(done.Load())
				fmt.Fprintln(o.Progress)
				return
			case <-t.C:
				line(done.Load())
			}
		}
	}()
	return func() { close(stop); <-finished }
}
