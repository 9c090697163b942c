package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// Health per node. A node that missed (its attempt timed out, or the call never reached it) is
// skipped for new calls until a cheap probe (GetInfo, which waits for nothing on the node)
// answers: a silent HSM (a black hole, no RST) then costs each client one miss, not one timeout
// per call. A node that answered that it cannot serve now (no quorum, behind) is alive: it is
// only passed over for a short while, as before.

// Bounds of a crypto read's attempt timeout, derived from the latency observed (readTimeout).
const (
	minReadTimeout = 250 * time.Millisecond
	probeMax       = time.Second // the longest pause between two probes of a missed node
)

// missed reports whether err says the node never answered: the attempt timed out (the caller
// still waiting) or the transport failed.
func missed(ctx context.Context, err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.remote || ctx.Err() != nil {
		return false
	}
	return e.Code == codes.DeadlineExceeded || e.Code == codes.Unavailable
}

// miss marks nc as missed and starts its probe.
func (c *Client) miss(nc *nodeConn) {
	c.mu.Lock()
	nc.missed.Store(true)
	c.probeLocked(nc)
	c.mu.Unlock()
}

// lags marks nc as lagging: it answered with an index below target, what the session had seen
// when the call left. Until a probe finds it has applied target, it is asked only for reads it
// has applied.
func (c *Client) lags(nc *nodeConn, target uint64) {
	c.mu.Lock()
	nc.lagging, nc.lagTarget = true, max(nc.lagTarget, target)
	c.probeLocked(nc)
	c.mu.Unlock()
}

// probeLocked starts nc's probe unless one runs.
func (c *Client) probeLocked(nc *nodeConn) {
	if !nc.probing {
		nc.probing = true
		go c.probe(nc)
	}
}

// probe asks a missed or lagging node for GetInfo until it answers and has applied what it
// lagged behind, backing off up to probeMax while it does not answer; then the node is picked
// for every call again. The probe goes past the interceptor (no failover, no index, no login).
func (c *Client) probe(nc *nodeConn) {
	api := hsmpb.NewHSMClient(nc.conn)
	wait := 20 * time.Millisecond
	for {
		select {
		case <-c.stop:
			return
		case <-time.After(wait):
		}
		nc.conn.ResetConnectBackoff() // a restarted node is dialed now, not after gRPC's backoff
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), probeKey{}, true), c.cfg.AttemptTimeout)
		info, err := api.GetInfo(ctx, &hsmpb.Empty{})
		cancel()
		if err != nil {
			wait = min(2*wait, probeMax)
			continue
		}
		c.sess.noteApplied(nc.Addr, info.GetAppliedIndex())
		c.mu.Lock()
		applied := info.GetAppliedIndex()
		if idx := c.sess.Index(); nc.missed.Load() && applied < idx {
			// The miss may have been a wait on a node that lags: it must catch up first.
			nc.lagging, nc.lagTarget = true, max(nc.lagTarget, idx)
		}
		nc.missed.Store(false)
		if applied >= nc.lagTarget {
			nc.lagging = false
		}
		done := !nc.lagging
		if done {
			nc.probing = false
		}
		c.mu.Unlock()
		if done {
			return
		}
		wait = 100 * time.Millisecond // alive but behind: look again soon
	}
}

// probeKey marks a probe's context: the interceptor sends it as it is.
type probeKey struct{}

// rtt estimates the latency of crypto reads, as TCP estimates its round trip (RFC 6298): a
// smoothed mean and a smoothed mean deviation.
type rtt struct {
	mu           sync.Mutex
	srtt, rttvar time.Duration
}

func (r *rtt) observe(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srtt == 0 {
		r.srtt, r.rttvar = d, d/2
		return
	}
	dev := r.srtt - d
	if dev < 0 {
		dev = -dev
	}
	r.rttvar = (3*r.rttvar + dev) / 4
	r.srtt = (7*r.srtt + d) / 8
}

// readTimeout is a crypto read's attempt timeout: twice the estimate plus four deviations,
// at least minReadTimeout (a loaded machine's hiccup is not a dead node), at most the
// configured AttemptTimeout.
func (c *Client) readTimeout() time.Duration {
	c.lat.mu.Lock()
	d := 2 * (c.lat.srtt + 4*c.lat.rttvar)
	c.lat.mu.Unlock()
	return min(max(d, minReadTimeout), c.cfg.AttemptTimeout)
}
