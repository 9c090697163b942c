package failpoint

import (
	"context"
	"fmt"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// link: both directions between two AZs, or two nodes, shaped with latency, jitter and loss.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "link", Undo: "heal", Validate: func(c *spec.FaultCheck, f *spec.Fault) {
			if len(f.Between) != 2 {
				c.Errorf("between", "two AZs or two node selectors")
			} else if !(c.AZs[f.Between[0]] && c.AZs[f.Between[1]]) {
				c.Selector("between", f.Between[0])
				c.Selector("between", f.Between[1])
			}
			if f.Latency == 0 && f.Jitter == 0 && f.Loss == 0 {
				c.Errorf("", "a link needs latency, jitter or loss")
			}
			if f.Loss < 0 || f.Loss > 1 {
				c.Errorf("loss", "a probability between 0 and 1 (or 0%% to 100%%)")
			}
		}},
		Doc: "add latency, jitter and loss between two AZs or two nodes",
		Describe: func(f *spec.Fault) string {
			return fmt.Sprintf("shape the link %s<->%s: latency %s, jitter %s, loss %.1f%%", f.Between[0], f.Between[1], f.Latency, f.Jitter, f.Loss*100)
		},
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			f := x.F
			l := netsim.Link{Latency: f.Latency, Jitter: f.Jitter, Loss: f.Loss}
			a, b := f.Between[0], f.Between[1]
			if in.isAZ(a) && in.isAZ(b) {
				x.Rules = []netsim.Rule{{Kind: netsim.KindAZLink, From: a, To: b, Link: l}, {Kind: netsim.KindAZLink, From: b, To: a, Link: l}}
				return nil
			}
			la, err := in.resolve(ctx, a, x.P.Pick)
			if err != nil {
				return err
			}
			lb, err := in.resolve(ctx, b, x.P.Pick+1)
			if err != nil {
				return err
			}
			x.Nodes = []string{la, lb}
			ia, ib := in.Target.ID(la), in.Target.ID(lb)
			x.Rules = []netsim.Rule{{Kind: netsim.KindLink, From: ia, To: ib, Link: l}, {Kind: netsim.KindLink, From: ib, To: ia, Link: l}}
			return nil
		},
	})
}
