// Package scenarios is hsmsim's chaos engine: it runs a scenario file (package spec) against a
// target (package target: a cluster and its KMS in this process, or separate hsmd processes):
// setup, then load (package traffic) while the seeded fault schedule (package failpoint) breaks
// things, then heal and settle; it records everything on one timeline (package history), decides
// pass or fail (package validate, with the key model of package model) and reports (package
// report). Explain says what a scenario will do, in words.
//
// The engine's files follow a run: target.go (what it runs against, and what a target cannot
// run is refused before it starts), setup.go (setup steps), engine.go (the load phase),
// schedule.go (fault triggers), sample.go (what is observed while it runs), settle.go (heal
// and wait for the nodes to agree), final.go (what survived), then validate and stats.go.
package scenarios

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/scenarios/failpoint"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
	"github.com/hsmsim/hsmsim/scenarios/traffic"
	"github.com/hsmsim/hsmsim/scenarios/validate"
)

// Options tune a run.
type Options struct {
	Short    bool  // the short profile (CI)
	Seed     int64 // overrides the scenario's seed when not zero
	Logger   *slog.Logger
	Dir      string         // data directories; empty: a temporary directory, removed afterwards
	Progress func(Progress) // called about once a second during the load phase
	// Processes runs the HSMs as separate "hsmsim hsmd" processes instead of in this process;
	// Binary is the hsmsim binary they run (empty: $HSMSIM_BIN, else built from this module).
	// A scenario that needs what process mode cannot do is refused before anything starts.
	Processes bool
	Binary    string
}

// Progress is the live state of a run.
type Progress struct {
	Scenario string
	Phase    string
	T        time.Duration
	Duration time.Duration
	Ops      int
	Errors   int
	Faults   []string
	Leader   string
	Stores   map[string]string
}

// Line renders a progress line.
func (p Progress) Line() string {
	s := fmt.Sprintf("%s %-8s %5.1fs/%-4s ops %-6d err %-5d leader %-3s", p.Scenario, p.Phase, p.T.Seconds(), p.Duration.Round(time.Second), p.Ops, p.Errors, orDash(p.Leader))
	for _, k := range slices.Sorted(maps.Keys(p.Stores)) {
		s += fmt.Sprintf(" %s=%s", k, p.Stores[k])
	}
	if len(p.Faults) > 0 {
		s += " faults: " + strings.Join(p.Faults, ",")
	}
	return s
}

// Result is a finished run.
type Result struct {
	Scenario string              `json:"scenario"`
	File     string              `json:"file"`
	Models   string              `json:"models"`
	Seed     int64               `json:"seed"`
	Short    bool                `json:"short"`
	Started  time.Time           `json:"started"`
	Wall     time.Duration       `json:"wall"`
	Load     time.Duration       `json:"load"`
	Pass     bool                `json:"pass"`
	Error    string              `json:"error,omitempty"` // the run itself failed (setup)
	Setup    []string            `json:"setup"`
	Schedule []failpoint.Planned `json:"schedule"`
	Checks   []validate.Result   `json:"checks"`
	Final    validate.Final      `json:"final"`
	Stats    []WorkloadStats     `json:"workloads"`
	Nodes    []target.NodeInfo   `json:"nodes"`
	Events   []history.Event     `json:"events"`
	Ops      []history.Op        `json:"ops,omitempty"`
	Spec     *spec.Scenario      `json:"-"`
}

