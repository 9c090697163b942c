// Package history is a scenario run's one timeline: every operation a workload made (start, end,
// result, the node that served it) and every fault, state change and observation, all timed from
// the start of the load. Checkers and reports read it; nothing else decides pass or fail.
// ErrorCode is how an error becomes the exact code an operation or an action records, the same
// for every face and for the fault injector.
package history

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Op is one operation a client made.
type Op struct {
	ID       int           `json:"id"`
	Workload string        `json:"workload"`
	Face     string        `json:"face"`
	Kind     string        `json:"kind"`          // encrypt, sign, create, use, destroy, ...
	Key      string        `json:"key,omitempty"` // the logical key it is about (linearizability)
	Worker   int           `json:"worker"`
	Start    time.Duration `json:"start"`
	End      time.Duration `json:"end"`
	Node     string        `json:"node,omitempty"` // the node that served it (last attempt)
	Code     string        `json:"code,omitempty"` // "" when it succeeded; else the exact error code
	Err      string        `json:"err,omitempty"`
	// Unknown: the operation may or may not have taken effect (a write whose answer was lost).
	Unknown bool `json:"unknown,omitempty"`
	Write   bool `json:"write,omitempty"`
	// Value is what the operation produced that a later check needs (a key handle).
	Value string `json:"value,omitempty"`
	// Answer: the error is a legitimate answer, not a failure (using a key that a concurrent or
	// earlier operation destroyed); the linearizability checker judges it.
	Answer bool `json:"answer,omitempty"`
}

// ErrorCode is the exact code an error carries, as an Op records it: the AWS exception name, or
// the CKR_ name; "Timeout" for a deadline, "Error" for anything else, "ok" for no error.
func ErrorCode(err error) string {
	if err == nil {
		return "ok"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		return p11.RVName(ce.RV)
	}
	var pe p11.Error
	if errors.As(err, &pe) {
		return p11.RVName(uint32(pe))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Timeout"
	}
	return "Error"
}

// OK reports success.
func (o Op) OK() bool { return o.Code == "" }

// Failed reports an error that is a failure (not a legitimate answer).
func (o Op) Failed() bool { return o.Code != "" && !o.Answer }

// Latency is how long the operation took.
func (o Op) Latency() time.Duration { return o.End - o.Start }

// Event kinds.
const (
	EvFault    = "fault"    // a fault injected (Name = fault name)
	EvUndo     = "undo"     // a fault reversed
	EvAction   = "action"   // an operator action and its result
	EvLeader   = "leader"   // the leader changed (Detail = node label or "none")
	EvKeyStore = "keystore" // a key store's connection state changed
	EvNode     = "node"     // a node's HSM state changed
	EvAvail    = "avail"    // how many voters are up and reachable
	EvSetup    = "setup"
	EvPhase    = "phase" // load started, load stopped, healed, settled
	EvSkipped  = "skipped"
	EvNote     = "note"
)

// Event is one fault or state change.
type Event struct {
	At     time.Duration     `json:"at"`
	Kind   string            `json:"kind"`
	Name   string            `json:"name,omitempty"`
	Detail string            `json:"detail,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// Timeline records ops and events from many goroutines.
type Timeline struct {
	start time.Time

	mu     sync.Mutex
	ops    []Op
	events []Event
	subs   []func(Event)
}

// New starts a timeline now.
func New() *Timeline { return &Timeline{start: time.Now()} }

// Begin moves the zero to now: the engine calls it when the load starts, after the workloads
// are prepared and before anything is recorded.
func (t *Timeline) Begin() { t.start = time.Now() }

// Start is the timeline's zero.
func (t *Timeline) Start() time.Time { return t.start }

// Since is the time since the start.
func (t *Timeline) Since() time.Duration { return time.Since(t.start) }

// At converts a wall time.
func (t *Timeline) At(w time.Time) time.Duration { return w.Sub(t.start) }

// AddOp records an operation and returns its id.
func (t *Timeline) AddOp(o Op) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	o.ID = len(t.ops)
	t.ops = append(t.ops, o)
	return o.ID
}

// AddEvent records an event now (when e.At is zero) and tells subscribers.
func (t *Timeline) AddEvent(e Event) {
	if e.At == 0 {
		e.At = t.Since()
	}
	t.mu.Lock()
	t.events = append(t.events, e)
	subs := t.subs
	t.mu.Unlock()
	for _, f := range subs {
		f(e)
	}
}

// Subscribe calls f for every event added from now on (from the adding goroutine).
func (t *Timeline) Subscribe(f func(Event)) {
	t.mu.Lock()
	t.subs = append(t.subs, f)
	t.mu.Unlock()
}

// Ops returns a copy of the operations, by start time.
func (t *Timeline) Ops() []Op {
	t.mu.Lock()
	out := append([]Op(nil), t.ops...)
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// Events returns a copy of the events, by time.
func (t *Timeline) Events() []Event {
	t.mu.Lock()
	out := append([]Event(nil), t.events...)
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// Interval is a span of the timeline.
type Interval struct {
	From, To time.Duration
	Label    string
}

// Contains reports whether t falls in [From, To).
func (iv Interval) Contains(t time.Duration) bool { return t >= iv.From && t < iv.To }

// Spans pairs each fault event with its undo (by Name) into intervals; a fault never undone
// lasts until end.
func Spans(events []Event, end time.Duration) []Interval {
	open := map[string]time.Duration{}
	var out []Interval
	for _, e := range events {
		switch e.Kind {
		case EvFault:
			if _, ok := open[e.Name]; !ok {
				open[e.Name] = e.At
			}
		case EvUndo:
			if from, ok := open[e.Name]; ok {
				out = append(out, Interval{From: from, To: e.At, Label: e.Name})
				delete(open, e.Name)
			}
		}
	}
	for name, from := range open {
		out = append(out, Interval{From: from, To: end, Label: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out
}
