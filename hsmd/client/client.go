// Package client is the Go client of an hsmsim cluster, the counterpart of CloudHSM's client
// library: it knows every node, spreads calls over the healthy ones, fails over when a node is
// unreachable, slow or cut off from the majority, and carries what makes that safe: the login
// credential (every node accepts it), the read-your-writes index (a node waits until it has
// applied what this client has seen), and an idempotency id per write (a retry after a lost reply
// does not create a second key). Wire errors become PKCS#11 codes (p11.Error) again, so callers
// see the code the node chose. All of this lives in one gRPC interceptor; the typed methods in
// ops.go are thin. Mechanisms are named with hsmd/ckm values; the client does not link the
// node's crypto engine.
package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
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
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

// Metadata keys; they mirror hsmd/server's.
const (
	mdAuthorization = "authorization"
	mdPublicSession = "x-hsm-public-session"
	mdMinIndex      = "x-hsm-min-index"
	mdRequestID     = "x-hsm-request-id"
	mdIndex         = "x-hsm-index"
	mdLeader        = "x-hsm-leader"
	authScheme      = "hsm "
)

// writeMethods change state and carry an idempotency id.
var writeMethods = map[string]bool{
	"Login": true, "Logout": true, "RenewLogin": true, "ChangePassword": true,
	"RegisterTrustAnchor": true, "DeregisterTrustAnchor": true, "SetMTLSEnforcement": true, "CreateUser": true, "DeleteUser": true,
	"CreateObject": true, "CopyObject": true, "DestroyObject": true, "SetAttributes": true, "ShareKey": true,
	"GenerateKey": true, "GenerateKeyPair": true, "UnwrapKey": true, "DeriveKey": true,
}

// Node is one node the client knows: its id and AZ (may be empty until learned) and address;
// and, for a node on this host, the Unix socket it also serves its API on (local.go).
type Node struct {
	ID     string `json:"id,omitempty"`
	AZ     string `json:"az,omitempty"`
	Addr   string `json:"addr"`
	Socket string `json:"socket,omitempty"`
}

// Config says how to reach the cluster.
type Config struct {
	// Nodes are the nodes to start with; Addr alone means one node. The client learns the rest
	// of the cluster (and nodes added later) from GetInfo.
	Nodes []Node
	Addr  string
	// CAPEM is the trust anchor; each node is verified against it under its own address.
	CAPEM []byte
	// CertPEM and KeyPEM are the client's own certificate and key, for a cluster that enforces
	// mutual TLS (both or neither).
	CertPEM, KeyPEM []byte
	// TLS overrides CAPEM with a ready config (tests of one node, or a fixed server name).
	TLS *tls.Config
	// Dialer replaces the TCP dialer (the fault layer, netsim, goes here).
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// OnSocket, if set, is told when a node's socket (Node.Socket) is there but not used, and
	// why; the client uses TCP then.
	OnSocket func(path string, err error)
	// GRPCOnly keeps calls to a node's socket on gRPC instead of the local wire
	// (hsmd/localwire), which they use by default; benchmarks compare the two with it.
	GRPCOnly bool
	// ThreadWait: a call on the local wire waits for its answer in its own thread, for callers
	// whose goroutines are locked to their threads (the PKCS#11 module: calls from C);
	// localwire.Pool.ThreadWait says why.
	ThreadWait bool
	// Session shares the credential and index with other Clients.
	Session *Session
	// Retries is how many more attempts a call gets after one that never reached a node or that
	// a node refused as unable to serve now. Writes are safe to retry: every attempt carries the
	// same idempotency id. Zero means one attempt per known node, at least 2.
	Retries int
	// AttemptTimeout bounds one attempt on one node, so a node that black-holes requests costs
	// a failover, not the caller's whole deadline. Zero: 3 s. A crypto read's attempt gets a
	// timeout derived from the latency observed, at most this (health.go).
	AttemptTimeout time.Duration
	// Hedge is how long a crypto read waits for its node before the same read goes to another
	// node too, the first answer winning (hedge.go). Zero: derived from the latency observed;
	// negative: reads are not hedged.
	Hedge time.Duration
	// Observe, if set, is told of every attempt: which node served which call, with what error.
	Observe func(Attempt)
	// Batch coalesces concurrent crypto reads (Sign, Verify, Encrypt, Decrypt, Digest,
	// GenerateRandom) into HSMBatch requests while earlier ones are in flight (batch.go).
	// BatchFlights is how many requests may be in flight before calls queue (default 2);
	// MaxBatch bounds the calls of one request (default 64).
	Batch        bool
	BatchFlights int
	MaxBatch     int
	// Refresh, if set, is how often the client asks the cluster for its members (GetInfo), so
	// HSMs added later get traffic and removed ones get none, as CloudHSM's client learns of
	// them from the cluster.
	Refresh time.Duration
}

