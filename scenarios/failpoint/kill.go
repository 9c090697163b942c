package failpoint

import (
	"context"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// kill: the node stops abruptly (in process: listeners closed, connections reset; as a process:
// SIGKILL), no graceful shutdown; undone by a restart from its data directory.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "kill", Undo: "restart", Validate: (*spec.FaultCheck).Node},
		Doc:       "kill a node abruptly",
		Describe:  describeNode,
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			l, err := killNode(ctx, in, x)
			if err != nil {
				return err
			}
			x.Undo = func(ctx context.Context) error { return in.Target.Restart(ctx, l) }
			return nil
		},
	})
}

// describeNode says a fault acting on one node: "kill leader".
func describeNode(f *spec.Fault) string { return f.Do + " " + f.Node }

// killNode resolves the fault's node and kills it (kill, restart, wipe).
func killNode(ctx context.Context, in *Injector, x *Injection) (string, error) {
	l, err := x.Node(ctx, in, x.F.Node, 0)
	if err != nil {
		return "", err
	}
	return l, in.Target.Kill(l)
}
