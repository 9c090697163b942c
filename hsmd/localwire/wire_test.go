package localwire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// The tests serve the gRPC health service (a real generated service, with a unary method) on
// both halves of one socket, so every case can be asked of gRPC and of the wire alike.

// health answers Check by what the request's service name asks for.
type health struct {
	healthpb.UnimplementedHealthServer
	seen    chan seen     // what each call found in its context (buffered; nil: not recorded)
	started chan struct{} // a "block" call has begun (buffered)
}

type seen struct {
	md       metadata.MD
	deadline time.Time
	auth     credentials.AuthInfo
	method   string
}

var errDetail = &hsmpb.Error{Rv: 0x82, Message: "CKR_KEY_HANDLE_INVALID: no such key", Reason: "no-key"}

func (h *health) Check(ctx context.Context, r *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if h.seen != nil {
		md, _ := metadata.FromIncomingContext(ctx)
		d, _ := ctx.Deadline()
		p, _ := peer.FromContext(ctx)
		m, _ := grpc.Method(ctx)
		h.seen <- seen{md: md, deadline: d, auth: p.AuthInfo, method: m}
	}
	switch r.Service {
	case "fail":
		st, _ := status.New(codes.NotFound, "no such key").WithDetails(errDetail)
		return nil, st.Err()
	case "block":
		h.started <- struct{}{}
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	case "big":
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, grpc.SetHeader(ctx, metadata.Pairs("x-big", string(make([]byte, 300<<10))))
	}
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-hsm-index", "42")); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

type testAuth struct{ credentials.CommonAuthInfo }

func (testAuth) AuthType() string { return "test" }

// rig is a socket served by a Mux, gRPC and the wire, with a Pool and a gRPC client of it.
type rig struct {
	path   string
	h      *health
	mux    *Mux
	gs     *grpc.Server
	ws     *Server
	pool   *Pool
	gc     *grpc.ClientConn
	admits atomic.Int64
	refuse atomic.Bool
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{path: filepath.Join(t.TempDir(), "n.sock"), h: &health{seen: make(chan seen, 16), started: make(chan struct{}, 4)}}
	r.serve(t)
	r.pool = &Pool{Dial: func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", r.path)
	}}
	t.Cleanup(r.pool.Close)
	gc, err := grpc.NewClient("passthrough:///n", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", r.path)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gc.Close() })
	r.gc = gc
	return r
}

// serve (re)starts the servers on the socket.
func (r *rig) serve(t *testing.T) {
	t.Helper()
	lis, err := net.Listen("unix", r.path)
	if err != nil {
		t.Fatal(err)
	}
	r.mux = NewMux(lis)
	r.gs = grpc.NewServer()
	healthpb.RegisterHealthServer(r.gs, r.h)
	r.ws = NewServer(ServerConfig{Auth: testAuth{}, Admit: func() error {
		r.admits.Add(1)
		if r.refuse.Load() {
			return errors.New("refused")
		}
		return nil
	}})
	healthpb.RegisterHealthServer(r.ws, r.h)
	go r.gs.Serve(r.mux.GRPC())
	go r.ws.Serve(r.mux.Wire())
	t.Cleanup(r.stop)
}

func (r *rig) stop() {
	r.mux.Close()
	r.gs.Stop()
	r.ws.Stop()
}

const checkMethod = "/grpc.health.v1.Health/Check"

// wire calls Check on the wire.
func (r *rig) wire(ctx context.Context, service string, hdr *metadata.MD) (*healthpb.HealthCheckResponse, error) {
	out := &healthpb.HealthCheckResponse{}
	err := r.pool.Invoke(ctx, checkMethod, &healthpb.HealthCheckRequest{Service: service}, out, hdr)
	return out, err
}

func (r *rig) idle() int {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	return len(r.pool.idle)
}

// interrupted makes a call that blocks on the node, runs interrupt once the handler has begun,
// and returns the call's error.
func (r *rig) interrupted(t *testing.T, ctx context.Context, interrupt func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := r.wire(ctx, "block", nil); done <- err }()
	<-r.h.started
	interrupt()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the interrupted call did not return")
		return nil
	}
}

func TestBothProtocolsShareTheSocket(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := healthpb.NewHealthClient(r.gc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("gRPC on the socket: %v", err)
	}
	got, err := r.wire(ctx, "", nil)
	if err != nil || got.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("the wire on the socket: %v %v", got, err)
	}
	// Other first bytes: the connection is closed, and the socket serves on.
	c, err := net.Dial("unix", r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connection with other first bytes: read %d bytes, %v; want it closed", n, err)
	}
	if _, err := r.wire(ctx, "", nil); err != nil {
		t.Fatalf("after the stray connection: %v", err)
	}
}

