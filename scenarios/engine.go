// Package scenarios is hsmsim's chaos engine: it runs a scenario file (package spec) against an
// in-process cluster and its KMS (package target): setup, then load (package traffic) while the
// seeded fault schedule (package failpoint) breaks things, then heal and settle; it records
// everything on one timeline (package history), decides pass or fail (package validate, with the
// key model of package model) and reports (package report).
package scenarios

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
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
	// A scenario that needs what process mode cannot do is refused (ProcessModeRefusal).
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
	for _, k := range sortedKeys(p.Stores) {
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
	timeouts := cluster.FastTimeouts()
	if s.Cluster.Timeouts == "default" {
		timeouts = cluster.DefaultTimeouts()
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&timeouts.Heartbeat, s.Cluster.Heartbeat)
	set(&timeouts.Election, s.Cluster.Election)
	set(&timeouts.LeaderLease, s.Cluster.LeaderLease)
	set(&timeouts.Apply, s.Cluster.Apply)
	var azs []target.AZCount
	for _, az := range s.Cluster.AZs {
		azs = append(azs, target.AZCount{AZ: az.Name, HSMs: az.HSMs})
	}
	if o.Processes {
		if err := ProcessModeRefusal(s); err != nil {
			return err
		}
	}
	t0 := time.Now()
	env, err := target.Start(ctx, target.Options{AZs: azs, Timeouts: timeouts, Seed: s.Seed, Dir: o.Dir, Logger: o.Logger, KMS: s.NeedsKMS(),
		Processes: o.Processes, Binary: o.Binary})
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	defer env.Close()
	res.Setup = append(res.Setup, fmt.Sprintf("cluster %s: %d HSMs in %d AZs (%s)", env.ClusterID, s.Cluster.Nodes(), len(azs), time.Since(t0).Round(time.Millisecond)))
	reg := target.NewRegistry()
	var kc *awskms.Client
	if env.KMS() != nil {
		kc = env.KMSClient(true, 30*time.Second)
	}
	if err := setup(ctx, s, env, reg, kc, res); err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	e := &engine{s: s, env: env, reg: reg, kms: kc, tl: history.New(), counters: &traffic.Counters{}, opts: o, res: res}
	e.inj = failpoint.NewInjector(env, reg, e.tl, kc)
	return e.run(ctx)
}

type engine struct {
	s        *spec.Scenario
	env      *target.Env
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

func (e *engine) run(ctx context.Context) error {
	s := e.s
	e.stores, e.nodeStates = map[string]string{}, map[string]string{}
	e.tl.AddEvent(history.Event{At: 1, Kind: history.EvPhase, Name: "load", Detail: "load started"})
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); e.sample(sampleCtx) }()
	e.sampleOnce(ctx)
	e.inj.Avail() // warm
	loadCtx, stopLoad := context.WithTimeout(ctx, s.Duration)
	defer stopLoad()

	var wg sync.WaitGroup
	errs := make(chan error, len(s.Workloads))
	for _, w := range s.Workloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := traffic.Run(loadCtx, w, traffic.Deps{Env: e.env, Reg: e.reg, TL: e.tl, Counters: e.counters, Seed: s.Seed}); err != nil {
				errs <- err
			}
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
	close(errs)
	var werr error
	for err := range errs {
		werr = errors.Join(werr, err)
	}

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
	e.res.Stats = Stats(s, ops)
	e.res.Checks = validate.Check(validate.Input{Scenario: s, Ops: ops, Events: e.res.Events, LoadEnd: loadEnd, Final: final})
	if werr != nil {
		e.res.Checks = append(e.res.Checks, validate.Result{Name: "workloads", Summary: werr.Error()})
	}
	e.res.Pass = validate.Passed(e.res.Checks)
	return nil
}

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

// sample records the leader, node states and key store states whenever they change.
func (e *engine) sample(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n++
		e.sampleNodes()
		if n%3 == 0 {
			e.sampleStores(ctx)
		}
	}
}

func (e *engine) sampleOnce(ctx context.Context) {
	e.sampleNodes()
	e.sampleStores(ctx)
}

func (e *engine) sampleNodes() {
	leader := e.env.Leader()
	e.mu.Lock()
	changed := leader != e.leader
	e.leader = leader
	if leader != "" {
		e.lastLeader = leader
	}
	e.mu.Unlock()
	if changed {
		d := leader
		if d == "" {
			d = "none"
		}
		e.tl.AddEvent(history.Event{Kind: history.EvLeader, Detail: d})
	}
	for _, n := range e.env.Nodes() {
		e.mu.Lock()
		old := e.nodeStates[n.Label]
		e.nodeStates[n.Label] = n.State
		e.mu.Unlock()
		if old != n.State {
			f := map[string]string{"id": n.ID, "az": n.AZ}
			if n.Cluster != "" {
				f["cluster"] = n.Cluster
			}
			e.tl.AddEvent(history.Event{Kind: history.EvNode, Name: n.Label, Detail: n.State, Fields: f})
		}
	}
}

