package netsim

import (
	"bytes"
	"net"
	"os"
	"sync"
	"time"
)

// chunk is one Write waiting for delivery at a given time.
type chunk struct {
	b  []byte
	at time.Time
}

// conn is one end of a netsim connection. Writes are queued and a pump goroutine delivers them to
// the TCP connection when their time comes and their direction is open; reads hold received
// bytes while the opposite direction is cut.
type conn struct {
	raw           net.Conn
	n             *Network
	local, remote Endpoint
	abortCh       chan struct{} // closed by abort

	mu         sync.Mutex
	sig        chan struct{} // closed (and replaced) at every state change below
	queue      []chunk
	queued     int
	lastAt     time.Time
	closed     bool  // Close was called
	finished   bool  // the pump closed raw after draining
	abortErr   error // set once by abort
	werr       error // the first delivery error
	rdl, wdl   time.Time
	drainTimer *time.Timer

	rmu   sync.Mutex // serializes Read; guards the fields below
	rbuf  []byte     // received bytes held while remote→local is cut
	rerr  error      // error received with rbuf
	rheld time.Time  // when rbuf started being held
}

var _ net.Conn = (*conn)(nil)

func newConn(n *Network, raw net.Conn, local, remote Endpoint) *conn {
	c := &conn{
		raw: raw, n: n, local: local, remote: remote,
		abortCh: make(chan struct{}),
		sig:     make(chan struct{}),
	}
	n.track(c)
	go c.pump()
	return c
}

func (c *conn) notifyLocked() {
	close(c.sig)
	c.sig = make(chan struct{})
}

// errLocked is the error every operation returns once the connection is closed or reset.
func (c *conn) errLocked() error {
	if c.closed {
		return net.ErrClosed
	}
	return c.abortErr
}

func (c *conn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

// Write queues b for delivery after the link's delay and returns; it blocks only while the send
// buffer is full, until the write deadline.
func (c *conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if err := c.errLocked(); err != nil {
			return 0, err
		}
		if c.werr != nil {
			return 0, c.werr
		}
		if !c.wdl.IsZero() && !time.Now().Before(c.wdl) {
			return 0, os.ErrDeadlineExceeded
		}
		if c.queued == 0 || c.queued+len(b) <= sendBuffer {
			break
		}
		sig, dl := c.sig, c.wdl
		c.mu.Unlock()
		wait(sig, nil, dl)
		c.mu.Lock()
	}
	if len(b) == 0 {
		return 0, nil
	}
	at := time.Now().Add(c.n.delay(c.local, c.remote))
	if at.Before(c.lastAt) {
		at = c.lastAt // never overtake an earlier write
	}
	c.lastAt = at
	c.queue = append(c.queue, chunk{b: bytes.Clone(b), at: at})
	c.queued += len(b)
	c.notifyLocked()
	return len(b), nil
}

// wait blocks until sig or stop is closed or the deadline (if any) passes.
func wait(sig, stop <-chan struct{}, deadline time.Time) {
	if deadline.IsZero() {
		select {
		case <-sig:
		case <-stop:
		}
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-sig:
	case <-stop:
	case <-t.C:
	}
}

// pump delivers queued writes in order, each at its time and only while local→remote is open.
func (c *conn) pump() {
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed && c.abortErr == nil {
			sig := c.sig
			c.mu.Unlock()
			<-sig
			c.mu.Lock()
		}
		if c.abortErr != nil {
			c.mu.Unlock()
			return
		}
		if len(c.queue) == 0 { // closed and drained
			c.finished = true
			if c.drainTimer != nil {
				c.drainTimer.Stop()
			}
			c.mu.Unlock()
			c.raw.Close()
			c.n.untrack(c)
			return
		}
		ch := c.queue[0]
		c.mu.Unlock()

		if d := time.Until(ch.at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.abortCh:
				t.Stop()
				return
			}
		}
		if !c.waitSendable() {
			return
		}
		_, err := c.raw.Write(ch.b)

		c.mu.Lock()
		if c.abortErr != nil { // reset during the write; abort dropped the queue
			c.mu.Unlock()
			return
		}
		c.queue[0] = chunk{}
		c.queue = c.queue[1:]
		c.queued -= len(ch.b)
		if err != nil && c.werr == nil {
			c.werr = err
		}
		c.notifyLocked()
		c.mu.Unlock()
		if err != nil {
			c.abort(err)
			return
		}
	}
}

