package client_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// TestFailsOverPastADeadNode: with a dead node first in its list, every call still succeeds on
// the live one, and the attempts show who served what.
func TestFailsOverPastADeadNode(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	var mu sync.Mutex
	var attempts []client.Attempt
	dead := deadAddr(t)
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: dead}, {Addr: n.Addr}}, CAPEM: n.CA.CertPEM,
		AttemptTimeout: time.Second, Observe: func(a client.Attempt) { mu.Lock(); attempts = append(attempts, a); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatalf("login with a dead node listed first: %v", err)
	}
	for i := 0; i < 10; i++ {
		if _, err := c.GenerateRandom(ctx, 8); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var onDead, onLive int
	for _, a := range attempts {
		switch {
		case a.Node == dead && a.Err != nil:
			onDead++
		case a.Node == n.Addr && a.Err == nil:
			onLive++
		default:
			t.Errorf("unexpected attempt %+v", a)
		}
	}
	if onDead == 0 || onLive != 11 {
		t.Fatalf("%d failed attempts on the dead node, %d successes on the live one (want ≥1 and 11)", onDead, onLive)
	}
	if onDead > 3 {
		t.Errorf("the dead node was tried %d times: it should be skipped while marked down", onDead)
	}
}

// TestAllNodesDownIsADeviceErrorNotAHang: with no node reachable a call ends within its bounds
// with CKR_DEVICE_ERROR.
func TestAllNodesDownIsADeviceErrorNotAHang(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: deadAddr(t)}, {Addr: deadAddr(t)}}, CAPEM: n.CA.CertPEM, AttemptTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.GenerateRandom(context.Background(), 8)
	if p11.Code(err) != p11.CKR_DEVICE_ERROR || !client.Retryable(err) {
		t.Fatalf("all nodes down: %v, want a retryable CKR_DEVICE_ERROR", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestNodeErrorsAreNotRetried: a refusal by a node (a wrong password) comes back at once with
// the node's code; it is not tried elsewhere.
func TestNodeErrorsAreNotRetried(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	tries := 0
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: n.Addr}, {Addr: n.Addr}}, CAPEM: n.CA.CertPEM,
		Observe: func(client.Attempt) { tries++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Login(context.Background(), nodetest.CryptoUser, "wrongpass1")
	if p11.Code(err) != p11.CKR_PIN_INCORRECT || client.Retryable(err) {
		t.Fatalf("wrong password: %v", err)
	}
	if tries != 1 {
		t.Fatalf("a node's refusal was tried %d times", tries)
	}
}

// TestRefreshLearnsMembersAndForgetsRemovedOnes: nodes the cluster lists are added, and a node
// it no longer lists is no longer picked.
func TestRefreshLearnsMembersAndForgetsRemovedOnes(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	stale := deadAddr(t)
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: n.Addr}, {Addr: stale}}, CAPEM: n.CA.CertPEM})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A lone node lists no members (no cluster layer): nothing is removed on an empty list.
	if _, err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Nodes()); got != 2 {
		t.Fatalf("%d nodes after refreshing from a node that lists no members, want 2", got)
	}
	// The node reports itself as the only member: the stale address is dropped.
	n.SetMembers(func() []*hsmpb.Member {
		return []*hsmpb.Member{{Id: "hsm-testnode00001", Az: "us-east-1a", Addr: n.Addr}}
	})
	if _, err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := c.Nodes()
	if len(nodes) != 1 || nodes[0].Addr != n.Addr || nodes[0].ID != "hsm-testnode00001" {
		t.Fatalf("after refresh: %+v", nodes)
	}
	for i := 0; i < 5; i++ { // every call lands on the member, none on the dropped address
		if _, err := c.GenerateRandom(ctx, 4); err != nil {
			t.Fatal(err)
		}
	}
}