// Attempt is one try of one call on one node, for tests and scenarios that check who served what.
type Attempt struct {
	Method string
	Node   string // id, or address when the id is not known yet
	Err    error
	Took   time.Duration
}

// Session is what a logged-in application carries between calls and nodes: the credential
// and the highest applied index it has seen.
type Session struct {
	mu   sync.RWMutex
	cred string
	auth string // "hsm " + cred, the authorization value, made once per login
	// public names the application's public session (SetPublic): the session objects it makes
	// without a login belong to it on the node, and every call carries it so that they stay
	// visible after a login. "" means calls without a credential are anonymous reads only.
	public string
	// officer: the login is an admin's, whose object calls the node serves as the public
	// session's (so the objects it makes outlive the login, as the public session's do).
	officer bool
	index   atomic.Uint64

	// What crypto reads wait for (readindex.go): the index of the session's last login change
	// (or an index the caller asked to Observe), and per key handle the index at which the session last changed it or saw it changed; and
	// per node address the highest index it reported, to send a read where it need not wait.
	login   atomic.Uint64
	adopted atomic.Bool // a credential set with SetCredential: its login index is not known
	kmu     sync.RWMutex
	keys    map[uint32]uint64
	applied map[string]uint64

	// The login's lease (lease.go): its length (0: not known yet), when it was last renewed
	// (Unix nanoseconds), and whether the cluster has ended it.
	lease   atomic.Int64
	renewed atomic.Int64
	dead    atomic.Bool
}

// Credential is the current login credential ("" when logged out).
func (s *Session) Credential() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cred
}

// SetCredential installs a credential (after Login, or to adopt one): its lease is renewed while
// a client using this Session lives. When the login was applied is not known, so crypto reads
// wait for the session's newest index, as every call does (Adopt knows better).
func (s *Session) SetCredential(c string) {
	s.setLogin(c, 0)
	s.adopted.Store(c != "")
}

// Adopt installs the credential another session logged in with, and what that session knows:
// the index of its login (crypto reads wait for no more) and its newest index.
func (s *Session) Adopt(from *Session) {
	s.setLogin(from.Credential(), 0)
	raise(&s.login, from.login.Load())
	raise(&s.index, from.Index())
}

func (s *Session) setLogin(c string, lease time.Duration) {
	s.mu.Lock()
	s.cred, s.auth, s.officer = c, "", false
	if c != "" {
		s.auth = authScheme + c
	}
	s.lease.Store(int64(lease))
	if lease > 0 {
		s.renewed.Store(time.Now().UnixNano())
	} else {
		s.renewed.Store(0) // an adopted credential: renew at once, and learn its lease
	}
	s.dead.Store(false)
	s.adopted.Store(false)
	s.mu.Unlock()
}

// SetPublic gives the session a fresh public-session id, so that objects can be made and used
// without a login (PKCS#11 v2.40 §4.4 and the v2.40 Usage Guide's session states: a public session has R/W access to public session
// objects). The id is 128 random bits: it is the only thing that ties those objects to this
// application, as a credential does for a login's.
func (s *Session) SetPublic() {
	s.mu.Lock()
	s.public = NewRequestID()
	s.mu.Unlock()
}

// Index is the highest applied index seen in any response.
func (s *Session) Index() uint64 { return s.index.Load() }

// Observe raises the index to i if i is higher, and makes every later call of the session,
// crypto reads included, wait for a node that has applied i: how a caller orders its session
// after another's writes (the keys another session made, the user it created).
func (s *Session) Observe(i uint64) {
	raise(&s.index, i)
	raise(&s.login, i)
}