// waitSendable waits until local→remote is open. It resets the connection and returns false if
// the bytes stay held longer than Timing.Break, and returns false if the connection is reset.
func (c *conn) waitSendable() bool {
	var held time.Time
	for {
		blocked, changed, tm := c.n.state(c.local, c.remote, false)
		if !blocked {
			return true
		}
		if held.IsZero() {
			held = time.Now()
		}
		brk := held.Add(tm.Break)
		if !time.Now().Before(brk) {
			c.abort(ErrTimedOut)
			return false
		}
		wait(changed, c.abortCh, brk)
		select {
		case <-c.abortCh:
			return false
		default:
		}
	}
}

// Read returns received bytes; bytes that arrive while remote→local is cut are held until it
// heals (or the read deadline passes, or Timing.Break resets the connection).
func (c *conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.err(); err != nil {
		return 0, err
	}
	if len(c.rbuf) == 0 && c.rerr == nil {
		k, err := c.raw.Read(b)
		if err != nil {
			if e := c.err(); e != nil {
				err = e // closed or reset by us, not by the peer
			}
		}
		if k == 0 || !c.n.Blocked(c.remote, c.local) {
			return k, err
		}
		c.rbuf = append(c.rbuf[:0], b[:k]...)
		c.rerr = err
		c.rheld = time.Now()
	}
	if err := c.waitReceivable(); err != nil {
		return 0, err
	}
	c.rheld = time.Time{}
	if len(c.rbuf) > 0 {
		k := copy(b, c.rbuf)
		c.rbuf = c.rbuf[k:]
		return k, nil
	}
	err := c.rerr
	c.rerr = nil
	return 0, err
}

// waitReceivable waits, with held bytes in rbuf, until remote→local is open. c.rmu is held.
func (c *conn) waitReceivable() error {
	for {
		blocked, changed, tm := c.n.state(c.remote, c.local, false)
		if !blocked {
			return nil
		}
		c.mu.Lock()
		err, sig, dl := c.errLocked(), c.sig, c.rdl
		c.mu.Unlock()
		if err != nil {
			return err
		}
		now := time.Now()
		brk := c.rheld.Add(tm.Break)
		if !now.Before(brk) {
			c.abort(ErrTimedOut)
			return ErrTimedOut
		}
		if !dl.IsZero() && !now.Before(dl) {
			return os.ErrDeadlineExceeded
		}
		until := brk
		if !dl.IsZero() && dl.Before(until) {
			until = dl
		}
		wait(changed, sig, until)
	}
}

// Close stops reading at once and closes the TCP connection once queued writes are delivered
// (bounded by Timing.Break), as a kernel does after close(2).
func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	c.notifyLocked()
	if c.abortErr != nil {
		return nil
	}
	// Unblock a Read in progress; the pump still owns the write side.
	c.raw.SetReadDeadline(time.Unix(1, 0))
	if len(c.queue) > 0 {
		c.drainTimer = time.AfterFunc(c.n.getTiming().Break, func() { c.abort(ErrTimedOut) })
	}
	return nil
}

// abort resets the connection: queued bytes are dropped, the peer sees a reset, and every
// operation returns err (net.ErrClosed if Close came first).
func (c *conn) abort(err error) {
	c.mu.Lock()
	if c.abortErr != nil || c.finished {
		c.mu.Unlock()
		return
	}
	c.abortErr = err
	c.queue, c.queued = nil, 0
	close(c.abortCh)
	c.notifyLocked()
	if c.drainTimer != nil {
		c.drainTimer.Stop()
	}
	c.mu.Unlock()
	if tc, ok := c.raw.(*net.TCPConn); ok {
		tc.SetLinger(0) // send RST, not FIN
	}
	c.raw.Close()
	c.n.untrack(c)
}

func (c *conn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.setDeadlines(t, true, true); err != nil {
		return err
	}
	return c.raw.SetReadDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if err := c.setDeadlines(t, true, false); err != nil {
		return err
	}
	return c.raw.SetReadDeadline(t)
}

// SetWriteDeadline bounds how long Write may block on a full send buffer; delivery of bytes
// already accepted is not affected.
func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadlines(t, false, true)
}

func (c *conn) setDeadlines(t time.Time, read, write bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.errLocked(); err != nil {
		return err
	}
	if read {
		c.rdl = t
	}
	if write {
		c.wdl = t
	}
	c.notifyLocked()
	return nil
}
