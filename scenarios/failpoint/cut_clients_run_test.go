package failpoint_test

import (
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/history"
)

// TestCutClientsOnACluster cuts the leader of a real in-process cluster off from its clients for
// six seconds under load. The cut holds bytes rather than resetting connections, so a call in
// flight to the leader waits out its attempt (the Raft apply timeout plus a second) before the
// client fails over; from then on operations complete on the other HSMs, writes included, and
// none completes on the cut HSM until the heal. The cluster itself stays whole: every voter
// still reaches a majority.
func TestCutClientsOnACluster(t *testing.T) {
	res := runScenario(t, "cut-clients.yaml", `name: cut-clients
models: the leader's client port blocked while the cluster's own traffic flows
duration: 10s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}}
setup:
  - user: {name: app, password: appPassword1}
  - key: {name: signer, owner: app, type: ec-p256}
workloads:
  - {name: sign, face: hsm, op: sign, keys: [signer], rate: 40/s, concurrency: 2}
  - {name: keys, face: hsm, op: generate-key, rate: 20/s, concurrency: 2}
faults:
  - {name: cut, at: 1500ms, do: cut-clients, node: leader, for: 6s}
`)
	var cut string
	var from, to time.Duration
	for _, e := range res.Events {
		switch {
		case e.Kind == history.EvFault && e.Name == "cut":
			cut, from = e.Fields["nodes"], e.At
		case e.Kind == history.EvUndo && e.Name == "cut":
			to = e.At
		case e.Kind == history.EvAvail && e.Fields["up"] != "3":
			t.Errorf("at %s only %s of 3 voters reach each other: the cut reached the cluster's own traffic", e.At, e.Fields["up"])
		}
	}
	if cut == "" || to == 0 {
		t.Fatalf("the fault was not injected and undone: %+v", res.Events)
	}
	// The undo is stamped once the cut is healed: calls it held may finish just before the stamp.
	healed := to - 50*time.Millisecond
	served, writes := 0, 0
	for _, o := range res.Ops {
		if o.Start < from || o.End >= healed || !o.OK() {
			continue
		}
		if o.Node == cut {
			t.Errorf("op %d (%s) completed on %s while it was cut from its clients", o.ID, o.Kind, cut)
		}
		served++
		if o.Write {
			writes++
		}
	}
	if served < 10 || writes == 0 {
		t.Errorf("%d operations (%d writes) completed while %s was cut: the clients did not fail over", served, writes, cut)
	}
	t.Logf("%s cut from its clients for %s: %d operations (%d writes) completed on the other HSMs", cut, (to - from).Round(time.Millisecond), served, writes)
}
