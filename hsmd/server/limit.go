package server

import (
	"context"
	"sync/atomic"

	"github.com/hsmsim/hsmsim/hsmd/mech"
)

// Limiter paces the crypto operations a node runs, as a real HSM's capacity does (package
// hsmd/capacity: CloudHSM's published rates). Admit returns nil when the operation (op: the
// node API's method, Sign) with key k may run now, after waiting its turn if need be, or the
// error the call answers instead (the HSM's busy error, or the caller's context ended).
type Limiter interface {
	Admit(ctx context.Context, op string, k *mech.Key) error
}

// limiter is the node's Limiter; nil (the default) limits nothing and costs one atomic load.
type limiter struct{ p atomic.Pointer[Limiter] }

// SetLimiter makes l pace this node's crypto operations from now on; nil ends all limits.
func (n *Node) SetLimiter(l Limiter) {
	if l == nil {
		n.limit.p.Store(nil)
		return
	}
	n.limit.p.Store(&l)
}

func (n *Node) admit(ctx context.Context, op string, k *mech.Key) error {
	l := n.limit.p.Load()
	if l == nil {
		return nil
	}
	return (*l).Admit(ctx, op, k)
}
