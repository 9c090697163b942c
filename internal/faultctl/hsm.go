package faultctl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
	"github.com/hsmsim/hsmsim/scenarios/failpoint"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// HSMFault is a fault on the HSM side of a running stack: a scenario fault (its `do` and the
// fields that action reads, as in a scenario file; node selectors and labels n1, n2, ... as
// hsmsim fault list shows them) with an expiry.
type HSMFault struct {
	ID      string         `json:"id,omitempty"`
	Do      string         `json:"do"`
	Node    string         `json:"node,omitempty"`
	Nodes   []string       `json:"nodes,omitempty"`
	AZ      string         `json:"az,omitempty"`
	From    string         `json:"from,omitempty"`
	To      string         `json:"to,omitempty"`
	Between []string       `json:"between,omitempty"`
	Latency fault.Duration `json:"latency,omitempty"`
	Jitter  fault.Duration `json:"jitter,omitempty"`
	Loss    float64        `json:"loss,omitempty"`
	// For is how long the fault stays (default one minute); Expires is when it is undone.
	For     fault.Duration `json:"for,omitempty"`
	Expires time.Time      `json:"expires,omitzero"`
	// Nodes the fault acted on (labels), as resolved when it was put in force.
	Acted []string `json:"acted,omitempty"`
}

// HSMActions are the scenario faults a running stack takes live: those that break the
// network or the HSMs and that an undo reverses (restart is instant).
var HSMActions = []string{"kill", "pause", "restart", "wipe", "partition", "isolate-az", "az-outage", "one-way", "link", "cut-clients"}

// HSM puts scenario faults on a running cluster (a target.Attach) through the scenario's own
// injector, and undoes each at its expiry.
type HSM struct {
	t   *target.InProcess
	in  *failpoint.Injector
	tl  *history.Timeline
	rng *rand.Rand

	mu     sync.Mutex
	seq    int
	faults map[string]*liveHSM
}

type liveHSM struct {
	HSMFault
	timer *time.Timer
}

// NewHSM takes faults for the cluster t is attached to.
func NewHSM(t *target.InProcess) *HSM {
	tl := history.New()
	return &HSM{t: t, tl: tl, in: failpoint.NewInjector(t, target.NewRegistry(), tl, nil),
		rng: rand.New(rand.NewPCG(1, 1)), faults: map[string]*liveHSM{}}
}

// Add puts a fault in force (checked as a scenario file's fault is) and returns it with its id.
func (h *HSM) Add(ctx context.Context, f HSMFault) (HSMFault, error) {
	if !slices.Contains(HSMActions, f.Do) {
		return HSMFault{}, fmt.Errorf("do %q: one of %s", f.Do, strings.Join(HSMActions, ", "))
	}
	if f.For < 0 {
		return HSMFault{}, errors.New("for: a positive duration")
	}
	if f.For == 0 {
		f.For = fault.Duration(fault.DefaultFor)
	}
	sf, err := h.check(f)
	if err != nil {
		return HSMFault{}, err
	}
	h.mu.Lock()
	h.seq++
	f.ID = "hsm-" + strconv.Itoa(h.seq)
	p := failpoint.Planned{Seq: h.seq, Fault: f.ID, Rep: 1, Do: f.Do, For: time.Duration(f.For), Pick: h.rng.Uint32(), Spec: sf}
	h.mu.Unlock()
	sf.Name = f.ID
	h.in.Inject(ctx, p)
	if err := h.outcome(f.ID); err != nil {
		return HSMFault{}, err
	}
	if !slices.Contains(h.in.Active(), f.ID) {
		return f, nil // instant (restart): done, nothing stays in force
	}
	f.Expires = time.Now().Add(time.Duration(f.For))
	f.Acted = h.acted(f.ID)
	id := f.ID
	lf := &liveHSM{HSMFault: f, timer: time.AfterFunc(time.Duration(f.For), func() { h.Remove(id) })}
	h.mu.Lock()
	h.faults[id] = lf
	h.mu.Unlock()
	return f, nil
}

// check reads the fault as a scenario file's fault on this cluster, so it is refused exactly
// as a scenario would refuse it.
func (h *HSM) check(f HSMFault) (*spec.Fault, error) {
	azs := map[string]int{}
	for _, n := range h.t.Nodes() {
		azs[n.AZ]++
	}
	y := map[string]any{"do": f.Do, "at": "0s"}
	for k, v := range map[string]string{"node": f.Node, "az": f.AZ, "from": f.From, "to": f.To} {
		if v != "" {
			y[k] = v
		}
	}
	for k, v := range map[string][]string{"nodes": f.Nodes, "between": f.Between} {
		if len(v) > 0 {
			y[k] = v
		}
	}
	for k, v := range map[string]fault.Duration{"latency": f.Latency, "jitter": f.Jitter} {
		if v != 0 {
			y[k] = v.String()
		}
	}
	if f.Loss != 0 {
		y["loss"] = f.Loss
	}
	doc, err := yaml.Marshal(map[string]any{"name": "live", "models": "a live fault", "duration": "1h",
		"cluster": map[string]any{"hsms": azs}, "faults": []any{y}})
	if err != nil {
		return nil, err
	}
	sc, err := spec.Parse("fault", doc)
	if err != nil {
		return nil, err
	}
	return &sc.Faults[0], nil
}

// outcome is the error the injector recorded for fault id (nil: it went in, or it was an
// action that passed).
func (h *HSM) outcome(id string) error {
	evs := h.tl.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Name != id {
			continue
		}
		switch {
		case e.Kind == history.EvSkipped:
			return errors.New(e.Detail)
		case e.Fields["err"] != "":
			return errors.New(e.Fields["err"])
		case e.Fields["pass"] == "false":
			return errors.New(e.Detail)
		}
		return nil
	}
	return nil
}

// acted lists the nodes the injection acted on, from its event.
func (h *HSM) acted(id string) []string {
	evs := h.tl.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Name == id && evs[i].Fields["nodes"] != "" {
			return strings.Split(evs[i].Fields["nodes"], ",")
		}
	}
	return nil
}

// List returns the HSM faults in force, oldest first.
func (h *HSM) List() []HSMFault {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HSMFault, 0, len(h.faults))
	for _, f := range h.faults {
		out = append(out, f.HSMFault)
	}
	sort.Slice(out, func(i, j int) bool { return faultNum(out[i].ID) < faultNum(out[j].ID) })
	return out
}

func faultNum(id string) int {
	_, n, _ := strings.Cut(id, "-")
	i, _ := strconv.Atoi(n)
	return i
}

// Remove undoes a fault now; false when none has that id.
func (h *HSM) Remove(id string) bool {
	h.mu.Lock()
	f := h.faults[id]
	delete(h.faults, id)
	h.mu.Unlock()
	if f == nil {
		return false
	}
	f.timer.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h.in.Undo(ctx, id)
	return true
}

// Clear undoes every fault and heals the network; it says how many faults there were.
func (h *HSM) Clear() int {
	h.mu.Lock()
	faults := h.faults
	h.faults = map[string]*liveHSM{}
	h.mu.Unlock()
	for _, f := range faults {
		f.timer.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h.in.UndoAll(ctx)
	return len(faults)
}

// Stop forgets every fault without undoing it (the stack is stopping: its HSMs stop anyway,
// and start again healed).
func (h *HSM) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.faults {
		f.timer.Stop()
	}
	h.faults = map[string]*liveHSM{}
}
