package failpoint

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// remove-hsm: an HSM removed from the cluster (DeleteHsm). With `for`, an HSM is added in its AZ
// afterwards; without, it is gone for good and the removal is an operator action.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "remove-hsm", Undo: "add an HSM in its AZ", Validate: (*spec.FaultCheck).Node},
		Doc:       "remove an HSM from the cluster",
		Describe:  describeNode,
		Available: resizable,
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			r, ok := in.Target.(Resizer)
			if !ok {
				return lacks("a target that removes HSMs")
			}
			l, err := in.resolve(ctx, x.F.Node, x.P.Pick)
			if err != nil {
				return err
			}
			var az string
			for _, n := range in.Target.Nodes() {
				if n.Label == l {
					az = n.AZ
				}
			}
			x.Action = x.P.For == 0 // removed for good: the scenario grows the cluster back itself, if at all
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := r.Remove(cctx, l); err != nil {
				return err
			}
			x.Nodes = []string{l}
			if !x.Action {
				x.Undo = func(ctx context.Context) error {
					_, err := in.add(ctx, az)
					return err
				}
			}
			return nil
		},
	})
}
