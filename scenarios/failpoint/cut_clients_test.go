package failpoint

import (
	"context"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// fakeTarget is three HSMs in three AZs, n2 leading, and three clients, over a real netsim
// network: enough to see which rules a fault puts in force.
type fakeTarget struct{ net *netsim.Network }

func (f *fakeTarget) Nodes() []target.NodeInfo {
	return []target.NodeInfo{
		{Label: "n1", ID: "hsm-1", AZ: "us-east-1a", Up: true, State: "ACTIVE"},
		{Label: "n2", ID: "hsm-2", AZ: "us-east-1b", Up: true, State: "ACTIVE", Leader: true},
		{Label: "n3", ID: "hsm-3", AZ: "us-east-1c", Up: true, State: "ACTIVE"},
	}
}
func (f *fakeTarget) Leader() string         { return "n2" }
func (f *fakeTarget) ID(label string) string { return "hsm-" + strings.TrimPrefix(label, "n") }
func (f *fakeTarget) Endpoints() []string {
	return []string{"hsm-1", "hsm-2", "hsm-3", "kms", "sign-0", netsim.External.Name}
}
func (f *fakeTarget) Net() *netsim.Network                                        { return f.net }
func (f *fakeTarget) Kill(string) error                                           { return nil }
func (f *fakeTarget) Restart(context.Context, string) error                       { return nil }
func (f *fakeTarget) Client(string, func(client.Attempt)) (*client.Client, error) { return nil, nil }
func (f *fakeTarget) Admin(context.Context, string) (*client.Client, error)       { return nil, nil }

const cutYAML = `name: cut
models: an HSM's client port blocked while the cluster's own traffic flows
duration: 5s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}}
setup: [{user: {name: app, password: appPassword1}}]
workloads: [{name: keys, face: hsm, op: generate-key}]
faults:
  - {name: cut, at: 1s, do: cut-clients, node: leader, for: 2s}
`

// TestCutClients: cut-clients on the leader cuts it from every client both ways and from no
// HSM, the leader counts among its nodes (so failover is measured after it), the majority stays
// up, and the undo heals the cut. A cut-clients without a node is refused with the field named.
func TestCutClients(t *testing.T) {
	s, err := spec.Parse("cut.yaml", []byte(cutYAML))
	if err != nil {
		t.Fatal(err)
	}
	ft := &fakeTarget{net: netsim.New(1)}
	tl := history.New()
	in := NewInjector(ft, target.NewRegistry(), tl, nil)
	plan := Plan(s)
	if len(plan) != 1 || !strings.Contains(plan[0].Describe(), "cut leader off from its clients; heal after 2s") {
		t.Fatalf("plan: %+v", plan)
	}
	in.Inject(context.Background(), plan[0])

	ep := func(name string) netsim.Endpoint { return netsim.Endpoint{Name: name} }
	for _, c := range []string{"kms", "sign-0", netsim.External.Name} {
		if !ft.net.Blocked(ep(c), ep("hsm-2")) || !ft.net.Blocked(ep("hsm-2"), ep(c)) {
			t.Errorf("client %s still reaches the cut HSM", c)
		}
		if ft.net.Blocked(ep(c), ep("hsm-1")) {
			t.Errorf("client %s cut from another HSM", c)
		}
	}
	for _, peer := range []string{"hsm-1", "hsm-3"} {
		if ft.net.Blocked(ep(peer), ep("hsm-2")) || ft.net.Blocked(ep("hsm-2"), ep(peer)) {
			t.Errorf("the cut HSM lost its peer %s", peer)
		}
	}
	if up, voters := in.Avail(); up != 3 || voters != 3 {
		t.Errorf("avail %d/%d, want 3/3: the cluster itself is whole", up, voters)
	}
	var fault history.Event
	for _, e := range tl.Events() {
		if e.Kind == history.EvFault {
			fault = e
		}
	}
	if fault.Name != "cut" || fault.Fields["nodes"] != "n2" || fault.Fields["leader"] != "n2" {
		t.Fatalf("fault event %+v", fault)
	}

	in.Undo(context.Background(), plan[0].Key())
	if len(ft.net.Rules()) != 0 || ft.net.Blocked(ep("kms"), ep("hsm-2")) {
		t.Fatalf("rules after the undo: %v", ft.net.Rules())
	}

	_, err = spec.Parse("bad.yaml", []byte(strings.Replace(cutYAML, "do: cut-clients, node: leader", "do: cut-clients", 1)))
	if err == nil || !strings.Contains(err.Error(), "faults[0].node: required for cut-clients") {
		t.Fatalf("a cut-clients without a node: %v", err)
	}
}
