package netsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// preambleMagic opens every netsim connection; preambleVersion follows it.
const (
	preambleMagic   = "NSIM"
	preambleVersion = 1
)

func appendPreamble(b []byte, ep Endpoint) []byte {
	b = append(b, preambleMagic...)
	b = append(b, preambleVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ep.Name)))
	b = append(b, ep.Name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ep.AZ)))
	return append(b, ep.AZ...)
}

func readPreamble(r io.Reader) (Endpoint, error) {
	var head [len(preambleMagic) + 1]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return Endpoint{}, fmt.Errorf("%w: %w", ErrBadPreamble, err)
	}
	if string(head[:len(preambleMagic)]) != preambleMagic || head[len(preambleMagic)] != preambleVersion {
		return Endpoint{}, ErrBadPreamble
	}
	field := func() (string, error) {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", err
		}
		n := binary.BigEndian.Uint16(l[:])
		if n > maxName {
			return "", ErrBadPreamble
		}
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return string(b), err
	}
	var ep Endpoint
	var err error
	if ep.Name, err = field(); err == nil {
		ep.AZ, err = field()
	}
	if err == nil {
		err = ep.validate()
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w: %w", ErrBadPreamble, err)
	}
	return ep, nil
}

// Dialer returns a dial function for endpoint from, in the shape grpc.WithContextDialer takes.
// See the package documentation for how rules affect a dial.
func (n *Network) Dialer(from Endpoint) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return n.dial(ctx, from, addr)
	}
}

// DialTimeout dials addr from endpoint from within timeout, in the shape raft's StreamLayer.Dial
// needs.
func (n *Network) DialTimeout(from Endpoint, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return n.dial(ctx, from, addr)
}

func (n *Network) dial(ctx context.Context, from Endpoint, addr string) (net.Conn, error) {
	if err := from.validate(); err != nil {
		return nil, err
	}
	to, ok := n.lookup(addr)
	if !ok {
		// Served by another process this Network was not told about: an endpoint named by its
		// address, so rules can still name it, and its own listener knows who we are.
		to = Endpoint{Name: addr}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.getTiming().Dial)
		defer cancel()
	}
	// Black hole: a handshake needs both directions.
	for {
		blocked, changed, _ := n.state(from, to, true)
		if !blocked {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("netsim: dial %s (%s to %s): %w: %w", addr, from.Name, to.Name, ErrPartitioned, ctx.Err())
		}
	}
	// The handshake costs a round trip.
	if rtt := n.latency(from, to) + n.latency(to, from); rtt > 0 {
		t := time.NewTimer(rtt)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("netsim: dial %s: %w", addr, ctx.Err())
		}
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	raw.SetWriteDeadline(dl)
	if _, err := raw.Write(appendPreamble(nil, from)); err != nil {
		raw.Close()
		return nil, fmt.Errorf("netsim: dial %s: preamble: %w", addr, err)
	}
	raw.SetWriteDeadline(time.Time{})
	return newConn(n, raw, from, to), nil
}

// Listen listens like net.Listen as endpoint ep and registers the address it got. Accepted
// connections are those of netsim dialers, past their preamble, governed by the rules between the
// dialer and ep; an accepted connection is handed out only while neither direction is cut (a
// dialer in another process may not know the rule), within Timing.Dial.
func (n *Network) Listen(ep Endpoint, network, addr string) (net.Listener, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	raw, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	n.Register(raw.Addr().String(), ep)
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "0" && port != "" {
		n.Register(addr, ep)
	}
	l := &listener{
		n: n, ep: ep, raw: raw,
		conns:   make(chan *conn),
		done:    make(chan struct{}),
		pending: map[net.Conn]struct{}{},
	}
	go l.acceptLoop()
	return l, nil
}

type listener struct {
	n     *Network
	ep    Endpoint
	raw   net.Listener
	conns chan *conn
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{} // accepted, preamble or black hole not yet through
}

var _ net.Listener = (*listener)(nil)

func (l *listener) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		raw, err := l.raw.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(backoff) // e.g. EMFILE: retry, as net/http does
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !l.hold(raw) {
			raw.Close()
			return
		}
		go l.handshake(raw)
	}
}

// hold records raw as pending; false if the listener is closed.
func (l *listener) hold(raw net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		return false
	}
	l.pending[raw] = struct{}{}
	return true
}

// release removes raw from pending; false if the listener closed it meanwhile.
func (l *listener) release(raw net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.pending[raw]; !ok {
		return false
	}
	delete(l.pending, raw)
	return true
}

func (l *listener) handshake(raw net.Conn) {
	tm := l.n.getTiming()
	raw.SetReadDeadline(time.Now().Add(tm.Dial))
	from, conn, err := l.identify(raw)
	raw.SetReadDeadline(time.Time{})
	if err != nil {
		if l.release(raw) {
			raw.Close()
		}
		return
	}
	giveUp := time.Now().Add(tm.Dial)
	for {
		blocked, changed, _ := l.n.state(from, l.ep, true)
		if !blocked {
			break
		}
		if !time.Now().Before(giveUp) {
			if l.release(raw) {
				raw.Close()
			}
			return
		}
		wait(changed, l.done, giveUp)
	}
	if !l.release(raw) {
		return
	}
	c := newConn(l.n, conn, l.ep, from)
	select {
	case l.conns <- c:
	case <-l.done:
		c.abort(net.ErrClosed)
	}
}

// External is the endpoint of a connection that arrives without a preamble: a client outside
// netsim (the PKCS#11 module in another process, the CLI, an SDK). Rules naming "external" apply
// to it on the listening side, which is the only side netsim controls for such a client.
var External = Endpoint{Name: "external"}

// identify reads the dialer's preamble. A connection that does not start with the magic is a
// plain client: its first bytes are handed back to the server (a TLS ClientHello never starts
// with "NSIM") and it counts as the External endpoint.
func (l *listener) identify(raw net.Conn) (Endpoint, net.Conn, error) {
	head := make([]byte, len(preambleMagic))
	if _, err := io.ReadFull(raw, head); err != nil {
		return Endpoint{}, nil, fmt.Errorf("%w: %w", ErrBadPreamble, err)
	}
	if string(head) != preambleMagic {
		return External, &replayConn{Conn: raw, r: io.MultiReader(bytes.NewReader(head), raw)}, nil
	}
	from, err := readPreamble(io.MultiReader(bytes.NewReader(head), raw))
	return from, raw, err
}

// replayConn is a connection whose first bytes were already read; Read returns them first.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Accept returns the next netsim connection, or an error once the listener is closed.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: l.raw.Addr().Network(), Addr: l.raw.Addr(), Err: net.ErrClosed}
	}
}

// Close stops listening and drops connections not yet accepted; accepted ones stay open.
func (l *listener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.raw.Close()
		l.mu.Lock()
		pending := l.pending
		l.pending = nil
		l.mu.Unlock()
		for raw := range pending {
			raw.Close()
		}
	})
	return err
}

func (l *listener) Addr() net.Addr { return l.raw.Addr() }
