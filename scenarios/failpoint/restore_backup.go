package failpoint

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// doRestoreBackup is the action update-keystore's cluster refers to.
const doRestoreBackup = "restore-backup"

// restore-backup: the scenario's cluster is backed up now and the backup restored into a new,
// related cluster through the control plane (the target's Restorer); an operator action that
// returns once the new cluster is ACTIVE. The fault's name names the cluster.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: doRestoreBackup, Validate: func(c *spec.FaultCheck, f *spec.Fault) {
			if f.Repeat.Times > 1 {
				c.Errorf("repeat", "a cluster is restored once per restore-backup fault (its name names the cluster)")
			}
		}},
		Doc: "restore the latest backup into a new, related cluster",
		Available: func(t Target) error {
			if _, ok := t.(Restorer); !ok {
				return lacks("backups restored into new clusters")
			}
			return nil
		},
		Action: true,
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			r, ok := in.Target.(Restorer)
			if !ok {
				return lacks("a target that restores backups")
			}
			cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			id, backup, err := r.RestoreBackup(cctx, x.F.Name)
			x.Fields["cluster"], x.Fields["backup"] = id, backup
			for _, n := range in.Target.Nodes() {
				if n.Cluster == x.F.Name {
					x.Nodes = append(x.Nodes, n.Label)
				}
			}
			return err
		},
	})
}
