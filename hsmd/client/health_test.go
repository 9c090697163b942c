package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

// attempts records a client's attempts.
type attempts struct {
	mu  sync.Mutex
	all []client.Attempt
}

func (a *attempts) observe(at client.Attempt) { a.mu.Lock(); a.all = append(a.all, at); a.mu.Unlock() }

// uncanceledFailures counts the failed attempts on node that were not canceled by the client.
func (a *attempts) uncanceledFailures(node string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, at := range a.all {
		var e *client.Error
		canceled := errors.Is(at.Err, context.Canceled) || errors.As(at.Err, &e) && e.Code == codes.Canceled
		if at.Node == node && at.Err != nil && !canceled {
			n++
		}
	}
	return n
}

// on counts the attempts on node, failed and served.
func (a *attempts) on(node string) (failed, served int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range a.all {
		if at.Node != node {
			continue
		}
		if at.Err != nil {
			failed++
		} else {
			served++
		}
	}
	return failed, served
}

// dialCluster dials the given members of a test cluster as the netsim endpoint name, sharing
// sess (nil: a new one), with Config.Hedge hedge.
func dialCluster(t *testing.T, c *clustertest.Cluster, name string, sess *client.Session, obs func(client.Attempt), hedge time.Duration, members ...*clustertest.Node) *client.Client {
	t.Helper()
	tlsCfg, err := pki.ClientTLS(c.CA.CertPEM, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []client.Node
	for _, n := range members {
		nodes = append(nodes, client.Node{ID: n.ID, AZ: n.AZ, Addr: n.APIAddr()})
	}
	cl, err := client.Dial(client.Config{Nodes: nodes, TLS: tlsCfg, Session: sess, Dialer: c.Net.Dialer(netsim.Endpoint{Name: name}),
		AttemptTimeout: 5 * time.Second, Observe: obs, Hedge: hedge})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func newAESKey(t *testing.T, ctx context.Context, cl *client.Client, label string) uint32 {
	t.Helper()
	h, err := cl.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{
		{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)},
		{Type: p11.CKA_LABEL, Value: []byte(label)}, {Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)}})
	if err != nil {
		t.Fatalf("generate %s: %v", label, err)
	}
	return h
}

var gcm = ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}

// TestBlackholedNodeCostsOneMiss: a node that silently drops the client's bytes (netsim
// partition: no RST, the attempt can only time out) costs the client one miss; every later call
// goes to the other nodes at once while a probe waits for the node, and once the network heals
// the node serves again. Hedged or not, no call waits long.
func TestBlackholedNodeCostsOneMiss(t *testing.T) {
	for _, hedge := range []time.Duration{0, -1} {
		t.Run(fmt.Sprintf("hedge=%v", hedge), func(t *testing.T) { testBlackhole(t, hedge) })
	}
}