func TestACallCarriesWhatGRPCCarries(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "hsm abc", "x-hsm-min-index", "7"), 3*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	var hdr metadata.MD
	got, err := r.wire(ctx, "", &hdr)
	if err != nil || got.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", got, err)
	}
	if v := hdr.Get("x-hsm-index"); len(v) != 1 || v[0] != "42" {
		t.Fatalf("response header %v, want x-hsm-index 42", hdr)
	}
	s := <-r.h.seen
	if a, i := s.md.Get("authorization"), s.md.Get("x-hsm-min-index"); len(a) != 1 || a[0] != "hsm abc" || len(i) != 1 || i[0] != "7" {
		t.Fatalf("the handler saw metadata %v", s.md)
	}
	// The deadline travels as the time left, as gRPC's grpc-timeout does, so the node's is the
	// caller's give or take the time in transit.
	if d := s.deadline.Sub(want); s.deadline.IsZero() || d > time.Second || d < -time.Second {
		t.Fatalf("the handler's deadline %v, the caller's %v", s.deadline, want)
	}
	if _, ok := s.auth.(testAuth); !ok {
		t.Fatalf("the handler's peer AuthInfo is %T, want the server's", s.auth)
	}
	if s.method != checkMethod {
		t.Fatalf("grpc.Method: %q", s.method)
	}
	if r.idle() != 1 {
		t.Fatalf("%d idle connections after a call, want 1 (given back)", r.idle())
	}
}

func TestErrorsAreGRPCs(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, werr := r.wire(ctx, "fail", nil)
	_, gerr := healthpb.NewHealthClient(r.gc).Check(ctx, &healthpb.HealthCheckRequest{Service: "fail"})
	ws, gs := status.Convert(werr), status.Convert(gerr)
	if ws.Code() != codes.NotFound || ws.Message() != gs.Message() || ws.Code() != gs.Code() {
		t.Fatalf("wire %v, gRPC %v", werr, gerr)
	}
	if d := ws.Details(); len(d) != 1 || !proto.Equal(d[0].(proto.Message), errDetail) {
		t.Fatalf("wire details %v, want %v", d, errDetail)
	}
	err := r.pool.Invoke(ctx, "/grpc.health.v1.Health/Nope", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}, nil)
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("unknown method: %v, want Unimplemented", err)
	}
	// Watch is a streaming method: not carried.
	err = r.pool.Invoke(ctx, "/grpc.health.v1.Health/Watch", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}, nil)
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("streaming method: %v, want Unimplemented", err)
	}
}

func TestACanceledCallEndsItsConnection(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.interrupted(t, ctx, cancel); status.Code(err) != codes.Canceled {
		t.Fatalf("canceled call: %v, want Canceled", err)
	}
	if r.idle() != 0 {
		t.Fatal("the canceled call's connection was given back")
	}
	before := r.admits.Load()
	if _, err := r.wire(context.Background(), "", nil); err != nil {
		t.Fatal(err)
	}
	if r.admits.Load() != before+1 {
		t.Fatal("the next call did not open a new connection")
	}
}

func TestADeadlinePassesMidCall(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.wire(ctx, "block", nil); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("%v, want DeadlineExceeded", err)
	}
}

