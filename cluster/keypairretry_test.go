package cluster_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// p256 is the DER OID of the P-256 curve (CKA_EC_PARAMS).
var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// A C_GenerateKeyPair whose attempt times out on the client (the node's reply arrives after the
// attempt timeout, though the write was applied) and that the client retries on another node
// leaves one key pair on the token, not one per attempt.
func TestGenerateKeyPairRetriedAfterAttemptTimeoutsMakesOnePair(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	leader := c.WaitLeader(t)
	slow := c.Others(leader)[0]
	// No HSM ids: the client does not prefer the leader for writes, so they reach the slow
	// follower too.
	var timedOut atomic.Int32
	cl := dialMembers(t, c, "keypair-client", false, client.Config{Retries: 3,
		AttemptTimeout: 700 * time.Millisecond,
		Observe: func(a client.Attempt) {
			if a.Method == "GenerateKeyPair" && a.Err != nil {
				timedOut.Add(1)
			}
		}})
	ctx := ctxT(t, 60*time.Second)
	if _, err := cl.Login(ctx, clustertest.CryptoUser, clustertest.CryptoPass); err != nil {
		t.Fatal(err)
	}
	// Connections to every node first (a slow link would make the dial, not the reply, late).
	for range 30 {
		if _, err := cl.GenerateRandom(ctx, 8); err != nil {
			t.Fatal(err)
		}
	}
	// One follower's answers reach the client late: a write sent there is forwarded and
	// applied, but its reply misses the attempt timeout, and the client retries elsewhere.
	c.Net.SetLink(slow.ID, "keypair-client", netsim.Link{Latency: 1200 * time.Millisecond})
	tok := attr.Attribute{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}
	made := 0
	for ; made < 12 && timedOut.Load() == 0; made++ {
		i := made
		label := attr.Attribute{Type: p11.CKA_LABEL, Value: []byte(fmt.Sprintf("pair-%d", i))}
		_, _, err := cl.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
			[]attr.Attribute{tok, label, {Type: p11.CKA_EC_PARAMS, Value: p256}, {Type: p11.CKA_VERIFY, Value: attr.Bool(true)}},
			[]attr.Attribute{tok, label, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
		if err != nil {
			t.Fatalf("pair %d: %v", i, err)
		}
	}
	if timedOut.Load() == 0 {
		t.Fatal("no attempt timed out: the test proves nothing")
	}
	c.Net.Heal()
	time.Sleep(2 * time.Second) // the late attempts' replies drain; their writes are in the log
	c.WaitApplied(t, leader.State().Applied())
	for i := range made {
		label := attr.Attribute{Type: p11.CKA_LABEL, Value: []byte(fmt.Sprintf("pair-%d", i))}
		for _, n := range c.Nodes() {
			if hs := n.State().Find(clustertest.CryptoUser, []attr.Attribute{label}); len(hs) != 2 {
				t.Errorf("%s: %d objects labelled pair-%d, want one pair", n, len(hs), i)
			}
		}
	}
}
