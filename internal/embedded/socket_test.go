package embedded

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
)

// `hsmsim up` serves each HSM's node API on a Unix socket in its data directory and names the
// sockets in the client config it writes: a client of that config reaches the cluster with
// every TCP address dead, and the HSMs count its connections on their sockets.
func TestUpServesEachHSMOnItsSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := Up(ctx, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg, err := client.LoadConfig(c.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range cfg.Nodes {
		if n.Socket == "" {
			t.Fatalf("node %s: no socket in the client config", n.ID)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Nodes[i].Addr = l.Addr().String()
		l.Close()
	}
	cl, err := client.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, c.State.CryptoUser, c.State.CryptoPass); err != nil {
		t.Fatalf("login over the sockets: %v", err)
	}
	var local int64
	for _, m := range c.Members {
		local += m.Node().LocalConnections()
	}
	if local == 0 {
		t.Fatal("no HSM counted a connection on its socket")
	}
}
