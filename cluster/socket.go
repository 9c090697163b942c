package cluster

import (
	"net"
	"path/filepath"

	"github.com/hsmsim/hsmsim/hsmd/server"
)

// serveSocket serves the node API on Config.Socket too, through the member's network, so the
// faults that cut or slow a member's clients (netsim's External endpoint, which a client of the
// socket is) and a killed member's reset connections hold on the socket as on TCP.
func (m *Member) serveSocket() {
	if m.cfg.Socket == "" {
		return
	}
	lis, err := server.ListenSocket(m.cfg.Socket, func(network, addr string) (net.Listener, error) {
		return m.nw.Listen(m.ep, network, addr)
	})
	if err != nil {
		m.log.Warn("not serving the node API on a Unix socket; clients on this host use TCP", "socket", m.cfg.Socket, "err", err)
		return
	}
	m.sockSrv = m.node.ServeLocal(lis)
}

// Socket is the Unix socket the member serves the node API on ("" if none).
func (m *Member) Socket() string {
	if m.sockSrv == nil {
		return ""
	}
	return m.cfg.Socket
}

// SocketPath is where a standalone HSM serves its node API on a Unix socket: in a directory of
// its own (server.ListenSocket makes it 0700) under the data directory.
func (d NodeDir) SocketPath() string { return filepath.Join(d.Path(), "run", "hsm.sock") }

// absPath is p made absolute when it can be ("" stays ""): a client config is read from
// anywhere.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil && p != "" {
		return a
	}
	return p
}
