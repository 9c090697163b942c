// Package server is one hsmsim HSM node: the token state machine, the mechanisms and the sealed
// store brought together behind the node's gRPC API (hsmpb.HSM). Changes go through a Proposer
// (the node itself when alone, Raft in a cluster); crypto operations run here, on the keys this
// node holds, and never enter the log.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/audit"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/store"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Proposer turns a command into an applied one: it returns the state machine's result and the log
// index the command was applied at. The node alone applies locally (LocalProposer); in a cluster
// the proposer is Raft, forwarding to the leader. An error means the command's fate is unknown
// to this node (no quorum, leader lost): the client may retry with the same request id.
type Proposer interface {
	Propose(ctx context.Context, cmd token.Command) (token.Result, uint64, error)
}

// Config describes one node.
type Config struct {
	NodeID    string // hsm-...
	AZ        string
	DataDir   string
	NoSync    bool            // tests only: skip fsync
	KDF       token.KDFParams // zero: token.DefaultKDF
	IndexWait time.Duration   // bound on a read-your-writes wait; zero: 5 s
	// LoginLease is how long a login outlives its client's last sign of life (zero:
	// DefaultLoginLease). CloudHSM ends a login with its connection; a lease renewed by the live
	// client is the replicated form of that, so a failover keeps everyone logged in and a dead
	// client's login still ends.
	LoginLease time.Duration
	Logger     *slog.Logger
}

// DefaultLoginLease is a login's lease when the config does not say: clients renew every third
// of it, and a dead client's login ends within it plus a quarter (the expiry check's period).
const DefaultLoginLease = 15 * time.Second

// Node is one HSM.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	audit *audit.Log

	mu      sync.RWMutex
	state   *token.State // nil until the node has a cluster key
	prop    Proposer
	leader  func() string
	members func() []*hsmpb.Member

	sess  *sessionObjects
	limit limiter  // paces crypto operations (SetLimiter); none by default
	obs   observer // told of every call (SetObserver); none by default

	stop     chan struct{} // closed by Close: ends the lease loop
	loopDone chan struct{}

	localConns atomic.Int64 // connections accepted on the Unix socket (local.go)
	wireConns  atomic.Int64 // those of them on the local wire
}

var (
	errNoClusterKey = p11.Errorf(p11.CKR_TOKEN_NOT_PRESENT, "node is not part of an initialized cluster yet")
)

var clusterKeyRef = []byte("cluster-key")

const nodeBucket = "node"

// Open opens (or creates) a node's data directory. A node that already holds a cluster key
// loads its token; a new one waits for Bootstrap (first node) or InstallClusterKey (joiner).
func Open(cfg Config) (*Node, error) {
	if cfg.KDF == (token.KDFParams{}) {
		cfg.KDF = token.DefaultKDF
	}
	if cfg.IndexWait == 0 {
		cfg.IndexWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LoginLease <= 0 {
		cfg.LoginLease = DefaultLoginLease
	}
	st, err := store.Open(cfg.DataDir, store.Options{NoSync: cfg.NoSync, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	al, err := audit.Open(cfg.DataDir, audit.Options{HSM: cfg.NodeID, NoSync: cfg.NoSync})
	if err != nil {
		st.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), store: st, audit: al, sess: newSessionObjects(),
		stop: make(chan struct{}), loopDone: make(chan struct{})}
	n.prop = &LocalProposer{n: n}
	n.leader = func() string { return cfg.NodeID }
	raw, err := st.Get(nodeBucket, clusterKeyRef)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		n.closeFiles()
		return nil, err
	default:
		ck, err := token.LoadClusterKey(raw)
		if err != nil {
			n.closeFiles()
			return nil, err
		}
		if err := n.load(ck); err != nil {
			n.closeFiles()
			return nil, err
		}
	}
	go n.leaseLoop()
	return n, nil
}

func (n *Node) load(ck *token.ClusterKey) error {
	s, err := token.Open(n.store, ck)
	if err != nil {
		return err
	}
	s.SetAuditor(n.audit)
	n.mu.Lock()
	n.state = s
	n.mu.Unlock()
	return nil
}

// InstallClusterKey gives a new node the cluster's key (a joiner gets it from a member over
// mutual TLS) and opens its, still empty, token.
func (n *Node) InstallClusterKey(ck *token.ClusterKey) error {
	if n.State() != nil {
		return fmt.Errorf("server: node already has a cluster key")
	}
	if err := n.store.Commit(0, []store.Write{{Bucket: nodeBucket, Key: clusterKeyRef, Value: ck.Bytes()}}); err != nil {
		return err
	}
	return n.load(ck)
}

// Bootstrap makes this node the first HSM of a new cluster: a fresh cluster key and a token
// with the unactivated admin (password token.InitialAdminPassword), as CloudHSM's first HSM.
func (n *Node) Bootstrap(ctx context.Context, clusterID, label string) error {
	if n.State() == nil {
		ck, err := token.NewClusterKey()
		if err != nil {
			return err
		}
		if err := n.InstallClusterKey(ck); err != nil {
			return err
		}
	}
	h, err := token.HashPassword(token.InitialAdminPassword, n.cfg.KDF)
	if err != nil {
		return err
	}
	res, _, err := n.propose(ctx, token.Command{Type: token.CmdBootstrap, Msg: &hsmpb.CmdBootstrap{ClusterId: clusterID, AdminHash: h, Label: label}})
	if err != nil {
		return err
	}
	return res.Err()
}

// SetProposer replaces the local proposer (a cluster puts Raft here) and tells the node how to
// name the current leader for GetInfo.
func (n *Node) SetProposer(p Proposer, leader func() string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.prop, n.leader = p, leader
}

// leaderID is the cluster's leader as this node knows it ("" when it knows none).
func (n *Node) leaderID() string {
	n.mu.RLock()
	leader := n.leader
	n.mu.RUnlock()
	return leader()
}

// SetMembers tells the node how to list the cluster's members for GetInfo, so clients learn
// about nodes added and removed.
func (n *Node) SetMembers(f func() []*hsmpb.Member) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members = f
}

