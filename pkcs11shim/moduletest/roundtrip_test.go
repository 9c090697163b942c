package moduletest

import (
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// rpcCount counts the node's answered calls by method (server.RPCObserver).
type rpcCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *rpcCount) ObserveRPC(method string, _ uint32, _ time.Duration) {
	c.mu.Lock()
	c.n[method]++
	c.mu.Unlock()
}

func (c *rpcCount) ObserveBatch(int) {}

func (c *rpcCount) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

// background are the calls the module makes on its own, on timers (the login's lease, the
// public session's keep-alive, health probes), not for the application's call.
var background = map[string]bool{"RenewLogin": true, "GetInfo": true}

// An application that signs in a loop (C_SignInit, then C_Sign as miekg calls it: the length
// query, then the call) costs the node one Sign RPC per signature once the first has run: the
// Init's key check is asked once and remembered (keyuse.go), the mechanism list is learned once,
// and the length query is answered from the one computed result (session.finish). An extra round trip per operation would cost the one-session path a large
// share of its latency, which is what docs/BENCHMARKS.md's issue-15 comparison looked for.
func TestSignLoopIsOneRPCPerSignature(t *testing.T) {
	c := start(t, standard)
	s := session(t)
	_, priv := ecKeyPair(t, s, false)
	counts := &rpcCount{n: map[string]int{}}
	c.node.SetObserver(counts)
	t.Cleanup(func() { c.node.SetObserver(nil) })
	sign := func(i int) {
		t.Helper()
		must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), priv))
		if _, err := p.Sign(s, make([]byte, 32)); err != nil {
			t.Fatalf("C_Sign %d: %v", i, err)
		}
	}

	// The first signature learns the mechanism list (once per module) and the key's use.
	sign(0)
	first := counts.take()
	if first["CheckKeyUse"] != 1 || first["Sign"] != 1 {
		t.Errorf("first C_SignInit+C_Sign: CheckKeyUse %d, Sign %d RPCs, want 1 and 1 (%v)", first["CheckKeyUse"], first["Sign"], first)
	}
	const loops = 20
	for i := 1; i <= loops; i++ {
		sign(i)
	}
	got := counts.take()
	if got["Sign"] != loops {
		t.Errorf("Sign RPCs = %d for %d signatures, want one each (%v)", got["Sign"], loops, got)
	}
	for m, n := range got {
		if m != "Sign" && !background[m] {
			t.Errorf("%d %s RPCs during the sign loop: no other call belongs in it (%v)", n, m, got)
		}
	}
}
