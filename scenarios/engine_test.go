package scenarios

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/scenarios/failpoint"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

const seeded = `name: seeded
models: the same seed gives the same faults
duration: 4s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}}
setup: [{user: {name: app, password: appPassword1}}]
workloads: [{face: hsm, op: key-lifecycle, rate: 20/s, concurrency: 2}]
faults:
  - {name: pause-one, at: 500ms..1500ms, do: pause, node: random, for: 300ms..900ms}
  - {name: cut-az, at: 1800ms..2200ms, do: isolate-az, az: us-east-1b, for: 200ms..500ms, repeat: {times: 2, every: 700ms..900ms}}
  - {name: kill-one, at: 2500ms..3000ms, do: kill, node: az:us-east-1c, for: 400ms}
`

// recorded is the schedule a run recorded: each injection and undo, what it did and to which
// nodes, in order (times vary with the machine; the choices must not).
func recorded(events []history.Event) []string {
	var out []string
	for _, e := range events {
		switch e.Kind {
		case history.EvFault, history.EvAction, history.EvSkipped:
			out = append(out, strings.Join([]string{e.Kind, e.Name, e.Fields["do"], e.Fields["nodes"]}, " "))
		}
	}
	return out
}

// TestSameSeedSameSchedule runs one scenario twice with one seed: the planned and the recorded
// schedules (times drawn, nodes chosen) are the same, and another seed plans differently.
func TestSameSeedSameSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster twice")
	}
	s, err := spec.Parse("seeded.yaml", []byte(seeded))
	if err != nil {
		t.Fatal(err)
	}
	var runs []*Result
	for i := 0; i < 2; i++ {
		res, err := Run(context.Background(), s, Options{Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Pass {
			t.Errorf("run %d failed: %+v", i+1, res.Checks)
		}
		runs = append(runs, res)
	}
	if !reflect.DeepEqual(runs[0].Schedule, runs[1].Schedule) {
		t.Fatalf("planned schedules differ:\n%v\n%v", runs[0].Schedule, runs[1].Schedule)
	}
	a, b := recorded(runs[0].Events), recorded(runs[1].Events)
	if len(a) != 4 || !reflect.DeepEqual(a, b) {
		t.Fatalf("recorded schedules differ:\n%q\n%q", a, b)
	}
	t.Logf("schedule: %q", a)
	other := *s
	other.Seed = 43
	if reflect.DeepEqual(failpoint.Plan(&other), runs[0].Schedule) {
		t.Fatal("seed 43 planned the same schedule as seed 42")
	}
}
