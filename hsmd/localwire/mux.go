package localwire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// prefaceWait bounds how long an accepted connection may take to send its first bytes.
const prefaceWait = 10 * time.Second

// Mux shares one listener between gRPC and the wire: it reads the first bytes of each accepted
// connection and hands it to the gRPC server (HTTP/2's preface, replayed to it) or to the wire's
// server (Preface); anything else is closed.
type Mux struct {
	lis        net.Listener
	grpc, wire *chanListener
	once       sync.Once
}

// NewMux starts accepting on lis.
func NewMux(lis net.Listener) *Mux {
	m := &Mux{lis: lis, grpc: newChanListener(lis.Addr()), wire: newChanListener(lis.Addr())}
	go m.accept()
	return m
}

// GRPC is the listener for the gRPC server: the connections that began with HTTP/2's preface.
func (m *Mux) GRPC() net.Listener { return m.grpc }

// Wire is the listener for Server: the connections that began with Preface.
func (m *Mux) Wire() net.Listener { return m.wire }

// Close closes the listener (which removes a Unix socket) and both of its halves.
func (m *Mux) Close() error {
	var err error
	m.once.Do(func() {
		err = m.lis.Close()
		m.grpc.Close()
		m.wire.Close()
	})
	return err
}

// accept hands each connection to route. A failed Accept other than the listener's closing (out
// of file descriptors) is waited out, with a growing pause, as grpc.Server.Serve does.
func (m *Mux) accept() {
	var pause time.Duration
	for {
		conn, err := m.lis.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				m.Close()
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(pause):
			case <-m.wire.closed:
				return
			}
			continue
		}
		pause = 0
		go m.route(conn)
	}
}

// route reads a connection's first bytes and passes it on.
func (m *Mux) route(conn net.Conn) {
	first := make([]byte, len(Preface))
	_ = conn.SetReadDeadline(time.Now().Add(prefaceWait))
	if _, err := io.ReadFull(conn, first); err != nil {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	switch {
	case bytes.Equal(first, http2Preface):
		m.grpc.put(&replayConn{Conn: conn, first: first})
	case bytes.Equal(first, Preface):
		m.wire.put(conn)
	default:
		conn.Close()
	}
}

// replayConn gives back the bytes Mux read before the rest of the connection.
type replayConn struct {
	net.Conn
	first []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is a net.Listener whose connections Mux puts in.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) put(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