// State is the node's token, nil before it has a cluster key.
func (n *Node) State() *token.State {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.state
}

// Store is the node's sealed store (the cluster layer keeps its own buckets there).
func (n *Node) Store() *store.Store { return n.store }

// Audit is the node's audit log (the cluster layer records membership events there).
func (n *Node) Audit() *audit.Log { return n.audit }

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// Close stops the lease loop and closes the store. The gRPC server must be stopped first.
func (n *Node) Close() error {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.loopDone
	return n.closeFiles()
}

// auditLocal records an event of this HSM alone. A failure is logged, not returned: the
// request it describes was refused anyway, and refusing it for another reason would mislead.
func (n *Node) auditLocal(e audit.Event) {
	if err := n.audit.RecordLocal(e); err != nil {
		n.log.Error("audit log write failed", "opcode", e.Opcode, "err", err)
	}
}

func (n *Node) closeFiles() error {
	return errors.Join(n.audit.Close(), n.store.Close())
}

func (n *Node) ready() (*token.State, error) {
	s := n.State()
	if s == nil {
		return nil, errNoClusterKey
	}
	return s, nil
}

func (n *Node) propose(ctx context.Context, cmd token.Command) (token.Result, uint64, error) {
	n.mu.RLock()
	p := n.prop
	n.mu.RUnlock()
	if cmd.RequestID == "" {
		cmd.RequestID = requestID(ctx)
	}
	res, idx, err := p.Propose(ctx, cmd)
	if err == nil {
		noteIndex(ctx, idx)
	}
	return res, idx, err
}

// LocalProposer applies commands on the node itself, one at a time: a cluster of one.
type LocalProposer struct {
	n  *Node
	mu sync.Mutex
}

// Propose implements Proposer.
func (l *LocalProposer) Propose(ctx context.Context, cmd token.Command) (token.Result, uint64, error) {
	s, err := l.n.ready()
	if err != nil {
		return token.Result{}, 0, err
	}
	b, err := cmd.Encode()
	if err != nil {
		return token.Result{}, 0, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "%v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := s.Applied() + 1
	res, err := s.Apply(idx, b)
	if err != nil {
		// The store failed under an applied command: memory and disk may disagree. Stop
		// serving writes loudly rather than diverge quietly.
		l.n.log.Error("apply failed; node cannot continue", "err", err)
		panic(err)
	}
	return res, idx, nil
}

func newID() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// readBarrier is what a cluster's Proposer also offers: ReadBarrier returns once this node has
// applied everything the leader had committed when it was called (or ctx ends). A lone node
// has nothing to wait for.
type readBarrier interface {
	ReadBarrier(ctx context.Context) error
}

// catchUp waits, bounded by IndexWait, until this node has applied what the leader committed,
// and reports whether the token moved meanwhile (only then is a second look worth it). It is
// for the miss paths of calls that cannot carry a read-your-writes index, such as a login
// through a fresh client; the usual path never pays for it.
func (n *Node) catchUp(ctx context.Context) bool {
	n.mu.RLock()
	b, ok := n.prop.(readBarrier)
	n.mu.RUnlock()
	s := n.State()
	if !ok || s == nil {
		return false
	}
	before := s.Applied()
	ctx, cancel := context.WithTimeout(ctx, n.cfg.IndexWait)
	defer cancel()
	if err := b.ReadBarrier(ctx); err != nil {
		// Answer from this node's view, as before the barrier existed.
		n.log.Debug("read barrier", "err", err)
	}
	return s.Applied() != before
}