// Run runs one scenario to the end and returns its result; err is only for a run that could not
// be carried out at all (the result then says why, and does not pass).
func Run(ctx context.Context, scn *spec.Scenario, o Options) (*Result, error) {
	s := scn.Profile(o.Short)
	if o.Seed != 0 {
		s.Seed = o.Seed
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	res := &Result{Scenario: s.Name, File: s.File, Models: s.Models, Seed: s.Seed, Short: o.Short, Started: time.Now(), Spec: s}
	res.Schedule = failpoint.Plan(s)
	err := run(ctx, s, o, res)
	res.Wall = time.Since(res.Started)
	if err != nil {
		res.Error = err.Error()
		res.Pass = false
	}
	return res, err
}

func run(ctx context.Context, s *spec.Scenario, o Options, res *Result) error {
	return runOn(ctx, s, o, newTarget(s, o, raftTimeouts(s.Cluster)), res)
}

// runOn runs the scenario against env, not yet started.
func runOn(ctx context.Context, s *spec.Scenario, o Options, env Target, res *Result) error {
	timeouts := raftTimeouts(s.Cluster)
	if err := refusal(s, env, timeouts); err != nil {
		return err
	}
	t0 := time.Now()
	if err := env.Start(ctx); err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	defer env.Close()
	res.Setup = append(res.Setup, fmt.Sprintf("cluster %s: %d HSMs in %d AZs (%s)", env.ClusterID(), s.Cluster.Nodes(), len(s.Cluster.AZs), time.Since(t0).Round(time.Millisecond)))
	reg := target.NewRegistry()
	var kc *awskms.Client
	if k, ok := env.(kmsTarget); ok && k.KMS() != nil {
		kc = k.KMSClient(true, 30*time.Second)
	}
	if err := setup(ctx, s, env, reg, kc, res); err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	e := &engine{s: s, env: env, reg: reg, kms: kc, tl: history.New(), counters: &traffic.Counters{}, opts: o, res: res}
	e.inj = failpoint.NewInjector(env, reg, e.tl, kc)
	loads, err := e.prepare(ctx)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return e.run(ctx, loads)
}

// prepare readies every workload at once (logins, clients, sessions) before the load's clock
// starts, and notes how long it took among the setup lines. When one fails, the others are
// closed.
func (e *engine) prepare(ctx context.Context) ([]*traffic.Load, error) {
	t0 := time.Now()
	loads := make([]*traffic.Load, len(e.s.Workloads))
	errs := make([]error, len(e.s.Workloads))
	var wg sync.WaitGroup
	for i, w := range e.s.Workloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loads[i], errs[i] = traffic.Prepare(ctx, w, e.deps())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, l := range loads {
			if l != nil {
				l.Close()
			}
		}
		return nil, err
	}
	e.res.Setup = append(e.res.Setup, fmt.Sprintf("%d workloads logged in, their sessions open (%s)", len(loads), time.Since(t0).Round(time.Millisecond)))
	return loads, nil
}

func (e *engine) deps() traffic.Deps {
	return traffic.Deps{Target: e.env, Reg: e.reg, TL: e.tl, Counters: e.counters, Seed: e.s.Seed}
}

type engine struct {
	s        *spec.Scenario
	env      Target
	reg      *target.Registry
	kms      *awskms.Client
	tl       *history.Timeline
	inj      *failpoint.Injector
	counters *traffic.Counters
	opts     Options
	res      *Result

	mu         sync.Mutex
	leader     string // last leader seen ("" none)
	lastLeader string // last non-empty leader
	stores     map[string]string
	nodeStates map[string]string
}

// run is the load phase: the clock starts, the prepared workloads run and the faults are
// injected on schedule; then every fault is undone, the cluster settles and the checks run.
func (e *engine) run(ctx context.Context, loads []*traffic.Load) error {
	s := e.s
	e.stores, e.nodeStates = map[string]string{}, map[string]string{}
	e.tl.Begin()
	e.tl.AddEvent(history.Event{At: 1, Kind: history.EvPhase, Name: "load", Detail: "load started"})
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); e.sample(sampleCtx) }()
	e.sampleOnce(ctx)
	e.inj.Avail() // warm
	loadCtx, stopLoad := context.WithTimeout(ctx, s.Duration)
	defer stopLoad()

	var wg sync.WaitGroup
	for _, l := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Run(loadCtx)
		}()
	}
	var faults sync.WaitGroup
	var undos sync.WaitGroup
	e.schedule(loadCtx, &faults, &undos)
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); e.progress(loadCtx, "load") }()

	<-loadCtx.Done()
	wg.Wait()
	faults.Wait()
	undos.Wait()
	<-progressDone
	loadEnd := e.tl.Since()
	e.res.Load = loadEnd
	e.tl.AddEvent(history.Event{Kind: history.EvPhase, Name: "stop", Detail: "load stopped"})

	// Heal: every fault still in force is reversed, then the cluster settles.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 90*time.Second)
	defer cancel()
	e.inj.UndoAll(hctx)
	e.tl.AddEvent(history.Event{Kind: history.EvPhase, Name: "healed", Detail: "every fault reversed"})
	final := e.settle(hctx)
	e.tl.AddEvent(history.Event{Kind: history.EvPhase, Name: "settled", Detail: "final checks"})
	e.finalChecks(hctx, &final)
	stopSampling()
	<-sampled

	ops := e.tl.Ops()
	e.res.Events, e.res.Ops, e.res.Final, e.res.Nodes = e.tl.Events(), ops, final, e.env.Nodes()
	e.res.Stats = Stats(s, ops, loadEnd)
	e.res.Checks = validate.Check(validate.Input{Scenario: s, Ops: ops, Events: e.res.Events, LoadEnd: loadEnd, Final: final})
	e.res.Pass = validate.Passed(e.res.Checks)
	return nil
}
