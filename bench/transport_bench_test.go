package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/server"
)

// BenchmarkNodeTransport signs (ECDSA P-256) through one node's API over TCP with TLS, over
// the node's Unix socket with gRPC and with the local wire (issue 17; the wire is what a client
// uses on a socket), and over a socket through the fault layer, each client its own connection,
// at 1 and 16 clients; the same build, node and key, so the difference is the transport alone.
// Client and node share this process, so the wire's gain is smaller here than between two
// processes (docs/BENCHMARKS.md). Reports ops/s and the median latency of one call (p50-ms).
func BenchmarkNodeTransport(b *testing.B) {
	f := newFixtureWith(b, nodetest.Options{Socket: true})
	digest := sha256.Sum256([]byte("transport"))
	// The socket again, through the fault layer (netsim) as `hsmsim up` serves it, so the table
	// shows what that layer costs on the same-host path.
	nw := netsim.New(0)
	simSocket := filepath.Join(filepath.Dir(f.node.Socket), "sim.sock")
	lis, err := server.ListenSocket(simSocket, func(network, addr string) (net.Listener, error) {
		return nw.Listen(netsim.Endpoint{Name: "hsm-testnode00001", AZ: "us-east-1a"}, network, addr)
	})
	if err != nil {
		b.Fatal(err)
	}
	sim := f.node.ServeLocal(lis)
	b.Cleanup(sim.Stop)
	dial := map[string]func() *client.Client{
		"tcp+tls":     func() *client.Client { return f.node.Alice(b) },
		"unix+grpc":   func() *client.Client { return f.socketClient(b, f.node.Socket, true) },
		"unix":        func() *client.Client { return f.socketClient(b, f.node.Socket, false) },
		"unix+netsim": func() *client.Client { return f.socketClient(b, simSocket, false) },
	}
	for _, n := range clientCounts {
		for _, tr := range []string{"tcp+tls", "unix+grpc", "unix", "unix+netsim"} {
			b.Run(fmt.Sprintf("clients=%d/%s", n, tr), func(b *testing.B) {
				before := f.node.LocalConnections()
				lat := make([][]time.Duration, n)
				ops := make([]op, n)
				for i := range ops {
					c, i := dial[tr](), i
					lat[i] = make([]time.Duration, 0, b.N/n+1)
					ops[i] = func() error {
						start := time.Now()
						_, err := c.Sign(context.Background(), ckm.Mechanism{Type: p11.CKM_ECDSA}, f.ec, digest[:])
						lat[i] = append(lat[i], time.Since(start))
						return err
					}
				}
				runClients(b, ops)
				if used := f.node.LocalConnections() > before; used != (tr != "tcp+tls") {
					b.Fatalf("%s: the node's socket used: %v", tr, used)
				}
				all := slices.Concat(lat...)
				slices.Sort(all)
				b.ReportMetric(float64(all[len(all)/2])/1e6, "p50-ms")
			})
		}
	}
}
