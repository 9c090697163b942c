package validate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// These tests prove the checkers can fail: each is fed a doctored history that breaks what it
// checks, and must say so.

func op(id int, kind, key string, start, end time.Duration, code, value string) history.Op {
	return history.Op{ID: id, Workload: "keys", Face: spec.FaceHSM, Kind: kind, Key: key, Start: start, End: end, Code: code, Value: value, Write: kind != "use"}
}

const ms1 = time.Millisecond

func TestNoLostKeysCatchesALostAcknowledgedKey(t *testing.T) {
	ops := []history.Op{
		op(0, "create", "k1", 0, 10*ms1, "", "7"),
		op(1, "create", "k2", 5*ms1, 15*ms1, "", "8"),
		op(2, "destroy", "k2", 20*ms1, 30*ms1, "", "8"),
	}
	in := Input{Ops: ops, Final: Final{
		Nodes:   []NodeFinal{{Label: "n1", Up: true}, {Label: "n2", Up: true}},
		Present: map[string]map[uint32]bool{"n1": {7: true}, "n2": {}}, // n2 lost key 7
	}}
	r := NoLostKeys(in)
	if r.Pass || len(r.Details) != 1 || !strings.Contains(r.Details[0], "handle 7") || !strings.Contains(r.Details[0], "n2") {
		t.Fatalf("lost key not reported: %+v", r)
	}
	in.Final.Present["n2"][7] = true
	if r := NoLostKeys(in); !r.Pass {
		t.Fatalf("false alarm: %+v", r)
	}
	in.Final.CiphertextsLost = []string{"k1 ciphertext acknowledged at 1s: InvalidCiphertextException"}
	if r := NoLostKeys(in); r.Pass {
		t.Fatal("a ciphertext that no longer decrypts is not reported")
	}
}

func TestLinearizableCatchesAStaleRead(t *testing.T) {
	// k1 is destroyed (acknowledged at 20 ms); a use that starts after that succeeds: stale.
	bad := []history.Op{
		op(0, "create", "k1", 0, 10*ms1, "", "7"),
		op(1, "destroy", "k1", 12*ms1, 20*ms1, "", "7"),
		op(2, "use", "k1", 25*ms1, 30*ms1, "", "7"),
	}
	if r := Linearizable(Input{Ops: bad}); r.Pass || len(r.Details) == 0 {
		t.Fatalf("stale read after destroy not caught: %+v", r)
	}
	// A use after an acknowledged create that says the key does not exist: a lost write.
	lost := []history.Op{
		op(0, "create", "k1", 0, 10*ms1, "", "7"),
		op(1, "use", "k1", 15*ms1, 20*ms1, "CKR_KEY_HANDLE_INVALID", "7"),
	}
	if r := Linearizable(Input{Ops: lost}); r.Pass {
		t.Fatalf("use missing an acknowledged key not caught: %+v", r)
	}
	// Concurrent use and destroy may go either way; a destroy whose answer was lost may or may
	// not have happened.
	ok := []history.Op{
		op(0, "create", "k1", 0, 10*ms1, "", "7"),
		op(1, "destroy", "k1", 12*ms1, 20*ms1, "", "7"),
		op(2, "use", "k1", 15*ms1, 18*ms1, "", "7"),
		op(3, "create", "k2", 0, 10*ms1, "", "9"),
		{ID: 4, Workload: "keys", Face: spec.FaceHSM, Kind: "destroy", Key: "k2", Start: 12 * ms1, End: 40 * ms1, Code: "CKR_DEVICE_ERROR", Unknown: true, Write: true},
		op(5, "use", "k2", 50*ms1, 60*ms1, "", "9"),
	}
	if r := Linearizable(Input{Ops: ok}); !r.Pass {
		t.Fatalf("a linearizable history was refused: %+v", r)
	}
}

func TestConvergedCatchesDivergentDigests(t *testing.T) {
	in := Input{Final: Final{Nodes: []NodeFinal{
		{Label: "n1", Up: true, Applied: 40, Digest: "aaaa"},
		{Label: "n2", Up: true, Applied: 40, Digest: "aaaa"},
		{Label: "n3", Up: true, Applied: 40, Digest: "bbbb"},
	}}}
	if r := Converged(in); r.Pass || len(r.Details) != 3 {
		t.Fatalf("divergence not caught: %+v", r)
	}
	in.Final.Nodes[2].Digest = "aaaa"
	if r := Converged(in); !r.Pass {
		t.Fatalf("false alarm: %+v", r)
	}
}

