package failpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// add-hsm: a new HSM joins the scenario's cluster in an AZ (CreateHsm), an operator action;
// last-added names it from then on.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "add-hsm", Validate: (*spec.FaultCheck).AZ},
		Doc:       "add an HSM in an AZ",
		Describe:  func(f *spec.Fault) string { return fmt.Sprintf("add an HSM in %s", f.AZ) },
		Available: resizable,
		Action:    true,
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			l, err := in.add(ctx, x.F.AZ)
			x.Nodes = []string{l}
			x.Fields["nodes"] = l
			return err
		},
	})
}

func resizable(t Target) error {
	if _, ok := t.(Resizer); !ok {
		return lacks("HSMs added to and removed from the cluster (CreateHsm, DeleteHsm)")
	}
	return nil
}

// add creates an HSM in az and makes it the last added.
func (in *Injector) add(ctx context.Context, az string) (string, error) {
	r, ok := in.Target.(Resizer)
	if !ok {
		return "", lacks("a target that adds HSMs")
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	l, err := r.Add(cctx, az)
	if l != "" {
		in.mu.Lock()
		in.lastAdded = l
		in.mu.Unlock()
	}
	return l, err
}
