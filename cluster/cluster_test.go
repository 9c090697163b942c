package cluster_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

func TestThreeNodesReplicateAKey(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	alice := c.Alice(t)
	h := mustCreateKey(t, alice, "k1")
	for _, n := range c.Nodes() {
		if err := roundTrip(ctxT(t, 10*time.Second), alice.On(n), h); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	info, err := alice.On(c.Nodes()[2]).Info(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Members) != 3 || info.LeaderId == "" || info.ClusterId != c.ID {
		t.Fatalf("GetInfo: %d members, leader %q, cluster %q", len(info.Members), info.LeaderId, info.ClusterId)
	}
	for _, m := range info.Members {
		if m.Az == "" || m.Addr == "" {
			t.Fatalf("member without AZ or address: %v", m)
		}
	}
	c.AssertConverged(t)
}

func TestLeaderKilledUnderWriteLoad(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	l := startLoad(t, c, 3)
	l.waitFor(t, 30)

	old := c.WaitLeader(t)
	c.Kill(old)
	t.Logf("killed leader %s", old)
	next := c.WaitLeader(t)
	if next == old {
		t.Fatal("the killed node still leads")
	}
	l.waitFor(t, 30) // writes go on under the new leader

	c.Restart(t, old)
	l.waitFor(t, 10)
	l.halt()
	c.AssertConverged(t)
	l.checkAcked(t, c)
}

func TestAZCutOffAndHealed(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5}) // AZs a, b, c, a, b
	leader := c.WaitLeader(t)
	l := startLoad(t, c, 2)
	l.waitFor(t, 10)

	c.Net.IsolateAZ(leader.AZ)
	var rest []*clustertest.Node
	for _, n := range c.Nodes() {
		if n.AZ != leader.AZ {
			rest = append(rest, n)
		}
	}
	t.Logf("AZ %s cut off (with the leader %s); %d members remain", leader.AZ, leader, len(rest))
	c.WaitLeader(t, rest...)
	l.waitFor(t, 20) // the majority keeps taking writes

	c.Heal()
	l.waitFor(t, 10)
	l.halt()
	c.AssertConverged(t)
	l.checkAcked(t, c)
}

func TestMinorityPartitionServesCryptoAndRefusesWrites(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	alice := c.Alice(t)
	key := mustCreateKey(t, alice, "before")
	c.WaitApplied(t, alice.Sess.Index())

	// The minority: the leader and one follower.
	leader := c.WaitLeader(t)
	minority := []*clustertest.Node{leader, c.Others(leader)[0]}
	majority := c.Others(minority...)
	// Each side's application has its own session: one that saw the majority's new writes
	// would rightly wait for them on the minority side.
	onMinority := c.Alice(t)
	onMajority := c.Alice(t)
	c.PartitionOff(minority...)
	c.WaitLeader(t, majority...)

	for _, n := range minority {
		cl := onMinority.On(n)
		if err := roundTrip(ctxT(t, 10*time.Second), cl, key); err != nil {
			t.Fatalf("crypto with an existing key on the minority side (%s): %v", n, err)
		}
		start := time.Now()
		_, err := cl.GenerateKey(ctxT(t, 30*time.Second), aesKeyGen, aesTemplate("minority"))
		t.Logf("write on the minority side (%s) refused after %v: %v", n, time.Since(start).Round(time.Millisecond), err)
		wantRV(t, "a write on the minority side", err, p11.CKR_DEVICE_ERROR)
		if !client.Retryable(err) || !strings.Contains(err.Error(), "no quorum") {
			t.Fatalf("minority write error on %s: %v: want a retryable 'no quorum' error", n, err)
		}
		if st := n.Member().HSMState(); st != cluster.HSMDegraded {
			t.Errorf("%s on the minority side is %s, want DEGRADED", n, st)
		}
	}
	var after uint32
	for _, n := range majority {
		h, err := onMajority.On(n).GenerateKey(ctxT(t, 20*time.Second), aesKeyGen, aesTemplate("majority-"+n.ID))
		if err != nil {
			t.Fatalf("write on the majority side (%s): %v", n, err)
		}
		after = h
	}

	c.Heal()
	c.AssertConverged(t)
	for _, n := range minority {
		if _, ok := n.State().Object(after); !ok {
			t.Fatalf("%s did not get the majority's writes after the heal", n)
		}
		if hs := n.State().Find(clustertest.CryptoUser, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("minority")}}); len(hs) != 0 {
			t.Fatalf("%s holds a key whose creation was refused", n)
		}
	}
}

