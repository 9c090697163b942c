package cluster_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/internal/ports"
)

func TestRaftAddrIsTheAPIPortPlus100(t *testing.T) {
	if got, err := cluster.RaftAddr("127.0.0.1:2225"); err != nil || got != "127.0.0.1:2325" {
		t.Fatalf("RaftAddr(127.0.0.1:2225) = %q, %v; want 127.0.0.1:2325", got, err)
	}
	if _, err := cluster.RaftAddr("127.0.0.1"); err == nil {
		t.Fatal("an address without a port has a Raft address")
	}
}

// TestStandaloneNodesInitJoinAndTakeTheirPlaceAgain: a first HSM makes a cluster (trust anchor
// and its key in its directory, the admin activated), a second joins with that anchor, and the
// first, stopped, starts again from its directory alone with the same identity.
func TestStandaloneNodesInitJoinAndTakeTheirPlaceAgain(t *testing.T) {
	base, err := ports.FreeBase(2)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)) }
	root := t.TempDir()
	d1, d2 := cluster.NodeDir(filepath.Join(root, "hsm1")), cluster.NodeDir(filepath.Join(root, "hsm2"))
	ctx := ctxT(t, 2*time.Minute)

	if _, err := cluster.StartStandalone(ctx, cluster.StandaloneOptions{Dir: d1, Listen: addr(0), AZ: "us-east-1a"}); err == nil ||
		!strings.Contains(err.Error(), "--init") {
		t.Fatalf("a new directory without --init or --join: %v", err)
	}
	first, err := cluster.StartStandalone(ctx, cluster.StandaloneOptions{Dir: d1, Listen: addr(0), AZ: "us-east-1a", Init: true,
		AdminPassword: "adminpass1", Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close() // idempotent: it is also closed below
	id1 := first.Identity
	if raft, _ := cluster.RaftAddr(addr(0)); id1.RaftAddr != raft || !cluster.ValidClusterID(id1.ClusterID) {
		t.Fatalf("first identity %+v", id1)
	}
	if got, err := d1.ReadIdentity(); err != nil || *got != id1 {
		t.Fatalf("node.json holds %+v (%v), want %+v", got, err, id1)
	}
	if _, err := d1.CustomerCA(); err != nil {
		t.Fatalf("the first HSM keeps the trust anchor and its key: %v", err)
	}

	second, err := cluster.StartStandalone(ctx, cluster.StandaloneOptions{Dir: d2, Listen: addr(1), AZ: "us-east-1b",
		Join: []string{first.Member.APIAddr()}, CACert: d1.CustomerCAPath(), CAKey: d1.CustomerCAKeyPath(), Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if second.Identity.ClusterID != id1.ClusterID {
		t.Fatalf("the joiner is in %s, want %s", second.Identity.ClusterID, id1.ClusterID)
	}
	if _, err := os.Stat(d2.CustomerCAKeyPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the joiner keeps the trust anchor's key: %v", err)
	}

	// The client config --write-config writes reaches the cluster, and the admin is active.
	cfg := first.ClientConfig()
	cfg.Nodes = append(cfg.Nodes, client.Node{ID: second.Identity.NodeID, AZ: "us-east-1b", Addr: second.Member.APIAddr()})
	cfg.Path = filepath.Join(root, "client.json")
	if err := cfg.Write(cfg.Path); err != nil {
		t.Fatal(err)
	}
	loaded, err := client.LoadConfig(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.DialConfig(loaded)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, "admin", "adminpass1"); err != nil {
		t.Fatalf("admin login with the activated password: %v", err)
	}

	first.Close()
	again, err := cluster.StartStandalone(ctx, cluster.StandaloneOptions{Dir: d1, Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Identity != id1 || again.Member.APIAddr() != addr(0) {
		t.Fatalf("restarted as %+v on %s, want %+v", again.Identity, again.Member.APIAddr(), id1)
	}
}