// raise sets a to i if i is higher.
func raise(a *atomic.Uint64, i uint64) {
	for {
		cur := a.Load()
		if i <= cur || a.CompareAndSwap(cur, i) {
			return
		}
	}
}

// Client is a connection to a cluster (or one node). Calls go to a healthy node, round robin;
// a call that fails because its node is unreachable, too slow or cannot serve now is retried on
// another node. Calls about a session object go to the node that holds it, since session objects
// are not replicated; and every session object the client makes goes to one node, its session
// home, so that a call naming two of them (a session KEK wrapping a session key) finds both.
type Client struct {
	api      hsmpb.HSMClient
	batch    *batcher // nil: batching off
	batchAPI hsmpb.HSMBatchClient
	// offWire counts the members reached without the local wire. Batching is for them: on the
	// wire a call costs less than its hand-off to a flight would (batch.go), so a client whose
	// members are all local does not batch.
	offWire atomic.Int32
	sess    *Session
	cfg     Config
	tlsBase *tls.Config

	mu    sync.Mutex
	nodes []*nodeConn
	next  int
	homes map[uint32]*nodeConn // session-object handle → the node that holds it
	// publicMade are the session objects made without a credential: a logout does not end them.
	publicMade map[uint32]bool
	keptAlive  atomic.Int64 // when keepPublicAlive last called the session homes (Unix nanoseconds)
	// sessHome is where new session objects go: the node of the first one made, until it fails.
	sessHome *nodeConn
	// leader is the member the last write's answer named as the Raft leader (nil: none known,
	// or it failed since). Writes go there first: a follower would forward them there, which
	// costs a hop and the follower's CPU (docs/BENCHMARKS.md has the figures).
	leader *nodeConn

	stop chan struct{} // closed by Close: ends the refresh loop and the probes
	once sync.Once

	lat rtt // latency of crypto reads, for their attempt timeout (health.go)
}

type nodeConn struct {
	Node
	conn      *grpc.ClientConn
	wire      *wire       // the local wire on the node's socket; nil when the client may not use the socket (local.go)
	downUntil time.Time   // answered that it cannot serve now: passed over until then
	removed   bool        // no longer a member: never picked (its connection closes with the client)
	missed    atomic.Bool // never answered: passed over until a probe answers (health.go)
	lagging   bool        // answered with an index below the session's: probed until it catches up
	lagTarget uint64      // what it must have applied to count as caught up
	probing   bool
}

// Dial prepares connections to the configured nodes. Connections are made lazily by gRPC; the
// first call reports an unreachable node (and fails over).
func Dial(cfg Config) (*Client, error) {
	if cfg.TLS == nil && len(cfg.CAPEM) == 0 {
		return nil, errors.New("client: the trust anchor (CAPEM) or a TLS config is required")
	}
	if cfg.Addr != "" {
		cfg.Nodes = append([]Node{{Addr: cfg.Addr}}, cfg.Nodes...)
	}
	if len(cfg.Nodes) == 0 {
		return nil, errors.New("client: no nodes configured")
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = 3 * time.Second
	}
	c := &Client{sess: cfg.Session, cfg: cfg, tlsBase: cfg.TLS, homes: map[uint32]*nodeConn{}, publicMade: map[uint32]bool{}, stop: make(chan struct{})}
	if c.sess == nil {
		c.sess = &Session{}
	}
	for _, n := range cfg.Nodes {
		if _, err := c.addNode(n); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.api = hsmpb.NewHSMClient(c.nodes[0].conn) // the interceptor picks the real node
	c.batchAPI = hsmpb.NewHSMBatchClient(c.nodes[0].conn)
	if cfg.Batch {
		c.batch = newBatcher(c)
		c.batch.api = c.batchAPI
	}
	if cfg.Refresh > 0 {
		go c.every(cfg.Refresh, func() {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Refresh)
			_, _ = c.Refresh(ctx) // a failed refresh keeps the nodes known so far
			cancel()
		})
	}
	go c.every(renewTick, func() {
		c.renewIfDue()
		c.keepPublicAlive()
	})
	return c, nil
}

