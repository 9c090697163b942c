package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// With mutual TLS enforced, the nodes still reach each other on the API port (a follower
// forwards a write to the leader) and a restarted node rejoins, while a client without a
// certificate is refused by every node.
func TestMutualTLSEnforcedCluster(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Timeouts: cluster.FastTimeouts()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	anchor, err := pki.NewCA("apps")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := anchor.Issue("app", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(n *clustertest.Node, withCert bool, user, password string) (*client.Client, error) {
		t.Helper()
		cfg := client.Config{Addr: n.APIAddr(), CAPEM: c.CA.CertPEM, Retries: 1, AttemptTimeout: 2 * time.Second}
		if withCert {
			cfg.CertPEM, cfg.KeyPEM = certPEM, keyPEM
		}
		cl, err := client.Dial(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		_, err = cl.Login(ctx, user, password)
		return cl, err
	}
	follower := c.Others(c.Leader())[0]
	admin, err := dial(follower, true, token.AdminName, clustertest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RegisterTrustAnchor(ctx, anchor.CertPEM); err != nil {
		t.Fatal(err)
	}
	// A connection's certificate is settled at its handshake: the admin connects again, once
	// the follower knows the anchor, to enforce over mutual TLS.
	c.WaitApplied(t, c.Leader().State().Applied())
	admin, err = dial(follower, true, token.AdminName, clustertest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.SetMTLSEnforcement(ctx, true); err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(t, c.Leader().State().Applied())
	for _, n := range c.Nodes() {
		if _, err := dial(n, false, clustertest.CryptoUser, clustertest.CryptoPass); err == nil {
			t.Fatalf("%s admits a client without a certificate", n)
		}
	}
	app, err := dial(follower, true, clustertest.CryptoUser, clustertest.CryptoPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{
		{Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)}, {Type: p11.CKA_TOKEN, Value: attr.Bool(true)}}); err != nil {
		t.Fatalf("a write through a follower (forwarded to the leader over node-to-node TLS): %v", err)
	}
	c.Kill(follower)
	c.Restart(t, follower)
	c.WaitApplied(t, c.Leader().State().Applied())
	c.AssertConverged(t)
}
