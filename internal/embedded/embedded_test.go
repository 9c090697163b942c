package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/internal/ports"
)

// TestUpCreatesAndResumesTheCluster: the first Up makes an initialized 3-HSM cluster in 3 AZs
// with a crypto user, through the CloudHSM service, and serves the KMS; a key made through it is
// there after the cluster is stopped and started again from its data directory.
func TestUpCreatesAndResumesTheCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := testOptions(t)
	c, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	azs := map[string]bool{}
	for _, n := range c.State.Nodes {
		azs[n.AZ] = true
	}
	if len(c.Members) != 3 || len(azs) != 3 {
		t.Fatalf("%d members in %d AZs, want 3 in 3", len(c.Members), len(azs))
	}
	if c.KMS == nil || c.State.KMSURL == "" {
		t.Fatal("no KMS endpoint")
	}
	if d, err := c.Service.Cluster(ctx, "", "", c.State.ClusterID); err != nil || d.State != "ACTIVE" || len(d.TrustAnchorPEM) == 0 {
		t.Fatalf("cluster %+v %v, want ACTIVE with the customer's trust anchor", d, err)
	}
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Login(ctx, c.State.CryptoUser, c.State.CryptoPass); err != nil {
		t.Fatal(err)
	}
	h, err := cl.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{
		{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)}, {Type: p11.CKA_LABEL, Value: []byte("kept")}})
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c.Close()

	c2, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.State.ClusterID != c.State.ClusterID {
		t.Fatalf("resumed cluster %s, want %s", c2.State.ClusterID, c.State.ClusterID)
	}
	if err := c2.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	cl2, err := c2.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if _, err := cl2.Login(ctx, c.State.CryptoUser, c.State.CryptoPass); err != nil {
		t.Fatal(err)
	}
	hs, err := cl2.FindObjects(ctx, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("kept")}})
	if err != nil || len(hs) != 1 || hs[0] != h {
		t.Fatalf("key after restart: %v %v (want [%d])", hs, err, h)
	}
}

// testOptions are a fast embedded stack's in a new directory, on free ports, the KMS on loopback.
func testOptions(t *testing.T) Options {
	t.Helper()
	base, err := ports.FreeBase(3)
	if err != nil {
		t.Fatal(err)
	}
	return Options{DataDir: t.TempDir(), BasePort: base, KMSListen: "127.0.0.1:0", NoSync: true,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts()}
}
