// Package nodetest starts real hsmsim nodes for tests and benchmarks: a data directory, a trust
// anchor and node certificate, a gRPC server with TLS on a loopback port, an initialized token
// with an activated admin and a crypto user. Nothing is mocked: clients reach the node over TLS.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/server"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Users every started node has.
const (
	AdminPassword = "adminpass1"
	CryptoUser    = "alice"
	CryptoPass    = "alicepass1"
	ClusterID     = "cluster-testtesttestab"
)

// FastKDF keeps argon2id real but cheap, so tests that log in often stay fast.
var FastKDF = token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// Node is a running node.
type Node struct {
	*server.Node
	Dir  string
	Addr string
	// Socket is the node API's Unix socket (Options.Socket), in Dir/run.
	Socket string
	CA     *pki.CA
	cert   []byte
	key    []byte
	srv    *grpc.Server
	local  *server.LocalServer
	Log    *slog.Logger
	sync   bool
	LogTo  io.Writer
	lease  time.Duration
}

// Options tune Start.
type Options struct {
	Dir   string    // default t.TempDir()
	Sync  bool      // fsync the store (benchmarks of durable writes)
	LogTo io.Writer // where the node logs (default: discarded)
	// LoginLease is the node's login lease (zero: server.DefaultLoginLease).
	LoginLease time.Duration
	// Socket: serve the node API on a Unix socket too (Node.Socket).
	Socket bool
}

// Start starts an initialized node: admin activated with AdminPassword, crypto user alice.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.LogTo == nil {
		o.LogTo = io.Discard
	}
	ca, err := pki.NewCA(ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("hsm-testnode00001", []string{"127.0.0.1", "localhost"}, false)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{Dir: o.Dir, CA: ca, cert: cert, key: key, sync: o.Sync, LogTo: o.LogTo, lease: o.LoginLease,
		Log: slog.New(slog.NewTextHandler(o.LogTo, nil))}
	if o.Socket {
		n.Socket = filepath.Join(o.Dir, "run", "hsm.sock")
	}
	n.start(t)
	ctx := context.Background()
	if err := n.Bootstrap(ctx, ClusterID, "hsmsim-test"); err != nil {
		t.Fatal(err)
	}
	adm := n.Login(t, token.AdminName, token.InitialAdminPassword)
	if err := adm.ChangePassword(ctx, "", AdminPassword); err != nil {
		t.Fatal(err)
	}
	if err := adm.CreateUser(ctx, CryptoUser, hsmpb.Role_ROLE_CRYPTO_USER, CryptoPass); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

func (n *Node) start(t testing.TB) {
	t.Helper()
	sn, err := server.Open(server.Config{NodeID: "hsm-testnode00001", AZ: "us-east-1a", DataDir: n.Dir, NoSync: !n.sync, KDF: FastKDF, Logger: n.Log, LoginLease: n.lease})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.ServerTLS(n.cert, n.key, n.CA.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	if n.Addr != "" {
		addr = n.Addr // a restart keeps its address, as a real node's would
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n.Node, n.Addr = sn, lis.Addr().String()
	n.srv = sn.Serve(lis, tlsCfg)
	if n.Socket != "" {
		ul, err := server.ListenSocket(n.Socket, net.Listen)
		if err != nil {
			t.Fatal(err)
		}
		n.local = sn.ServeLocal(ul)
	}
}

// Stop stops serving and closes the store (idempotent).
func (n *Node) Stop() {
	if n.srv == nil {
		return
	}
	n.srv.Stop()
	n.srv = nil
	if n.local != nil {
		n.local.Stop()
		n.local = nil
	}
	_ = n.Node.Close()
}

// Restart stops the node and opens its data directory again, on the same address.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Stop()
	n.start(t)
}

// Client returns a new, logged-out client with its own session.
func (n *Node) Client(t testing.TB) *client.Client {
	t.Helper()
	tlsCfg, err := pki.ClientTLS(n.CA.CertPEM, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Config{Addr: n.Addr, TLS: tlsCfg, Retries: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Login returns a client logged in as user.
func (n *Node) Login(t testing.TB, user, password string) *client.Client {
	t.Helper()
	c := n.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, user, password); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// Alice returns a client logged in as the crypto user.
func (n *Node) Alice(t testing.TB) *client.Client { return n.Login(t, CryptoUser, CryptoPass) }

// Admin returns a client logged in as the activated admin.
func (n *Node) Admin(t testing.TB) *client.Client { return n.Login(t, token.AdminName, AdminPassword) }