func TestWipedNodeRejoinsAndCatchesUp(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	alice := c.Alice(t)
	for i := range 40 {
		mustCreateKey(t, alice, "a"+string(rune('0'+i%10))+time.Now().Format("150405.000000"))
	}
	leader := c.WaitLeader(t)
	victim := c.Others(leader)[0]
	c.Wipe(t, victim)
	for i := range 100 { // past the snapshot threshold: the log is compacted behind the victim
		mustCreateKey(t, alice, "b"+time.Now().Format("150405.000000")+string(rune('a'+i%26)))
	}
	c.Rejoin(t, victim)
	h := mustCreateKey(t, alice, "after-rejoin")
	c.AssertConverged(t)
	if err := roundTrip(ctxT(t, 10*time.Second), alice.On(victim), h); err != nil {
		t.Fatalf("the rejoined node cannot use a key: %v", err)
	}
	// Its state comes from the health check, which notices the promotion within a few rounds.
	deadline := time.Now().Add(10 * time.Second)
	for st := victim.Member().HSMState(); st != cluster.HSMActive; st = victim.Member().HSMState() {
		if time.Now().After(deadline) {
			t.Fatalf("rejoined node is still %s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNodeAddedUnderLoadCatchesUp(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	l := startLoad(t, c, 3)
	l.waitFor(t, 80)
	added := c.Add(t, "us-east-1d")
	l.waitFor(t, 20)
	l.halt()
	c.AssertConverged(t)
	l.checkAcked(t, c)
	info, err := c.Alice(t).On(c.Nodes()[0]).Info(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range info.Members {
		found = found || (m.Id == added.ID && m.Az == "us-east-1d" && m.Addr == added.APIAddr())
	}
	if !found {
		t.Fatalf("GetInfo does not list the added node: %v", info.Members)
	}
}

func TestNodeRemoved(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	alice := c.Alice(t)
	mustCreateKey(t, alice, "before")
	leader := c.WaitLeader(t)
	follower := c.Others(leader)[0]

	c.Remove(t, follower)
	mustCreateKey(t, alice, "after-follower")
	c.Remove(t, leader) // the leader removes itself; the rest elect another
	next := c.WaitLeader(t)
	mustCreateKey(t, alice, "after-leader")

	info, err := alice.On(next).Info(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Members) != 3 {
		t.Fatalf("GetInfo lists %d members after two removals: %v", len(info.Members), info.Members)
	}
	for _, m := range info.Members {
		if m.Id == follower.ID || m.Id == leader.ID {
			t.Fatalf("removed node %s still listed", m.Id)
		}
	}
	c.AssertConverged(t)
}

func TestIdempotentRetryAcrossLeaderChange(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	alice := c.Alice(t)
	leader := c.WaitLeader(t)
	ctx := client.WithRequestID(ctxT(t, 30*time.Second), "create-once-"+c.ID)
	h1, err := alice.On(leader).GenerateKey(ctx, aesKeyGen, aesTemplate("once"))
	if err != nil {
		t.Fatal(err)
	}
	// The reply is "lost": the client retries the same request on another node after the
	// leader died.
	c.Kill(leader)
	other := c.Others(leader)[0]
	c.WaitLeader(t, c.Others(leader)...)
	h2, err := alice.On(other).GenerateKey(ctx, aesKeyGen, aesTemplate("once"))
	if err != nil || h2 != h1 {
		t.Fatalf("retry got handle %d (%v), first attempt %d", h2, err, h1)
	}
	c.Restart(t, leader)
	c.AssertConverged(t)
	if hs := other.State().Find(clustertest.CryptoUser, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("once")}}); len(hs) != 1 {
		t.Fatalf("%d keys labelled once, want 1", len(hs))
	}
}

func TestBackupRestoresIntoARelatedCluster(t *testing.T) {
	src := clustertest.Start(t, clustertest.Options{Nodes: 3})
	alice := src.Alice(t)
	key := mustCreateKey(t, alice, "kept")
	ct, used, err := alice.On(src.Nodes()[0]).Encrypt(ctxT(t, 10*time.Second), gcm(), key, []byte("sealed before the backup"))
	if err != nil {
		t.Fatal(err)
	}
	serviceKey := cluster.NewServiceKey()
	leader := src.WaitLeader(t)
	backup, err := leader.Member().Backup(serviceKey)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cluster.ReadBackupInfo(backup)
	if err != nil || info.SourceClusterID != src.ID || !cluster.ValidBackupID(info.ID) || !pki.SameCert(info.TrustAnchorPEM, src.CA.CertPEM) {
		t.Fatalf("backup info %+v (%v)", info, err)
	}
	if bytesContain(backup, []byte("sealed before the backup")) {
		t.Fatal("plaintext in the backup")
	}

	dst := clustertest.StartFromBackup(t, clustertest.Options{Nodes: 3, CA: src.CA}, backup, serviceKey)
	if dst.ID == src.ID {
		t.Fatal("the restored cluster has its source's id")
	}
	alice2 := dst.Alice(t) // users came along
	for _, n := range dst.Nodes() {
		pt, err := alice2.On(n).Decrypt(ctxT(t, 10*time.Second), used, key, ct)
		if err != nil || string(pt) != "sealed before the backup" {
			t.Fatalf("%s: decrypt with the restored key: %q %v", n, pt, err)
		}
		st := n.Member().Status()
		if st.ClusterId != dst.ID || st.ClusterState != cluster.ClusterActive {
			t.Fatalf("%s: status cluster %s state %s", n, st.ClusterId, st.ClusterState)
		}
	}
	srcFP, _ := pki.Fingerprint(src.CA.CertPEM)
	if fp := dst.Nodes()[1].Member().Status().TrustAnchorFingerprint; fp != srcFP {
		t.Fatalf("restored cluster's trust anchor %s, source's %s", fp, srcFP)
	}
	mustCreateKey(t, alice2, "new-in-restored")
	dst.AssertConverged(t)
	src.AssertConverged(t)
}

func TestBackupRefusesWrongServiceKeyAndOtherTrustAnchor(t *testing.T) {
	src := clustertest.Start(t, clustertest.Options{Nodes: 1})
	sk := cluster.NewServiceKey()
	backup, err := src.Nodes()[0].Member().Backup(sk)
	if err != nil {
		t.Fatal(err)
	}
	// CheckBackup (hsmd --restore, before it starts anything) says the same without a member.
	if _, err := cluster.CheckBackup(backup, cluster.NewServiceKey(), src.CA.CertPEM); !errors.Is(err, cluster.ErrBackup) {
		t.Fatalf("CheckBackup, wrong service key: %v, want ErrBackup", err)
	}
	other, err := pki.NewCA("cluster-othertrustanch")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.CheckBackup(backup, sk, other.CertPEM); !errors.Is(err, cluster.ErrUnrelated) {
		t.Fatalf("CheckBackup, other trust anchor: %v, want ErrUnrelated", err)
	}
	if info, err := cluster.CheckBackup(backup, sk, src.CA.CertPEM); err != nil || info.SourceClusterID != src.ID {
		t.Fatalf("CheckBackup of a good backup: %+v, %v", info, err)
	}
	// Same trust anchor, wrong service key.
	c1 := clustertest.New(t, clustertest.Options{CA: src.CA})
	n1 := c1.StartNode(t, "us-east-1a")
	if err := n1.Member().RestoreBackup(ctxT(t, 10*time.Second), backup, cluster.NewServiceKey(), c1.ID); !errors.Is(err, cluster.ErrBackup) {
		t.Fatalf("wrong service key: %v, want ErrBackup", err)
	}
	// Another trust anchor: not a related cluster.
	c2 := clustertest.New(t, clustertest.Options{})
	n2 := c2.StartNode(t, "us-east-1a")
	if err := n2.Member().RestoreBackup(ctxT(t, 10*time.Second), backup, sk, c2.ID); !errors.Is(err, cluster.ErrUnrelated) {
		t.Fatalf("other trust anchor: %v, want ErrUnrelated", err)
	}
}

func bytesContain(b, sub []byte) bool { return strings.Contains(string(b), string(sub)) }