// every runs f at each tick of period d until Close: the client's background work (member
// refresh, login renewal) in one loop shape.
func (c *Client) every(d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			f()
		}
	}
}

func (c *Client) addNode(n Node) (*nodeConn, error) {
	tlsCfg := c.tlsBase
	if tlsCfg == nil {
		host, _, err := net.SplitHostPort(n.Addr)
		if err != nil {
			return nil, fmt.Errorf("client: node address %q: %w", n.Addr, err)
		}
		if tlsCfg, err = pki.ClientTLS(c.cfg.CAPEM, host, c.cfg.CertPEM, c.cfg.KeyPEM); err != nil {
			return nil, err
		}
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(socketOrTLS{tls: credentials.NewTLS(tlsCfg)}),
		grpc.WithChainUnaryInterceptor(c.intercept),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8 << 20)),
	}
	switch {
	case n.Socket != "":
		tcp := c.cfg.Dialer
		if tcp == nil {
			tcp = dialTCP
		}
		opts = append(opts, grpc.WithContextDialer(c.dialerFor(n, tcp)))
	case c.cfg.Dialer != nil:
		opts = append(opts, grpc.WithContextDialer(c.cfg.Dialer))
	}
	conn, err := grpc.NewClient(n.Addr, opts...)
	if err != nil {
		return nil, err
	}
	nc := &nodeConn{Node: n, conn: conn, wire: c.wireFor(n)}
	if nc.wire == nil {
		c.offWire.Add(1)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, nc)
	c.mu.Unlock()
	return nc, nil
}

// Nodes lists the nodes the client knows as members.
func (c *Client) Nodes() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		if !n.removed {
			out = append(out, n.Node)
		}
	}
	return out
}

// Addr is the address of the first node (the only one, for a one-node client).
func (c *Client) Addr() string { return c.cfg.Nodes[0].Addr }

// Session is the credential and index this client uses.
func (c *Client) Session() *Session { return c.sess }

// API is the raw generated client, for callers that need a call this package does not wrap.
func (c *Client) API() hsmpb.HSMClient { return c.api }

// Close closes every connection.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.stop) })
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for _, n := range c.nodes {
		if n.wire != nil {
			n.wire.pool.Close()
		}
		if err := n.conn.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

type ctxKey struct{}

// pinKey sends a call to one given node, with no failover (FindObjects asking each node that
// holds session objects of this client).
type pinKey struct{}

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
	if ctx.Value(probeKey{}) != nil {
		return inv(ctx, method, req, reply, cc, opts...)
	}
	name := method[strings.LastIndexByte(method, '/')+1:]
	if c.batch != nil && c.offWire.Load() > 0 && batchable[name] && ctx.Value(pinKey{}) == nil {
		if item := batchItem(name, req); item != nil {
			return c.batch.do(&pending{ctx: ctx, item: item, reply: reply, done: make(chan struct{}),
				solo: func(ctx context.Context) error { return c.unary(ctx, name, method, req, reply, inv, opts) }})
		}
	}
	return c.unary(ctx, name, method, req, reply, inv, opts)
}

