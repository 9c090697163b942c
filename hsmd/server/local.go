package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/hsmsim/hsmsim/hsmd/localwire"
)

// The node API on a Unix-domain socket, for clients on the node's own host (issue 17): the same
// services and interceptors as on TCP, without TLS, whose handshake and record layer were a
// quarter of the one-session sign path (docs/BENCHMARKS.md). The socket speaks gRPC and the local
// wire (hsmd/localwire) side by side; the node's own clients use the wire.
//
// Trust model. The socket sits in a directory only the node's OS user may enter (0700) and is
// itself 0600: the kernel lets only that user (and root, who can read the node's data directory
// anyway) connect. That replaces TLS's two proofs: a client knows the node is genuine because
// only its own user could have made the socket there (it checks owner and modes before it
// connects, hsmd/client/local.go), and the bytes never leave the kernel. A login is still
// required for every call, exactly as on TCP. What a socket cannot carry is a client
// certificate, so while the cluster enforces mutual TLS (SetMTLSEnforcement, CloudHSM's "cluster
// mtls enforcement") every connection to the socket is refused at its start, as a TLS handshake
// without a certificate from a registered anchor is refused: a process of the same user cannot
// walk around enforcement (docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-cluster-mtls.html:
// once enforced, only clients with a certificate from a registered trust anchor connect). As on
// TCP, connections made before enforcement stay open.

// maxSocketPath is the longest path a Unix socket may have: sun_path of Linux's sockaddr_un
// (108 bytes) less its terminating NUL.
const maxSocketPath = 107

// ListenSocket listens on a Unix socket at path with listen (net.Listen, or a fault layer's):
// its directory is made 0700, a socket left at path by a node that died is removed (the caller
// holds the node's data directory, so no live node serves there), and the socket is made 0600.
func ListenSocket(path string, listen func(network, addr string) (net.Listener, error)) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("socket %s: %d bytes, a Unix socket path holds at most %d (use a shorter data directory)", path, len(path), maxSocketPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Also a directory made earlier, or under a permissive umask: this mode is what keeps other
	// users from connecting, and what clients check.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("socket %s: a file that is not a socket is in the way", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	l, err := listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The directory already keeps others out between the listen and this chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// LocalServer is the node API on a Unix socket: gRPC, and the same services on the local wire
// (hsmd/localwire), which the node's own clients use for its lower cost per call. Both share the
// socket, and both refuse every connection while mutual TLS is enforced.
type LocalServer struct {
	mux  *localwire.Mux
	grpc *grpc.Server
	wire *localwire.Server
}

// ServeLocal serves the node API (not the Cluster service: no node connects here) on lis, a
// listener of ListenSocket, until the returned server is stopped.
func (n *Node) ServeLocal(lis net.Listener) *LocalServer {
	mux := localwire.NewMux(lis)
	opts := append([]grpc.ServerOption{grpc.Creds(localCreds{n: n})}, n.ServerOptions()...)
	g := grpc.NewServer(opts...)
	n.Register(g)
	w := localwire.NewServer(localwire.ServerConfig{
		Interceptor: n.UnaryInterceptor,
		Auth:        LocalAuth{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}},
		Admit:       func() error { return n.admitLocal(true) },
	})
	n.Register(w)
	go func() { _ = g.Serve(mux.GRPC()) }()
	go func() { _ = w.Serve(mux.Wire()) }()
	return &LocalServer{mux: mux, grpc: g, wire: w}
}

// Stop closes the socket (removing it) and every connection on it, ending the calls in flight.
func (s *LocalServer) Stop() {
	s.mux.Close()
	s.grpc.Stop()
	s.wire.Stop()
}

// admitLocal counts a connection on the socket (wire: on the local wire), or refuses it while
// mutual TLS is enforced: a socket cannot carry the client certificate enforcement requires, so
// its connections are refused at their start as a TLS handshake without one is.
func (n *Node) admitLocal(wire bool) error {
	if s := n.State(); s != nil {
		if _, enforced := s.MTLS(); enforced {
			n.log.Warn("refused a connection on the Unix socket: the cluster enforces mutual TLS, which the socket cannot carry")
			return errMTLSRequired
		}
	}
	n.localConns.Add(1)
	if wire {
		n.wireConns.Add(1)
	}
	return nil
}

// LocalConnections is how many connections the node accepted on its Unix socket.
func (n *Node) LocalConnections() int64 { return n.localConns.Load() }

// WireConnections is how many of those were on the local wire.
func (n *Node) WireConnections() int64 { return n.wireConns.Load() }

// LocalAuth is the AuthInfo of a connection on the socket: the kernel vouches for the peer's
// user (the socket's modes), not a certificate.
type LocalAuth struct{ credentials.CommonAuthInfo }

// AuthType implements credentials.AuthInfo.
func (LocalAuth) AuthType() string { return "local" }

// localCreds are the socket's transport credentials: no handshake, and the refusal of every
// connection while mutual TLS is enforced.
type localCreds struct{ n *Node }

var errNotClient = errors.New("hsmsim: the socket's credentials only serve")

func (c localCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if err := c.n.admitLocal(false); err != nil {
		return nil, nil, err
	}
	return conn, LocalAuth{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (localCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errNotClient
}

func (localCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "local"}
}

func (c localCreds) Clone() credentials.TransportCredentials { return c }

func (localCreds) OverrideServerName(string) error { return nil }
