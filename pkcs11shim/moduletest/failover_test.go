package moduletest

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	hsmcluster "github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clustertest"
)

// startNodes starts an n-node cluster and points the module's config at every node, without
// initializing the module.
func startNodes(t *testing.T, n int) (*clustertest.Cluster, moduleConfig) {
	t.Helper()
	return startNodesWith(t, clustertest.Options{Nodes: n})
}

// startNodesWith is startNodes with the cluster started with o (fast timeouts); with o.Sockets
// the config names each node's socket.
func startNodesWith(t *testing.T, o clustertest.Options) (*clustertest.Cluster, moduleConfig) {
	t.Helper()
	o.Timeouts = hsmcluster.FastTimeouts()
	c := clustertest.Start(t, o)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "customerCA.crt"), c.CA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := moduleConfig{ClusterID: c.ID, TrustAnchor: "customerCA.crt", AttemptTimeout: "1s",
		LogFile: filepath.Join(dir, "module.log"), LogLevel: "debug"}
	for _, n := range c.Nodes() {
		cfg.Nodes = append(cfg.Nodes, nodeConfig{ID: n.ID, AZ: n.AZ, Addr: n.APIAddr(), Socket: n.Socket()})
	}
	cl := &cluster{dir: dir, cfgPath: filepath.Join(dir, "client.json"), cfg: cfg}
	cl.writeConfig(t)
	t.Setenv("HSMSIM_PKCS11_CONFIG", cl.cfgPath)
	return c, cfg
}

// TestSigningLoopSurvivesAKilledNode: an application signs in a loop through the module while
// one HSM of a three-node cluster is killed. The module fails over; the application sees no
// error, and every signature verifies.
func TestSigningLoopSurvivesAKilledNode(t *testing.T) {
	signThroughAKill(t, false)
}

// TestSigningLoopSurvivesAKilledNodeOverSockets is the same loop with the module reaching the
// nodes over their Unix sockets: the killed node's socket goes with it, and the module fails
// over as it does over TCP.
func TestSigningLoopSurvivesAKilledNodeOverSockets(t *testing.T) {
	c := signThroughAKill(t, true)
	var local int64
	for _, n := range c.Nodes() {
		if m := n.Member(); m != nil {
			local += m.Node().LocalConnections()
		}
	}
	if local == 0 {
		t.Fatal("no surviving node counted a connection on its socket")
	}
}

func signThroughAKill(t *testing.T, sockets bool) *clustertest.Cluster {
	t.Helper()
	c, cfg := startNodesWith(t, clustertest.Options{Nodes: 3, Sockets: sockets})
	must(t, p.Initialize())
	defer p.Finalize()

	s := open(t, true)
	must(t, p.Login(s, pkcs11.CKU_USER, clustertest.CryptoUser+":"+clustertest.CryptoPass))
	pub, priv := ecKeyPair(t, s, true)
	// Every node must hold the new key before one of them dies (the client's index makes the
	// nodes it asks wait for it; the killed one must not be the only one that has it).
	c.WaitApplied(t, c.Leader().State().Applied())

	digest := sha256.Sum256([]byte("signed through a failover"))
	const total, killAt = 150, 40
	var victim *clustertest.Node
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; i < total; i++ {
		if i == killAt {
			victim = c.Others(c.Leader())[0] // a follower: signing needs no leader
			t.Logf("killing %s at signature %d", victim, i)
			c.Kill(victim)
		}
		must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), priv))
		sig, err := p.Sign(s, digest[:])
		if err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		must(t, p.VerifyInit(s, mechs(pkcs11.CKM_ECDSA, nil), pub))
		if err := p.Verify(s, digest[:], sig); err != nil {
			t.Fatalf("signature %d does not verify: %v", i, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d signatures before the deadline", i)
		}
	}
	// The loop did meet the dead node: the module logged its failover.
	log, err := os.ReadFile(cfg.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "trying another") || !strings.Contains(string(log), victim.ID) {
		t.Fatalf("no failover away from %s in the module log:\n%s", victim.ID, log)
	}
	return c
}