// ThreadWait waits in the thread, on sockets taken out of the network poller; the outcomes are
// the same, for large messages both ways (writes that fill the socket, answers read in pieces)
// and for the idle connections of a restarted node too.
func TestThreadWait(t *testing.T) {
	r := newRig(t)
	r.pool.ThreadWait = true
	if _, err := r.wire(context.Background(), "", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.pool.idle[0].Conn.(*threadConn); !ok {
		t.Fatalf("the idle connection is a %T, not out of the poller", r.pool.idle[0].Conn)
	}
	var hdr metadata.MD
	if _, err := r.wire(context.Background(), "big", &hdr); err != nil || len(hdr.Get("x-big")) != 1 || len(hdr.Get("x-big")[0]) != 300<<10 {
		t.Fatalf("a large answer: %v", err)
	}
	big := &healthpb.HealthCheckRequest{Service: string(make([]byte, 3<<20))}
	resp := &healthpb.HealthCheckResponse{}
	if err := r.pool.Invoke(context.Background(), checkMethod, big, resp, nil); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("a large request: %v %v", resp.Status, err)
	}
	r.stop()
	r.serve(t)
	if _, err := r.wire(context.Background(), "", nil); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.wire(ctx, "block", nil); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("%v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-r.h.started; cancel() }()
	if _, err := r.wire(ctx, "block", nil); status.Code(err) != codes.Canceled {
		t.Fatalf("%v, want Canceled", err)
	}
}

func TestStopMidCallIsUnavailable(t *testing.T) {
	r := newRig(t)
	if err := r.interrupted(t, context.Background(), r.stop); status.Code(err) != codes.Unavailable {
		t.Fatalf("%v, want Unavailable", err)
	}
}

func TestARefusedConnectionSendsNothing(t *testing.T) {
	r := newRig(t)
	r.refuse.Store(true)
	_, err := r.wire(context.Background(), "", nil)
	if !errors.Is(err, ErrNoWire) {
		t.Fatalf("%v, want ErrNoWire", err)
	}
	select {
	case s := <-r.h.seen:
		t.Fatalf("the handler ran: %+v", s)
	default:
	}
	// Nothing listening at all: ErrNoWire too.
	p := &Pool{Dial: func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(t.TempDir(), "none.sock"))
	}}
	if _, err := (&rig{pool: p}).wire(context.Background(), "", nil); !errors.Is(err, ErrNoWire) {
		t.Fatalf("no socket: %v, want ErrNoWire", err)
	}
}

// Connections kept idle while the node restarted are dead; the call goes out again on a new
// one, and the next calls do not meet the other dead ones.
func TestIdleConnectionsOfARestartedNode(t *testing.T) {
	r := newRig(t)
	for range 3 {
		c, err := r.pool.dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r.pool.put(c)
	}
	r.stop()
	r.serve(t)
	for i := range 3 {
		if _, err := r.wire(context.Background(), "", nil); err != nil {
			t.Fatalf("call %d after the restart: %v", i, err)
		}
	}
}

// A large response header goes through, and the connection drops its large buffer after.
func TestLargeMessages(t *testing.T) {
	r := newRig(t)
	var hdr metadata.MD
	if _, err := r.wire(context.Background(), "big", &hdr); err != nil {
		t.Fatal(err)
	}
	if v := hdr.Get("x-big"); len(v) != 1 || len(v[0]) != 300<<10 {
		t.Fatal("the large header did not come back whole")
	}
	if c := r.pool.idle[0]; cap(c.in) > keepBuf {
		t.Fatalf("an idle connection keeps a %d-byte buffer", cap(c.in))
	}
	big := &healthpb.HealthCheckRequest{Service: string(make([]byte, MaxMessage+1))}
	err := r.pool.Invoke(context.Background(), checkMethod, big, &healthpb.HealthCheckResponse{}, nil)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a request past MaxMessage: %v, want ResourceExhausted", err)
	}
	// The node refuses one too, from a client that does not check.
	body, _ := proto.Marshal(big)
	c, br := rawConn(t, r.path)
	if _, err := c.Write(frame(&hsmpb.LocalRequest{Method: checkMethod, Body: body})); err != nil {
		t.Fatal(err)
	}
	var resp hsmpb.LocalResponse
	if _, err := readFrame(br, nil, &resp); err != nil {
		t.Fatal(err)
	}
	var sp spb.Status
	if err := proto.Unmarshal(resp.Status, &sp); err != nil || codes.Code(sp.Code) != codes.ResourceExhausted {
		t.Fatalf("the node's answer to a request past MaxMessage: %v %v", &sp, err)
	}
}

// A deadline too far off to count in nanoseconds (a client's "no limit" as a huge timeout) is no
// deadline; it once wrapped around to one already past.
func TestAFarDeadlineIsNoDeadline(t *testing.T) {
	r := newRig(t)
	body, _ := proto.Marshal(&healthpb.HealthCheckRequest{})
	c, br := rawConn(t, r.path)
	if _, err := c.Write(frame(&hsmpb.LocalRequest{Method: checkMethod, TimeoutMicros: math.MaxInt64, Body: body})); err != nil {
		t.Fatal(err)
	}
	var resp hsmpb.LocalResponse
	if _, err := readFrame(br, nil, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Status) > 0 {
		var sp spb.Status
		_ = proto.Unmarshal(resp.Status, &sp)
		t.Fatalf("a call with %d µs left failed: %v", int64(math.MaxInt64), &sp)
	}
	if s := <-r.h.seen; !s.deadline.IsZero() {
		t.Fatalf("the handler's deadline: %v, want none", s.deadline)
	}
}

