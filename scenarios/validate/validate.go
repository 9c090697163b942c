// Package validate decides whether a scenario run passed. Each checker reads the run's recorded
// history (operations, events) and the final observations the engine made after healing, and
// returns a Result; none of them talks to the system, so each can be fed a doctored history.
package validate

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/model"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// Input is everything the checkers read.
type Input struct {
	Scenario *spec.Scenario
	Ops      []history.Op
	Events   []history.Event
	LoadEnd  time.Duration // when the load phase ended
	Final    Final
	// LinearizeTimeout bounds porcupine (default 20 s); it answers Unknown past it.
	LinearizeTimeout time.Duration
}

// Final is what the engine observed after the faults were healed and the cluster settled.
type Final struct {
	Nodes []NodeFinal `json:"nodes"`
	// Present says, per node label, which of the acknowledged key handles the node holds.
	Present map[string]map[uint32]bool `json:"-"`
	// ConvergeTook is how long the nodes took to agree after heal (-1: they did not).
	ConvergeTook time.Duration `json:"converge_took"`
	// Ciphertexts checked after heal, and the ones that no longer decrypt.
	CiphertextsChecked int      `json:"ciphertexts_checked"`
	CiphertextsLost    []string `json:"ciphertexts_lost,omitempty"`
	KMSKeysChecked     int      `json:"kms_keys_checked"`
	KMSKeysLost        []string `json:"kms_keys_lost,omitempty"`
	// KeyStores is each store's state at the end: "CONNECTED", "FAILED/USER_LOCKED_OUT".
	KeyStores map[string]string `json:"key_stores,omitempty"`
	Notes     []string          `json:"notes,omitempty"`
}

// NodeFinal is one node at the end.
type NodeFinal struct {
	Label string `json:"label"`
	ID    string `json:"id"`
	// Cluster is "" for the scenario's cluster, else the name of a cluster restored from a
	// backup: each cluster converges on its own.
	Cluster string `json:"cluster,omitempty"`
	Up      bool   `json:"up"`
	Applied uint64 `json:"applied"`
	Digest  string `json:"digest"`
	State   string `json:"state"`
}

// Result is one checker's verdict.
type Result struct {
	Name    string   `json:"name"`
	Pass    bool     `json:"pass"`
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
}

const maxDetails = 20

func (r *Result) add(format string, args ...any) {
	if len(r.Details) < maxDetails {
		r.Details = append(r.Details, fmt.Sprintf(format, args...))
	} else if len(r.Details) == maxDetails {
		r.Details = append(r.Details, "…")
	}
}

// Check runs every checker the scenario asks for.
func Check(in Input) []Result {
	x := in.Scenario.Expect
	var out []Result
	out = append(out, Schedule(in))
	out = append(out, Actions(in))
	if x.NoLostKeys {
		out = append(out, NoLostKeys(in))
	}
	if x.Converged {
		out = append(out, Converged(in))
	}
	if x.Linearizable && hasKeyOps(in.Ops) {
		out = append(out, Linearizable(in))
	}
	for _, b := range x.Errors {
		out = append(out, ErrorBudget(in, b))
	}
	for _, c := range x.ClientErrors {
		out = append(out, ClientErrors(in, c))
	}
	for _, b := range x.Throttled {
		out = append(out, Throttled(in, b))
	}
	if x.Failover > 0 {
		out = append(out, Failover(in, x.Failover))
	}
	if x.WriteRecovery > 0 {
		out = append(out, WriteRecovery(in, x.WriteRecovery))
	}
	for _, l := range x.Latency {
		out = append(out, Latency(in, l))
	}
	for _, l := range x.Idle {
		out = append(out, Idle(in, l))
	}
	for _, k := range x.KeyStores {
		out = append(out, KeyStore(in, k))
	}
	return out
}

// Passed reports whether every result passed.
func Passed(rs []Result) bool {
	for _, r := range rs {
		if !r.Pass {
			return false
		}
	}
	return true
}

func hasKeyOps(ops []history.Op) bool {
	for _, o := range ops {
		if o.Key != "" {
			return true
		}
	}
	return false
}

