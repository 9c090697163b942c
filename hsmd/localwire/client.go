package localwire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// ErrNoWire is returned (wrapped) by Pool.Invoke when it could not get a connection that speaks
// the wire: nothing was sent, and the caller may make the call another way (gRPC).
var ErrNoWire = errors.New("localwire: no connection")

// maxIdle bounds the connections a Pool keeps open while no call uses them.
const maxIdle = 32

// Pool makes calls on connections it opens with Dial, each carrying one call at a time: a call
// takes an idle connection or opens one, and gives it back when its answer is in. A connection
// on which anything went wrong (an I/O error, a canceled call) is closed, never reused.
type Pool struct {
	// Dial connects to the node's socket.
	Dial func(ctx context.Context) (net.Conn, error)
	// ThreadWait makes a call wait for its answer in its own thread (poll(2)) rather than park
	// its goroutine on Go's network poller, on a Unix socket taken out of the poller
	// (threadConn). For callers whose goroutine is locked to its thread, as every call into a
	// c-shared library from C is: a parked locked goroutine is woken by another thread that
	// must then wake this one, and a socket in the poller wakes the poller's thread on every
	// readiness change, where the caller's own wake-up is all a call needs
	// (docs/BENCHMARKS.md). Other callers keep the poller, which costs them no thread.
	ThreadWait bool

	mu     sync.Mutex
	idle   []*clientConn
	closed bool
}

type clientConn struct {
	net.Conn
	r       *bufio.Reader
	in, out []byte
}

// Close closes the idle connections; calls in flight finish and close theirs.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.dropIdle()
}

// dropIdle closes the idle connections.
func (p *Pool) dropIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

func (p *Pool) get() *clientConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	return nil
}

func (p *Pool) put(c *clientConn) {
	if cap(c.in) > keepBuf {
		c.in = nil
	}
	if cap(c.out) > keepBuf {
		c.out = nil
	}
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxIdle {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// dial opens a connection and exchanges the prefaces, within ctx.
func (p *Pool) dial(ctx context.Context) (*clientConn, error) {
	conn, err := p.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if p.ThreadWait {
		if conn, err = detach(conn); err != nil {
			return nil, err
		}
	}
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c := &clientConn{Conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}
	err = c.handshake()
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

func (c *clientConn) handshake() error {
	if _, err := c.Write(Preface); err != nil {
		return err
	}
	got := make([]byte, len(Preface))
	if _, err := io.ReadFull(c.r, got); err != nil {
		return err // closed: refused (mutual TLS enforced), or not a node that speaks the wire
	}
	if string(got) != string(Preface) {
		return fmt.Errorf("localwire: the node answered %q, not the wire's preface", got)
	}
	return nil
}

// Invoke makes a unary call as grpc.ClientConn.Invoke would: the outgoing metadata of ctx and
// its deadline go with the request; header, when not nil, receives the response's header
// metadata; a failure is a gRPC status error (the node's own, or Unavailable for a connection
// lost mid-call, or the context's error as gRPC reports it). An error wrapping ErrNoWire means
// nothing was sent.
func (p *Pool) Invoke(ctx context.Context, method string, req, reply proto.Message, header *metadata.MD) error {
	if err := ctx.Err(); err != nil {
		return grpcstatus.FromContextError(err).Err()
	}
	body, err := proto.Marshal(req)
	if err != nil {
		return grpcstatus.Errorf(codes.Internal, "localwire: %v", err)
	}
	if len(body) > MaxMessage {
		return grpcstatus.Errorf(codes.ResourceExhausted, "request of %d bytes is larger than the %d a message may be", len(body), MaxMessage)
	}
	lr := &hsmpb.LocalRequest{Method: method, Body: body}
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		lr.Metadata = pairs(md)
	}
	if d, ok := ctx.Deadline(); ok {
		lr.TimeoutMicros = max(1, time.Until(d).Microseconds())
	}
	resp, err := p.roundTrip(ctx, lr)
	if err != nil {
		return err
	}
	if header != nil {
		*header = metadata.MD{}
		for i := 0; i+1 < len(resp.Header); i += 2 {
			header.Append(resp.Header[i], resp.Header[i+1])
		}
	}
	if len(resp.Status) > 0 {
		var sp status.Status
		if err := proto.Unmarshal(resp.Status, &sp); err != nil {
			return grpcstatus.Errorf(codes.Internal, "localwire: the node's status does not decode: %v", err)
		}
		if sp.Code == int32(codes.OK) {
			return grpcstatus.Error(codes.Internal, "localwire: the node sent a status of OK as a failure")
		}
		return grpcstatus.ErrorProto(&sp)
	}
	if err := proto.Unmarshal(resp.Body, reply); err != nil {
		return grpcstatus.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

// roundTrip sends lr and reads its response on a connection of its own. A connection taken idle
// from the pool may have been closed by the node meanwhile (it restarted): when such a one fails
// before any answer, the other idle ones are closed too and the call is sent once more on a new
// connection. That is safe for every
// method: reads change nothing and writes carry an idempotency id the node remembers.
func (p *Pool) roundTrip(ctx context.Context, lr *hsmpb.LocalRequest) (*hsmpb.LocalResponse, error) {
	for retry := false; ; retry = true {
		c := p.get()
		reused := c != nil
		if !reused {
			var err error
			if c, err = p.dial(ctx); err != nil {
				switch {
				case ctx.Err() != nil:
					return nil, grpcstatus.FromContextError(ctx.Err()).Err()
				case retry: // the first attempt was sent: not ErrNoWire, which says nothing was
					return nil, grpcstatus.Errorf(codes.Unavailable, "localwire: connection lost, and a new one failed: %v", err)
				}
				return nil, fmt.Errorf("%w: %w", ErrNoWire, err)
			}
		}
		resp, answered, err := c.call(ctx, lr)
		if err == nil {
			p.put(c)
			return resp, nil
		}
		c.Close()
		switch {
		case ctx.Err() != nil:
			return nil, grpcstatus.FromContextError(ctx.Err()).Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, grpcstatus.FromContextError(context.DeadlineExceeded).Err() // ctx's timer may lag the socket's
		case reused && !answered && !retry:
			p.dropIdle() // opened before the same restart, most likely: none of them is tried
			continue
		}
		return nil, grpcstatus.Errorf(codes.Unavailable, "localwire: connection lost: %v", err)
	}
}

// call is one exchange on c. answered says whether any byte of the response came.
func (c *clientConn) call(ctx context.Context, lr *hsmpb.LocalRequest) (resp *hsmpb.LocalResponse, answered bool, err error) {
	d, _ := ctx.Deadline()
	_ = c.SetDeadline(d) // zero: none
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			err = ctx.Err() // the answer raced the cancel: the deadline may be set, so drop c
		}
	}()
	if c.out, err = writeFrame(c.Conn, c.out, lr); err != nil {
		return nil, false, err
	}
	if _, err = c.r.Peek(1); err != nil {
		return nil, false, err
	}
	resp = &hsmpb.LocalResponse{}
	c.in, err = readFrame(c.r, c.in, resp)
	return resp, true, err
}
