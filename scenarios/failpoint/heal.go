package failpoint

import (
	"context"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// heal: every network rule removed; the active faults that put rules in force end (their undo
// is recorded).
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "heal"},
		Doc:       "remove every network rule",
		Describe:  func(*spec.Fault) string { return "heal the network" },
		Action:    true,
		Inject: func(ctx context.Context, in *Injector, _ *Injection) error {
			in.mu.Lock()
			var net []string
			for k, a := range in.active {
				if len(a.rules) > 0 {
					net = append(net, k)
				}
			}
			in.mu.Unlock()
			for _, k := range net {
				in.undoLocked(ctx, k)
			}
			in.Target.Net().Heal()
			return nil
		},
	})
}