func TestErrorBudgetsAndPhases(t *testing.T) {
	events := []history.Event{
		{At: 1 * time.Second, Kind: history.EvFault, Name: "kill"},
		{At: 1 * time.Second, Kind: history.EvAvail, Fields: map[string]string{"majority": "true"}},
		{At: 2 * time.Second, Kind: history.EvFault, Name: "kill2"},
		{At: 2 * time.Second, Kind: history.EvAvail, Fields: map[string]string{"majority": "false"}},
		{At: 3 * time.Second, Kind: history.EvUndo, Name: "kill"},
		{At: 3 * time.Second, Kind: history.EvUndo, Name: "kill2"},
		{At: 3 * time.Second, Kind: history.EvAvail, Fields: map[string]string{"majority": "true"}},
	}
	ops := []history.Op{
		{Workload: "enc", Start: 500 * ms1, End: 501 * ms1},
		{Workload: "enc", Start: 1500 * ms1, End: 1501 * ms1, Code: "KMSInvalidStateException"}, // majority up: counts
		{Workload: "enc", Start: 2500 * ms1, End: 2501 * ms1, Code: "KMSInvalidStateException"}, // majority down
		{Workload: "enc", Start: 3500 * ms1, End: 3501 * ms1},
	}
	in := Input{Ops: ops, Events: events, LoadEnd: 4 * time.Second}
	if r := ErrorBudget(in, spec.ErrorBudget{Workload: "enc", During: spec.DuringMajorityUp, Max: 0, MaxRate: -1}); r.Pass || !strings.HasPrefix(r.Summary, "1 of 3") {
		t.Fatalf("majority-up budget: %+v", r)
	}
	if r := ErrorBudget(in, spec.ErrorBudget{Workload: "enc", During: spec.DuringSteady, Max: 0, MaxRate: -1}); !r.Pass || !strings.HasPrefix(r.Summary, "0 of 2") {
		t.Fatalf("steady budget: %+v", r)
	}
	if r := ErrorBudget(in, spec.ErrorBudget{Workload: "enc", During: spec.DuringMajorityUp, Max: 0, MaxRate: -1, Grace: time.Second}); !r.Pass {
		t.Fatalf("grace should exclude the op 500 ms after the fault: %+v", r)
	}
	if r := ClientErrors(in, spec.ErrorCodes{Workload: "enc", Allowed: []string{"KMSInternalException"}}); r.Pass {
		t.Fatal("an error code outside the allowed set passed")
	}
	if r := ClientErrors(in, spec.ErrorCodes{Workload: "enc", Allowed: []string{"KMSInvalidStateException"}, MustSee: []string{"DependencyTimeoutException"}}); r.Pass {
		t.Fatal("a must-see code never seen passed")
	}
}

func TestFailoverAndKeyStoreChecksFail(t *testing.T) {
	events := []history.Event{
		{At: 0, Kind: history.EvLeader, Detail: "n1"},
		{At: time.Second, Kind: history.EvFault, Name: "kill-leader", Fields: map[string]string{"nodes": "n1", "leader": "n1"}},
		{At: time.Second, Kind: history.EvAvail, Fields: map[string]string{"majority": "true"}},
		{At: 5 * time.Second, Kind: history.EvLeader, Detail: "n2"},
		{At: 6 * time.Second, Kind: history.EvAction, Name: "reconnect", Fields: map[string]string{"fault": "reconnect", "pass": "false", "expect": "ok", "got": "CustomKeyStoreInvalidStateException"}},
		{At: 6100 * ms1, Kind: history.EvKeyStore, Name: "store", Detail: "FAILED/INVALID_CREDENTIALS"},
	}
	in := Input{Events: events, LoadEnd: 10 * time.Second, Final: Final{KeyStores: map[string]string{"store": "FAILED/INVALID_CREDENTIALS"}}}
	if r := Failover(in, 3*time.Second); r.Pass {
		t.Fatalf("a 4 s failover passed a 3 s bound: %+v", r)
	}
	if r := Failover(in, 5*time.Second); !r.Pass {
		t.Fatalf("failover: %+v", r)
	}
	if r := KeyStore(in, spec.KeyStoreExpect{Store: "store", State: "FAILED", Code: "USER_LOCKED_OUT", After: "reconnect", Within: time.Second}); r.Pass {
		t.Fatalf("wrong connection error code passed: %+v", r)
	}
	if r := KeyStore(in, spec.KeyStoreExpect{Store: "store", State: "FAILED", Code: "INVALID_CREDENTIALS", After: "reconnect", Within: time.Second}); !r.Pass {
		t.Fatalf("key store: %+v", r)
	}
	if r := KeyStore(in, spec.KeyStoreExpect{Store: "store", State: "CONNECTED"}); r.Pass {
		t.Fatal("end state FAILED passed as CONNECTED")
	}
	if r := Actions(in); r.Pass {
		t.Fatal("an action with an unexpected result passed")
	}
	in.Events = append(in.Events, history.Event{At: 7 * time.Second, Kind: history.EvSkipped, Name: "kill-new-leader", Detail: "trigger never happened"})
	if r := Schedule(in); r.Pass {
		t.Fatal("a fault that never fired passed")
	}
}

