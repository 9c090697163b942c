package failpoint

import (
	"context"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// pause: the node is frozen as under SIGSTOP: cut from every endpoint with its connections
// kept (netsim holds the bytes), so it neither hears nor answers; undone by letting them flow.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "pause", Undo: "resume", Validate: (*spec.FaultCheck).Node},
		Doc:       "freeze a node: no byte in or out, connections stay open",
		Describe:  describeNode,
		Freezes:   true,
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			l, err := x.Node(ctx, in, x.F.Node, 0)
			if err != nil {
				return err
			}
			x.Rules = in.isolateRules(l, []string{l})
			return nil
		},
	})
}
