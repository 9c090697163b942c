package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc/credentials"
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

// dialerFor is how the client reaches node n: its socket when safe and answering, else tcp.
func (c *Client) dialerFor(n Node, tcp func(ctx context.Context, addr string) (net.Conn, error)) func(ctx context.Context, addr string) (net.Conn, error) {
	if n.Socket == "" || c.cfg.CertPEM != nil || (c.tlsBase != nil && (len(c.tlsBase.Certificates) > 0 || c.tlsBase.GetClientCertificate != nil)) {
		return tcp
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		err := checkSocket(n.Socket)
		if err == nil {
			var conn net.Conn
			if conn, err = (&net.Dialer{}).DialContext(ctx, "unix", n.Socket); err == nil {
				return checkedSocket{conn}, nil
			}
		}
		if c.cfg.OnSocket != nil && !errors.Is(err, os.ErrNotExist) {
			c.cfg.OnSocket(n.Socket, err) // a missing socket is a node elsewhere or down: no news
		}
		return tcp(ctx, addr)
	}
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