// A workload that stalls without failing fails the throughput floor and the latency budget, in
// the phase where it stalled only.
func TestIdleAndLatencyCatchAStall(t *testing.T) {
	events := []history.Event{
		{At: 1 * time.Second, Kind: history.EvFault, Name: "cut"},
		{At: 1 * time.Second, Kind: history.EvAvail, Fields: map[string]string{"majority": "true"}},
		{At: 3 * time.Second, Kind: history.EvUndo, Name: "cut"},
	}
	var ops []history.Op
	for t0 := time.Duration(0); t0 < 4*time.Second; t0 += 50 * ms1 {
		end := t0 + 2*ms1
		if t0 >= 1200*ms1 && t0 < 2*time.Second {
			end = 2 * time.Second // every call of the stall waits for the same timeout
		}
		ops = append(ops, history.Op{Workload: "sign", Start: t0, End: end})
	}
	in := Input{Ops: ops, Events: events, LoadEnd: 4 * time.Second}
	r := Idle(in, spec.IdleBudget{Workload: "sign", During: spec.DuringMajorityUp, Max: 500 * ms1})
	if r.Pass || len(r.Details) != 1 || !strings.Contains(r.Details[0], "from 1.152s to 2s") {
		t.Fatalf("a stall of 800 ms passed a 500 ms floor: %+v", r)
	}
	if r := Idle(in, spec.IdleBudget{Workload: "sign", During: spec.DuringSteady, Max: 500 * ms1}); !r.Pass {
		t.Fatalf("no stall outside the fault: %+v", r)
	}
	if r := Idle(in, spec.IdleBudget{Workload: "sign", During: spec.DuringFaults, Max: time.Second}); !r.Pass {
		t.Fatalf("an 848 ms stall failed a 1 s floor: %+v", r)
	}
	// Failed operations are no throughput.
	failed := slices.Clone(ops)
	for i := range failed {
		if failed[i].Start >= 1200*ms1 && failed[i].Start < 2*time.Second {
			failed[i].End, failed[i].Code = failed[i].Start+time.Millisecond, "CKR_DEVICE_ERROR"
		}
	}
	if r := Idle(Input{Ops: failed, Events: events, LoadEnd: 4 * time.Second}, spec.IdleBudget{Workload: "sign", During: spec.DuringFaults, Max: 500 * ms1}); r.Pass {
		t.Fatalf("fast failures counted as throughput: %+v", r)
	}
	// The tail of the phase counts: a workload that stops for good fails too.
	if r := Idle(Input{Ops: ops[:10], Events: events, LoadEnd: 4 * time.Second}, spec.IdleBudget{Workload: "sign", During: spec.DuringAlways, Max: time.Second}); r.Pass {
		t.Fatalf("a workload that stopped passed: %+v", r)
	}
	if r := Latency(in, spec.LatencyBudget{Workload: "sign", During: spec.DuringFaults, P99: 150 * ms1}); r.Pass {
		t.Fatalf("the stalled calls passed a 150 ms p99: %+v", r)
	}
	if r := Latency(in, spec.LatencyBudget{Workload: "sign", During: spec.DuringSteady, P99: 150 * ms1, Max: time.Second}); !r.Pass {
		t.Fatalf("steady latency: %+v", r)
	}
}

func TestThrottledCatchesAnAppOverTheQuota(t *testing.T) {
	ops := []history.Op{
		{Workload: "app", End: 1 * ms1},
		{Workload: "app", End: 2 * ms1, Code: "ThrottlingException"},
		{Workload: "app", End: 3 * ms1, Code: "KMSInvalidStateException"}, // a failure, not throttling
		{Workload: "app", End: 4 * ms1},
		{Workload: "batch", End: 5 * ms1, Code: "ThrottlingException"},
	}
	in := Input{Ops: ops, LoadEnd: time.Second}
	if r := Throttled(in, spec.ThrottleBudget{Workload: "app", Max: 0, MaxShare: -1}); r.Pass || r.Summary != "1 of 4 operations throttled (25.00%)" {
		t.Fatalf("no throttling allowed: %+v", r)
	}
	if r := Throttled(in, spec.ThrottleBudget{Workload: "app", Max: -1, MaxShare: 0.25}); !r.Pass {
		t.Fatalf("a quarter allowed: %+v", r)
	}
	if r := Throttled(in, spec.ThrottleBudget{Max: 1, MaxShare: -1}); r.Pass {
		t.Fatalf("two throttled over all workloads, one allowed: %+v", r)
	}
}
