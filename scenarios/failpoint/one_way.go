package failpoint

import (
	"context"
	"fmt"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// one-way: the bytes one node sends another are dropped; the other direction flows.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "one-way", Undo: "heal", Validate: func(c *spec.FaultCheck, f *spec.Fault) {
			c.Selector("from", f.From)
			c.Selector("to", f.To)
		}},
		Doc:      "drop the bytes one node sends to another",
		Describe: func(f *spec.Fault) string { return fmt.Sprintf("drop what %s sends to %s", f.From, f.To) },
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			from, err := in.resolve(ctx, x.F.From, x.P.Pick)
			if err != nil {
				return err
			}
			to, err := in.resolve(ctx, x.F.To, x.P.Pick+1)
			if err != nil {
				return err
			}
			if from == to {
				return skipf("from and to are both %s", from)
			}
			x.Nodes = []string{from, to}
			x.Rules = []netsim.Rule{{Kind: netsim.KindPartitionOneWay, From: in.Target.ID(from), To: in.Target.ID(to)}}
			return nil
		},
	})
}
