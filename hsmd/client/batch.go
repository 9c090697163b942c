package client

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Natural batching. With Config.Batch set, concurrent crypto reads of one Client (the PKCS#11
// module's sessions all share one) are coalesced: a call that finds a free "flight" goes out at
// once, exactly as it would unbatched; calls that arrive while every flight is busy wait in a
// queue, and the flight that ends next takes the whole queue (up to MaxBatch calls) to one node
// as one HSMBatch.Batch request. So one caller alone pays nothing (its call is the plain
// unbatched RPC), and under load the per-RPC cost (HTTP/2 frames, TLS records, syscalls, the
// node's interceptor) is paid once per batch instead of once per call.
//
// What does not change: a batch goes through the same interceptor as every call (credential,
// read-your-writes index, node choice, per-attempt timeout, failover to another node when its
// node is unreachable, slow or cannot serve), and each call gets the result or the error (CK_RV,
// reason, gRPC code) that it would have got alone. Only reads are batched (batchable), and only
// calls that may go to any node: a call naming a session object goes to the node holding it,
// unbatched.
//
// Batching is for nodes reached over gRPC. On the local wire (local.go) each call costs two
// system calls and one wake-up on each side, less than handing it to a flight and back (a
// goroutine switch and a futex wake of the caller's thread): measured through the module at 4
// and 16 sessions, unbatched calls on the wire were up to 1.4× faster (docs/BENCHMARKS.md). So a
// client whose members are all on the wire sends its calls alone (Client.offWire).

// Batching defaults.
const (
	DefaultBatchFlights = 2
	DefaultMaxBatch     = 64
)

// batchable are the calls that change nothing and so may share a request.
var batchable = map[string]bool{
	"Sign": true, "Verify": true, "Encrypt": true, "Decrypt": true, "Digest": true, "GenerateRandom": true,
}

// batchItem turns a batchable request into a batch item; nil when it cannot be batched (a call
// about a session object, which must go to its node).
func batchItem(name string, req any) *hsmpb.BatchItem {
	switch name {
	case "Sign", "Encrypt", "Decrypt":
		r, ok := req.(*hsmpb.CryptRequest)
		if !ok || hsmpb.IsSessionHandle(r.Key) {
			return nil
		}
		switch name {
		case "Sign":
			return &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Sign{Sign: r}}
		case "Encrypt":
			return &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Encrypt{Encrypt: r}}
		}
		return &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Decrypt{Decrypt: r}}
	case "Verify":
		if r, ok := req.(*hsmpb.VerifyRequest); ok && !hsmpb.IsSessionHandle(r.Key) {
			return &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Verify{Verify: r}}
		}
	case "Digest":
		if r, ok := req.(*hsmpb.DigestRequest); ok {
			return &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Digest{Digest: r}}
		}
	case "GenerateRandom":
		if r, ok := req.(*hsmpb.RandomRequest); ok {
			return &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Random{Random: r}}
		}
	}
	return nil
}

// batcher is one Client's coalescer.
type batcher struct {
	api      hsmpb.HSMBatchClient // through the Client's interceptor, like every call
	flights  int
	maxItems int

	relay chan []*pending // idle relay goroutines wait here for a flight to carry on

	mu       sync.Mutex
	queue    []*pending
	inflight int
	// sent counts batches and items sent as batches, for tests and benchmarks.
	batches, items uint64
}

// pending is one call waiting for its result.
type pending struct {
	ctx   context.Context
	item  *hsmpb.BatchItem
	reply any
	solo  func(context.Context) error // the call made alone, through the unbatched path
	err   error
	done  chan struct{}
}

func newBatcher(c *Client) *batcher {
	b := &batcher{flights: c.cfg.BatchFlights, maxItems: c.cfg.MaxBatch, relay: make(chan []*pending)}
	if b.flights <= 0 {
		b.flights = DefaultBatchFlights
	}
	if b.maxItems <= 0 {
		b.maxItems = DefaultMaxBatch
	}
	return b
}

// do makes one call through the coalescer and returns its error.
func (b *batcher) do(p *pending) error {
	b.mu.Lock()
	b.queue = append(b.queue, p)
	if b.inflight < b.flights {
		b.inflight++
		batch := b.takeLocked()
		b.mu.Unlock()
		b.fly(batch) // in this goroutine: at low load the call goes out now, with no hand-off
	} else {
		b.mu.Unlock()
	}
	select {
	case <-p.done:
		return p.err
	case <-p.ctx.Done():
		return FromStatus(status.FromContextError(p.ctx.Err()).Err())
	}
}

