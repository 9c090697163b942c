package failpoint

import (
	"reflect"
	"testing"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

func TestPlanIsFixedBySeed(t *testing.T) {
	s, err := spec.Parse("p.yaml", []byte(`name: p
models: a test
duration: 20s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}}
setup: [{user: {name: app, password: appPassword1}}]
workloads: [{face: hsm, op: key-lifecycle}]
faults:
  - {at: 1s..5s, do: kill, node: random, for: 500ms..1500ms}
  - {at: 2s, do: isolate-az, az: us-east-1b, for: 200ms..400ms, repeat: {times: 5, every: 1s..2s}}
  - {when: leader-change, delay: 0s..1s, do: pause, node: follower, for: 1s}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := Plan(s), Plan(s)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two plans of one seed differ")
	}
	if len(a) != 7 {
		t.Fatalf("%d injections, want 7", len(a))
	}
	s.Seed++
	if reflect.DeepEqual(a, Plan(s)) {
		t.Fatal("another seed gave the same plan")
	}
}
