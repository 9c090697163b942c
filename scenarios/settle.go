package scenarios

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/validate"
)

// settle waits (bounded) until, in each cluster, every running node has applied the same index
// and holds the same token (its digest, where the target reads one), and returns what each node
// holds.
func (e *engine) settle(ctx context.Context) validate.Final {
	start := time.Now()
	deadline := start.Add(e.s.Expect.ConvergeWithin)
	final := validate.Final{ConvergeTook: -1}
	dg, digests := e.env.(digester)
	for {
		final.Nodes = final.Nodes[:0]
		agreed := true
		first := map[string]validate.NodeFinal{} // per cluster
		for _, n := range e.env.Nodes() {
			if n.Removed {
				continue
			}
			nf := validate.NodeFinal{Label: n.Label, ID: n.ID, Cluster: n.Cluster, Up: n.Up, State: n.State}
			if a, ok := e.env.Applied(n.Label); ok && n.Up {
				nf.Applied = a
				if digests {
					nf.Digest, _ = dg.Digest(n.Label)
				}
			} else {
				nf.Up = false
			}
			final.Nodes = append(final.Nodes, nf)
			if !nf.Up {
				continue
			}
			if f, ok := first[nf.Cluster]; !ok {
				first[nf.Cluster] = nf
			} else if nf.Digest != f.Digest || nf.Applied != f.Applied {
				agreed = false
			}
		}
		if agreed && len(first) > 0 {
			final.ConvergeTook = time.Since(start)
			return final
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return final
		}
		time.Sleep(50 * time.Millisecond)
	}
}