// takeLocked takes up to maxItems calls off the queue, leaving out those whose caller gave up.
func (b *batcher) takeLocked() []*pending {
	n := 0
	var out []*pending
	for n < len(b.queue) && len(out) < b.maxItems {
		p := b.queue[n]
		n++
		if p.ctx.Err() == nil {
			out = append(out, p)
		}
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return out
}

// fly sends one batch; then, if calls queued meanwhile, the flight goes on with them in a new
// goroutine (so the caller that started it returns now), else it ends.
func (b *batcher) fly(batch []*pending) {
	b.send(batch)
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.inflight--
		b.mu.Unlock()
		return
	}
	next := b.takeLocked()
	b.mu.Unlock()
	select {
	case b.relay <- next: // an idle relay goroutine carries the flight on
	default:
		go b.relayLoop(next)
	}
}

// relayLoop carries flights on for callers that started them, and stays a while for the next
// one: a goroutine that lives across flights keeps its grown stack (gRPC's call path is deep).
func (b *batcher) relayLoop(batch []*pending) {
	idle := time.NewTimer(relayIdle)
	defer idle.Stop()
	for {
		b.fly(batch)
		idle.Reset(relayIdle)
		select {
		case batch = <-b.relay:
		case <-idle.C:
			return
		}
	}
}

// relayIdle is how long a relay goroutine waits for another flight before it exits.
const relayIdle = time.Second

// send makes one request of the batch: a lone call goes as itself, several as one Batch.
func (b *batcher) send(batch []*pending) {
	switch len(batch) {
	case 0:
		return
	case 1:
		p := batch[0]
		p.err = p.solo(p.ctx)
		close(p.done)
		return
	}
	req := &hsmpb.BatchRequest{Items: make([]*hsmpb.BatchItem, len(batch))}
	for i, p := range batch {
		req.Items[i] = p.item
	}
	ctx, cancel := batchContext(batch)
	resp, err := b.api.Batch(ctx, req)
	cancel()
	b.mu.Lock()
	b.batches++
	b.items += uint64(len(batch))
	b.mu.Unlock()
	if err == nil && len(resp.Results) != len(batch) {
		err = &Error{RV: p11.CKR_DEVICE_ERROR, Code: codes.Internal, Msg: "the node answered a batch with the wrong number of results", remote: true}
	}
	for i, p := range batch {
		if err != nil {
			p.err = err
			close(p.done)
			continue
		}
		r := resp.Results[i]
		if e := ItemError(r); e != nil {
			if Retryable(e) {
				// This node could not serve the item now (it never does for a read today, but
				// the contract is the call's): the call alone fails over as it always does.
				go func(p *pending) { p.err = p.solo(p.ctx); close(p.done) }(p)
				continue
			}
			p.err = e
			close(p.done)
			continue
		}
		fillReply(p.reply, r.Response)
		close(p.done)
	}
}

// ItemError is a batch item's error as the call alone would have returned it (nil: the item
// succeeded): the node's CK_RV, message and reason, and the gRPC code that tells Retryable.
func ItemError(r *hsmpb.BatchResult) error {
	if r.GetError() == nil {
		return nil
	}
	return &Error{RV: r.Error.Rv, Code: codes.Code(r.Code), Msg: r.Error.Message, Why: r.Error.Reason, remote: true}
}

// batchContext bounds a batch by the latest deadline among its callers (none if one has none):
// no caller's deadline is shortened, and one caller giving up does not fail the others.
func batchContext(batch []*pending) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range batch {
		d, ok := p.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// fillReply copies an item's response into the reply the caller's stub expects.
func fillReply(reply any, r *hsmpb.CryptResponse) {
	if out, ok := reply.(*hsmpb.CryptResponse); ok && r != nil {
		out.Data, out.Mechanism = r.Data, r.Mechanism
	} // Verify's reply is Empty: nothing to copy
}

// BatchAPI is the raw HSMBatch client, through the same interceptor as every call (credential,
// index, node choice, failover), for callers that build batches themselves.
func (c *Client) BatchAPI() hsmpb.HSMBatchClient { return c.batchAPI }

// BatchStats reports how many Batch requests this client sent and how many calls they carried
// (calls that went alone are not counted). Zero when batching is off.
func (c *Client) BatchStats() (batches, items uint64) {
	if c.batch == nil {
		return 0, 0
	}
	c.batch.mu.Lock()
	defer c.batch.mu.Unlock()
	return c.batch.batches, c.batch.items
}
