package localwire

import (
	"bufio"
	"context"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// keepBuf is the largest frame buffer a connection keeps between calls; a larger one (a big
// message) is dropped after its call so that idle connections stay small.
const keepBuf = 256 << 10

// ServerConfig is what a Server needs besides its services.
type ServerConfig struct {
	// Interceptor runs around every call, as grpc.ChainUnaryInterceptor does on a gRPC server.
	Interceptor grpc.UnaryServerInterceptor
	// Auth is the AuthInfo handlers find in the call's peer (peer.FromContext).
	Auth credentials.AuthInfo
	// Admit decides, before the node answers the preface, whether a connection is served; an
	// error closes it. Nil admits every connection.
	Admit func() error
}

// Server serves the unary methods of the services registered with it on connections that
// asked for the wire (Mux.Wire). It implements grpc.ServiceRegistrar, so a node registers its
// services here exactly as on its gRPC servers.
type Server struct {
	cfg     ServerConfig
	methods map[string]method // by full method name

	ctx  context.Context // every call's parent: canceled by Stop
	stop context.CancelFunc

	mu    sync.Mutex
	lis   map[net.Listener]struct{}
	conns map[net.Conn]struct{}
	done  bool
}

type method struct {
	impl    any
	handler grpc.MethodHandler
}

// NewServer makes a server with no services.
func NewServer(cfg ServerConfig) *Server {
	ctx, stop := context.WithCancel(context.Background())
	return &Server{cfg: cfg, methods: map[string]method{}, ctx: ctx, stop: stop,
		lis: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// RegisterService registers the unary methods of a service (grpc.ServiceRegistrar). Streaming
// methods are not carried: a call to one answers Unimplemented.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	for _, m := range desc.Methods {
		s.methods["/"+desc.ServiceName+"/"+m.MethodName] = method{impl: impl, handler: m.Handler}
	}
}

// Serve serves the connections lis accepts (Mux.Wire) until it fails, or until Stop, which
// closes lis and makes Serve return nil (as grpc.Server.Serve does).
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		lis.Close()
		return nil
	}
	s.lis[lis] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lis, lis)
		s.mu.Unlock()
	}()
	for {
		conn, err := lis.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.serveConn(conn)
	}
}

