package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dialMembers dials a client of every member of c, reaching them through netsim as the endpoint
// named ep; withIDs gives the client the members' HSM ids (as a client config does), so it can
// match the leader a write's answer names. cfg supplies the other settings.
func dialMembers(t *testing.T, c *clustertest.Cluster, ep string, withIDs bool, cfg client.Config) *client.Client {
	t.Helper()
	tlsCfg, err := pki.ClientTLS(c.CA.CertPEM, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes, cfg.TLS, cfg.Dialer = nil, tlsCfg, c.Net.Dialer(netsim.Endpoint{Name: ep})
	for _, n := range c.Nodes() {
		node := client.Node{Addr: n.APIAddr()}
		if withIDs {
			node.ID = n.ID
		}
		cfg.Nodes = append(cfg.Nodes, node)
	}
	cl, err := client.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func aesTemplate(label string) []attr.Attribute {
	return []attr.Attribute{
		{Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)},
		{Type: p11.CKA_TOKEN, Value: attr.Bool(true)},
		{Type: p11.CKA_LABEL, Value: []byte(label)},
		{Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)},
		{Type: p11.CKA_DECRYPT, Value: attr.Bool(true)},
	}
}

var aesKeyGen = ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}

func gcm() ckm.Mechanism {
	return ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}
}

// createKey creates an AES token key through the pool, failing over; it returns the handle.
func createKey(ctx context.Context, p *clustertest.Pool, label string) (uint32, error) {
	var h uint32
	reqCtx := client.WithRequestID(ctx, client.NewRequestID())
	_, err := p.Do(reqCtx, func(ctx context.Context, cl *client.Client) error {
		var err error
		h, err = cl.GenerateKey(ctx, aesKeyGen, aesTemplate(label))
		return err
	})
	return h, err
}

func mustCreateKey(t testing.TB, p *clustertest.Pool, label string) uint32 {
	t.Helper()
	h, err := createKey(ctxT(t, 30*time.Second), p, label)
	if err != nil {
		t.Fatalf("create key %s: %v", label, err)
	}
	return h
}

// roundTrip encrypts and decrypts with key on cl.
func roundTrip(ctx context.Context, cl *client.Client, key uint32) error {
	ct, used, err := cl.Encrypt(ctx, gcm(), key, []byte("attack at dawn"))
	if err != nil {
		return err
	}
	pt, err := cl.Decrypt(ctx, used, key, ct)
	if err != nil {
		return err
	}
	if string(pt) != "attack at dawn" {
		return context.Canceled
	}
	return nil
}

func wantRV(t testing.TB, what string, err error, rv uint32) {
	t.Helper()
	if got := p11.Code(err); got != rv {
		t.Fatalf("%s: got %s (%v), want %s", what, p11.RVName(got), err, p11.RVName(rv))
	}
}

// load is a write workload: writers create AES keys with unique labels through their own
// failover pools, each request with one idempotency id across its retries, and remember every
// key whose creation was acknowledged.
type load struct {
	mu     sync.Mutex
	acked  map[string]uint32 // label -> handle
	failed int
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func startLoad(t testing.TB, c *clustertest.Cluster, writers int) *load {
	l := &load{acked: map[string]uint32{}, stop: make(chan struct{})}
	for w := range writers {
		p := c.Alice(t)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				label := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				h, err := createKey(ctx, p, label)
				cancel()
				l.mu.Lock()
				if err == nil {
					l.acked[label] = h
				} else {
					l.failed++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitFor waits until n more keys than now are acknowledged.
func (l *load) waitFor(t testing.TB, n int) {
	t.Helper()
	want := l.count() + n
	deadline := time.Now().Add(60 * time.Second)
	for l.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("load stalled: %d acknowledged keys, want %d (%d failed)", l.count(), want, l.failed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// halt stops the writers and waits for the calls in flight.
func (l *load) halt() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// checkAcked verifies that every acknowledged key is on every running member, under its
// handle, exactly once.
func (l *load) checkAcked(t testing.TB, c *clustertest.Cluster) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range c.Up() {
		s := n.State()
		for label, h := range l.acked {
			var v []byte
			o, ok := s.Object(h)
			if ok {
				v, _ = o.Attrs.Get(p11.CKA_LABEL)
			}
			if !ok || string(v) != label {
				t.Fatalf("%s: acknowledged key %s (handle %d) missing or different", n, label, h)
			}
			if hs := s.Find(clustertest.CryptoUser, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte(label)}}); len(hs) != 1 {
				t.Fatalf("%s: %d keys labelled %s, want exactly 1 (handles %v)", n, len(hs), label, hs)
			}
		}
	}
	t.Logf("%d acknowledged keys present once on every member (%d writes failed)", len(l.acked), l.failed)
}
