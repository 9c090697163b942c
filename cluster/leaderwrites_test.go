package cluster_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/hsmd/client"
)

// A client sends its writes to the Raft leader, which the answer to a write names: a follower
// would forward them there. When the leader is cut off from the other members, the writes still
// succeed (the client forgets the leader at the first failure) and then go to the new leader.
func TestWritesGoToTheLeader(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	leader := c.WaitLeader(t)
	var mu sync.Mutex
	var writes []string // the node of each GenerateKey attempt that succeeded
	cl := dialMembers(t, c, "leader-client", true, client.Config{AttemptTimeout: 2 * time.Second,
		Observe: func(a client.Attempt) {
			if a.Method == "GenerateKey" && a.Err == nil {
				mu.Lock()
				writes = append(writes, a.Node)
				mu.Unlock()
			}
		}})
	ctx := ctxT(t, 60*time.Second)
	if _, err := cl.Login(ctx, clustertest.CryptoUser, clustertest.CryptoPass); err != nil {
		t.Fatal(err)
	}
	// served makes n keys and returns the nodes that answered each (the first write may land
	// anywhere; the answer names the leader).
	served := func(prefix string, n int) []string {
		t.Helper()
		mu.Lock()
		writes = nil
		mu.Unlock()
		for i := range n {
			if _, err := cl.GenerateKey(ctx, aesKeyGen, aesTemplate(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
				t.Fatalf("key %s-%d: %v", prefix, i, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), writes...)
	}
	for i, id := range served("before", 10)[1:] {
		if id != leader.ID {
			t.Fatalf("write %d went to %s, not to the leader %s", i+1, id, leader.ID)
		}
	}

	c.PartitionOff(leader)
	next := c.WaitLeader(t, c.Others(leader)...)
	got := served("after", 10)
	for i, id := range got[len(got)-5:] {
		if id != next.ID {
			t.Fatalf("after the failover, write %d of the last five went to %s, not to the new leader %s (all: %v)", i, id, next.ID, got)
		}
	}
	c.Heal()
	c.AssertConverged(t)
}
