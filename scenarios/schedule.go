package scenarios

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/failpoint"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// schedule starts one goroutine per fault: it waits for the trigger, then injects each
// repetition at its offset and undoes it after its duration.
func (e *engine) schedule(ctx context.Context, faults, undos *sync.WaitGroup) {
	byFault := map[string][]failpoint.Planned{}
	var order []string
	for _, p := range e.res.Schedule {
		if _, ok := byFault[p.Fault]; !ok {
			order = append(order, p.Fault)
		}
		byFault[p.Fault] = append(byFault[p.Fault], p)
	}
	for _, name := range order {
		reps := byFault[name]
		faults.Add(1)
		go func() {
			defer faults.Done()
			base := e.tl.Start()
			if ev := reps[0].Event; ev != nil {
				t, ok := e.waitEvent(ctx, ev)
				if !ok {
					for _, p := range reps {
						e.tl.AddEvent(history.Event{At: e.tl.Since(), Kind: history.EvSkipped, Name: p.Key(),
							Detail: "trigger never happened: " + failpoint.DescribeEvent(ev), Fields: map[string]string{"fault": p.Fault}})
					}
					return
				}
				base = t
			}
			for _, p := range reps {
				select {
				case <-ctx.Done():
					e.tl.AddEvent(history.Event{Kind: history.EvSkipped, Name: p.Key(), Detail: "the load ended before " + p.Describe(), Fields: map[string]string{"fault": p.Fault}})
					continue
				case <-time.After(time.Until(base.Add(p.Offset))):
				}
				e.inj.Inject(context.WithoutCancel(ctx), p)
				if p.For > 0 {
					undos.Add(1)
					go func() {
						defer undos.Done()
						select {
						case <-ctx.Done(): // UndoAll reverses it
						case <-time.After(p.For):
							e.inj.Undo(context.WithoutCancel(ctx), p.Key())
						}
					}()
				}
			}
		}()
	}
}

// waitEvent waits until the event happens (armed now, or once its after-fault was injected)
// and returns when it did.
func (e *engine) waitEvent(ctx context.Context, ev *spec.Event) (time.Time, bool) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	armed := ev.After == ""
	var baseLeader string
	var baseCount int64
	arm := func() {
		armed = true
		e.mu.Lock()
		baseLeader = e.lastLeader
		e.mu.Unlock()
		baseCount = e.count(ev)
	}
	if armed {
		arm()
	}
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-tick.C:
		}
		if !armed {
			if e.injected(ev.After) {
				arm()
			}
			continue
		}
		switch ev.Kind {
		case spec.OnFired:
			return time.Now(), true
		case spec.OnLeaderChange:
			e.mu.Lock()
			l := e.leader
			e.mu.Unlock()
			if l != "" && l != baseLeader {
				return time.Now(), true
			}
		case spec.OnWrites, spec.OnOps:
			if e.count(ev)-baseCount >= int64(ev.Count) {
				return time.Now(), true
			}
		case spec.OnKeyStoreState:
			e.mu.Lock()
			st := e.stores[ev.Store]
			e.mu.Unlock()
			if st == ev.State || strings.HasPrefix(st, ev.State+"/") {
				return time.Now(), true
			}
		}
	}
}

func (e *engine) count(ev *spec.Event) int64 {
	if ev.Kind == spec.OnWrites {
		return e.counters.Writes.Load()
	}
	return e.counters.Ops(ev.Workload)
}

func (e *engine) injected(fault string) bool {
	for _, ev := range e.tl.Events() {
		if (ev.Kind == history.EvFault || ev.Kind == history.EvAction) && ev.Fields["fault"] == fault {
			return true
		}
	}
	return false
}
