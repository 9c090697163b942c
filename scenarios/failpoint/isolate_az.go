package failpoint

import (
	"context"
	"fmt"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// isolate-az: netsim.IsolateAZ, the AZ's nodes cut from the other AZs' nodes; clients still
// reach them.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "isolate-az", Undo: "heal", Validate: (*spec.FaultCheck).AZ},
		Doc:       "cut an AZ's nodes from the other AZs' nodes (clients still reach them)",
		Describe:  func(f *spec.Fault) string { return fmt.Sprintf("isolate AZ %s from the other AZs", f.AZ) },
		Inject: func(_ context.Context, in *Injector, x *Injection) error {
			x.Rules = []netsim.Rule{{Kind: netsim.KindIsolateAZ, AZ: x.F.AZ}}
			x.Nodes = in.labelsInAZ(x.F.AZ)
			return nil
		},
	})
}
