package cluster_test

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/internal/ports"
)

// A standalone HSM (hsmsim hsmd) serves its node API on DATA/run/hsm.sock too and names it in
// the client config it writes: a client of that config logs in with the HSM's TCP port dead,
// and after a stop the socket is gone.
func TestStandaloneServesItsSocketAndNamesItInTheConfig(t *testing.T) {
	base, err := ports.FreeBase(1)
	if err != nil {
		t.Fatal(err)
	}
	d := cluster.NodeDir(filepath.Join(t.TempDir(), "hsm1"))
	ctx := ctxT(t, time.Minute)
	s, err := cluster.StartStandalone(ctx, cluster.StandaloneOptions{Dir: d, Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(base)),
		AZ: "us-east-1a", Init: true, AdminPassword: "adminpass1", Timeouts: cluster.FastTimeouts(), Socket: d.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := s.ClientConfig()
	if got := cfg.Nodes[0].Socket; got != d.SocketPath() || !filepath.IsAbs(got) {
		t.Fatalf("the config names socket %q, want %s (absolute)", got, d.SocketPath())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes[0].Addr = l.Addr().String()
	l.Close()
	cl, err := client.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, "admin", "adminpass1"); err != nil {
		t.Fatalf("admin login over the socket: %v", err)
	}
	if s.Member.Node().LocalConnections() == 0 {
		t.Fatal("the HSM counted no connection on its socket")
	}
	s.Close()
	if _, err := net.Dial("unix", d.SocketPath()); err == nil {
		t.Fatal("the socket still answers after the HSM stopped")
	}
}
