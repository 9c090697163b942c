package spec_test

import (
	"strings"
	"testing"

	_ "github.com/hsmsim/hsmsim/scenarios/failpoint" // the fault kinds the file format checks
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

const good = `name: t
models: a test
duration: 10s
cluster:
  hsms: {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}
setup:
  - user: {name: app, password: appPassword1}
workloads:
  - {name: w, face: hsm, op: key-lifecycle}
faults:
  - {name: k, at: 1s..2s, do: kill, node: follower, for: 1s}
`

func TestParseGood(t *testing.T) {
	s, err := spec.Parse("good.yaml", []byte(good+"expect:\n  idle:\n    - {workload: w, during: majority-up, max: 500ms, grace: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (spec.IdleBudget{Pos: s.Expect.Idle[0].Pos, Workload: "w", During: spec.DuringMajorityUp, Max: 500e6, Grace: 1e9}); s.Expect.Idle[0] != want {
		t.Fatalf("idle budget %+v, want %+v", s.Expect.Idle[0], want)
	}
	if s.Cluster.Nodes() != 3 || s.Faults[0].At != (spec.Range{1e9, 2e9}) || s.Workloads[0].User != "app" || !s.Expect.Linearizable {
		t.Fatalf("%+v", s)
	}
}

// Errors name the file, the line and column, and the field.
func TestParseErrorsNameFileLineField(t *testing.T) {
	cases := []struct{ src, want string }{
		{strings.Replace(good, "duration: 10s", "duration: ten", 1), "bad.yaml:3:11: duration: expected a duration"},
		{strings.Replace(good, "op: key-lifecycle", "op: key-lifecycle, rat: 5/s", 1), "bad.yaml:9:45: workloads[0].rat: unknown field"},
		{strings.Replace(good, "node: follower", "node: boss", 1), "bad.yaml:11:5: faults[0].node: \"boss\" is not a node selector"},
		{strings.Replace(good, "do: kill", "do: explode", 1), "bad.yaml:11:5: faults[0].do: \"explode\""},
		{strings.Replace(good, "op: key-lifecycle", "op: key-lifecycle, user: bob", 1), "bad.yaml:9:5: workloads[0].user: \"bob\" is not a user"},
		{strings.Replace(good, "{us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}", "[a, b]", 1), "bad.yaml:5:9: cluster.hsms: expected a mapping"},
		{strings.Replace(good, "us-east-1c: 1", "eu-west-1c: 1", 1), "cluster.hsms.eu-west-1c: not in region us-east-1"},
		{strings.Replace(good, "us-east-1c: 1", "zone-z: 1", 1), "cluster.hsms.zone-z: an AZ is a region and a letter"},
		{good + "  - {name: u, at: 2s, do: update-keystore, store: s, cluster: k}\n", "faults[1].cluster: \"k\": update-keystore's cluster names a restore-backup fault"},
		{good + "expect:\n  errors:\n    - {workload: nope, max: 0}\n", "bad.yaml:14:7: expect.errors[0].workload: \"nope\" is not a workload"},
		{good + "expect:\n  idle:\n    - {workload: w, during: majority-up}\n", "bad.yaml:14:7: expect.idle[0].max: an idle budget needs max"},
		{good + "expect:\n  idle:\n    - {workload: w, during: lunch, max: 500ms}\n", "expect.idle[0].during: \"lunch\""},
	}
	for _, c := range cases {
		_, err := spec.Parse("bad.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}

func TestParseTheCapacityProfileAndAThrottlingBudget(t *testing.T) {
	src := strings.Replace(good, "duration: 10s\n", "duration: 10s\ncapacity: cloudhsm\n", 1)
	src = strings.Replace(src, "hsms: {", "hsm-type: hsm1.medium\n  hsms: {", 1)
	s, err := spec.Parse("good.yaml", []byte(src+"expect:\n  throttled:\n    - {workload: w, max-share: 0.01}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Capacity != "cloudhsm" || s.Cluster.HsmType != "hsm1.medium" {
		t.Fatalf("capacity %q, HSM type %q", s.Capacity, s.Cluster.HsmType)
	}
	if b := s.Expect.Throttled[0]; b.Workload != "w" || b.Max != -1 || b.MaxShare != 0.01 {
		t.Fatalf("throttling budget %+v", b)
	}
	for _, c := range []struct{ src, want string }{
		{strings.Replace(src, "capacity: cloudhsm", "capacity: fast", 1), "capacity: capacity profile \"fast\""},
		{strings.Replace(src, "hsm1.medium", "hsm9.huge", 1), "cluster.hsm-type: \"hsm9.huge\""},
		{src + "expect:\n  throttled:\n    - {workload: w}\n", "a throttling budget needs max or max-share"},
		{src + "expect:\n  throttled:\n    - {workload: nope, max: 0}\n", "expect.throttled[0].workload: \"nope\" is not a workload"},
	} {
		if _, err := spec.Parse("bad.yaml", []byte(c.src)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}
