package cluster_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/cluster/clustertest"
)

// TestStatusDigest: the Cluster service's Status gives the token digest when asked (so a
// runner of hsmd processes compares replicas' tokens, not only their indexes), the same as the
// token's own, and leaves it out when not asked (hashing the token costs).
func TestStatusDigest(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1})
	n := c.Nodes()[0]
	nodeCert, nodeKey, err := c.CA.Issue(cluster.NewHSMID(), []string{"127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	nc := probe(t, c, n.APIAddr(), nodeCert, nodeKey)
	ctx := ctxT(t, 20*time.Second)
	st, err := nc.Status(ctx, &clusterpb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.TokenDigest != "" {
		t.Errorf("digest given unasked: %s", st.TokenDigest)
	}
	st, err = nc.Status(ctx, &clusterpb.StatusRequest{WithDigest: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := n.State().Digest()
	if err != nil {
		t.Fatal(err)
	}
	if st.TokenDigest != hex.EncodeToString(d) || st.AppliedIndex != n.State().Applied() {
		t.Fatalf("Status: digest %q at %d, the token's %x at %d", st.TokenDigest, st.AppliedIndex, d, n.State().Applied())
	}
}