func (e *engine) sampleStores(ctx context.Context) {
	if e.kms == nil {
		return
	}
	e.reg.Lock()
	stores := map[string]string{}
	for k, v := range e.reg.Stores {
		stores[k] = v
	}
	e.reg.Unlock()
	for name, id := range stores {
		st, err := storeState(ctx, e.kms, id)
		if err != nil {
			continue
		}
		e.mu.Lock()
		old := e.stores[name]
		e.stores[name] = st
		e.mu.Unlock()
		if old != st {
			e.tl.AddEvent(history.Event{Kind: history.EvKeyStore, Name: name, Detail: st, Fields: map[string]string{"id": id}})
		}
	}
}

// storeState is "CONNECTED", or "FAILED/USER_LOCKED_OUT" when there is an error code.
func storeState(ctx context.Context, kc *awskms.Client, id string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := kc.DescribeCustomKeyStores(cctx, &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	if err != nil || len(out.CustomKeyStores) == 0 {
		return "", fmt.Errorf("describe %s: %v", id, err)
	}
	st := out.CustomKeyStores[0]
	s := string(st.ConnectionState)
	if st.ConnectionErrorCode != "" {
		s += "/" + string(st.ConnectionErrorCode)
	}
	return s, nil
}

func (e *engine) progress(ctx context.Context, phase string) {
	if e.opts.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ops := e.tl.Ops()
		p := Progress{Scenario: e.s.Name, Phase: phase, T: e.tl.Since(), Duration: e.s.Duration, Ops: len(ops), Faults: e.inj.Active()}
		for _, o := range ops {
			if o.Failed() {
				p.Errors++
			}
		}
		e.mu.Lock()
		p.Leader = e.leader
		p.Stores = map[string]string{}
		for k, v := range e.stores {
			p.Stores[k] = v
		}
		e.mu.Unlock()
		e.opts.Progress(p)
	}
}

