package failpoint

import (
	"context"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// restart: the node is killed and started again at once, an operator action (instant).
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "restart", Validate: (*spec.FaultCheck).Node},
		Doc:       "kill a node and start it again at once",
		Describe:  describeNode,
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			l, err := killNode(ctx, in, x)
			if err != nil {
				return err // it did not go down: a failed injection, not an action's result
			}
			x.Action = true
			return in.Target.Restart(ctx, l)
		},
	})
}
