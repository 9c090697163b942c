package client

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Hedged crypto reads. A read whose node has not answered within the hedge delay (derived from
// the latency observed) is sent to a second node as well, and the first answer wins: a node that
// went silent costs a call the hedge delay, not an attempt timeout. Only reads are hedged; writes
// already carry idempotency ids and go through the log, and sending them twice would only add
// load on the leader. The attempt that loses is not canceled: it runs to its own end, so that a
// silent node is still found out (missed, then probed), and meanwhile the node is passed over
// (nodeConn.slow) so that other calls do not wait on it too.

// Bounds of the hedge delay.
const (
	minHedge = 20 * time.Millisecond
	maxHedge = 100 * time.Millisecond
)

// hedgeDelay is how long a crypto read waits for its node before asking another: twice the
// latency estimate plus four deviations, within [minHedge, maxHedge]; Config.Hedge overrides it.
func (c *Client) hedgeDelay() time.Duration {
	if c.cfg.Hedge != 0 {
		return c.cfg.Hedge
	}
	c.lat.mu.Lock()
	d := 2 * (c.lat.srtt + 4*c.lat.rttvar)
	c.lat.mu.Unlock()
	return min(max(d, minHedge), maxHedge)
}

type hedgeResult struct {
	reply proto.Message
	err   error
}

// Stages of a hedged read's first attempt.
const (
	primaryRunning int32 = iota
	primarySlow          // the hedge went out: the node is passed over until the attempt ends
	primaryDone
)

// tryHedged is one attempt of a crypto read on nc, hedged on another node after the hedge
// delay. It returns the first success or answer that is not retryable, else the last error.
func (c *Client) tryHedged(ctx context.Context, nc *nodeConn, want uint64, name, method string, req, reply any, inv grpc.UnaryInvoker, opts []grpc.CallOption) error {
	msg, ok := reply.(proto.Message)
	if !ok || c.cfg.Hedge < 0 {
		return c.try(ctx, nc, name, method, req, reply, inv, opts)
	}
	results := make(chan hedgeResult, 2)
	actx := context.WithoutCancel(ctx) // the loser runs on; each attempt has its own timeout
	var stage atomic.Int32
	launch := func(n *nodeConn, primary bool) {
		r := msg.ProtoReflect().New().Interface()
		go func() {
			err := c.try(actx, n, name, method, req, r, inv, opts)
			if primary && !stage.CompareAndSwap(primaryRunning, primaryDone) {
				c.setSlow(n, -1)
			}
			if err != nil && missed(actx, err) {
				c.miss(n) // also when the caller has its answer from the other node
			}
			results <- hedgeResult{r, err}
		}()
	}
	launch(nc, true)
	timer := time.NewTimer(c.hedgeDelay())
	defer timer.Stop()
	pending := 1
	for {
		select {
		case <-ctx.Done():
			return FromStatus(status.FromContextError(ctx.Err()).Err())
		case <-timer.C:
			if other := c.pickOther(want, nc); other != nil && stage.CompareAndSwap(primaryRunning, primarySlow) {
				c.setSlow(nc, +1)
				launch(other, false)
				pending++
			}
		case r := <-results:
			pending--
			if r.err == nil {
				proto.Merge(msg, r.reply)
				return nil
			}
			if !Retryable(r.err) || pending == 0 {
				return r.err
			}
		}
	}
}

// setSlow counts nc's attempts past the hedge delay.
func (c *Client) setSlow(nc *nodeConn, d int) {
	c.mu.Lock()
	nc.slow += d
	c.mu.Unlock()
}

// pickOther picks a healthy node other than not for a hedge (nil: there is none), preferring
// one not known to lag behind want.
func (c *Client) pickOther(want uint64, not *nodeConn) *nodeConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	for pass := 0; pass < 2; pass++ {
		for i := 0; i < len(c.nodes); i++ {
			nc := c.nodes[(c.next+i)%len(c.nodes)]
			if nc != not && c.healthyLocked(nc, want, pass == 1, time.Now()) {
				c.next = (c.next + i + 1) % len(c.nodes)
				return nc
			}
		}
	}
	return nil
}
