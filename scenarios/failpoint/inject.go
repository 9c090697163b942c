package failpoint

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// Injector applies planned faults to a target and reverses them. Its methods are safe
// for concurrent use; injections and undos are applied one at a time.
type Injector struct {
	Target Target
	Reg    *target.Registry
	TL     *history.Timeline
	KMS    *awskms.Client // nil when the scenario has no KMS

	run sync.Mutex // one injection or undo at a time

	mu        sync.Mutex
	active    map[string]*activeFault
	lastAdded string
	kept      map[string]any // what a family keeps from one injection to another (kmsuser's other login)
	avail     string
}

type activeFault struct {
	p     Planned
	rules []netsim.Rule
	nodes []string
	undo  func(ctx context.Context) error
}

// NewInjector makes an injector.
func NewInjector(t Target, reg *target.Registry, tl *history.Timeline, kmsClient *awskms.Client) *Injector {
	return &Injector{Target: t, Reg: reg, TL: tl, KMS: kmsClient, active: map[string]*activeFault{}, kept: map[string]any{}}
}

// Inject applies p now and records it on the timeline. A fault that cannot be applied (no
// leader to kill) is recorded as skipped. An operator action whose result differs from what the
// scenario expects is recorded with pass=false for the checkers.
func (in *Injector) Inject(ctx context.Context, p Planned) {
	in.run.Lock()
	defer in.run.Unlock()
	f := p.Spec
	at := in.TL.Since()
	fields := map[string]string{"do": p.Do, "seq": strconv.Itoa(p.Seq), "fault": p.Fault, "leader": in.Target.Leader()}
	af, instant, err := in.apply(ctx, p, fields)
	if af != nil && len(af.nodes) > 0 {
		fields["nodes"] = strings.Join(af.nodes, ",")
	}
	switch {
	case errors.Is(err, errSkip):
		fields["reason"] = err.Error()
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvSkipped, Name: p.Key(), Detail: DescribeFault(f) + ": " + err.Error(), Fields: fields})
	case instant:
		got := "ok"
		if err != nil {
			got = history.ErrorCode(err)
			fields["err"] = err.Error()
		}
		fields["expect"], fields["got"] = f.Expect, got
		fields["pass"] = strconv.FormatBool(f.Expect == "any" || f.Expect == got)
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvAction, Name: p.Key(), Detail: DescribeFault(f) + " → " + got, Fields: fields})
	case err != nil:
		fields["err"] = err.Error()
		fields["pass"] = "false"
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvAction, Name: p.Key(), Detail: DescribeFault(f) + " failed: " + err.Error(), Fields: fields})
	default:
		in.mu.Lock()
		in.active[p.Key()] = af
		in.mu.Unlock()
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvFault, Name: p.Key(), Detail: describeResolved(f, af), Fields: fields})
	}
	in.recordAvail()
}

func describeResolved(f *spec.Fault, af *activeFault) string {
	s := DescribeFault(f)
	if len(af.nodes) > 0 && (f.Node != "" || len(f.Nodes) > 0 || f.From != "") {
		s += " → " + strings.Join(af.nodes, ",")
	}
	return s
}

var errSkip = errors.New("skipped")

func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errSkip, fmt.Sprintf(format, args...))
}

// Undo reverses the active fault key (no-op when it is not active).
func (in *Injector) Undo(ctx context.Context, key string) {
	in.run.Lock()
	defer in.run.Unlock()
	in.undoLocked(ctx, key)
	in.recordAvail()
}

func (in *Injector) undoLocked(ctx context.Context, key string) {
	in.mu.Lock()
	af := in.active[key]
	delete(in.active, key)
	in.mu.Unlock()
	if af == nil {
		return
	}
	fields := map[string]string{"do": af.p.Do, "undo": spec.UndoOf(af.p.Do), "fault": af.p.Fault}
	if len(af.rules) > 0 {
		in.reconcile()
	}
	var err error
	if af.undo != nil {
		err = af.undo(ctx)
	}
	if err != nil {
		fields["err"] = err.Error()
	}
	in.TL.AddEvent(history.Event{Kind: history.EvUndo, Name: key, Detail: spec.UndoOf(af.p.Do) + " (" + DescribeFault(af.p.Spec) + ")", Fields: fields})
}

