package failpoint

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// wipe: the HSM goes down as killed; at undo its data directory is deleted and it rejoins its
// cluster under its old id (the target's Rejoiner).
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "wipe", Undo: "rejoin", Validate: (*spec.FaultCheck).Node},
		Doc:       "kill a node and delete its data directory",
		Describe:  describeNode,
		Available: func(t Target) error {
			if _, ok := t.(Rejoiner); !ok {
				return lacks("an HSM's data directory deleted and the HSM rejoined under its id")
			}
			return nil
		},
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			r, ok := in.Target.(Rejoiner)
			if !ok {
				return lacks("a target that rejoins wiped HSMs")
			}
			l, err := killNode(ctx, in, x)
			if err != nil {
				return err
			}
			x.Undo = func(ctx context.Context) error {
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				defer cancel()
				return r.Rejoin(cctx, l)
			}
			return nil
		},
	})
}