// settle waits (bounded) until, in each cluster, every running node has applied the same index
// and holds the same token, and returns what each node holds.
func (e *engine) settle(ctx context.Context) validate.Final {
	start := time.Now()
	deadline := start.Add(e.s.Expect.ConvergeWithin)
	final := validate.Final{ConvergeTook: -1}
	for {
		final.Nodes = final.Nodes[:0]
		agreed := true
		first := map[string]validate.NodeFinal{} // per cluster
		for _, n := range e.env.Nodes() {
			if n.Removed {
				continue
			}
			nf := validate.NodeFinal{Label: n.Label, ID: n.ID, Cluster: n.Cluster, Up: n.Up, State: n.State}
			if e.env.Processes() { // no token to read: the applied index over the API, no digest
				if a, ok := e.env.AppliedIndex(n.Label); ok && n.Up {
					nf.Applied = a
				} else {
					nf.Up = false
				}
			} else if st := e.env.State(n.Label); st != nil {
				nf.Applied = st.Applied()
				if d, err := st.Digest(); err == nil {
					nf.Digest = hex.EncodeToString(d)
				}
			} else {
				nf.Up = false
			}
			final.Nodes = append(final.Nodes, nf)
			if !nf.Up {
				continue
			}
			if f, ok := first[nf.Cluster]; !ok {
				first[nf.Cluster] = nf
			} else if nf.Digest != f.Digest || nf.Applied != f.Applied {
				agreed = false
			}
		}
		if agreed && len(first) > 0 {
			if e.env.Processes() {
				final.Notes = append(final.Notes, "process mode: nodes compared by applied index only (a token digest is not readable over the node API)")
			}
			final.ConvergeTook = time.Since(start)
			return final
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return final
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finalChecks looks for every acknowledged key on every node, decrypts a sample of the
// acknowledged ciphertexts and uses the KMS keys created, and reads the key stores' states.
func (e *engine) finalChecks(ctx context.Context, f *validate.Final) {
	acked := validate.AckedKeys(e.tl.Ops())
	f.Present = map[string]map[uint32]bool{}
	if e.env.Processes() {
		e.reg.Lock()
		users := map[string]string{}
		for u, pw := range e.reg.Users {
			users[u] = pw
		}
		e.reg.Unlock()
		for _, n := range f.Nodes {
			if !n.Up || n.Cluster != "" {
				continue
			}
			have, err := e.env.NodeHandles(ctx, n.Label, users)
			if err != nil {
				f.Notes = append(f.Notes, fmt.Sprintf("process mode: could not list %s's keys: %v", n.Label, err))
				continue
			}
			p := map[uint32]bool{}
			for h := range acked {
				if have[h] {
					p[h] = true
				}
			}
			f.Present[n.Label] = p
		}
		return // no KMS in process mode
	}
	for _, n := range f.Nodes {
		if n.Cluster != "" {
			continue // a restored cluster holds what its backup held, not the later keys
		}
		st := e.env.State(n.Label)
		if st == nil {
			continue
		}
		p := map[uint32]bool{}
		for h := range acked {
			if _, ok := st.Object(h); ok {
				p[h] = true
			}
		}
		f.Present[n.Label] = p
	}
	if e.kms == nil {
		return
	}
	e.sampleStores(ctx)
	e.mu.Lock()
	f.KeyStores = map[string]string{}
	for k, v := range e.stores {
		f.KeyStores[k] = v
	}
	e.mu.Unlock()
	usable := func(keyName string) bool { // a key whose store is not connected cannot be checked
		store := ""
		for _, st := range e.s.Setup {
			if st.Kind == spec.StepKMSKey && st.Name == keyName {
				store = st.Store
			}
		}
		return store == "" || f.KeyStores[store] == "CONNECTED"
	}
	cts := e.reg.Ciphertexts()
	step := max(1, len(cts)/64)
	skipped := 0
	for i := 0; i < len(cts); i += step {
		c := cts[i]
		if !usable(c.StoreKey) {
			skipped++
			continue
		}
		f.CiphertextsChecked++
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := e.kms.Decrypt(cctx, &awskms.DecryptInput{CiphertextBlob: c.Blob})
		cancel()
		if err != nil || string(out.Plaintext) != string(c.Plaintext) {
			f.CiphertextsLost = append(f.CiphertextsLost, fmt.Sprintf("%s ciphertext acknowledged at %s: %v", c.StoreKey, c.ProducedAt.Round(time.Millisecond), errOrMismatch(err)))
		}
	}
	if skipped > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d ciphertexts not checked: their key store is not connected at the end", skipped))
	}
	n := 0
	for _, o := range e.tl.Ops() {
		if o.Kind != "create-key" || !o.OK() || n >= 32 {
			continue
		}
		n++
		f.KMSKeysChecked++
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := e.kms.Encrypt(cctx, &awskms.EncryptInput{KeyId: aws.String(o.Value), Plaintext: []byte("still there?")})
		cancel()
		if err != nil {
			f.KMSKeysLost = append(f.KMSKeysLost, fmt.Sprintf("%s (created at %s): %v", o.Value, o.End.Round(time.Millisecond), err))
		}
	}
}

func errOrMismatch(err error) string {
	if err != nil {
		return err.Error()
	}
	return "another plaintext"
}

// setup runs the scenario's setup steps in order.
func setup(ctx context.Context, s *spec.Scenario, env *target.Env, reg *target.Registry, kc *awskms.Client, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	adm, err := env.Admin(ctx, "setup-admin")
	if err != nil {
		return err
	}
	defer adm.Close()
	defer func() { _ = adm.Logout(context.WithoutCancel(ctx)) }()
	for _, st := range s.Setup {
		t0 := time.Now()
		var what string
		switch st.Kind {
		case spec.StepUser, spec.StepKMSUser:
			name := st.Name
			if st.Kind == spec.StepKMSUser {
				name = "kmsuser"
			}
			if err := adm.CreateUser(ctx, name, hsmpb.Role_ROLE_CRYPTO_USER, st.Password); err != nil {
				return fmt.Errorf("%s: creating %s: %w", st.Pos, name, err)
			}
			reg.Lock()
			if st.Kind == spec.StepKMSUser {
				reg.KMSUserPass = st.Password
			} else {
				reg.Users[name] = st.Password
			}
			reg.Unlock()
			what = "crypto user " + name
		case spec.StepKey:
			h, err := setupKey(ctx, env, reg, st)
			if err != nil {
				return fmt.Errorf("%s: key %s: %w", st.Pos, st.Name, err)
			}
			reg.Lock()
			reg.HSMKeys[st.Name] = h
			reg.Unlock()
			what = fmt.Sprintf("%s key %s of %s: handle %d", st.Type, st.Name, st.Owner, h)
		case spec.StepKeyStore:
			id, err := setupStore(ctx, env, reg, kc, st)
			if err != nil {
				return fmt.Errorf("%s: key store %s: %w", st.Pos, st.Name, err)
			}
			what = fmt.Sprintf("custom key store %s: %s", st.Name, id)
		case spec.StepKMSKey:
			in := &awskms.CreateKeyInput{Description: aws.String(st.Name)}
			if st.Store != "" {
				reg.Lock()
				in.CustomKeyStoreId, in.Origin = aws.String(reg.Stores[st.Store]), types.OriginTypeAwsCloudhsm
				reg.Unlock()
			}
			out, err := kc.CreateKey(ctx, in)
			if err != nil {
				return fmt.Errorf("%s: kms key %s: %w", st.Pos, st.Name, err)
			}
			reg.Lock()
			reg.KMSKeys[st.Name] = aws.ToString(out.KeyMetadata.KeyId)
			reg.Unlock()
			what = fmt.Sprintf("KMS key %s: %s", st.Name, aws.ToString(out.KeyMetadata.KeyId))
		}
		res.Setup = append(res.Setup, fmt.Sprintf("%s (%s)", what, time.Since(t0).Round(time.Millisecond)))
	}
	return nil
}

func setupKey(ctx context.Context, env *target.Env, reg *target.Registry, st spec.Step) (uint32, error) {
	cl, err := env.Client("setup-"+st.Owner, nil)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	reg.Lock()
	pw := reg.Users[st.Owner]
	reg.Unlock()
	if _, err := cl.Login(ctx, st.Owner, pw); err != nil {
		return 0, err
	}
	defer func() { _ = cl.Logout(context.WithoutCancel(ctx)) }()
	label := attr.Attribute{Type: p11.CKA_LABEL, Value: []byte(st.Name)}
	if st.Type == "aes-256" {
		return cl.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, append(traffic.AESTemplate(), label))
	}
	_, priv, err := cl.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{{Type: p11.CKA_EC_PARAMS, Value: traffic.P256}, {Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_VERIFY, Value: attr.Bool(true)}, label},
		[]attr.Attribute{{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}, label})
	return priv, err
}