// Schedule: every planned fault was injected (a fault that never fired means the run did not
// test what the scenario says).
func Schedule(in Input) Result {
	r := Result{Name: "schedule", Pass: true}
	fired := 0
	for _, e := range in.Events {
		switch e.Kind {
		case history.EvFault, history.EvAction:
			fired++
		case history.EvSkipped:
			r.Pass = false
			r.add("%s at %s: not injected: %s", e.Name, ms(e.At), e.Detail)
		}
	}
	r.Summary = fmt.Sprintf("%d faults and actions injected", fired)
	if !r.Pass {
		r.Summary += fmt.Sprintf(", %d not", len(r.Details))
	}
	return r
}

// Actions: every operator action returned what the scenario expects.
func Actions(in Input) Result {
	r := Result{Name: "actions", Pass: true}
	n := 0
	for _, e := range in.Events {
		if e.Kind != history.EvAction {
			continue
		}
		n++
		if e.Fields["pass"] == "false" {
			r.Pass = false
			r.add("%s at %s: expected %s, got %s (%s)", e.Name, ms(e.At), e.Fields["expect"], e.Fields["got"], e.Fields["err"])
		}
	}
	r.Summary = fmt.Sprintf("%d actions, %d as expected", n, n-len(r.Details))
	return r
}

// AckedKeys are the key handles whose creation was acknowledged and that nothing destroyed (or
// may have destroyed): they must survive every fault.
func AckedKeys(ops []history.Op) map[uint32]string {
	acked := map[uint32]string{}
	destroyed := map[string]bool{}
	for _, o := range ops {
		if o.Face != spec.FaceHSM {
			continue
		}
		if (o.Kind == "generate-key" || o.Kind == model.Create) && o.OK() && o.Value != "" {
			h, err := strconv.ParseUint(o.Value, 10, 32)
			if err == nil {
				acked[uint32(h)] = fmt.Sprintf("%s op %d (%s)", o.Workload, o.ID, ms(o.End))
			}
		}
		if o.Kind == model.Destroy && (o.OK() || o.Unknown) {
			destroyed[o.Value] = true
		}
	}
	for h := range acked {
		if destroyed[fmt.Sprint(h)] {
			delete(acked, h)
		}
	}
	return acked
}

