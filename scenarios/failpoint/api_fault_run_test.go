package failpoint_test

import (
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/history"
)

// TestAPIFaultsInAScenario runs api-fault steps on a cluster with the KMS under load: KMS
// throttles Encrypt for one key of two for a while, then the custom key store is left FAILED
// as when its cluster is lost, and connects again when the step ends. Throttling meets only
// the throttled key's workload and only while the rule is in force; the store's state follows
// the fault.
func TestAPIFaultsInAScenario(t *testing.T) {
	res := runScenario(t, "api-faults.yaml", `name: api-faults
models: KMS throttles one key, then loses the key store's cluster
duration: 9s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1}}
setup:
  - kmsuser: {password: kmsPassword1}
  - keystore: {name: store}
  - kms-key: {name: hot, store: store}
  - kms-key: {name: cold}
workloads:
  - {name: hot, face: kms, op: encrypt, keys: [hot], rate: 40/s, concurrency: 2}
  - {name: cold, face: kms, op: encrypt, keys: [cold], rate: 40/s, concurrency: 2}
faults:
  - {name: throttle, at: 1s, for: 2s, do: api-fault, api: {error: ThrottlingException, operations: [Encrypt], keys: [hot]}}
  - {name: lost, at: 4s, for: 2s, do: api-fault, api: {action: fail-keystore, store: store, code: CLUSTER_NOT_FOUND}}
expect:
  client-errors:
    - {workload: hot, allowed: [ThrottlingException, KMSInvalidStateException], must-see: [ThrottlingException, KMSInvalidStateException]}
    - {workload: cold, allowed: []}
  keystore:
    - {store: store, state: FAILED, code: CLUSTER_NOT_FOUND, after: lost, within: 1s}
    - {store: store, state: CONNECTED}
`)
	var from, to time.Duration
	for _, e := range res.Events {
		switch {
		case e.Kind == history.EvFault && e.Name == "throttle":
			from = e.At
		case e.Kind == history.EvUndo && e.Name == "throttle":
			to = e.At
		}
	}
	if from == 0 || to == 0 {
		t.Fatalf("the throttle was not injected and undone: %+v", res.Events)
	}
	throttled := 0
	for _, o := range res.Ops {
		if o.Code != "ThrottlingException" {
			continue
		}
		throttled++
		if o.Workload != "hot" || o.Start < from-50*time.Millisecond || o.End > to+50*time.Millisecond {
			t.Errorf("op %d of %s throttled at %s..%s, outside the rule (%s..%s)", o.ID, o.Workload, o.Start, o.End, from, to)
		}
	}
	if throttled < 20 {
		t.Errorf("%d operations throttled in 2 s at 40/s", throttled)
	}
}
