package client

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Hedged crypto reads. A read whose node has not answered within the hedge delay (derived from
// the latency observed) is sent to a second node as well, and the first answer wins: a node that
// went silent costs a call the hedge delay, not an attempt timeout. Only reads are hedged; writes
// already carry idempotency ids and go through the log, and sending them twice would only add
// load on the leader.

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

// errNoHedge is the hedge's result when there was no other node to ask.
var errNoHedge = errors.New("no other node to hedge on")

// tryHedged is one attempt of a crypto read on nc, hedged on another node after the hedge
// delay. The first success wins: when the hedge's, the first attempt is canceled and its node
// counts as missed (probed, passed over until it answers), so that a silent node costs one
// hedge delay, once. It runs in the caller's goroutine; only a hedge that fires costs one more.
func (c *Client) tryHedged(ctx context.Context, nc *nodeConn, want uint64, name, method string, req, reply any, inv grpc.UnaryInvoker, opts []grpc.CallOption) error {
	msg, ok := reply.(proto.Message)
	if !ok || c.cfg.Hedge < 0 {
		return c.try(ctx, nc, name, method, req, reply, inv, opts)
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel() // the hedge, when the first attempt won
	hedged := make(chan error, 1)
	var hedgeReply proto.Message
	t := time.AfterFunc(c.hedgeDelay(), func() {
		other := c.pickOther(want, nc)
		if other == nil {
			hedged <- errNoHedge
			return
		}
		hedgeReply = msg.ProtoReflect().New().Interface()
		err := c.try(actx, other, name, method, req, hedgeReply, inv, opts)
		if err == nil {
			cancel() // the first attempt gives up: the answer is here
		} else if missed(actx, err) {
			c.miss(other)
		}
		hedged <- err
	})
	err := c.try(actx, nc, name, method, req, reply, inv, opts)
	if t.Stop() || err == nil {
		return err // no hedge went out, or the first attempt won
	}
	herr := <-hedged // the channel's send orders hedgeReply's writes before this read
	if herr == nil {
		c.miss(nc) // canceled for being slower than the hedge: a probe says whether it is alive
		proto.Reset(msg)
		proto.Merge(msg, hedgeReply)
		return nil
	}
	if herr != errNoHedge && Retryable(err) && !Retryable(herr) {
		return herr // the other node's answer
	}
	return err
}

// pickOther picks a healthy node other than not for a hedge (nil: there is none), preferring
// one not known to lag behind want.
func (c *Client) pickOther(want uint64, not *nodeConn) *nodeConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextHealthyLocked(want, not)
}
