// Package clustertest runs real hsmsim clusters inside a test: every member with its own data
// directory, its own certificate from the cluster's trust anchor, real TLS and real TCP on
// 127.0.0.1, all connections (Raft, node API, clients) through one shared netsim.Network, so
// tests cut AZs and nodes apart with the same rules scenarios use. Nothing is mocked.
//
// Process faults: Kill (as close to SIGKILL as one process allows, see cluster.Member.Kill),
// Restart from the same directory and addresses, Wipe (delete the directory) and Rejoin, Remove.
// AssertConverged checks, after the faults healed, that every member holds the same token.
//
// Set HSMSIM_TEST_LOG=1 to see the members' logs on stderr.
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Users every cluster started by Start has.
const (
	AdminPassword = "adminpass1"
	CryptoUser    = "alice"
	CryptoPass    = "alicepass1"
)

// FastKDF keeps argon2id real but cheap, so tests that log in often stay fast.
var FastKDF = token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// DefaultAZs are the AZs nodes are spread over, round robin.
var DefaultAZs = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// Options tune a cluster.
type Options struct {
	Nodes    int      // members Start creates; default 3
	AZs      []string // default DefaultAZs; node i goes to AZs[i % len(AZs)]
	Sync     bool     // fsync on (benchmarks of durable writes); tests run without
	Timeouts cluster.Timeouts
	Seed     int64 // netsim's seed
	// Snapshot policy; zero: a snapshot every 64 entries keeping 32, so that members that join
	// or come back late catch up from a snapshot and the log, as the tests want to see.
	SnapshotThreshold, TrailingLogs uint64
	SnapshotInterval                time.Duration
	// CA is the trust anchor; nil: a new one. A cluster restored from a backup reuses its
	// source's.
	CA *pki.CA
	// LogTo receives the members' logs; nil: stderr if HSMSIM_TEST_LOG is set, else nothing.
	LogTo io.Writer
	// Sockets: each member also serves its node API on a Unix socket, DIR/run/hsm.sock
	// (Node.Socket).
	Sockets bool
}

// Cluster is a running test cluster.
type Cluster struct {
	ID  string
	Net *netsim.Network
	CA  *pki.CA

	opts Options
	log  *slog.Logger
	tb   testing.TB

	mu      sync.Mutex
	nodes   []*Node
	clients int
}

// Node is one member slot: it keeps its id, AZ, directory, certificate and addresses across
// kills and restarts.
type Node struct {
	ID, AZ, Dir string

	c          *Cluster
	cert, key  []byte
	apiAddr    string
	raftAddr   string
	mu         sync.Mutex
	m          *cluster.Member
	generation int // incremented at every start, so clients redial a restarted member
	removed    bool
}

