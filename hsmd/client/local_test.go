package client_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// socketClient dials a node by its socket beside addr and logs in as the crypto user; unused
// collects what the client said about a socket it did not use.
func socketClient(t *testing.T, n *nodetest.Node, addr string, tune ...func(*client.Config)) (*client.Client, *[]error, error) {
	t.Helper()
	var mu sync.Mutex
	var unused []error
	cfg := client.Config{Nodes: []client.Node{{ID: "hsm-testnode00001", Addr: addr, Socket: n.Socket}}, CAPEM: n.CA.CertPEM,
		Retries: 1, AttemptTimeout: 2 * time.Second,
		OnSocket: func(_ string, err error) { mu.Lock(); unused = append(unused, err); mu.Unlock() }}
	for _, f := range tune {
		f(&cfg)
	}
	c, err := client.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Login(ctx, nodetest.CryptoUser, nodetest.CryptoPass)
	if err == nil {
		_, err = c.Info(ctx)
	}
	return c, &unused, err
}

// With nothing listening at the node's TCP address, calls still succeed: they go over the
// node's socket, which the node counts.
func TestCallsGoOverTheNodesSocket(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Socket: true})
	if _, _, err := socketClient(t, n, deadAddr(t)); err != nil {
		t.Fatalf("login and GetInfo over the socket, TCP dead: %v", err)
	}
	if got := n.LocalConnections(); got == 0 {
		t.Fatal("the node counted no connection on its socket")
	}
}

// A socket that other users could use, or that another user made, is passed over: the client
// says why and uses TCP, and the node sees no connection on the socket.
func TestUnsafeSocketIsNotUsed(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Socket: true})
	dir := filepath.Dir(n.Socket)
	chmod := func(path string, mode os.FileMode) func() {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := os.Chmod(path, map[string]os.FileMode{n.Socket: 0o600, dir: 0o700}[path]); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name  string
		setup func() (undo func())
	}{
		{"socket open to others", func() func() { return chmod(n.Socket, 0o666) }},
		{"socket readable by the group", func() func() { return chmod(n.Socket, 0o640) }},
		{"directory open to others", func() func() { return chmod(dir, 0o755) }},
		{"owned by another user", func() func() { return client.PlayUser(os.Getuid() + 1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			undo := tc.setup()
			defer undo()
			before := n.LocalConnections()
			_, unused, err := socketClient(t, n, n.Addr)
			if err != nil {
				t.Fatalf("over TCP: %v", err)
			}
			if got := n.LocalConnections(); got != before {
				t.Fatalf("the node accepted %d connections on the unsafe socket", got-before)
			}
			if len(*unused) == 0 || !errors.Is((*unused)[0], client.ErrUnsafeSocket) {
				t.Fatalf("the client did not say why it passed the socket over: %v", *unused)
			}
		})
	}
	// Undone, the socket is used again: the cases above failed for their reason only.
	before := n.LocalConnections()
	if _, _, err := socketClient(t, n, deadAddr(t)); err != nil || n.LocalConnections() == before {
		t.Fatalf("the restored socket: %v, %d connections", err, n.LocalConnections()-before)
	}
}

// A client with its own certificate (for a cluster that enforces mutual TLS) keeps to TLS: the
// socket cannot show the certificate.
func TestClientWithACertificateKeepsToTLS(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Socket: true})
	cert, key, err := n.CA.Issue("payments-app", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = socketClient(t, n, deadAddr(t), func(c *client.Config) { c.CertPEM, c.KeyPEM = cert, key })
	if err == nil {
		t.Fatal("a client with a certificate reached the node with TCP dead: it used the socket")
	}
	if n.LocalConnections() != 0 {
		t.Fatal("a client with a certificate connected to the socket")
	}
}

// Only a connection the client made to a socket it checked skips TLS: a dialer of the caller's
// that hands back a Unix connection still gets a TLS handshake (which the socket, serving no
// TLS, fails).
func TestOnlyACheckedSocketSkipsTLS(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Socket: true})
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: n.Addr}}, CAPEM: n.CA.CertPEM, Retries: 1, AttemptTimeout: 2 * time.Second,
		Dialer: func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", n.Socket)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, nodetest.CryptoUser, nodetest.CryptoPass); err == nil {
		t.Fatal("a login over an unchecked Unix connection without TLS")
	}
}

// Over a socket the calls take the local wire, and what they answer is what they answer over
// TCP: the result, and a failure's CK_RV, reason and gRPC code. GRPCOnly keeps them on gRPC.
func TestCallsOnTheSocketTakeTheLocalWire(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Socket: true})
	ctx := context.Background()
	viaTCP := n.Alice(t)
	var failures []error
	for _, grpcOnly := range []bool{false, true} {
		wireBefore, localBefore := n.WireConnections(), n.LocalConnections()
		c, _, err := socketClient(t, n, deadAddr(t), func(c *client.Config) { c.GRPCOnly = grpcOnly })
		if err != nil {
			t.Fatalf("GRPCOnly %v: login over the socket: %v", grpcOnly, err)
		}
		if n.LocalConnections() == localBefore {
			t.Fatalf("GRPCOnly %v: no connection on the socket", grpcOnly)
		}
		if wire := n.WireConnections() > wireBefore; wire == grpcOnly {
			t.Fatalf("GRPCOnly %v: connections on the wire: %v", grpcOnly, wire)
		}
		rnd, err := c.GenerateRandom(ctx, 48)
		if err != nil || len(rnd) != 48 {
			t.Fatalf("GRPCOnly %v: GenerateRandom: %d bytes, %v", grpcOnly, len(rnd), err)
		}
		_, err = c.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, 0x7fff0000, make([]byte, 32))
		failures = append(failures, err)
	}
	_, tcpErr := viaTCP.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, 0x7fff0000, make([]byte, 32))
	for i, err := range append(failures, tcpErr) {
		var e *client.Error
		if !errors.As(err, &e) || e.RV != p11.CKR_KEY_HANDLE_INVALID || client.Retryable(err) {
			t.Fatalf("failure %d: %v, want CKR_KEY_HANDLE_INVALID from the node", i, err)
		}
		var tcp *client.Error
		errors.As(tcpErr, &tcp)
		if e.Code != tcp.Code || e.Why != tcp.Why || e.Msg != tcp.Msg {
			t.Fatalf("failure %d: %+v; over TCP: %+v", i, e, tcp)
		}
	}
}

// Calls on the local wire are not batched: there a call costs less than the hand-off to a
// flight (docs/BENCHMARKS.md). The same concurrent calls over gRPC on the same socket are.
func TestCallsOnTheLocalWireAreNotBatched(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Socket: true})
	for _, grpcOnly := range []bool{false, true} {
		c, _, err := socketClient(t, n, deadAddr(t), func(c *client.Config) {
			c.GRPCOnly, c.Batch, c.BatchFlights = grpcOnly, true, 1
		})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 30; i++ {
					if _, err := c.GenerateRandom(context.Background(), 32); err != nil {
						t.Errorf("GRPCOnly %v: GenerateRandom: %v", grpcOnly, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if batches, _ := c.BatchStats(); (batches > 0) != grpcOnly {
			t.Fatalf("GRPCOnly %v: %d batches sent", grpcOnly, batches)
		}
	}
}
