package clustertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

// Pool is a test application's view of the cluster: one hsmd/client per member sharing one
// Session (credential and read-your-writes index), and Do, which runs a call on one member
// and fails over to the next on a retryable error. It is a small stand-in for the cluster client;
// tests that need one particular member use On.
type Pool struct {
	c    *Cluster
	tb   testing.TB
	Sess *client.Session
	ep   netsim.Endpoint
	// Attempt bounds one call on one member (a partitioned member black-holes the dial).
	Attempt time.Duration

	mu    sync.Mutex
	conns map[*Node]pooled
	next  int
}

type pooled struct {
	cl  *client.Client
	gen int
}

// Pool returns a logged-out pool with its own session and its own netsim client endpoint.
func (c *Cluster) Pool(tb testing.TB) *Pool {
	c.mu.Lock()
	c.clients++
	name := fmt.Sprintf("client-%d", c.clients)
	c.mu.Unlock()
	p := &Pool{c: c, tb: tb, Sess: &client.Session{}, ep: netsim.Endpoint{Name: name}, Attempt: 2*c.opts.Timeouts.Apply + 2*time.Second,
		conns: map[*Node]pooled{}}
	tb.Cleanup(p.Close)
	return p
}

// Alice returns a pool logged in as the crypto user.
func (c *Cluster) Alice(tb testing.TB) *Pool {
	tb.Helper()
	p := c.Pool(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Login(ctx, CryptoUser, CryptoPass); err != nil {
		tb.Fatalf("login %s: %v", CryptoUser, err)
	}
	return p
}

// Name is the pool's netsim endpoint name (to partition this client from nodes).
func (p *Pool) Name() string { return p.ep.Name }

// Login logs the pool's session in, failing over like any call.
func (p *Pool) Login(ctx context.Context, user, password string) error {
	_, err := p.Do(ctx, func(ctx context.Context, cl *client.Client) error {
		_, err := cl.Login(ctx, user, password)
		return err
	})
	return err
}

// On returns the pool's client of node n (sharing the session), dialing it if needed.
func (p *Pool) On(n *Node) *client.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	n.mu.Lock()
	gen, addr := n.generation, n.apiAddr
	n.mu.Unlock()
	if pc, ok := p.conns[n]; ok && pc.gen == gen {
		return pc.cl
	} else if ok {
		pc.cl.Close() // the node restarted: a fresh connection skips gRPC's reconnect backoff
	}
	tlsCfg, err := pki.ClientTLS(p.c.CA.CertPEM, "127.0.0.1", nil, nil)
	if err != nil {
		p.tb.Fatal(err)
	}
	// One node per client: failing over is Do's business. A client gives its node longer
	// than the node gives a write (Timeouts.Apply), so a refusal arrives as the node's answer.
	cl, err := client.Dial(client.Config{Addr: addr, TLS: tlsCfg, Session: p.Sess, Dialer: p.c.Net.Dialer(p.ep),
		Retries: 1, AttemptTimeout: p.c.opts.Timeouts.Apply + 2*time.Second})
	if err != nil {
		p.tb.Fatal(err)
	}
	p.conns[n] = pooled{cl: cl, gen: gen}
	return cl
}

// Do runs fn (with a context bounded by Attempt) against the running members in turn, starting after the one used last, until fn
// succeeds, fails with an error that is not client.Retryable, or ctx ends. It returns the id of
// the member that answered.
func (p *Pool) Do(ctx context.Context, fn func(context.Context, *client.Client) error) (string, error) {
	last := errNoNodes
	for {
		nodes := p.c.Up()
		p.mu.Lock()
		start := p.next
		p.mu.Unlock()
		for i := range nodes {
			n := nodes[(start+i)%len(nodes)]
			cctx, cancel := context.WithTimeout(ctx, p.Attempt)
			err := fn(cctx, p.On(n))
			cancel()
			if err == nil || !client.Retryable(err) {
				p.mu.Lock()
				p.next = (start + i) % len(nodes)
				p.mu.Unlock()
				return n.ID, err
			}
			last = err
			if ctx.Err() != nil {
				return "", fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			}
		}
		p.mu.Lock()
		p.next = start + 1
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close closes the pool's connections.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.cl.Close()
	}
	p.conns = map[*Node]pooled{}
}

var errNoNodes = errors.New("clustertest: no member running")
