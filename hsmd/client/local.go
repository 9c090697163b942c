package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/localwire"
)

// A node on the client's own host may also serve its API on a Unix-domain socket (Node.Socket;
// hsmd/server/local.go has the trust model). The client dials the socket when it is safe to
// and falls back to the node's TCP address with TLS otherwise, at every (re)connection, so the
// node keeps one identity, one connection and one health record: failover, probes and hedging
// see no difference. A socket is safe when it and its directory belong to the client's own
// user and no one else may use them (socket mode 0600, directory 0700): then only a process of
// that user can have made it, which is the node authentication TLS gave. A client with its own
// certificate (mutual TLS) never uses the socket, which cannot carry the certificate.

// getuid is the user a safe socket belongs to (a variable so a test can play another user).
var getuid = os.Getuid

// errUnsafeSocket wraps every reason a socket is not used.
var errUnsafeSocket = errors.New("not used")

// checkSocket says why the socket at path must not be used (nil: it may).
func checkSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("socket %s: %w: not a socket", path, errUnsafeSocket)
	}
	if err := ownedAndPrivate(fi, path); err != nil {
		return err
	}
	di, err := os.Lstat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if !di.IsDir() {
		return fmt.Errorf("socket %s: %w: its directory is not a directory", path, errUnsafeSocket)
	}
	return ownedAndPrivate(di, filepath.Dir(path))
}

// ownedAndPrivate checks that fi belongs to the client's user and grants nothing to others.
func ownedAndPrivate(fi os.FileInfo, path string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: %w: its owner is not known here", path, errUnsafeSocket)
	}
	if int(st.Uid) != getuid() {
		return fmt.Errorf("%s: %w: owned by uid %d, not this user (%d)", path, errUnsafeSocket, st.Uid, getuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: %w: mode %v lets other users in", path, errUnsafeSocket, fi.Mode().Perm())
	}
	return nil
}

// socketAllowed says whether the client may use n's socket at all: not when it has a client
// certificate of its own, which a socket cannot carry.
func (c *Client) socketAllowed(n Node) bool {
	return n.Socket != "" && c.cfg.CertPEM == nil && (c.tlsBase == nil || len(c.tlsBase.Certificates) == 0 && c.tlsBase.GetClientCertificate == nil)
}

// dialSocket connects to a socket that checkSocket passes.
func dialSocket(ctx context.Context, path string) (net.Conn, error) {
	if err := checkSocket(path); err != nil {
		return nil, err
	}
	return (&net.Dialer{}).DialContext(ctx, "unix", path)
}

// dialerFor is how the client reaches node n over gRPC: its socket when safe and answering, else
// tcp.
func (c *Client) dialerFor(n Node, tcp func(ctx context.Context, addr string) (net.Conn, error)) func(ctx context.Context, addr string) (net.Conn, error) {
	if !c.socketAllowed(n) {
		return tcp
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := dialSocket(ctx, n.Socket)
		if err == nil {
			return checkedSocket{conn}, nil
		}
		if c.cfg.OnSocket != nil && !errors.Is(err, os.ErrNotExist) {
			c.cfg.OnSocket(n.Socket, err) // a missing socket is a node elsewhere or down: no news
		}
		return tcp(ctx, addr)
	}
}

// The local wire. Over a node's socket the client makes its calls on the local wire
// (hsmd/localwire) rather than gRPC: the same call, metadata and answer, at a fraction of
// gRPC's cost per call between two processes (docs/BENCHMARKS.md). When the wire cannot be had
// (no socket, an unsafe one, a node that refuses it), the call goes through gRPC, which falls
// back to TCP as before, and the wire is not tried again for wirePause: a node away from this
// host costs one failed dial a second, not one per call.

// wirePause is how long the wire is left alone after a connection to it failed.
const wirePause = time.Second

// wire is a node's local wire.
type wire struct {
	pool    localwire.Pool
	pauseTo atomic.Int64 // Unix nanoseconds: the wire is not tried before then
}

// wireFor is n's local wire, nil when the client may not use n's socket.
func (c *Client) wireFor(n Node) *wire {
	if c.cfg.GRPCOnly || !c.socketAllowed(n) {
		return nil
	}
	return &wire{pool: localwire.Pool{
		Dial:       func(ctx context.Context) (net.Conn, error) { return dialSocket(ctx, n.Socket) },
		ThreadWait: c.cfg.ThreadWait,
	}}
}

// invoke sends one attempt to nc, on its local wire when it has one that answers, else through
// gRPC (inv); hdr receives the response header either way.
func (c *Client) invoke(ctx context.Context, nc *nodeConn, method string, req, reply any, inv grpc.UnaryInvoker, opts []grpc.CallOption, hdr *metadata.MD) error {
	w := nc.wire
	if w != nil && time.Now().UnixNano() >= w.pauseTo.Load() {
		rq, ok := req.(proto.Message)
		rp, ok2 := reply.(proto.Message)
		if ok && ok2 {
			err := w.pool.Invoke(ctx, method, rq, rp, hdr)
			if !errors.Is(err, localwire.ErrNoWire) {
				return err
			}
			w.pauseTo.Store(time.Now().Add(wirePause).UnixNano())
		}
	}
	return inv(ctx, method, req, reply, nc.conn, append(opts, grpc.Header(hdr))...)
}

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

// checkedSocket is a connection to a socket that checkSocket passed: the only kind of
// connection socketOrTLS lets through without TLS.
type checkedSocket struct{ net.Conn }

// socketOrTLS are a node's transport credentials: none over its checked socket, TLS otherwise.
type socketOrTLS struct {
	tls credentials.TransportCredentials
}

// localAuth is the AuthInfo of a connection over a socket.
type localAuth struct{ credentials.CommonAuthInfo }

func (localAuth) AuthType() string { return "local" }

func (s socketOrTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(checkedSocket); ok {
		return conn, localAuth{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return s.tls.ClientHandshake(ctx, authority, conn)
}

func (s socketOrTLS) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return s.tls.ServerHandshake(conn)
}

func (s socketOrTLS) Info() credentials.ProtocolInfo { return s.tls.Info() }

func (s socketOrTLS) Clone() credentials.TransportCredentials {
	return socketOrTLS{tls: s.tls.Clone()}
}

func (s socketOrTLS) OverrideServerName(name string) error {
	return s.tls.OverrideServerName(name) //nolint:staticcheck // part of the interface
}