// rawConn is a connection that sent Preface and read the node's.
func rawConn(t *testing.T, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(Preface); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	got := make([]byte, len(Preface))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != string(Preface) {
		t.Fatalf("the node's preface: %q %v", got, err)
	}
	return c, br
}

// Bad frames end their connection and nothing else.
func TestBadFramesEndTheirConnection(t *testing.T) {
	r := newRig(t)
	long := binary.BigEndian.AppendUint32(nil, MaxFrame+1)
	garbage := append(binary.BigEndian.AppendUint32(nil, 3), 0xff, 0xff, 0xff)
	for name, b := range map[string][]byte{"too long": long, "not protobuf": garbage} {
		c, br := rawConn(t, r.path)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("%s: read %v, want EOF (connection closed)", name, err)
		}
		if _, err := r.wire(context.Background(), "", nil); err != nil {
			t.Fatalf("%s: the node stopped serving: %v", name, err)
		}
	}
}

func TestFrames(t *testing.T) {
	var buf []byte
	var w writerTo
	lr := &hsmpb.LocalRequest{Method: checkMethod, Metadata: []string{"a", "b"}, TimeoutMicros: 5, Body: []byte{1, 2}}
	buf, err := writeFrame(&w, buf, lr)
	if err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Fatalf("a frame took %d writes, want 1", w.writes)
	}
	var got hsmpb.LocalRequest
	if _, err := readFrame(bufio.NewReader(&w.b), nil, &got); err != nil || !proto.Equal(&got, lr) {
		t.Fatalf("read back %v %v, want %v", &got, err, lr)
	}
	// A frame cut short is an unexpected EOF, not a clean one.
	short := bufio.NewReader(&sliceReader{b: buf[:len(buf)-1]})
	if _, err := readFrame(short, nil, &got); err != io.ErrUnexpectedEOF {
		t.Fatalf("a cut frame: %v", err)
	}
}

// A length header reserves nothing the peer has not sent: a header announcing MaxFrame followed
// by ten bytes costs a buffer the size of a read step, not 8 MiB (a connection that announces a
// large frame and stalls holds what arrived), and a large frame still reads back whole.
func TestAFrameReservesWhatArrives(t *testing.T) {
	head := binary.BigEndian.AppendUint32(nil, MaxFrame)
	buf, err := readFrame(bufio.NewReader(&sliceReader{b: append(head, make([]byte, 10)...)}), nil, &hsmpb.LocalRequest{})
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("a frame cut after 10 bytes: %v, want an unexpected EOF", err)
	}
	if cap(buf) > readStep {
		t.Fatalf("a header announcing %d bytes, then 10: a %d-byte buffer, want at most %d", MaxFrame, cap(buf), readStep)
	}
	var w writerTo
	lr := &hsmpb.LocalRequest{Method: checkMethod, Body: make([]byte, 3<<20)}
	if _, err := writeFrame(&w, nil, lr); err != nil {
		t.Fatal(err)
	}
	var got hsmpb.LocalRequest
	if _, err := readFrame(bufio.NewReader(&w.b), make([]byte, 0, 100), &got); err != nil || !proto.Equal(&got, lr) {
		t.Fatalf("a 3 MiB frame read back: %v (equal: %v)", err, proto.Equal(&got, lr))
	}
}

type writerTo struct {
	b      sliceReader
	writes int
}

func (w *writerTo) Write(p []byte) (int, error) {
	w.writes++
	w.b.b = append(w.b.b, p...)
	return len(p), nil
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// A call on an idle connection that Stop ends mid-call was sent: its error must not say
// ErrNoWire (nothing sent, so the client makes the call again over gRPC), though the retry on
// a new connection is refused.
func TestStopMidCallOnAReusedConnectionIsUnavailable(t *testing.T) {
	r := newRig(t)
	if _, err := r.wire(context.Background(), "", nil); err != nil {
		t.Fatal(err)
	}
	if r.idle() != 1 {
		t.Fatalf("%d idle connections, want 1", r.idle())
	}
	err := r.interrupted(t, context.Background(), r.ws.Stop)
	if status.Code(err) != codes.Unavailable || errors.Is(err, ErrNoWire) {
		t.Fatalf("%v, want Unavailable", err)
	}
}

// Serve returns once the server is stopped, as grpc.Server.Serve does.
func TestServeReturnsAfterStop(t *testing.T) {
	r := newRig(t)
	lis, err := net.Listen("unix", filepath.Join(t.TempDir(), "other.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	served := make(chan error, 1)
	go func() { served <- r.ws.Serve(lis) }()
	r.ws.Stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after Stop: %v, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve still runs after Stop")
	}
}
