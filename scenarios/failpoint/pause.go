package failpoint

import (
	"context"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// pause: the node is frozen: a node that is a process of its own gets SIGSTOP (and SIGCONT at
// undo); a node in this process is cut from every endpoint with its connections kept (netsim
// holds the bytes), so it neither hears nor answers, as under SIGSTOP; undone by letting them
// flow.
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
			if f, ok := in.Target.(freezer); ok {
				thaw, err := f.Freeze(l)
				if err != nil {
					return err
				}
				x.Undo = func(context.Context) error { return thaw() }
				return nil
			}
			x.Rules = in.isolateRules(l, []string{l})
			return nil
		},
	})
}

// freezer is a target whose nodes are processes it can stop and continue (target.Processes).
type freezer interface {
	Freeze(label string) (thaw func() error, err error)
}
