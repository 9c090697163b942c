package scenarios

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/scenarios/validate"

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

// slowLogin is a target whose workload logins take a while, as a PIN check does on a loaded
// machine or a first TLS handshake to each HSM process.
type slowLogin struct {
	Target
	delay time.Duration
}

func (s slowLogin) Client(name string, observe func(client.Attempt)) (*client.Client, error) {
	if strings.HasPrefix(name, "login-") {
		time.Sleep(s.delay)
	}
	return s.Target.Client(name, observe)
}

const promptSign = `name: prompt-sign
models: a signing load that never stalls, however long its login took
duration: 2s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}}
setup:
  - user: {name: app, password: appPassword1}
  - key: {name: signer, owner: app, type: ec-p256}
workloads:
  - {name: sign, face: hsm, op: sign, keys: [signer], rate: 50/s, concurrency: 2}
expect:
  idle:
    - {workload: sign, during: always, max: 500ms}
`

// TestLoginIsSetupNotAStall: a workload's login is made before the load's clock starts, so an
// 800 ms login is a setup line, not an 800 ms window without a completed operation at the start
// of the load (process mode in CI failed this way: "no operation completed from 0s to 812ms").
func TestLoginIsSetupNotAStall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	s, err := spec.Parse("prompt-sign.yaml", []byte(promptSign))
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Scenario: s.Name, Spec: s}
	env := slowLogin{Target: newTarget(s, Options{}, raftTimeouts(s.Cluster)), delay: 800 * time.Millisecond}
	if err := runOn(context.Background(), s, Options{Logger: slog.New(slog.DiscardHandler)}, env, res); err != nil {
		t.Fatal(err)
	}
	var idle *validate.Result
	for i, c := range res.Checks {
		if strings.HasPrefix(c.Name, "idle sign") {
			idle = &res.Checks[i]
		}
	}
	if idle == nil {
		t.Fatalf("no idle check among %+v", res.Checks)
	}
	if !idle.Pass {
		t.Errorf("the login counted as a stall: %s %v", idle.Summary, idle.Details)
	}
	if !slices.ContainsFunc(res.Setup, func(l string) bool { return strings.Contains(l, "workloads logged in") }) {
		t.Errorf("no setup line for the workloads' logins: %q", res.Setup)
	}
}