func setupStore(ctx context.Context, env *target.Env, reg *target.Registry, kc *awskms.Client, st spec.Step) (string, error) {
	reg.Lock()
	pw := reg.KMSUserPass
	reg.Unlock()
	out, err := kc.CreateCustomKeyStore(ctx, &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(st.Name),
		CloudHsmClusterId: aws.String(env.ClusterID), TrustAnchorCertificate: aws.String(string(env.TrustAnchorPEM())),
		KeyStorePassword: aws.String(pw)})
	if err != nil {
		return "", err
	}
	id := aws.ToString(out.CustomKeyStoreId)
	reg.Lock()
	reg.Stores[st.Name] = id
	reg.Unlock()
	if !st.Connect {
		return id, nil
	}
	if _, err := kc.ConnectCustomKeyStore(ctx, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		return id, err
	}
	for {
		state, err := storeState(ctx, kc, id)
		if err != nil {
			return id, err
		}
		switch {
		case state == "CONNECTED":
			return id, nil
		case state != "CONNECTING":
			return id, fmt.Errorf("connecting: %s", state)
		}
		select {
		case <-ctx.Done():
			return id, fmt.Errorf("still CONNECTING: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ProcessModeRefusal says which part of a scenario a run with separate hsmd processes
// (Options.Processes) cannot carry out, naming it by file, line and field; nil when none.
func ProcessModeRefusal(s *spec.Scenario) error {
	var why []string
	add := func(pos spec.Pos, format string, args ...any) {
		why = append(why, fmt.Sprintf("%s: %s", pos, fmt.Sprintf(format, args...)))
	}
	if s.Cluster.Heartbeat > 0 || s.Cluster.Election > 0 || s.Cluster.LeaderLease > 0 || s.Cluster.Apply > 0 {
		why = append(why, fmt.Sprintf("%s: cluster.timeouts: custom Raft timeouts (hsmd takes its defaults or --fast-timeouts only)", s.File))
	}
	for _, st := range s.Setup {
		if st.Kind == spec.StepKeyStore || st.Kind == spec.StepKMSKey {
			add(st.Pos, "setup %s %s: needs the KMS, which process mode does not run", st.Kind, st.Name)
		}
	}
	for _, w := range s.Workloads {
		if w.Face == spec.FaceKMS {
			add(w.Pos, "workload %s: face kms needs the KMS, which process mode does not run", w.Name)
		}
	}
	for _, f := range s.Faults {
		switch f.Do {
		case spec.DoWipe, spec.DoRemoveHSM, spec.DoAddHSM, spec.DoBackupRestore:
			add(f.Pos, "fault %s: do %s is not supported with separate hsmd processes", f.Name, f.Do)
		case spec.DoDisconnect, spec.DoConnect, spec.DoReconnect, spec.DoUpdateStore, spec.DoKMSCreateKey:
			add(f.Pos, "fault %s: do %s needs the KMS, which process mode does not run", f.Name, f.Do)
		}
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%s cannot run with --processes: %w:\n  %s", s.Name, target.ErrProcessMode, strings.Join(why, "\n  "))
}