// New creates an empty cluster: a trust anchor and a network, no members.
func New(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if len(o.AZs) == 0 {
		o.AZs = DefaultAZs
	}
	if o.Timeouts == (cluster.Timeouts{}) {
		o.Timeouts = cluster.FastTimeouts()
	}
	if o.Timeouts.Apply == 0 {
		o.Timeouts.Apply = cluster.FastTimeouts().Apply
	}
	if o.SnapshotThreshold == 0 {
		o.SnapshotThreshold = 64
	}
	if o.TrailingLogs == 0 {
		o.TrailingLogs = 32
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = 500 * time.Millisecond
	}
	if o.LogTo == nil {
		o.LogTo = io.Discard
		if os.Getenv("HSMSIM_TEST_LOG") != "" {
			o.LogTo = os.Stderr
		}
	}
	id := cluster.NewClusterID()
	if o.CA == nil {
		ca, err := pki.NewCA(id)
		if err != nil {
			tb.Fatal(err)
		}
		o.CA = ca
	}
	c := &Cluster{ID: id, Net: netsim.New(o.Seed), CA: o.CA, opts: o, tb: tb,
		log: slog.New(slog.NewTextHandler(o.LogTo, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	// TempDir's removal is registered at its first call: before Stop, so that it runs after.
	_ = tb.TempDir()
	tb.Cleanup(c.Stop)
	return c
}

// Start starts an initialized cluster of o.Nodes members in o.AZs: the first bootstraps, the
// admin is activated with AdminPassword, the crypto user alice is created, and the others join.
func Start(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	c := New(tb, o)
	first := c.newNode(tb, c.opts.AZs[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := first.Member().Bootstrap(ctx, c.ID, "hsmsim-test"); err != nil {
		tb.Fatalf("bootstrap: %v", err)
	}
	c.activate(tb)
	for i := 1; i < c.opts.Nodes; i++ {
		c.Add(tb, c.opts.AZs[i%len(c.opts.AZs)])
	}
	return c
}

// activate runs CloudHSM's first steps: the admin changes the initial password, creates alice.
func (c *Cluster) activate(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := c.Pool(tb)
	if err := adm.Login(ctx, token.AdminName, token.InitialAdminPassword); err != nil {
		tb.Fatalf("admin login: %v", err)
	}
	if _, err := adm.Do(ctx, func(ctx context.Context, cl *client.Client) error { return cl.ChangePassword(ctx, "", AdminPassword) }); err != nil {
		tb.Fatalf("activating the admin: %v", err)
	}
	if _, err := adm.Do(ctx, func(ctx context.Context, cl *client.Client) error {
		return cl.CreateUser(ctx, CryptoUser, hsmpb.Role_ROLE_CRYPTO_USER, CryptoPass)
	}); err != nil {
		tb.Fatalf("creating %s: %v", CryptoUser, err)
	}
}

// StartFromBackup starts a new cluster whose first member restores backup (made with
// serviceKey) and whose other o.Nodes-1 members join it. o.CA must be the source's trust
// anchor for the clusters to be related.
func StartFromBackup(tb testing.TB, o Options, backup, serviceKey []byte) *Cluster {
	tb.Helper()
	c := New(tb, o)
	first := c.newNode(tb, c.opts.AZs[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := first.Member().RestoreBackup(ctx, backup, serviceKey, c.ID); err != nil {
		tb.Fatalf("restore: %v", err)
	}
	for i := 1; i < c.opts.Nodes; i++ {
		c.Add(tb, c.opts.AZs[i%len(c.opts.AZs)])
	}
	return c
}

// StartNode starts a fresh member in az that is in no cluster yet (to Bootstrap, Join or
// RestoreBackup by hand).
func (c *Cluster) StartNode(tb testing.TB, az string) *Node {
	tb.Helper()
	return c.newNode(tb, az)
}

// newNode creates and starts a fresh member (not yet in the cluster).
func (c *Cluster) newNode(tb testing.TB, az string) *Node {
	tb.Helper()
	id := cluster.NewHSMID()
	cert, key, err := c.CA.Issue(id, []string{"127.0.0.1", "localhost"}, false)
	if err != nil {
		tb.Fatal(err)
	}
	n := &Node{ID: id, AZ: az, Dir: tb.TempDir(), c: c, cert: cert, key: key,
		apiAddr: "127.0.0.1:0", raftAddr: "127.0.0.1:0"}
	if err := n.start(); err != nil {
		tb.Fatalf("starting %s: %v", id, err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n
}

func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m != nil {
		return fmt.Errorf("%s is running", n.ID)
	}
	o := n.c.opts
	m, err := cluster.Start(cluster.Config{
		NodeID: n.ID, AZ: n.AZ, DataDir: n.Dir, APIAddr: n.apiAddr, RaftAddr: n.raftAddr,
		CertPEM: n.cert, KeyPEM: n.key, CAPEM: n.c.CA.CertPEM, Network: n.c.Net,
		NoSync: !o.Sync, KDF: FastKDF, Timeouts: o.Timeouts,
		SnapshotThreshold: o.SnapshotThreshold, TrailingLogs: o.TrailingLogs, SnapshotInterval: o.SnapshotInterval,
		Logger: n.c.log, Socket: n.Socket(),
	})
	if err != nil {
		return err
	}
	n.m, n.apiAddr, n.raftAddr = m, m.APIAddr(), m.RaftAddr()
	n.generation++
	return nil
}

// Socket is the node's Unix socket ("" without Options.Sockets).
func (n *Node) Socket() string {
	if !n.c.opts.Sockets {
		return ""
	}
	return filepath.Join(n.Dir, "run", "hsm.sock")
}

// Member is the running member, nil while the node is down.
func (n *Node) Member() *cluster.Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m
}

// Up reports whether the node runs.
func (n *Node) Up() bool { return n.Member() != nil }

// APIAddr is the node's API address (kept across restarts).
func (n *Node) APIAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.apiAddr
}

// State is the node's token (nil while down).
func (n *Node) State() *token.State {
	if m := n.Member(); m != nil {
		return m.Node().State()
	}
	return nil
}

func (n *Node) String() string { return n.ID + "(" + n.AZ + ")" }

// Nodes returns the members not removed, up or down, in the order they were added.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if !n.removed {
			out = append(out, n)
		}
	}
	return out
}

// Up returns the running members not removed.
func (c *Cluster) Up() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if n.Up() {
			out = append(out, n)
		}
	}
	return out
}

// Others returns the members not removed other than those given.
func (c *Cluster) Others(not ...*Node) []*Node {
	var out []*Node
next:
	for _, n := range c.Nodes() {
		for _, x := range not {
			if n == x {
				continue next
			}
		}
		out = append(out, n)
	}
	return out
}

// Add starts a new member in az and joins it to the cluster (staged, caught up, promoted).
func (c *Cluster) Add(tb testing.TB, az string) *Node {
	tb.Helper()
	peers := c.apiAddrs()
	n := c.newNode(tb, az)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Member().Join(ctx, peers); err != nil {
		tb.Fatalf("%s joining: %v", n, err)
	}
	return n
}

func (c *Cluster) apiAddrs() []string {
	var out []string
	for _, n := range c.Up() {
		out = append(out, n.APIAddr())
	}
	return out
}

// Kill stops n abruptly (see cluster.Member.Kill). Its directory stays.
func (c *Cluster) Kill(n *Node) {
	n.mu.Lock()
	m := n.m
	n.m = nil
	n.mu.Unlock()
	if m != nil {
		m.Kill()
	}
}

// Restart starts a killed node again from its directory, on its addresses. It rejoins by itself.
func (c *Cluster) Restart(tb testing.TB, n *Node) {
	tb.Helper()
	if err := n.start(); err != nil {
		tb.Fatalf("restarting %s: %v", n, err)
	}
}

// Wipe kills n and deletes its data directory, as a replaced disk.
func (c *Cluster) Wipe(tb testing.TB, n *Node) {
	tb.Helper()
	c.Kill(n)
	if err := os.RemoveAll(n.Dir); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		tb.Fatal(err)
	}
}