// Stop closes the listeners Serve accepts from and every connection, and cancels the calls
// running on them.
func (s *Server) Stop() {
	s.mu.Lock()
	s.done = true
	// The connections close before the calls' contexts are canceled, so that no call answers
	// Canceled in the meantime: its caller sees the connection lost (Unavailable).
	for c := range s.conns {
		c.Close()
	}
	s.stop() // before the listeners close, so that Serve sees a stop rather than a failure
	for l := range s.lis {
		l.Close()
	}
	s.mu.Unlock()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// serveConn admits a connection whose client sent Preface (Mux read it), then answers its calls
// one after the other on this goroutine.
func (s *Server) serveConn(conn net.Conn) {
	if !s.track(conn) {
		conn.Close()
		return
	}
	defer s.untrack(conn)
	if s.cfg.Admit != nil && s.cfg.Admit() != nil {
		return
	}
	if _, err := conn.Write(Preface); err != nil {
		return
	}
	p := &peer.Peer{Addr: conn.RemoteAddr(), LocalAddr: conn.LocalAddr(), AuthInfo: s.cfg.Auth}
	r := bufio.NewReaderSize(conn, 16<<10)
	var in, out []byte
	for {
		var req hsmpb.LocalRequest
		var err error
		if in, err = readFrame(r, in, &req); err != nil {
			return
		}
		resp := s.call(p, &req)
		if out, err = writeFrame(conn, out, resp); err != nil {
			return
		}
		if cap(in) > keepBuf {
			in = nil
		}
		if cap(out) > keepBuf {
			out = nil
		}
	}
}

// call runs one request through its method's handler and the interceptor, as grpc.Server does
// for a unary call: the metadata arrive as incoming metadata, the deadline as the context's, and
// what the handler sets with grpc.SetHeader goes back in the response. One difference: a client
// that gives up on a call closes its connection, which this goroutine notices only after the
// handler returns, so the handler runs to its deadline or its end where gRPC would cancel its
// context. The node API's handlers are bounded by their deadlines and change nothing a retry
// cannot meet (writes carry idempotency ids).
func (s *Server) call(p *peer.Peer, req *hsmpb.LocalRequest) *hsmpb.LocalResponse {
	m, ok := s.methods[req.Method]
	if !ok {
		return failed(status.Newf(codes.Unimplemented, "unknown method %s", req.Method))
	}
	if len(req.Body) > MaxMessage { // as grpc.MaxRecvMsgSize answers on the node's gRPC servers
		return failed(status.Newf(codes.ResourceExhausted, "request of %d bytes is larger than the %d a message may be", len(req.Body), MaxMessage))
	}
	if len(req.Metadata)%2 != 0 {
		return failed(status.New(codes.Internal, "metadata: a key without a value"))
	}
	md := make(metadata.MD, len(req.Metadata)/2)
	for i := 0; i < len(req.Metadata); i += 2 {
		k := strings.ToLower(req.Metadata[i])
		md[k] = append(md[k], req.Metadata[i+1])
	}
	ctx := s.ctx
	// A timeout past what a time.Duration holds (292 years) is no deadline, not an overflow to
	// one already past.
	if req.TimeoutMicros > 0 && req.TimeoutMicros <= math.MaxInt64/int64(time.Microsecond) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMicros)*time.Microsecond)
		defer cancel()
	}
	st := &transportStream{method: req.Method}
	ctx = grpc.NewContextWithServerTransportStream(peer.NewContext(metadata.NewIncomingContext(ctx, md), p), st)
	dec := func(v any) error {
		msg, ok := v.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "localwire: %T is not a protobuf message", v)
		}
		if err := proto.Unmarshal(req.Body, msg); err != nil {
			return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
		}
		return nil
	}
	v, err := m.handler(m.impl, ctx, dec, s.cfg.Interceptor)
	resp := &hsmpb.LocalResponse{Header: pairs(st.header)}
	if err != nil {
		resp.Status, _ = proto.Marshal(status.Convert(err).Proto())
		return resp
	}
	msg, ok := v.(proto.Message)
	if !ok {
		return failed(status.Newf(codes.Internal, "localwire: %T is not a protobuf message", v))
	}
	if resp.Body, err = proto.Marshal(msg); err != nil {
		return failed(status.Newf(codes.Internal, "localwire: %v", err))
	}
	if len(resp.Body) > MaxMessage {
		return failed(status.Newf(codes.ResourceExhausted, "response of %d bytes is larger than the %d a message may be", len(resp.Body), MaxMessage))
	}
	return resp
}

func failed(st *status.Status) *hsmpb.LocalResponse {
	b, _ := proto.Marshal(st.Proto())
	return &hsmpb.LocalResponse{Status: b}
}

// pairs flattens metadata into key, value, key, value...
func pairs(md metadata.MD) []string {
	var kv []string
	for k, vs := range md {
		for _, v := range vs {
			kv = append(kv, k, v)
		}
	}
	return kv
}

// transportStream is what grpc.SetHeader and grpc.Method find in a call's context.
type transportStream struct {
	method string
	mu     sync.Mutex
	header metadata.MD
}

func (t *transportStream) Method() string { return t.method }

func (t *transportStream) SetHeader(md metadata.MD) error {
	t.mu.Lock()
	t.header = metadata.Join(t.header, md)
	t.mu.Unlock()
	return nil
}

func (t *transportStream) SendHeader(md metadata.MD) error { return t.SetHeader(md) }

// SetTrailer keeps nothing: the node API sends no trailers, and the wire carries none.
func (t *transportStream) SetTrailer(metadata.MD) error { return nil }