// NoLostKeys: every acknowledged key is on every running node; every acknowledged ciphertext
// still decrypts; every KMS key created still works.
func NoLostKeys(in Input) Result {
	r := Result{Name: "no-lost-keys", Pass: true}
	acked := AckedKeys(in.Ops)
	hs := make([]uint32, 0, len(acked))
	for h := range acked {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	nodes := 0
	for _, n := range in.Final.Nodes {
		if !n.Up || n.Cluster != "" {
			continue
		}
		nodes++
		present := in.Final.Present[n.Label]
		for _, h := range hs {
			if !present[h] {
				r.Pass = false
				r.add("key handle %d, acknowledged by %s, is missing on %s", h, acked[h], n.Label)
			}
		}
	}
	for _, c := range in.Final.CiphertextsLost {
		r.Pass = false
		r.add("ciphertext no longer decrypts: %s", c)
	}
	for _, k := range in.Final.KMSKeysLost {
		r.Pass = false
		r.add("KMS key lost: %s", k)
	}
	r.Summary = fmt.Sprintf("%d acknowledged keys on %d nodes, %d ciphertexts, %d KMS keys checked", len(hs), nodes, in.Final.CiphertextsChecked, in.Final.KMSKeysChecked)
	if !r.Pass {
		r.Summary = fmt.Sprintf("%d losses; ", len(r.Details)) + r.Summary
	}
	return r
}

// Converged: in each cluster, every running node applied the same index and holds the same
// token digest.
func Converged(in Input) Result {
	r := Result{Name: "converged", Pass: true}
	firsts := map[string]*NodeFinal{}
	var first *NodeFinal // of the scenario's cluster
	up := 0
	for i := range in.Final.Nodes {
		n := &in.Final.Nodes[i]
		if !n.Up {
			continue
		}
		up++
		f := firsts[n.Cluster]
		if f == nil {
			firsts[n.Cluster] = n
			if n.Cluster == "" || first == nil {
				first = n
			}
			continue
		}
		if n.Digest != f.Digest || n.Applied != f.Applied {
			r.Pass = false
		}
	}
	if up == 0 {
		r.Pass = false
		r.Summary = "no node running at the end"
		return r
	}
	if !r.Pass {
		for _, n := range in.Final.Nodes {
			if n.Up {
				r.add("%s: applied %d, digest %s, %s", n.Label, n.Applied, short(n.Digest), n.State)
			}
		}
		r.Summary = "nodes hold different tokens after heal"
		return r
	}
	r.Summary = fmt.Sprintf("%d nodes agree: applied %d, digest %s", up, first.Applied, short(first.Digest))
	if len(firsts) > 1 {
		r.Summary = fmt.Sprintf("%d nodes of %d clusters agree within each: applied %d, digest %s", up, len(firsts), first.Applied, short(first.Digest))
		for c, f := range firsts {
			if c != "" {
				r.Summary += fmt.Sprintf("; %s: applied %d, digest %s", c, f.Applied, short(f.Digest))
			}
		}
	}
	if in.Final.ConvergeTook >= 0 {
		r.Summary += fmt.Sprintf(" (after %s)", ms(in.Final.ConvergeTook))
	}
	return r
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// Linearizable: each key's create/use/destroy history is linearizable against the model. The
// histories are those of one client session (a key-lifecycle workload's workers share one
// credential and one read-your-writes index), which is what docs/CONSISTENCY.md claims is
// linearizable: writes through Raft, reads through the session's index. A check that times out
// fails.
func Linearizable(in Input) Result {
	r := Result{Name: "linearizable"}
	timeout := in.LinearizeTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	v := model.Check(in.Ops, timeout)
	switch v.Result {
	case porcupine.Ok:
		r.Pass = true
		r.Summary = fmt.Sprintf("%d operations on %d keys linearize (0 violations)", v.Operations, v.Keys)
	case porcupine.Unknown:
		// Not decided is not a pass: a checker that gives up has not checked anything.
		r.Summary = fmt.Sprintf("%d operations on %d keys: porcupine could not decide within %s", v.Operations, v.Keys, timeout)
	default:
		r.Summary = fmt.Sprintf("%d operations on %d keys do NOT linearize: %d keys in violation", v.Operations, v.Keys, v.Violations)
		for _, s := range v.Illegal {
			r.add("%s", s)
		}
	}
	return r
}

// Phases are the intervals of the load phase, by name.
type Phases struct {
	Faults   []history.Interval // some fault active
	Majority []history.Interval // a majority of voters up and reachable
	Bounds   []time.Duration    // every transition (fault, undo, action, availability change)
	End      time.Duration
}

// PhasesOf derives the phases from the events.
func PhasesOf(events []history.Event, end time.Duration) Phases {
	p := Phases{End: end, Faults: merge(history.Spans(events, end))}
	majority, since := true, time.Duration(0)
	for _, e := range events {
		switch e.Kind {
		case history.EvFault, history.EvUndo, history.EvAction:
			p.Bounds = append(p.Bounds, e.At)
		case history.EvAvail:
			p.Bounds = append(p.Bounds, e.At)
			m := e.Fields["majority"] == "true"
			if m != majority {
				if majority {
					p.Majority = append(p.Majority, history.Interval{From: since, To: e.At})
				}
				majority, since = m, e.At
			}
		}
	}
	if majority {
		p.Majority = append(p.Majority, history.Interval{From: since, To: end})
	}
	return p
}

func merge(ivs []history.Interval) []history.Interval {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].From < ivs[j].From })
	var out []history.Interval
	for _, iv := range ivs {
		if n := len(out); n > 0 && iv.From <= out[n-1].To {
			out[n-1].To = max(out[n-1].To, iv.To)
			continue
		}
		out = append(out, iv)
	}
	return out
}

func within(ivs []history.Interval, t time.Duration) bool {
	for _, iv := range ivs {
		if iv.Contains(t) {
			return true
		}
	}
	return false
}

// During reports whether an operation starting at t belongs to phase (after grace).
func (p Phases) During(phase string, t time.Duration, grace time.Duration) bool {
	if t > p.End {
		return false
	}
	for _, b := range p.Bounds {
		if t >= b && t < b+grace {
			return false
		}
	}
	switch phase {
	case spec.DuringAlways:
		return true
	case spec.DuringFaults:
		return within(p.Faults, t)
	case spec.DuringSteady:
		return !within(p.Faults, t)
	case spec.DuringMajorityUp:
		return within(p.Majority, t)
	}
	return false
}

func workloadOps(ops []history.Op, workload string) []history.Op {
	var out []history.Op
	for _, o := range ops {
		if workload == "" || o.Workload == workload {
			out = append(out, o)
		}
	}
	return out
}

func scope(w string) string {
	if w == "" {
		return "all workloads"
	}
	return w
}

