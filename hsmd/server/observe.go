package server

import (
	"sync/atomic"
	"time"
)

// RPCObserver is told of every call of the node API as the node answers it (package
// internal/metrics counts them): the method (Sign, Login), the CK_RV the caller gets (CKR_OK on
// success), and how long the node took, from the interceptor's start to the answer. A batch is
// one Batch call, and its size is told apart (ObserveBatch). Both run on the call's goroutine:
// they must be quick and safe for concurrent use.
type RPCObserver interface {
	ObserveRPC(method string, rv uint32, elapsed time.Duration)
	ObserveBatch(items int)
}

// observer is the node's RPCObserver; nil (the default) costs one atomic load per call.
type observer struct{ p atomic.Pointer[RPCObserver] }

// SetObserver makes o see this node's calls from now on; nil: nobody.
func (n *Node) SetObserver(o RPCObserver) {
	if o == nil {
		n.obs.p.Store(nil)
		return
	}
	n.obs.p.Store(&o)
}
