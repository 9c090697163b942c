package failpoint

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// Planned is one injection of a fault, with every random choice made.
type Planned struct {
	Seq   int    `json:"seq"`
	Fault string `json:"fault"`
	Rep   int    `json:"rep"` // 1-based repetition
	Do    string `json:"do"`
	// Offset is when the injection happens: since the load started for a time trigger, since
	// the event for an event trigger.
	Offset time.Duration `json:"offset"`
	Event  *spec.Event   `json:"event,omitempty"`
	For    time.Duration `json:"for,omitempty"` // undo after; 0: never (until the end)
	// Pick resolves a random selector (follower, random, az:...) at injection time: the
	// Pick-th candidate (modulo their number) in label order.
	Pick uint32 `json:"pick"`

	Spec *spec.Fault `json:"-"`
}

// Key names the injection (fault name, and the repetition when it repeats).
func (p Planned) Key() string {
	if p.Spec != nil && p.Spec.Repeat.Times > 1 {
		return fmt.Sprintf("%s#%d", p.Fault, p.Rep)
	}
	return p.Fault
}

// Describe says in words when and what.
func (p Planned) Describe() string {
	when := fmt.Sprintf("at %s", p.Offset.Round(time.Millisecond))
	if p.Event != nil {
		when = "when " + DescribeEvent(p.Event)
		if p.Offset > 0 {
			when += fmt.Sprintf(", %s later", p.Offset.Round(time.Millisecond))
		}
	}
	what := p.Do
	if p.Spec != nil {
		what = DescribeFault(p.Spec)
	}
	s := fmt.Sprintf("%s: %s", when, what)
	if p.For > 0 {
		s += fmt.Sprintf("; %s after %s", spec.UndoOf(p.Do), p.For.Round(time.Millisecond))
	}
	return s
}

// DescribeEvent says an event trigger in words.
func DescribeEvent(e *spec.Event) string {
	var s string
	switch e.Kind {
	case spec.OnLeaderChange:
		s = "the leader changes"
	case spec.OnWrites:
		s = fmt.Sprintf("%d writes have succeeded", e.Count)
	case spec.OnOps:
		s = fmt.Sprintf("%d operations have succeeded", e.Count)
		if e.Workload != "" {
			s = fmt.Sprintf("%d %s operations have succeeded", e.Count, e.Workload)
		}
	case spec.OnKeyStoreState:
		s = fmt.Sprintf("key store %s is %s", e.Store, e.State)
	case spec.OnFired:
		return e.After + " was done"
	}
	if e.After != "" {
		s += " (after " + e.After + ")"
	}
	return s
}

// DescribeFault says a fault's action in words, as its family does.
func DescribeFault(f *spec.Fault) string {
	fam, ok := familyOf(f.Do)
	switch {
	case !ok:
		return f.Do
	case fam.Describe != nil:
		return fam.Describe(f)
	}
	return fam.Doc
}

// Plan draws the schedule of s from its seed: for every fault in file order and every
// repetition, the time (a range is drawn), the duration, and a pick for random selectors. The
// same scenario and seed always give the same plan. Drawing is the same for every family; what a
// family adds to its plan is how it reads (Describe, and the undo its kind names).
func Plan(s *spec.Scenario) []Planned {
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0xfa17))
	draw := func(r spec.Range) time.Duration {
		if r.Max <= r.Min {
			return r.Min
		}
		return r.Min + time.Duration(rng.Int64N(int64(r.Max-r.Min)+1))
	}
	var out []Planned
	for i := range s.Faults {
		f := &s.Faults[i]
		times := max(f.Repeat.Times, 1)
		var offset time.Duration
		if f.When == nil {
			offset = draw(f.At)
		} else {
			offset = draw(f.Delay)
		}
		for rep := 1; rep <= times; rep++ {
			if rep > 1 {
				offset += draw(f.Repeat.Every)
			}
			p := Planned{Fault: f.Name, Rep: rep, Do: f.Do, Offset: offset, Event: f.When, For: draw(f.For), Pick: rng.Uint32(), Spec: f}
			out = append(out, p)
		}
	}
	for i := range out {
		out[i].Seq = i + 1
	}
	return out
}