// Rejoin starts a wiped node (same id, same addresses) and joins it again: the cluster takes
// its old voter out, stages it, it catches up, and it is promoted.
func (c *Cluster) Rejoin(tb testing.TB, n *Node) {
	tb.Helper()
	if err := n.start(); err != nil {
		tb.Fatalf("starting %s: %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Member().Join(ctx, c.apiAddrsExcept(n)); err != nil {
		tb.Fatalf("%s rejoining: %v", n, err)
	}
}

func (c *Cluster) apiAddrsExcept(x *Node) []string {
	var out []string
	for _, n := range c.Up() {
		if n != x {
			out = append(out, n.APIAddr())
		}
	}
	return out
}

// Remove takes n out of the cluster through another member and stops it.
func (c *Cluster) Remove(tb testing.TB, n *Node) {
	tb.Helper()
	var via *cluster.Member
	for _, o := range c.Up() {
		if o != n {
			via = o.Member()
			break
		}
	}
	if via == nil {
		tb.Fatalf("no member left to remove %s through", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := via.RemoveHSM(ctx, n.ID); err != nil {
		tb.Fatalf("removing %s: %v", n, err)
	}
	c.mu.Lock()
	n.removed = true
	c.mu.Unlock()
	c.Kill(n)
}

// Stop stops every member (Close, not Kill). Tests need not call it: New registers it.
func (c *Cluster) Stop() {
	c.mu.Lock()
	nodes := append([]*Node(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		n.mu.Lock()
		m := n.m
		n.m = nil
		n.mu.Unlock()
		if m != nil {
			m.Close()
		}
	}
}

// Leader returns the running member that leads, or nil.
func (c *Cluster) Leader() *Node {
	for _, n := range c.Up() {
		if m := n.Member(); m != nil && m.IsLeader() {
			return n
		}
	}
	return nil
}

// WaitLeader waits (bounded) until one of the given nodes (default: all running) leads and the
// others that run know it, and returns it.
func (c *Cluster) WaitLeader(tb testing.TB, among ...*Node) *Node {
	tb.Helper()
	if len(among) == 0 {
		among = c.Up()
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var leader *Node
		for _, n := range among {
			if m := n.Member(); m != nil && m.IsLeader() {
				leader = n
			}
		}
		agreed := leader != nil
		for _, n := range among {
			if m := n.Member(); agreed && m != nil && m.LeaderID() != leader.ID {
				agreed = false
			}
		}
		if agreed {
			return leader
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("no leader among %v within 30s", among)
	return nil
}

// PartitionOff cuts the given nodes from every other member, both ways (clients are not cut).
func (c *Cluster) PartitionOff(side ...*Node) {
	for _, a := range side {
		for _, b := range c.Others(side...) {
			c.Net.Partition(a.ID, b.ID)
		}
	}
}

// Heal removes every network rule.
func (c *Cluster) Heal() { c.Net.Heal() }

// AssertConverged waits (bounded) until every running member has applied the same index and
// holds the same token (token.State.Digest), and fails the test with each member's view if
// they do not get there. Call it after faults healed and writes stopped.
func (c *Cluster) AssertConverged(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var report string
	for {
		ok := true
		var b strings.Builder
		var firstDigest []byte
		var firstIndex uint64
		up := c.Up()
		if len(up) == 0 {
			tb.Fatal("no member running")
		}
		for i, n := range up {
			s := n.State()
			if s == nil {
				ok = false
				fmt.Fprintf(&b, "\n  %s: no token", n)
				continue
			}
			d, err := s.Digest()
			if err != nil {
				tb.Fatalf("%s digest: %v", n, err)
			}
			idx := s.Applied()
			fmt.Fprintf(&b, "\n  %s: applied %d digest %x state %s leader %q", n, idx, d[:6], n.Member().HSMState(), n.Member().LeaderID())
			if i == 0 {
				firstDigest, firstIndex = d, idx
			} else if idx != firstIndex || !bytes.Equal(d, firstDigest) {
				ok = false
			}
		}
		if ok {
			return
		}
		report = b.String()
		if time.Now().After(deadline) {
			tb.Fatalf("members did not converge within 45s:%s", report)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitApplied waits (bounded) until every running member has applied index.
func (c *Cluster) WaitApplied(tb testing.TB, index uint64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range c.Up() {
		if err := n.State().WaitApplied(ctx, index); err != nil {
			tb.Fatalf("%s: %v", n, err)
		}
	}
}
