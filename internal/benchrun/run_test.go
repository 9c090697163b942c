package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A run bounded by Count makes exactly Count calls however many workers share them, counts
// failures as errors (not as throughput) and keeps the first failure's text.
func TestRunCountsCallsAndErrors(t *testing.T) {
	var calls atomic.Int64
	op := func(context.Context) error {
		if calls.Add(1)%4 == 0 {
			return errors.New("every fourth call fails")
		}
		return nil
	}
	r := Run(context.Background(), "fake", "op", []Op{op, op, op}, Options{Count: 400, Duration: time.Minute})
	if r.Ops != 400 || calls.Load() != 400 {
		t.Fatalf("ops %d, calls %d, want 400 each", r.Ops, calls.Load())
	}
	if r.Errors != 100 || r.FirstError != "every fourth call fails" {
		t.Fatalf("errors %d (%q), want 100", r.Errors, r.FirstError)
	}
	if want := 300 / r.Elapsed.Seconds(); r.OpsPerSec < want*0.999 || r.OpsPerSec > want*1.001 {
		t.Fatalf("ops/s %.0f, want the 300 successes over %v = %.0f", r.OpsPerSec, r.Elapsed, want)
	}
	if r.Concurrency != 3 || r.Target != "fake" || r.Operation != "op" {
		t.Fatalf("labels: %+v", r)
	}
}

// Percentiles are the nearest-rank ones of every call's latency.
func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(lat, 0.50); p != 50*time.Millisecond {
		t.Fatalf("p50 %v", p)
	}
	if p := percentile(lat, 0.99); p != 99*time.Millisecond {
		t.Fatalf("p99 %v", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Fatalf("p99 of nothing %v", p)
	}
	slow := func(context.Context) error { time.Sleep(2 * time.Millisecond); return nil }
	r := Run(context.Background(), "fake", "sleep", []Op{slow}, Options{Count: 20, Duration: time.Minute})
	if r.P50 < 2*time.Millisecond || r.P99 < r.P50 {
		t.Fatalf("p50 %v p99 %v for 2 ms calls", r.P50, r.P99)
	}
}

// A run bounded by Duration ends on time, and the call the deadline cuts short is not counted.
func TestRunEndsAtItsDuration(t *testing.T) {
	block := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	start := time.Now()
	r := Run(context.Background(), "fake", "block", []Op{block, block}, Options{Duration: 100 * time.Millisecond})
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("the run took %v", el)
	}
	if r.Ops != 0 || r.Errors != 0 {
		t.Fatalf("calls cut short by the end of the run were counted: %+v", r)
	}
}

// fakeTarget answers ops/s in proportion to speed; "missing" cannot be set up.
type fakeTarget struct {
	name    string
	delay   time.Duration
	cleaned atomic.Int64
}

func (f *fakeTarget) Name() string { return f.name }

func (f *fakeTarget) Workers(_ context.Context, op string, n int) ([]Op, func(), error) {
	if op == "missing" {
		return nil, nil, errors.New("not offered")
	}
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = func(context.Context) error { time.Sleep(f.delay); return nil }
	}
	return ops, func() { f.cleaned.Add(1) }, nil
}

// Matrix runs each cell on each target in turn, cleans up after each, records a cell a target
// cannot set up, and the table gives the second target's rate over the first's.
func TestMatrixAndTable(t *testing.T) {
	fast := &fakeTarget{name: "fast", delay: time.Millisecond}
	slow := &fakeTarget{name: "slow", delay: 4 * time.Millisecond}
	rs := Matrix(context.Background(), []Target{fast, slow}, []string{"op", "missing"}, []int{1, 2}, Options{Duration: 150 * time.Millisecond})
	if len(rs) != 8 {
		t.Fatalf("%d results, want 2 ops × 2 concurrencies × 2 targets", len(rs))
	}
	wantOrder := []string{"fast op 1", "slow op 1", "fast op 2", "slow op 2", "fast missing 1"}
	for i, w := range wantOrder {
		if got := rs[i].Target + " " + rs[i].Operation + " " + itoa(rs[i].Concurrency); got != w {
			t.Fatalf("result %d is %q, want %q", i, got, w)
		}
	}
	if fast.cleaned.Load() != 2 || slow.cleaned.Load() != 2 {
		t.Fatalf("cleanups: fast %d slow %d, want 2 each", fast.cleaned.Load(), slow.cleaned.Load())
	}
	if rs[4].Ops != 0 || !strings.Contains(rs[4].FirstError, "not offered") {
		t.Fatalf("a cell that cannot be set up: %+v", rs[4])
	}
	x := ratio(rs, rs[1])
	if x <= 0 || x >= 0.7 {
		t.Fatalf("slow ÷ fast = %.2f, want well under 1 (a 4 ms call against a 1 ms one)", x)
	}
	var tab bytes.Buffer
	if err := WriteTable(&tab, rs); err != nil {
		t.Fatal(err)
	}
	out := tab.String()
	for _, w := range []string{"÷ fast", "setup: not offered", "ops/s", "p99"} {
		if !strings.Contains(out, w) {
			t.Fatalf("the table lacks %q:\n%s", w, out)
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rs); err != nil {
		t.Fatal(err)
	}
	var back struct{ Results []Result }
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != 8 || back.Results[0].Ops != rs[0].Ops {
		t.Fatalf("JSON round trip: %v %+v", err, back)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