// throttlingCode is what a request over AWS KMS's quotas gets (kms/quota).
const throttlingCode = "ThrottlingException"

// Throttled: the app stayed under the quota: of a workload's operations, AWS's request quotas
// refused no more than the budget allows.
func Throttled(in Input, b spec.ThrottleBudget) Result {
	r := Result{Name: "throttling of " + scope(b.Workload), Pass: true}
	ops := workloadOps(in.Ops, b.Workload)
	n := 0
	for _, o := range ops {
		if o.Code == throttlingCode {
			n++
		}
	}
	share := 0.0
	if len(ops) > 0 {
		share = float64(n) / float64(len(ops))
	}
	r.Summary = fmt.Sprintf("%d of %d operations throttled (%.2f%%)", n, len(ops), share*100)
	if b.Max >= 0 && n > b.Max {
		r.Pass = false
		r.add("%d throttled, at most %d allowed", n, b.Max)
	}
	if b.MaxShare >= 0 && share > b.MaxShare {
		r.Pass = false
		r.add("%.2f%% throttled, at most %.2f%% allowed", share*100, b.MaxShare*100)
	}
	return r
}

// ErrorBudget: the failed operations of a workload in a phase stay within the budget.
func ErrorBudget(in Input, b spec.ErrorBudget) Result {
	r := Result{Name: fmt.Sprintf("errors %s during %s", scope(b.Workload), b.During), Pass: true}
	ph := PhasesOf(in.Events, in.LoadEnd)
	total, failed := 0, 0
	codes := map[string]int{}
	for _, o := range workloadOps(in.Ops, b.Workload) {
		if !ph.During(b.During, o.Start, b.Grace) {
			continue
		}
		total++
		if o.Failed() {
			failed++
			codes[o.Code]++
			r.add("op %d %s %s at %s on %s: %s", o.ID, o.Workload, o.Kind, ms(o.Start), orDash(o.Node), clip(o.Err, 200))
		}
	}
	rate := 0.0
	if total > 0 {
		rate = float64(failed) / float64(total)
	}
	if b.Max >= 0 && failed > b.Max {
		r.Pass = false
	}
	if b.MaxRate >= 0 && rate > b.MaxRate {
		r.Pass = false
	}
	limit := []string{}
	if b.Max >= 0 {
		limit = append(limit, fmt.Sprintf("max %d", b.Max))
	}
	if b.MaxRate >= 0 {
		limit = append(limit, fmt.Sprintf("max %.1f%%", b.MaxRate*100))
	}
	r.Summary = fmt.Sprintf("%d of %d failed (%.2f%%; %s)%s", failed, total, rate*100, strings.Join(limit, ", "), codeList(codes))
	if r.Pass {
		r.Details = nil
	}
	return r
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func codeList(codes map[string]int) string {
	if len(codes) == 0 {
		return ""
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(codes)) {
		parts = append(parts, fmt.Sprintf("%s×%d", c, codes[c]))
	}
	return ": " + strings.Join(parts, ", ")
}

// ClientErrors: every error code a workload's clients saw is one the scenario allows, and the
// codes it must see were seen.
func ClientErrors(in Input, c spec.ErrorCodes) Result {
	r := Result{Name: "error codes of " + scope(c.Workload), Pass: true}
	seen := map[string]int{}
	for _, o := range workloadOps(in.Ops, c.Workload) {
		if o.Failed() {
			seen[o.Code]++
		}
	}
	for _, code := range slices.Sorted(maps.Keys(seen)) {
		if !slices.Contains(c.Allowed, code) {
			r.Pass = false
			r.add("%s seen %d times, not allowed (allowed: %s)", code, seen[code], strings.Join(c.Allowed, ", "))
		}
	}
	for _, code := range c.MustSee {
		if seen[code] == 0 {
			r.Pass = false
			r.add("%s never seen", code)
		}
	}
	r.Summary = "seen" + codeList(seen)
	if len(seen) == 0 {
		r.Summary = "no errors seen"
	}
	return r
}

// leaderAt is the leader recorded at time t ("" when none).
func leaderAt(events []history.Event, t time.Duration) string {
	l := ""
	for _, e := range events {
		if e.At > t {
			break
		}
		if e.Kind == history.EvLeader {
			l = e.Detail
		}
	}
	if l == "none" {
		return ""
	}
	return l
}

// restartAction is the do of failpoint's restart: an operator action that takes its node down
// and brings it back at once, so a leader it took away must be replaced as after a fault.
const restartAction = "restart"

// Failover: after each fault that took the leader away (while a majority stayed up), a new
// leader is seen within max.
func Failover(in Input, maxWait time.Duration) Result {
	r := Result{Name: "failover", Pass: true}
	ph := PhasesOf(in.Events, in.LoadEnd)
	n := 0
	var worst time.Duration
	for _, e := range in.Events {
		if e.Kind != history.EvFault && !(e.Kind == history.EvAction && e.Fields["do"] == restartAction) {
			continue
		}
		old := e.Fields["leader"]
		if _, ok := e.Fields["leader"]; !ok {
			old = leaderAt(in.Events, e.At-time.Nanosecond)
		}
		if old == "" || !slices.Contains(strings.Split(e.Fields["nodes"], ","), old) {
			continue
		}
		if !within(ph.Majority, e.At) {
			continue
		}
		n++
		took := time.Duration(-1)
		for _, l := range in.Events {
			if l.Kind == history.EvLeader && l.At >= e.At && l.Detail != "none" && (l.Detail != old || e.Kind == history.EvAction) {
				took = l.At - e.At
				break
			}
		}
		if took < 0 {
			r.Pass = false
			r.add("%s at %s took leader %s away; no new leader seen", e.Name, ms(e.At), old)
			continue
		}
		worst = max(worst, took)
		if took > maxWait {
			r.Pass = false
			r.add("%s at %s: new leader after %s (max %s)", e.Name, ms(e.At), ms(took), maxWait)
		}
	}
	r.Summary = fmt.Sprintf("%d leader losses, slowest failover %s (max %s)", n, ms(worst), maxWait)
	if n == 0 {
		r.Summary = "no fault took the leader away"
	}
	return r
}

// WriteRecovery: after each fault, while a majority is up, a write that starts after the fault
// succeeds within max of it.
func WriteRecovery(in Input, maxWait time.Duration) Result {
	r := Result{Name: "write recovery", Pass: true}
	ph := PhasesOf(in.Events, in.LoadEnd)
	var writes []history.Op
	for _, o := range in.Ops {
		if o.Write {
			writes = append(writes, o)
		}
	}
	if len(writes) == 0 {
		r.Summary = "no write workload"
		return r
	}
	n := 0
	var worst time.Duration
	for _, e := range in.Events {
		if e.Kind != history.EvFault || !within(ph.Majority, e.At) || e.At+maxWait > in.LoadEnd {
			continue
		}
		n++
		took := time.Duration(-1)
		for _, o := range writes {
			if o.Start >= e.At && o.OK() && (took < 0 || o.End-e.At < took) {
				took = o.End - e.At
			}
		}
		if took < 0 || took > maxWait {
			r.Pass = false
			r.add("%s at %s: first successful write after %s (max %s)", e.Name, ms(e.At), msOrNever(took), maxWait)
		}
		worst = max(worst, took)
	}
	r.Summary = fmt.Sprintf("%d faults with a majority up, slowest write recovery %s (max %s)", n, msOrNever(worst), maxWait)
	return r
}

func msOrNever(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return ms(d)
}

// Latency: percentiles of a workload's successful operations in a phase.
func Latency(in Input, l spec.LatencyBudget) Result {
	r := Result{Name: fmt.Sprintf("latency %s during %s", l.Workload, l.During), Pass: true}
	ph := PhasesOf(in.Events, in.LoadEnd)
	var lat []time.Duration
	for _, o := range workloadOps(in.Ops, l.Workload) {
		if o.OK() && ph.During(l.During, o.Start, l.Grace) {
			lat = append(lat, o.Latency())
		}
	}
	if len(lat) == 0 {
		r.Pass = false
		r.Summary = "no successful operation in the phase"
		return r
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	p50, p99, mx := p(0.50), p(0.99), lat[len(lat)-1]
	check := func(name string, got, limit time.Duration) {
		if limit > 0 && got > limit {
			r.Pass = false
			r.add("%s %s exceeds %s", name, ms(got), limit)
		}
	}
	check("p50", p50, l.P50)
	check("p99", p99, l.P99)
	check("max", mx, l.Max)
	r.Summary = fmt.Sprintf("%d ops: p50 %s, p99 %s, max %s", len(lat), ms(p50), ms(p99), ms(mx))
	return r
}

// Intervals are the spans of the load phase that belong to a phase.
func (p Phases) Intervals(phase string) []history.Interval {
	switch phase {
	case spec.DuringAlways:
		return []history.Interval{{From: 0, To: p.End}}
	case spec.DuringFaults:
		return p.Faults
	case spec.DuringSteady:
		var out []history.Interval
		from := time.Duration(0)
		for _, f := range p.Faults {
			if f.From > from {
				out = append(out, history.Interval{From: from, To: f.From})
			}
			from = max(from, f.To)
		}
		if from < p.End {
			out = append(out, history.Interval{From: from, To: p.End})
		}
		return out
	case spec.DuringMajorityUp:
		return p.Majority
	}
	return nil
}

// LongestIdle is the longest span inside the intervals during which none of the given
// completion times fell, and where it starts. ends must be sorted.
func LongestIdle(ivs []history.Interval, ends []time.Duration) (longest, at time.Duration) {
	for _, iv := range ivs {
		cursor := iv.From
		i, _ := slices.BinarySearch(ends, iv.From)
		for ; i < len(ends) && ends[i] <= iv.To; i++ {
			if g := ends[i] - cursor; g > longest {
				longest, at = g, cursor
			}
			cursor = ends[i]
		}
		if g := iv.To - cursor; g > longest {
			longest, at = g, cursor
		}
	}
	return longest, at
}

// SuccessEnds are the sorted completion times of a workload's successful operations.
func SuccessEnds(ops []history.Op, workload string) []time.Duration {
	var ends []time.Duration
	for _, o := range workloadOps(ops, workload) {
		if o.OK() {
			ends = append(ends, o.End)
		}
	}
	slices.Sort(ends)
	return ends
}

// Idle: a throughput floor. Within the phase (each interval's first grace left out), the
// workload never goes longer than max without completing an operation successfully: an
// application that stalls fails it even when none of its calls fails.
func Idle(in Input, l spec.IdleBudget) Result {
	r := Result{Name: fmt.Sprintf("idle %s during %s", l.Workload, l.During), Pass: true}
	ph := PhasesOf(in.Events, in.LoadEnd)
	var ivs []history.Interval
	var span time.Duration
	for _, iv := range ph.Intervals(l.During) {
		iv.From += l.Grace
		if iv.From < iv.To {
			ivs = append(ivs, iv)
			span += iv.To - iv.From
		}
	}
	if len(ivs) == 0 {
		r.Summary = "the phase never happened"
		return r
	}
	longest, at := LongestIdle(ivs, SuccessEnds(in.Ops, l.Workload))
	if longest > l.Max {
		r.Pass = false
		r.add("no operation completed from %s to %s", ms(at), ms(at+longest))
	}
	r.Summary = fmt.Sprintf("longest window without a completed operation %s of %s in the phase (max %s)", ms(longest), ms(span), l.Max)
	return r
}

// KeyStore: a custom key store reaches the expected state (and connection error code) within
// the bound after a fault, or is in it at the end.
func KeyStore(in Input, k spec.KeyStoreExpect) Result {
	want := k.State
	if k.Code != "" {
		want += "/" + k.Code
	}
	r := Result{Name: fmt.Sprintf("key store %s %s", k.Store, want)}
	if k.After == "" {
		got := in.Final.KeyStores[k.Store]
		r.Pass = got == want
		r.Summary = fmt.Sprintf("at the end: %s (want %s)", orDash(got), want)
		return r
	}
	var t0 time.Duration = -1
	for _, e := range in.Events {
		if (e.Kind == history.EvFault || e.Kind == history.EvAction) && e.Fields["fault"] == k.After {
			t0 = e.At
			break
		}
	}
	if t0 < 0 {
		r.Summary = fmt.Sprintf("%s never happened", k.After)
		return r
	}
	var seen []string
	for _, e := range in.Events {
		if e.Kind != history.EvKeyStore || e.Name != k.Store || e.At < t0 {
			continue
		}
		if e.At > t0+k.Within {
			break
		}
		seen = append(seen, e.Detail)
		if e.Detail == want {
			r.Pass = true
			r.Summary = fmt.Sprintf("%s %s after %s", want, ms(e.At-t0), k.After)
			return r
		}
	}
	r.Summary = fmt.Sprintf("not %s within %s after %s; saw %s", want, k.Within, k.After, strings.Join(seen, " → "))
	return r
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
