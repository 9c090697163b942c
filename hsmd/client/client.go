// Package client is the Go client of one hsmsim node's API. It carries the login credential and
// the read-your-writes index from call to call, stamps writes with idempotency ids, and turns
// wire errors back into PKCS#11 codes (p11.Error), so callers see the same errors the node made.
//
// A Client talks to one node. The cluster client (package cluster) holds one per node, shares the
// credential and the index among them, and fails over.
package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Metadata keys; they mirror hsmd/server's.
const (
	mdAuthorization = "authorization"
	mdMinIndex      = "x-hsm-min-index"
	mdRequestID     = "x-hsm-request-id"
	mdIndex         = "x-hsm-index"
)

// writeMethods change state and carry an idempotency id.
var writeMethods = map[string]bool{
	"Login": true, "Logout": true, "ChangePassword": true, "CreateUser": true, "DeleteUser": true,
	"CreateObject": true, "CopyObject": true, "DestroyObject": true, "SetAttributes": true, "ShareKey": true,
	"GenerateKey": true, "GenerateKeyPair": true, "UnwrapKey": true, "DeriveKey": true,
}

// Config says how to reach a node.
type Config struct {
	Addr string
	TLS  *tls.Config // verifies the node against the trust anchor (pki.ClientTLS)
	// Dialer replaces the TCP dialer (the fault layer, netsim, goes here).
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// Session shares the credential and index with other Clients (one per node in a cluster).
	Session *Session
	// Retries is how many times a call that never reached the node (connection refused or
	// broken, as across a node restart) is retried on the same node, with a short backoff.
	// Writes are safe to retry: they carry one idempotency id across attempts. The cluster
	// client leaves this at 0 and fails over to another node instead.
	Retries int
}

// Session is what a logged-in application carries between calls and nodes: the credential
// and the highest applied index it has seen.
type Session struct {
	mu    sync.RWMutex
	cred  string
	index atomic.Uint64
}

// Credential is the current login credential ("" when logged out).
func (s *Session) Credential() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cred
}

// SetCredential installs a credential (after Login, or to share one).
func (s *Session) SetCredential(c string) {
	s.mu.Lock()
	s.cred = c
	s.mu.Unlock()
}

// Index is the highest applied index seen in any response.
func (s *Session) Index() uint64 { return s.index.Load() }

// Observe raises the index to i if i is higher.
func (s *Session) Observe(i uint64) {
	for {
		cur := s.index.Load()
		if i <= cur || s.index.CompareAndSwap(cur, i) {
			return
		}
	}
}

// Client is a connection to one node.
type Client struct {
	conn *grpc.ClientConn
	api  hsmpb.HSMClient
	sess    *Session
	addr    string
	retries int
}

// Dial connects to a node. The connection is made lazily by gRPC; the first call reports
// an unreachable node.
func Dial(cfg Config) (*Client, error) {
	if cfg.TLS == nil {
		return nil, errors.New("client: a TLS config with the trust anchor is required")
	}
	c := &Client{sess: cfg.Session, addr: cfg.Addr, retries: cfg.Retries}
	if c.sess == nil {
		c.sess = &Session{}
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS)),
		grpc.WithChainUnaryInterceptor(c.intercept),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8 << 20)),
	}
	if cfg.Dialer != nil {
		opts = append(opts, grpc.WithContextDialer(cfg.Dialer))
	}
	conn, err := grpc.NewClient(cfg.Addr, opts...)
	if err != nil {
		return nil, err
	}
	c.conn, c.api = conn, hsmpb.NewHSMClient(conn)
	return c, nil
}

// Addr is the node's address.
func (c *Client) Addr() string { return c.addr }

// Session is the credential and index this client uses.
func (c *Client) Session() *Session { return c.sess }

// API is the raw generated client, for callers that need a call this package does not wrap.
func (c *Client) API() hsmpb.HSMClient { return c.api }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

type ctxKey struct{}

// WithRequestID fixes the idempotency id of the writes made with ctx: a caller that retries a
// write after a lost reply reuses the id, and the cluster applies it once.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// NewRequestID makes a fresh idempotency id.
func NewRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Client) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, inv grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	name := method[strings.LastIndexByte(method, '/')+1:]
	kv := make([]string, 0, 6)
	if cred := c.sess.Credential(); cred != "" {
		kv = append(kv, mdAuthorization, "hsm "+cred)
	}
	if i := c.sess.Index(); i > 0 {
		kv = append(kv, mdMinIndex, strconv.FormatUint(i, 10))
	}
	if writeMethods[name] {
		id, _ := ctx.Value(ctxKey{}).(string)
		if id == "" {
			id = NewRequestID()
		}
		kv = append(kv, mdRequestID, id)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	for attempt := 0; ; attempt++ {
		var hdr metadata.MD
		err := FromStatus(inv(ctx, method, req, reply, cc, append(opts, grpc.Header(&hdr))...))
		if v := hdr.Get(mdIndex); len(v) > 0 {
			if i, perr := strconv.ParseUint(v[0], 10, 64); perr == nil {
				c.sess.Observe(i)
			}
		}
		var e *Error
		if err == nil || attempt >= c.retries || !errors.As(err, &e) || e.remote || e.Code != codes.Unavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
}

// Error is a failed call: the node's CK_RV (or the one the transport failure maps to) and the
// gRPC status, which tells whether another node might succeed (Retryable).
type Error struct {
	RV     uint32
	Code   codes.Code
	Msg    string
	remote bool // the node answered (false: the call never got an answer)
}

func (e *Error) Error() string { return p11.RVName(e.RV) + ": " + e.Msg }

// Unwrap makes errors.As(err, *p11.Error) and p11.Code work on it.
func (e *Error) Unwrap() error { return p11.Error(e.RV) }

// Retryable reports whether another node (or the same one later) might succeed where this
// call failed: the node was unreachable, timed out, or said it cannot serve now.
func Retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == codes.Unavailable || e.Code == codes.DeadlineExceeded || (!e.remote && e.Code != codes.Canceled)
}

// FromStatus turns a gRPC error into an *Error; nil stays nil. A status without the node's
// detail (the node never answered) becomes CKR_DEVICE_ERROR, or CKR_FUNCTION_CANCELED when the
// caller canceled.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{RV: p11.CKR_DEVICE_ERROR, Code: codes.Unknown, Msg: err.Error()}
	}
	for _, d := range st.Details() {
		if e, ok := d.(*hsmpb.Error); ok {
			return &Error{RV: e.Rv, Code: st.Code(), Msg: e.Message, remote: true}
		}
	}
	rv := uint32(p11.CKR_DEVICE_ERROR)
	if st.Code() == codes.Canceled {
		rv = p11.CKR_FUNCTION_CANCELED
	}
	return &Error{RV: rv, Code: st.Code(), Msg: st.Message()}
}

// DefaultTimeout bounds calls made without a deadline.
const DefaultTimeout = 30 * time.Second