// unary is one call with failover: the node choice, the retries, the idempotency id of a write.
func (c *Client) unary(ctx context.Context, name, method string, req, reply any, inv grpc.UnaryInvoker, opts []grpc.CallOption) error {
	if writeMethods[name] {
		if id, _ := ctx.Value(ctxKey{}).(string); id == "" {
			ctx = WithRequestID(ctx, NewRequestID()) // one id for every attempt of this call
		}
	}
	home := c.homeOf(req)
	if nc, ok := ctx.Value(pinKey{}).(*nodeConn); ok {
		home = nc
	}
	creating := home == nil && makesSessionObject(req)
	if creating {
		c.mu.Lock()
		home = c.sessHome
		c.mu.Unlock()
	}
	retries := c.cfg.Retries
	if retries == 0 {
		c.mu.Lock()
		retries = max(2, len(c.nodes))
		c.mu.Unlock()
	}
	var err error
	var want uint64 // the index a node must have applied to serve a crypto read at once
	if keyReads[name] {
		want = c.sess.readIndex(name, req)
	}
	for attempt := 0; attempt <= retries; attempt++ {
		nc := home
		if nc == nil && writeMethods[name] {
			nc = c.pickLeader()
		}
		if nc == nil {
			nc = c.pick(want)
		}
		if keyReads[name] && home == nil {
			err = c.tryHedged(ctx, nc, want, name, method, req, reply, inv, opts)
		} else {
			err = c.try(ctx, nc, name, method, req, reply, inv, opts)
		}
		if err == nil {
			c.noteHome(nc, reply)
			return nil
		}
		if !Retryable(err) || ctx.Err() != nil {
			return err
		}
		c.forgetLeader(nc) // until an answer names one again: it may be cut off or stepping down
		if missed(ctx, err) {
			c.miss(nc)
		} else {
			c.markDown(nc, attempt)
		}
		if creating && home != nil {
			// The session home is gone, and its session objects with it: new ones start over
			// on another node.
			c.mu.Lock()
			if c.sessHome == home {
				c.sessHome = nil
			}
			c.mu.Unlock()
			home = nil
			continue
		}
		if home != nil {
			// The session object lived on that node only; it is gone with it.
			return &Error{RV: p11.CKR_DEVICE_REMOVED, Code: codes.Unavailable, Msg: "the node holding this session object is unavailable: " + err.Error()}
		}
		if attempt > 0 {
			select { // several nodes failed in a row: give the cluster a moment (an election)
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
	}
	return err
}

// try is one attempt on one node, bounded by AttemptTimeout, or for a crypto read by a timeout
// derived from the latency observed (readTimeout).
func (c *Client) try(ctx context.Context, nc *nodeConn, name, method string, req, reply any, inv grpc.UnaryInvoker, opts []grpc.CallOption) error {
	kv := make([]string, 0, 6)
	c.sess.mu.RLock()
	auth, public := c.sess.auth, c.sess.public
	c.sess.mu.RUnlock()
	if auth != "" {
		kv = append(kv, mdAuthorization, auth)
	}
	if public != "" {
		kv = append(kv, mdPublicSession, public)
	}
	sent := c.sess.Index()
	if i := c.sess.readIndex(name, req); i > 0 {
		kv = append(kv, mdMinIndex, strconv.FormatUint(i, 10))
	}
	if id, _ := ctx.Value(ctxKey{}).(string); id != "" && writeMethods[name] {
		kv = append(kv, mdRequestID, id)
	}
	timeout := c.cfg.AttemptTimeout
	if keyReads[name] {
		timeout = c.readTimeout()
	}
	actx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, kv...), timeout)
	defer cancel()
	var hdr metadata.MD
	start := time.Now()
	err := FromStatus(c.invoke(actx, nc, method, req, reply, inv, opts, &hdr))
	took := time.Since(start)
	if v := hdr.Get(mdLeader); len(v) > 0 && writeMethods[name] {
		c.noteLeader(v[0])
	}
	if v := hdr.Get(mdIndex); len(v) > 0 {
		if i, perr := strconv.ParseUint(v[0], 10, 64); perr == nil {
			raise(&c.sess.index, i) // not Observe: a reply holds back only what it concerns
			c.sess.learn(name, req, reply, err, i)
			c.sess.noteApplied(nc.Addr, i)
			if i < sent {
				c.lags(nc, sent)
			}
		}
	}
	if err == nil && keyReads[name] {
		c.lat.observe(took)
	}
	if err == nil && nc.missed.Load() {
		nc.missed.Store(false) // it answered (picked when every node had missed)
	}
	if c.cfg.Observe != nil {
		id := nc.ID
		if id == "" {
			id = nc.Addr
		}
		c.cfg.Observe(Attempt{Method: name, Node: id, Err: err, Took: took})
	}
	return err
}

// pick chooses the next healthy node, round robin, passing over a lagging node not known to have
// applied want (so it is not asked for a read it would wait on); when none is healthy, the next
// one anyway (a node marked down may be back, and the caller's deadline bounds the search).
func (c *Client) pick(want uint64) *nodeConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if nc := c.nextHealthyLocked(want, nil); nc != nil {
		return nc
	}
	for i := 0; i < len(c.nodes); i++ { // all down: the next member anyway
		nc := c.nodes[(c.next+i)%len(c.nodes)]
		if !nc.removed {
			c.next = (c.next + i + 1) % len(c.nodes)
			return nc
		}
	}
	nc := c.nodes[c.next%len(c.nodes)] // every known node removed: keep trying what we have
	c.next = (c.next + 1) % len(c.nodes)
	return nc
}