// UndoAll reverses every active fault (the end of the load phase), oldest first.
func (in *Injector) UndoAll(ctx context.Context) {
	in.run.Lock()
	defer in.run.Unlock()
	in.mu.Lock()
	keys := make([]string, 0, len(in.active))
	seq := map[string]int{}
	for k, a := range in.active {
		keys = append(keys, k)
		seq[k] = a.p.Seq
	}
	in.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return seq[keys[i]] < seq[keys[j]] })
	for _, k := range keys {
		in.undoLocked(ctx, k)
	}
	in.Target.Net().Heal()
	in.recordAvail()
}

// Active lists the keys of the active faults.
func (in *Injector) Active() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]string, 0, len(in.active))
	for k := range in.active {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// apply does the work of one injection: its family's Inject, then the network rules it left.
// instant: an action with no undo, whose result is compared with the expectation.
func (in *Injector) apply(ctx context.Context, p Planned, fields map[string]string) (*activeFault, bool, error) {
	fam, ok := familyOf(p.Do)
	if !ok {
		return nil, false, fmt.Errorf("action %s not implemented", p.Do)
	}
	x := &Injection{P: p, F: p.Spec, Action: fam.Action, Fields: fields}
	err := fam.Inject(ctx, in, x)
	af := &activeFault{p: p, nodes: x.Nodes, rules: x.Rules, undo: x.Undo}
	if err != nil {
		if !x.Action {
			af = nil
		}
		return af, x.Action, err
	}
	for _, r := range x.Rules {
		if err := in.Target.Net().Apply(r); err != nil {
			return nil, false, err
		}
	}
	return af, x.Action, nil
}

// keep and take hold what a family keeps from one injection to another, under its own key.
func (in *Injector) keep(key string, v any) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.kept[key] = v
}

func (in *Injector) take(key string) any {
	in.mu.Lock()
	defer in.mu.Unlock()
	v := in.kept[key]
	delete(in.kept, key)
	return v
}

// reconcile makes the network's rules the union of the active faults' rules.
func (in *Injector) reconcile() {
	in.mu.Lock()
	desired := map[netsim.Rule]bool{}
	for _, a := range in.active {
		for _, r := range a.rules {
			desired[r] = true
		}
	}
	in.mu.Unlock()
	net := in.Target.Net()
	current := net.Rules()
	for _, r := range current {
		if !desired[r] && r.Kind == netsim.KindIsolateAZ {
			net.Heal()
			for r := range desired {
				_ = net.Apply(r)
			}
			return
		}
	}
	for _, r := range current {
		if desired[r] {
			continue
		}
		switch r.Kind {
		case netsim.KindPartition, netsim.KindPartitionOneWay:
			net.HealPair(r.From, r.To)
			for d := range desired {
				if (d.From == r.From && d.To == r.To) || (d.From == r.To && d.To == r.From) {
					_ = net.Apply(d)
				}
			}
		case netsim.KindLink:
			net.SetLink(r.From, r.To, netsim.Link{})
		case netsim.KindAZLink:
			net.SetAZLink(r.From, r.To, netsim.Link{})
		}
	}
}

// Avail reports how many voters of the scenario's cluster can form a quorum now: the largest
// group of running members that reach each other both ways, and how many voters there are.
func (in *Injector) Avail() (up, voters int) {
	var live []target.NodeInfo
	for _, n := range in.Target.Nodes() {
		if !n.Removed && n.Cluster == "" {
			voters++
			if n.Up {
				live = append(live, n)
			}
		}
	}
	seen := map[int]bool{}
	for i := range live {
		if seen[i] {
			continue
		}
		size, stack := 0, []int{i}
		seen[i] = true
		for len(stack) > 0 {
			a := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			for b := range live {
				if seen[b] {
					continue
				}
				ea, eb := netsim.Endpoint{Name: live[a].ID, AZ: live[a].AZ}, netsim.Endpoint{Name: live[b].ID, AZ: live[b].AZ}
				if !in.Target.Net().Blocked(ea, eb) && !in.Target.Net().Blocked(eb, ea) {
					seen[b] = true
					stack = append(stack, b)
				}
			}
		}
		up = max(up, size)
	}
	return up, voters
}

func (in *Injector) recordAvail() {
	up, voters := in.Avail()
	s := fmt.Sprintf("%d/%d", up, voters)
	in.mu.Lock()
	changed := s != in.avail
	in.avail = s
	in.mu.Unlock()
	if changed {
		in.TL.AddEvent(history.Event{Kind: history.EvAvail, Detail: s, Fields: map[string]string{
			"up": strconv.Itoa(up), "voters": strconv.Itoa(voters), "majority": strconv.FormatBool(up > voters/2)}})
	}
}
