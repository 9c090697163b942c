package failpoint

import (
	"context"
	"fmt"
	"slices"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// partition: the nodes of one side cut from every other node of the cluster, both ways.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "partition", Undo: "heal", Validate: func(c *spec.FaultCheck, f *spec.Fault) {
			if len(f.Nodes) == 0 && f.Node == "" {
				c.Errorf("nodes", "required: the nodes of one side")
			}
			if f.Node != "" { // node: is one of nodes:
				f.Nodes = append(f.Nodes, f.Node)
				f.Node = ""
			}
			for _, sel := range f.Nodes {
				c.Selector("nodes", sel)
			}
		}},
		Doc:      "cut nodes (one side) from the other nodes, both ways",
		Describe: func(f *spec.Fault) string { return fmt.Sprintf("partition %v from the other nodes", f.Nodes) },
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			var side []string
			for i, sel := range x.F.Nodes {
				l, err := in.resolve(ctx, sel, x.P.Pick+uint32(i))
				if err != nil {
					return err
				}
				if !slices.Contains(side, l) {
					side = append(side, l)
				}
			}
			x.Nodes = side
			for _, a := range side {
				for _, b := range in.liveLabels() {
					if !slices.Contains(side, b) {
						x.Rules = append(x.Rules, partition(in.Target.ID(a), in.Target.ID(b)))
					}
				}
			}
			return nil
		},
	})
}