// nextHealthyLocked takes the next healthy node other than not, round robin, passing over a
// lagging node not known to have applied want while another will do; nil when none is healthy.
func (c *Client) nextHealthyLocked(want uint64, not *nodeConn) *nodeConn {
	now := time.Now()
	for pass := 0; pass < 2; pass++ {
		for i := range c.nodes {
			nc := c.nodes[(c.next+i)%len(c.nodes)]
			if nc != not && c.healthyLocked(nc, want, pass == 1, now) {
				c.next = (c.next + i + 1) % len(c.nodes)
				return nc
			}
		}
	}
	return nil
}

// pickLeader returns the leader the last write's answer named, if it may be picked now (nil
// otherwise: the caller picks round robin).
func (c *Client) pickLeader() *nodeConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.leader; l != nil && c.healthyLocked(l, 0, false, time.Now()) {
		return l
	}
	return nil
}

// noteLeader records the member with HSM id id as the leader; an id the client does not know
// (a node without an id in its configuration, not yet refreshed) names none.
func (c *Client) noteLeader(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != nil && c.leader.ID == id {
		return
	}
	c.leader = nil
	for _, nc := range c.nodes {
		if nc.ID == id && !nc.removed {
			c.leader = nc
			return
		}
	}
}

func (c *Client) forgetLeader(nc *nodeConn) {
	c.mu.Lock()
	if c.leader == nc {
		c.leader = nil
	}
	c.mu.Unlock()
}

// healthyLocked reports whether nc may be picked now: a member that has not missed, has not
// said it cannot serve and, unless laggards are allowed, is not known to lag behind want.
func (c *Client) healthyLocked(nc *nodeConn, want uint64, laggards bool, now time.Time) bool {
	return !nc.removed && !nc.missed.Load() && now.After(nc.downUntil) &&
		(laggards || !nc.lagging || c.sess.appliedBy(nc.Addr) >= want)
}

func (c *Client) markDown(nc *nodeConn, attempt int) {
	c.mu.Lock()
	nc.downUntil = time.Now().Add(time.Duration(attempt+1) * 500 * time.Millisecond)
	c.mu.Unlock()
}

// handleRequest is every request that names an object.
type handleRequest interface{ GetHandle() uint32 }
type keyRequest interface{ GetKey() uint32 }
type wrapRequest interface{ GetWrappingKey() uint32 }
type unwrapRequest interface{ GetUnwrappingKey() uint32 }
type deriveRequest interface{ GetBaseKey() uint32 }

// homeOf returns the node a request must go to because it names a session object.
func (c *Client) homeOf(req any) *nodeConn {
	var hs []uint32
	if r, ok := req.(handleRequest); ok {
		hs = append(hs, r.GetHandle())
	}
	if r, ok := req.(keyRequest); ok {
		hs = append(hs, r.GetKey())
	}
	if r, ok := req.(wrapRequest); ok {
		hs = append(hs, r.GetWrappingKey())
	}
	if r, ok := req.(unwrapRequest); ok {
		hs = append(hs, r.GetUnwrappingKey())
	}
	if r, ok := req.(deriveRequest); ok {
		hs = append(hs, r.GetBaseKey())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hs {
		if nc := c.homes[h]; nc != nil {
			return nc
		}
	}
	return nil
}

// homeNodes lists the nodes that hold session objects this client made.
func (c *Client) homeNodes() []*nodeConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[*nodeConn]bool{}
	var out []*nodeConn
	for _, nc := range c.homes {
		if !seen[nc] {
			seen[nc] = true
			out = append(out, nc)
		}
	}
	return out
}

