package failpoint

import (
	"context"
	"fmt"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// cut-clients: a node cut off from every client (the workloads, the KMS, the PKCS#11 module)
// while it still reaches its peers, as when a security group or a route loses the client port
// of one HSM but not the cluster's own traffic. It keeps voting and replicating; the clients
// must fail over to the other HSMs. Undone by healing the cut.
//
// It is the example of adding a fault kind: this file and its tests, nothing else.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "cut-clients", Undo: "heal", Validate: (*spec.FaultCheck).Node},
		Doc:       "cut a node off from every client; its peers still reach it",
		Describe:  func(f *spec.Fault) string { return fmt.Sprintf("cut %s off from its clients", f.Node) },
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			l, err := x.Node(ctx, in, x.F.Node, 0)
			if err != nil {
				return err
			}
			var peers []string
			for _, n := range in.Target.Nodes() {
				peers = append(peers, n.Label)
			}
			x.Rules = in.isolateRules(l, peers) // every endpoint that is not an HSM: the clients
			return nil
		},
	})
}
