package failpoint

import (
	"context"
	"fmt"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// az-outage: the AZ goes dark, its nodes cut from every endpoint (other nodes, clients, the
// KMS); they still reach each other.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "az-outage", Undo: "heal", Validate: (*spec.FaultCheck).AZ},
		Doc:       "make every node of an AZ unreachable to everyone (power or network loss of the AZ)",
		Describe: func(f *spec.Fault) string {
			return fmt.Sprintf("AZ %s goes dark (its nodes unreachable by anyone)", f.AZ)
		},
		Freezes: true,
		Inject: func(_ context.Context, in *Injector, x *Injection) error {
			x.Nodes = in.labelsInAZ(x.F.AZ)
			for _, l := range x.Nodes {
				x.Rules = append(x.Rules, in.isolateRules(l, x.Nodes)...)
			}
			return nil
		},
	})
}
