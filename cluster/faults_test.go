package cluster_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

func TestUndecodableEntryStopsEveryNodeAndIsNeverSkipped(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	alice := c.Alice(t)
	mustCreateKey(t, alice, "before")
	c.AssertConverged(t)
	applied := c.Nodes()[0].State().Applied()

	// A token entry whose command has a version no node knows: it gets into the log only by
	// going around the proposer, which decodes every command before proposing it.
	leader := c.WaitLeader(t)
	if err := leader.Member().Raft().Apply([]byte{1, 2, 99, 0}, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitMajorityHalted(t, c, applied)
	// Restarted, the members elect a leader, learn the entry is committed, meet it again and
	// halt again: it is never skipped. (Once a majority halted, the last one cannot learn that
	// the entry is committed; it stays leaderless, applies nothing and refuses writes.)
	for _, n := range c.Nodes() {
		c.Kill(n)
	}
	for _, n := range c.Nodes() {
		c.Restart(t, n)
	}
	waitMajorityHalted(t, c, applied)
	c.AssertConverged(t)
}

// waitMajorityHalted waits until a majority halted at applied; no member may have gone past it.
// (The members that halt first take the leader with them, so a minority may never learn that the
// entry is committed: it then stays leaderless and applies nothing.)
func waitMajorityHalted(t *testing.T, c *clustertest.Cluster, applied uint64) {
	t.Helper()
	waitFor(t, "a majority halting", func() bool {
		halted := 0
		for _, n := range c.Nodes() {
			if n.Member().Err() != nil {
				halted++
			}
		}
		return halted > len(c.Nodes())/2
	})
	for _, n := range c.Nodes() {
		if n.Member().Err() != nil {
			waitHalted(t, n, applied)
		} else if got := n.State().Applied(); got != applied {
			t.Fatalf("%s applied index moved from %d to %d past a bad entry", n, applied, got)
		}
	}
}

func waitHalted(t *testing.T, n *clustertest.Node, applied uint64) {
	t.Helper()
	m := n.Member()
	select {
	case <-m.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not halt on an undecodable entry", n)
	}
	if err := m.Err(); !errors.Is(err, cluster.ErrHalted) || !errors.Is(err, token.ErrBadCommand) {
		t.Fatalf("%s halted with %v, want ErrHalted and token.ErrBadCommand", n, err)
	}
	if got := n.State().Applied(); got != applied {
		t.Fatalf("%s applied index moved from %d to %d past a bad entry", n, applied, got)
	}
	if st := m.HSMState(); st != cluster.HSMDegraded {
		t.Fatalf("%s is %s after halting, want DEGRADED", n, st)
	}
}

// probe dials a member's API address through netsim with the given client certificate (nil:
// none) and returns a Cluster service client.
func probe(t *testing.T, c *clustertest.Cluster, addr string, cert, key []byte) clusterpb.ClusterClient {
	t.Helper()
	cfg, err := pki.ClientTLS(c.CA.CertPEM, "127.0.0.1", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithContextDialer(c.Net.Dialer(netsim.Endpoint{Name: "probe-" + t.Name()})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return clusterpb.NewClusterClient(conn)
}

func TestClusterServiceAndRaftRequireANodeCertificate(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1})
	n := c.Nodes()[0]
	appCert, appKey, err := c.CA.Issue("kms-client", nil, true) // same trust anchor, not an HSM
	if err != nil {
		t.Fatal(err)
	}
	nodeID := cluster.NewHSMID()
	nodeCert, nodeKey, err := c.CA.Issue(nodeID, []string{"127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	rec := &clusterpb.MemberRecord{Id: nodeID, Az: "us-east-1b", ApiAddr: "127.0.0.1:1", RaftAddr: "127.0.0.1:2"}
	for name, pc := range map[string]clusterpb.ClusterClient{
		"no certificate":          probe(t, c, n.APIAddr(), nil, nil),
		"application certificate": probe(t, c, n.APIAddr(), appCert, appKey),
	} {
		if _, err := pc.Status(ctx, &clusterpb.StatusRequest{}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: Status: %v, want PermissionDenied", name, err)
		}
		if _, err := pc.Join(ctx, &clusterpb.JoinRequest{Member: rec}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: Join: %v, want PermissionDenied", name, err)
		}
		if _, err := pc.Forward(ctx, &clusterpb.ForwardRequest{Command: []byte{1, 1, 0}}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: Forward: %v, want PermissionDenied", name, err)
		}
	}
	nc := probe(t, c, n.APIAddr(), nodeCert, nodeKey)
	if st, err := nc.Status(ctx, &clusterpb.StatusRequest{}); err != nil || st.Id != n.ID {
		t.Fatalf("node certificate: Status %v %v", st, err)
	}
	other := &clusterpb.MemberRecord{Id: cluster.NewHSMID(), Az: "us-east-1b", ApiAddr: "127.0.0.1:1", RaftAddr: "127.0.0.1:2"}
	if _, err := nc.Join(ctx, &clusterpb.JoinRequest{Member: other}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("joining under another node's id: %v, want PermissionDenied", err)
	}
	if _, err := nc.Forward(ctx, &clusterpb.ForwardRequest{Command: []byte{1, 9, 0}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("forwarding an undecodable command: %v, want InvalidArgument (and nothing in the log)", err)
	}

	// Raft's transport: an application certificate does not get a byte through.
	raw, err := c.Net.DialTimeout(netsim.Endpoint{Name: "probe-raft"}, n.Member().RaftAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := pki.ClientTLS(c.CA.CertPEM, "127.0.0.1", appCert, appKey)
	tc := tls.Client(raw, cfg)
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = tc.Write([]byte{0}) // TLS 1.3: the server judges the client certificate after the client's handshake
	if _, err := tc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the Raft transport answered a client without a node certificate")
	}
	c.AssertConverged(t)
}

func TestHealthCheckTracksHSMState(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	waitStates(t, c.Nodes(), cluster.HSMActive)
	leader := c.WaitLeader(t)
	if cs := leader.Member().ClusterState(); cs != cluster.ClusterActive {
		t.Fatalf("cluster state %s, want ACTIVE (admin activated)", cs)
	}
	victim := c.Others(leader)[0]
	c.PartitionOff(victim)
	waitStates(t, []*clustertest.Node{victim}, cluster.HSMDegraded)
	// The leader's view of the cut-off member, from its health check, says so too.
	waitFor(t, "the leader sees the victim DEGRADED", func() bool {
		for _, ms := range leader.Member().Status().Members {
			if ms.Member.Id == victim.ID {
				return ms.HsmState == string(cluster.HSMDegraded)
			}
		}
		return false
	})
	c.Heal()
	waitStates(t, c.Nodes(), cluster.HSMActive)
	c.AssertConverged(t)
}

func waitStates(t *testing.T, nodes []*clustertest.Node, want cluster.HSMState) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, n.String()+" "+string(want), func() bool { return n.Member().HSMState() == want })
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSetFaultsCarriesNetsimRulesOverTheAdminRPC(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 2})
	a, b := c.Nodes()[0], c.Nodes()[1]
	cert, key, err := c.CA.Issue(cluster.NewHSMID(), []string{"127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	admin := probe(t, c, a.APIAddr(), cert, key)
	rule, _ := json.Marshal(netsim.Rule{Kind: netsim.KindPartition, From: a.ID, To: b.ID})
	ctx := ctxT(t, 20*time.Second)
	r, err := admin.SetFaults(ctx, &clusterpb.SetFaultsRequest{Clear: true, RulesJson: []string{string(rule)}})
	if err != nil || len(r.RulesJson) != 1 || !c.Net.Blocked(netsim.Endpoint{Name: a.ID}, netsim.Endpoint{Name: b.ID}) {
		t.Fatalf("SetFaults: %v %v; rules in force %v", r, err, c.Net.Rules())
	}
	if _, err := admin.SetFaults(ctx, &clusterpb.SetFaultsRequest{RulesJson: []string{`{"kind":"bogus"}`}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a bad rule: %v, want InvalidArgument", err)
	}
	if r, err := admin.SetFaults(ctx, &clusterpb.SetFaultsRequest{Clear: true}); err != nil || len(r.RulesJson) != 0 {
		t.Fatalf("clearing: %v %v", r, err)
	}
	c.AssertConverged(t)
}

func TestIDsFollowTheAWSPatterns(t *testing.T) {
	for range 100 {
		if id := cluster.NewClusterID(); !cluster.ValidClusterID(id) {
			t.Fatalf("NewClusterID %q", id)
		}
		if id := cluster.NewHSMID(); !cluster.ValidHSMID(id) {
			t.Fatalf("NewHSMID %q", id)
		}
		if id := cluster.NewBackupID(); !cluster.ValidBackupID(id) {
			t.Fatalf("NewBackupID %q", id)
		}
	}
	for _, bad := range []string{"hsm-", "hsm-abc", "hsm-abcdefghij01", "hsm-abcdefghijklmnopq", "cluster-abcdefghijk", "HSM-abcdefghijk"} {
		if cluster.ValidHSMID(bad) {
			t.Errorf("ValidHSMID(%q)", bad)
		}
	}
	if !cluster.ValidHSMID("hsm-ABCdef234567") || cluster.ValidClusterID("cluster-abc1defghijk") {
		t.Error("pattern [2-7a-zA-Z]{11,16} not followed")
	}
}

// TestStopDoesNotHangOnAHeldLink: a leader replicating under load to a follower whose link holds
// every byte (partitioned, never healed) still stops within a bounded time. The deadlock in
// Raft's pipelined replication that pipelinedTransport releases was seen in the scenario library;
// this simpler setup does not always reach it, so it guards the bound rather than reproducing it.
func TestStopDoesNotHangOnAHeldLink(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	l := startLoad(t, c, 2)
	time.Sleep(300 * time.Millisecond)
	leader := c.WaitLeader(t)
	follower := c.Others(leader)[0]
	c.Net.Partition(leader.ID, follower.ID)
	time.Sleep(500 * time.Millisecond) // entries pile up in the held pipeline
	l.halt()
	done := make(chan struct{})
	go func() { leader.Member().Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the leader's Close hangs on a held link")
	}
	c.Heal()
}
