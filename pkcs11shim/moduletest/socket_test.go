package moduletest

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// socketCluster starts a node that serves its socket too and names the socket in the config;
// dead replaces the node's TCP address with one where nothing listens.
func socketCluster(t *testing.T, dead bool) *cluster {
	t.Helper()
	c := newCluster(t, standard)
	if dead {
		c.cfg.Nodes[0].Addr = deadAddr(t)
	}
	c.writeConfig(t)
	return c
}

// The module reaches a node on its own host over the node's Unix socket: with nothing at the
// node's TCP address it logs in, makes a key and signs, and the node counts the connection.
func TestModuleSignsOverTheNodesSocket(t *testing.T) {
	c := socketCluster(t, true)
	must(t, p.Initialize())
	defer p.Finalize()
	s := session(t)
	_, priv := ecKeyPair(t, s, false)
	if sig := sign(t, s, pkcs11.CKM_ECDSA, priv, digest("over the socket")); len(sig) != 64 {
		t.Fatalf("signature of %d bytes, want 64", len(sig))
	}
	if c.node.LocalConnections() == 0 {
		t.Fatal("the node counted no connection on its socket")
	}
}

// A socket other users may connect to is not used: the module logs why and signs over TCP.
func TestModulePassesOverAnUnsafeSocket(t *testing.T) {
	c := socketCluster(t, false)
	if err := os.Chmod(c.node.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	must(t, p.Initialize())
	defer p.Finalize()
	s := session(t)
	_, priv := ecKeyPair(t, s, false)
	sign(t, s, pkcs11.CKM_ECDSA, priv, digest("over TCP"))
	if n := c.node.LocalConnections(); n != 0 {
		t.Fatalf("the node accepted %d connections on a socket open to every user", n)
	}
	b, err := os.ReadFile(c.cfg.LogFile)
	if err != nil || !strings.Contains(string(b), "not using the node's Unix socket") {
		t.Fatalf("the module log does not say why the socket was not used (%v):\n%s", err, b)
	}
}