func testBlackhole(t *testing.T, hedge time.Duration) {
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var at attempts
	cl := dialCluster(t, c, "app", nil, at.observe, hedge, c.Nodes()...)
	if _, err := cl.Login(ctx, clustertest.CryptoUser, clustertest.CryptoPass); err != nil {
		t.Fatal(err)
	}
	key := newAESKey(t, ctx, cl, "k")
	for i := 0; i < 12; i++ { // every node has served, the latency is known
		if _, _, err := cl.Encrypt(ctx, gcm, key, []byte("warm")); err != nil {
			t.Fatal(err)
		}
	}
	dead := c.Nodes()[0]
	c.Net.Partition("app", dead.ID)
	var slow []time.Duration
	for i := 0; i < 40; i++ {
		start := time.Now()
		if _, _, err := cl.Encrypt(ctx, gcm, key, []byte("during")); err != nil {
			t.Fatalf("call %d with one node black-holed: %v", i, err)
		}
		if took := time.Since(start); took > 150*time.Millisecond {
			slow = append(slow, took)
		}
	}
	// One attempt meets the black hole and the node is passed over from then on. A second
	// failed attempt can only be a hedge that went to the node before any call had found it
	// dead and was canceled when the call's first node answered (under load that first node can
	// take longer than the hedge delay): it cost the call nothing and, canceled, told the client
	// nothing, so the node is still first met by a later call. More than that, or more than one
	// attempt that was not canceled, means the node was tried again after a miss.
	failed, _ := at.on(dead.ID)
	if failed < 1 || failed > 2 || at.uncanceledFailures(dead.ID) > 1 {
		t.Errorf("%d failed attempts on the black-holed node (%d not canceled), want 1 (or a canceled hedge before it)",
			failed, at.uncanceledFailures(dead.ID))
	}
	// The call that met the black hole waits a hedge delay (or, unhedged, an attempt timeout
	// derived from the latency, under 1 s); the others do not wait on the node at all.
	if len(slow) > 1 || len(slow) == 1 && slow[0] > time.Second {
		t.Errorf("calls over 150 ms with one node black-holed: %v", slow)
	}
	c.Net.Heal()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := cl.Encrypt(ctx, gcm, key, []byte("after")); err != nil {
			t.Fatal(err)
		}
		if _, served := at.on(dead.ID); served > 4 { // the warm-up's share, and more
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the healed node got no traffic again within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLaggingNodeServesOldKeysAtOnce: a follower cut off from its peers lags; a read on a key
// that has not changed since before the cut is served there at once, though the session has
// since written; a read on a key made after the cut is not served there from its old state
// (it waits, or the client goes elsewhere), and a client of the whole cluster does not send it
// there at all.
func TestLaggingNodeServesOldKeysAtOnce(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader := c.WaitLeader(t)
	lag := c.Others(leader)[0]
	sess := &client.Session{}
	var at attempts
	all := dialCluster(t, c, "app", sess, at.observe, 0, c.Nodes()...)
	if _, err := all.Login(ctx, clustertest.CryptoUser, clustertest.CryptoPass); err != nil {
		t.Fatal(err)
	}
	old := newAESKey(t, ctx, all, "old")
	c.WaitApplied(t, sess.Index())
	for i := 0; i < 6; i++ { // every node reports what it has applied
		if _, _, err := all.Encrypt(ctx, gcm, old, []byte("warm")); err != nil {
			t.Fatal(err)
		}
	}

	_, servedWarm := at.on(lag.ID)
	c.PartitionOff(lag)
	onLeader := dialCluster(t, c, "app", sess, nil, 0, leader)
	fresh := newAESKey(t, ctx, onLeader, "fresh")
	onLag := dialCluster(t, c, "app", sess, nil, 0, lag)
	if _, err := onLag.GenerateRandom(ctx, 8); err != nil { // the connection is made: what is timed next is the read
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := onLag.Encrypt(ctx, gcm, old, []byte("old key")); err != nil {
		t.Fatalf("the lagging node refused a read on a key older than its state: %v", err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("a read on an old key waited %s on the lagging node", took)
	}
	short, cancelShort := context.WithTimeout(ctx, 800*time.Millisecond)
	_, _, err := onLag.Encrypt(short, gcm, fresh, []byte("fresh key"))
	cancelShort()
	if err == nil || p11.Code(err) == p11.CKR_KEY_HANDLE_INVALID || p11.Code(err) == p11.CKR_OBJECT_HANDLE_INVALID {
		t.Fatalf("the lagging node answered a read on a key it has not applied: %v", err)
	}

	// A client that has seen the node lag (a read of an old key served there after the cut)
	// sends it no read of the new key.
	for i := 0; ; i++ {
		if _, served := at.on(lag.ID); served > servedWarm {
			break
		}
		if i == 20 {
			t.Fatal("the lagging node served no read of the old key")
		}
		if _, _, err := all.Encrypt(ctx, gcm, old, []byte("old key")); err != nil {
			t.Fatal(err)
		}
	}
	failedBefore, servedBefore := at.on(lag.ID)
	for i := 0; i < 10; i++ {
		if _, _, err := all.Encrypt(ctx, gcm, fresh, []byte("fresh key")); err != nil {
			t.Fatalf("read %d of the new key: %v", i, err)
		}
	}
	if failed, served := at.on(lag.ID); failed != failedBefore || served != servedBefore {
		t.Errorf("reads of a key the lagging node has not applied were sent there: %d failed, %d served", failed-failedBefore, served-servedBefore)
	}
	// A client that has not: the node costs it a hedge delay or two (its first read there, a
	// hedge that lost), then it is known to lag; no read of the new key waits on it.
	var at2 attempts
	other := dialCluster(t, c, "app", sess, at2.observe, 0, c.Nodes()...)
	for i := 0; i < 10; i++ {
		start := time.Now()
		if _, _, err := other.Encrypt(ctx, gcm, fresh, []byte("fresh key")); err != nil {
			t.Fatalf("read %d of the new key: %v", i, err)
		}
		if took := time.Since(start); took > 200*time.Millisecond {
			t.Errorf("read %d of the new key took %s", i, took)
		}
	}
	if failed, served := at2.on(lag.ID); failed > 2 || served > 0 {
		t.Errorf("a new client sent reads of the new key to the lagging node: %d failed, %d served", failed, served)
	}
	c.Heal()
}
