package scenarios

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/model"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/validate"
)

func check(rs []validate.Result, name string) (validate.Result, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return validate.Result{}, false
}

// TestLinearizabilityEndToEnd runs linearizable-leader-kills (the CI profile) and proves the
// porcupine check ran on a real history and can fail on it: the recorded history has every kind
// of key operation (creates, uses, not-found answers, destroys, writes whose answer the kills
// lost) and linearizes; the same history, doctored the ways a broken cluster would answer
// (a destroyed key still usable, an acknowledged key missing, a key destroyed twice), does not;
// and an acknowledged key missing from one HSM fails no-lost-keys.
func TestLinearizabilityEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	s, err := spec.Load(filepath.Join(libraryDir, "linearizable-leader-kills.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), s, Options{Short: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass {
		t.Fatalf("the run failed: %+v", res.Checks)
	}
	for _, name := range []string{"linearizable", "no-lost-keys", "converged"} {
		r, ok := check(res.Checks, name)
		if !ok || !r.Pass {
			t.Fatalf("%s: ran %v, %+v", name, ok, r)
		}
		t.Logf("%s: %s", name, r.Summary)
	}
	kinds := map[string]int{}
	var keyOps int
	for _, o := range res.Ops {
		if o.Key == "" {
			continue
		}
		keyOps++
		res, keep := model.Result(o)
		if keep {
			kinds[o.Kind+"/"+res]++
		}
	}
	t.Logf("%d key operations: %v", keyOps, kinds)
	if keyOps < 300 {
		t.Fatalf("only %d key operations: too few to say anything", keyOps)
	}
	for _, k := range []string{"create/ok", "use/ok", "use/not-found", "destroy/ok"} {
		if kinds[k] == 0 {
			t.Errorf("the history has no %s operation", k)
		}
	}
	if kinds["create/unknown"]+kinds["destroy/unknown"] == 0 {
		t.Log("no write lost its answer in this run: the unknown outcomes were not exercised")
	}
	if kills := countFaults(res.Events, "kill-leader"); kills != 4 {
		t.Errorf("%d leader kills injected, want 4", kills)
	}

	in := validate.Input{Scenario: res.Spec, Ops: res.Ops, Events: res.Events, LoadEnd: res.Load, Final: res.Final}
	for _, r := range validate.Check(in) {
		if !r.Pass {
			t.Fatalf("the recorded history does not pass when checked again: %s: %s %v", r.Name, r.Summary, r.Details)
		}
	}

	// Find an acknowledged destroy, and an acknowledged create whose key nothing destroyed (or
	// may have).
	var destroyed, kept history.Op
	touched := map[string]bool{}
	for _, o := range res.Ops {
		if o.Kind == model.Destroy {
			touched[o.Key] = true
			if o.OK() && destroyed.Key == "" {
				destroyed = o
			}
		}
	}
	for _, o := range res.Ops {
		if o.Kind == model.Create && o.OK() && !touched[o.Key] {
			kept = o
		}
	}
	if destroyed.Key == "" || kept.Key == "" {
		t.Fatal("no acknowledged destroy, or no key that stayed")
	}
	after := func(o history.Op, kind, code string) history.Op {
		return history.Op{ID: len(res.Ops), Workload: o.Workload, Face: o.Face, Kind: kind, Key: o.Key, Worker: 99,
			Start: o.End + time.Millisecond, End: o.End + 2*time.Millisecond, Code: code, Value: o.Value, Write: kind != model.Use,
			Answer: code != ""}
	}
	doctored := map[string]history.Op{
		"a destroyed key used":                  after(destroyed, model.Use, ""),
		"an acknowledged key not found":         after(kept, model.Use, "CKR_KEY_HANDLE_INVALID"),
		"a destroyed key destroyed again":       after(destroyed, model.Destroy, ""),
		"an acknowledged key's destroy refused": after(kept, model.Destroy, "CKR_OBJECT_HANDLE_INVALID"),
	}
	for what, bad := range doctored {
		d := in
		d.Ops = append(append([]history.Op(nil), res.Ops...), bad)
		r, _ := check(validate.Check(d), "linearizable")
		if r.Pass || !strings.Contains(strings.Join(r.Details, "\n"), "key "+bad.Key+":") {
			t.Errorf("%s (key %s) not caught: %+v", what, bad.Key, r)
			continue
		}
		t.Logf("%s: caught: %s", what, r.Summary)
	}

	// An acknowledged key missing on one HSM.
	d := in
	d.Final.Present = map[string]map[uint32]bool{}
	for label, p := range in.Final.Present {
		d.Final.Present[label] = map[uint32]bool{}
		for h := range p {
			d.Final.Present[label][h] = true
		}
	}
	var victim string
	for _, n := range in.Final.Nodes {
		if n.Up {
			victim = n.Label
		}
	}
	for h := range d.Final.Present[victim] {
		delete(d.Final.Present[victim], h)
		break
	}
	if r, _ := check(validate.Check(d), "no-lost-keys"); r.Pass {
		t.Errorf("a key missing on %s not caught: %+v", victim, r)
	}
}

func countFaults(events []history.Event, fault string) int {
	n := 0
	for _, e := range events {
		if e.Kind == history.EvFault && e.Fields["fault"] == fault {
			n++
		}
	}
	return n
}
