package cluster_test

import (
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// laggingFollower starts a cluster whose leader's traffic to one follower is delayed by lag, so
// that the follower applies what the leader acknowledges lag later.
func laggingFollower(t *testing.T, lag time.Duration) (c *clustertest.Cluster, leader, behind *clustertest.Node) {
	c = clustertest.Start(t, clustertest.Options{Nodes: 3})
	leader = c.WaitLeader(t)
	behind = c.Others(leader)[0]
	c.Net.SetLink(leader.ID, behind.ID, netsim.Link{Latency: lag})
	return c, leader, behind
}

// A user created through one client logs in through another client on a follower that has not
// applied the creation yet: the login must wait for what the leader committed, not answer
// "user not found" (the KMS's key store logging in as kmsuser right after the admin made it).
func TestLoginOnALaggingFollowerSeesAnAcknowledgedUser(t *testing.T) {
	c, leader, behind := laggingFollower(t, time.Second)
	adm := adminPool(t, c)
	ctx := client.WithRequestID(ctxT(t, 30*time.Second), client.NewRequestID())
	if err := adm.On(leader).CreateUser(ctx, "kmsuser", hsmpb.Role_ROLE_CRYPTO_USER, "kmsuserpass1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := behind.State().User("kmsuser"); ok {
		t.Fatal("the follower already has the user: it does not lag, the test proves nothing")
	}
	fresh := c.Pool(t)
	if _, err := fresh.On(behind).Login(ctxT(t, 20*time.Second), "kmsuser", "kmsuserpass1"); err != nil {
		t.Fatalf("login on the lagging follower: %v", err)
	}
	c.Net.Heal()
}

// A user nobody created still gets CKR_PIN_INCORRECT (reason: user not found) on a follower,
// and the answer does not wait for the read barrier's bound.
func TestLoginOfAnUnknownUserOnAFollowerFailsPromptly(t *testing.T) {
	c, _, behind := laggingFollower(t, 0)
	fresh := c.Pool(t)
	start := time.Now()
	_, err := fresh.On(behind).Login(ctxT(t, 20*time.Second), "nobody", "nobodypass1")
	if p11.Code(err) != p11.CKR_PIN_INCORRECT || p11.Reason(err) != p11.ReasonUserNotFound {
		t.Fatalf("unknown user: %v, want CKR_PIN_INCORRECT (user not found)", err)
	}
	// Bounded, not a speed claim: under the node's read-your-writes bound (5 s).
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("unknown user answered after %v", d)
	}
}

// On a follower cut off from the leader (a minority partition), the read barrier cannot be
// had: a login miss answers from the node's own view, CKR_PIN_INCORRECT, once the question to
// the leader gives up (2 s), not after the node's whole read-your-writes bound (5 s).
func TestLoginOfAnUnknownUserOnAPartitionedFollowerIsBounded(t *testing.T) {
	c, _, behind := laggingFollower(t, 0)
	fresh := c.Pool(t)
	cl := fresh.On(behind)
	if _, err := cl.Info(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.PartitionOff(behind)
	defer c.Heal()
	start := time.Now()
	_, err := cl.Login(ctxT(t, 20*time.Second), "nobody", "nobodypass1")
	if p11.Code(err) != p11.CKR_PIN_INCORRECT || p11.Reason(err) != p11.ReasonUserNotFound {
		t.Fatalf("unknown user on a cut-off follower: %v, want CKR_PIN_INCORRECT (user not found)", err)
	}
	if d := time.Since(start); d > 4500*time.Millisecond {
		t.Fatalf("unknown user answered after %v", d)
	}
}