// noteHome remembers where new session objects live.
func (c *Client) noteHome(nc *nodeConn, reply any) {
	var hs []uint32
	switch r := reply.(type) {
	case *hsmpb.HandleResponse:
		hs = append(hs, r.Handle)
	case *hsmpb.KeyPairResponse:
		hs = append(hs, r.PublicHandle, r.PrivateHandle)
	default:
		return
	}
	c.sess.mu.RLock()
	public := c.sess.auth == "" || c.sess.officer
	c.sess.mu.RUnlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hs {
		if hsmpb.IsSessionHandle(h) {
			c.homes[h] = nc
			if public {
				c.publicMade[h] = true
			}
			if c.sessHome == nil || c.sessHome.removed {
				c.sessHome = nc
			}
		}
	}
}

// forgetHomes drops what the client knows of session objects: after a logout (which ends the
// login's on every node; those of the public session live on) or for one destroyed object.
func (c *Client) forgetHomes(hs ...uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(hs) == 0 {
		for h := range c.homes {
			if !c.publicMade[h] {
				delete(c.homes, h)
			}
		}
		if len(c.homes) == 0 {
			c.sessHome = nil
		}
		return
	}
	for _, h := range hs {
		delete(c.homes, h)
		delete(c.publicMade, h)
	}
}

// makesSessionObject reports whether a request makes an object that may be a session object: its
// template (either template of a pair) does not set CKA_TOKEN true, and CKA_TOKEN defaults to
// false. C_CopyObject names its source, so it already goes to the source's node when that is a
// session object.
func makesSessionObject(req any) bool {
	isSession := func(t []*hsmpb.Attribute) bool {
		for _, a := range t {
			if a.GetType() == p11.CKA_TOKEN {
				return len(a.GetValue()) != 1 || a.GetValue()[0] == 0
			}
		}
		return true
	}
	switch r := req.(type) {
	case *hsmpb.CreateObjectRequest:
		return isSession(r.Template)
	case *hsmpb.GenerateKeyRequest:
		return isSession(r.Template)
	case *hsmpb.GenerateKeyPairRequest:
		return isSession(r.PublicTemplate) || isSession(r.PrivateTemplate)
	case *hsmpb.UnwrapRequest:
		return isSession(r.Template)
	case *hsmpb.DeriveRequest:
		return isSession(r.Template)
	}
	return false
}

// Refresh asks the cluster for its members: nodes the client did not know are added, so HSMs
// added after the client started get traffic, and known nodes that are no longer members are
// no longer picked. It returns the members it saw.
func (c *Client) Refresh(ctx context.Context) ([]*hsmpb.Member, error) {
	info, err := c.api.GetInfo(ctx, &hsmpb.Empty{})
	if err != nil {
		return nil, err
	}
	current := map[string]*hsmpb.Member{}
	for _, m := range info.Members {
		if m.Addr != "" {
			current[m.Addr] = m
		}
	}
	known := map[string]bool{}
	c.mu.Lock()
	for _, n := range c.nodes {
		known[n.Addr] = true
		if m, ok := current[n.Addr]; ok {
			n.ID, n.AZ, n.removed = m.Id, m.Az, false
		} else if len(current) > 0 {
			n.removed = true
		}
	}
	c.mu.Unlock()
	for addr, m := range current {
		if !known[addr] {
			if _, err := c.addNode(Node{ID: m.Id, AZ: m.Az, Addr: addr}); err != nil {
				return nil, err
			}
		}
	}
	return info.Members, nil
}

// Error is a failed call: the node's CK_RV (or the one the transport failure maps to) and the
// gRPC status, which tells whether another node might succeed (Retryable).
type Error struct {
	RV     uint32
	Code   codes.Code
	Msg    string
	Why    string // the node's reason code (p11.Reason), if any
	remote bool   // the node answered (false: the call never got an answer)
}

func (e *Error) Error() string {
	name := p11.RVName(e.RV)
	if strings.HasPrefix(e.Msg, name) { // the node's message already leads with the code
		return e.Msg
	}
	return name + ": " + e.Msg
}

// Reason is the node's reason code, for p11.Reason.
func (e *Error) Reason() string { return e.Why }

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
			return &Error{RV: e.Rv, Code: st.Code(), Msg: e.Message, Why: e.Reason, remote: true}
		}
	}
	rv := uint32(p11.CKR_DEVICE_ERROR)
	if st.Code() == codes.Canceled {
		rv = p11.CKR_FUNCTION_CANCELED
	}
	return &Error{RV: rv, Code: st.Code(), Msg: st.Message()}
}
