package localwire

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// threadConn is a Unix socket connection kept out of Go's network poller: its reads and writes
// wait with poll(2) in the calling thread (Pool.ThreadWait). Go registers every socket with its
// poller for both directions, edge-triggered, so a socket in the poller wakes the poller's
// thread on each readiness change (the node's answer arriving, the node draining the request)
// even when no goroutine waits there: two wake-ups of another thread per call that nothing
// needs, measured as context switches per call in docs/BENCHMARKS.md.
//
// A threadConn is used by one goroutine at a time, as the pool's connections are; SetDeadline
// may come from another (a canceled call's context), which the wait notices within pollSlice.
type threadConn struct {
	fd       int
	local    net.Addr
	remote   net.Addr
	deadline atomic.Int64 // Unix nanoseconds; 0: none
	closed   atomic.Bool
	pfd      [1]unix.PollFd // wait's argument, kept so that no poll allocates
}

// pollSlice bounds one poll(2), so that a deadline moved by another goroutine (a cancel) is
// seen soon.
const pollSlice = 20 * time.Millisecond

// detach moves c's socket out of the network poller into a threadConn, and closes c. A
// connection that is not a Unix socket is returned as it is.
func detach(c net.Conn) (net.Conn, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return c, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return c, nil
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		dupErr = err
	}
	// Closing c takes its descriptor out of the poller; the duplicate shares the open socket,
	// which stays non-blocking.
	uc.Close()
	if dupErr != nil {
		return nil, dupErr
	}
	tc := &threadConn{fd: fd, local: uc.LocalAddr(), remote: uc.RemoteAddr()}
	tc.pfd[0].Fd = int32(fd)
	return tc, nil
}

// Read waits before it reads, unlike Write: a call reads right after sending its request, when
// the answer is almost never there yet, so reading first would cost a failed read(2) each time.
func (c *threadConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if err := c.wait(unix.POLLIN); err != nil {
			return 0, err
		}
		n, err := unix.Read(c.fd, p)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			continue
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *threadConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(c.fd, p[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == unix.EAGAIN:
			if err := c.wait(unix.POLLOUT); err != nil {
				return done, err
			}
		case err == unix.EINTR:
		case err != nil:
			return done, os.NewSyscallError("write", err)
		}
	}
	return done, nil
}

// wait blocks the thread until the socket is ready for events (or has failed: the read or
// write that follows says how), the deadline passes, or the connection is closed.
func (c *threadConn) wait(events int16) error {
	c.pfd[0].Events, c.pfd[0].Revents = events, 0
	for {
		if c.closed.Load() {
			return net.ErrClosed
		}
		slice := pollSlice
		if d := c.deadline.Load(); d != 0 {
			left := time.Until(time.Unix(0, d))
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			slice = min(slice, left)
		}
		n, err := unix.Poll(c.pfd[:], int((slice+time.Millisecond-1)/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll", err)
		}
		if n > 0 {
			return nil
		}
	}
}

// Close closes the socket once; a second Close is net.ErrClosed.
func (c *threadConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	return unix.Close(c.fd)
}

func (c *threadConn) LocalAddr() net.Addr  { return c.local }
func (c *threadConn) RemoteAddr() net.Addr { return c.remote }

func (c *threadConn) SetDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	c.deadline.Store(d)
	return nil
}

func (c *threadConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *threadConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }
