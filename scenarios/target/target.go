// Package target is what a scenario runs against: an in-process hsmsim cluster (every member a
// real cluster.Member with its own data directory, TLS and TCP on 127.0.0.1, all connections
// through one netsim.Network) and, when the scenario needs it, the KMS over it with this
// cluster as its CloudHSM directory. It is deliberately thin: the engine only uses the
// methods of Env, so a CloudHSM service that runs clusters (kms/cloudhsm) can take its place.
package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms"
)

// AdminPassword is the activated admin's password in every scenario cluster.
const AdminPassword = "scenarioAdmin1"

// kdf keeps argon2id real but cheap: scenarios log in often.
var kdf = token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// AZCount is how many HSMs an AZ starts with.
type AZCount struct {
	AZ   string
	HSMs int
}

// Options shape the environment.
type Options struct {
	AZs      []AZCount
	Timeouts cluster.Timeouts
	// Seed makes the cluster and HSM ids (and netsim's random draws) the same from run to run.
	Seed   int64
	Dir    string // where data directories go; empty: a new temporary directory, removed at Close
	Logger *slog.Logger
	KMS    bool // run the KMS (and serve it on a loopback port)
}

// Node is one HSM slot: it keeps its label, id, AZ, directory and addresses across kills.
type Node struct {
	Label, ID, AZ string

	dir       string
	cert, key []byte
	apiAddr   string
	raftAddr  string
	m         *cluster.Member
	removed   bool
}

// NodeInfo is a node as the engine sees it.
type NodeInfo struct {
	Label, ID, AZ string
	Up, Removed   bool
	Leader        bool
	State         string // HSM state (ACTIVE, DEGRADED, CREATE_IN_PROGRESS), DOWN when not running
	LeaderID      string // the leader this node follows
}

// Env is a running scenario environment.
type Env struct {
	ClusterID string
	CA        *pki.CA
	Net       *netsim.Network

	opts    Options
	log     *slog.Logger
	dir     string
	tempDir bool
	rng     *rand.Rand

	mu      sync.Mutex
	nodes   []*Node
	clients map[string]bool // netsim endpoint names of the clients made

	kms    *kms.Server
	kmsSrv *httptest.Server
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func (e *Env) newID(prefix string) string {
	b := make([]byte, 12)
	for i := range b {
		b[i] = idAlphabet[e.rng.IntN(len(idAlphabet))]
	}
	return prefix + string(b)
}

// Start creates the environment: a cluster bootstrapped on its first node, the admin activated
// with AdminPassword, the other nodes joined; then the KMS when asked for.
func Start(ctx context.Context, o Options) (*Env, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timeouts == (cluster.Timeouts{}) {
		o.Timeouts = cluster.FastTimeouts()
	}
	e := &Env{opts: o, log: o.Logger, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x5ce7a210)), clients: map[string]bool{}}
	e.dir = o.Dir
	if e.dir == "" {
		d, err := os.MkdirTemp("", "hsmsim-scenario-")
		if err != nil {
			return nil, err
		}
		e.dir, e.tempDir = d, true
	}
	e.ClusterID = e.newID("cluster-")
	ca, err := pki.NewCA(e.ClusterID)
	if err != nil {
		return nil, err
	}
	e.CA, e.Net = ca, netsim.New(o.Seed)
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	var azs []string
	for _, a := range o.AZs {
		for i := 0; i < a.HSMs; i++ {
			azs = append(azs, a.AZ)
		}
	}
	if len(azs) == 0 {
		return nil, errors.New("target: a cluster needs at least one HSM")
	}
	first, err := e.newNode(azs[0])
	if err != nil {
		return nil, err
	}
	if err := first.m.Bootstrap(ctx, e.ClusterID, "hsmsim-scenario"); err != nil {
		return nil, fmt.Errorf("target: bootstrap: %w", err)
	}
	if err := e.activate(ctx); err != nil {
		return nil, err
	}
	for _, az := range azs[1:] {
		if _, err := e.Add(ctx, az); err != nil {
			return nil, err
		}
	}
	if err := e.WaitActive(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	if o.KMS {
		if err := e.startKMS(); err != nil {
			return nil, err
		}
	}
	ok = true
	return e, nil
}

func (e *Env) activate(ctx context.Context) error {
	cl, err := e.Client("setup-admin", nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, token.AdminName, token.InitialAdminPassword); err != nil {
		return fmt.Errorf("target: admin login: %w", err)
	}
	if err := cl.ChangePassword(ctx, "", AdminPassword); err != nil {
		return fmt.Errorf("target: activating the admin: %w", err)
	}
	return cl.Logout(ctx)
}

func (e *Env) newNode(az string) (*Node, error) {
	e.mu.Lock()
	label := "n" + strconv.Itoa(len(e.nodes)+1)
	id := e.newID("hsm-")
	e.mu.Unlock()
	cert, key, err := e.CA.Issue(id, []string{"127.0.0.1", "localhost"}, false)
	if err != nil {
		return nil, err
	}
	n := &Node{Label: label, ID: id, AZ: az, dir: filepath.Join(e.dir, label), cert: cert, key: key,
		apiAddr: "127.0.0.1:0", raftAddr: "127.0.0.1:0"}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return nil, err
	}
	if err := e.startNode(n); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.nodes = append(e.nodes, n)
	e.mu.Unlock()
	return n, nil
}

func (e *Env) startNode(n *Node) error {
	e.mu.Lock()
	running := n.m != nil
	e.mu.Unlock()
	if running {
		return fmt.Errorf("target: %s is running", n.Label)
	}
	m, err := cluster.Start(cluster.Config{NodeID: n.ID, AZ: n.AZ, DataDir: n.dir, APIAddr: n.apiAddr, RaftAddr: n.raftAddr,
		CertPEM: n.cert, KeyPEM: n.key, CAPEM: e.CA.CertPEM, Network: e.Net, NoSync: true, KDF: kdf,
		Timeouts: e.opts.Timeouts, SnapshotThreshold: 256, TrailingLogs: 128, SnapshotInterval: time.Second,
		Logger: e.log.With("node", n.Label)})
	if err != nil {
		return err
	}
	e.mu.Lock()
	n.m, n.apiAddr, n.raftAddr = m, m.APIAddr(), m.RaftAddr()
	e.mu.Unlock()
	return nil
}

func (e *Env) node(label string) (*Node, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.nodes {
		if n.Label == label {
			return n, nil
		}
	}
	return nil, fmt.Errorf("target: no node %s", label)
}

// Nodes lists every node ever started (removed ones too), in the order they were added.
func (e *Env) Nodes() []NodeInfo {
	e.mu.Lock()
	nodes := append([]*Node(nil), e.nodes...)
	e.mu.Unlock()
	out := make([]NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		e.mu.Lock()
		m, removed := n.m, n.removed
		e.mu.Unlock()
		ni := NodeInfo{Label: n.Label, ID: n.ID, AZ: n.AZ, Removed: removed, State: "DOWN"}
		if m != nil {
			ni.Up, ni.Leader, ni.State, ni.LeaderID = true, m.IsLeader(), string(m.HSMState()), m.LeaderID()
		}
		if removed {
			ni.State = "DELETED"
		}
		out = append(out, ni)
	}
	return out
}

// WaitActive waits until every running node not removed is ACTIVE (a voter in touch with a
// leader), as CloudHSM reports HSMs before KMS counts them.
func (e *Env) WaitActive(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var waiting []string
		for _, n := range e.Nodes() {
			if n.Up && !n.Removed && n.State != "ACTIVE" {
				waiting = append(waiting, n.Label+" "+n.State)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("target: HSMs not ACTIVE after %s: %v", within, waiting)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Label returns the label of the node with HSM id id ("" if none).
func (e *Env) Label(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.nodes {
		if n.ID == id {
			return n.Label
		}
	}
	return ""
}

// Leader is the label of the running node that leads ("" when none does).
func (e *Env) Leader() string {
	for _, n := range e.Nodes() {
		if n.Up && !n.Removed && n.Leader {
			return n.Label
		}
	}
	return ""
}

// State is a running node's token (nil when down).
func (e *Env) State(label string) *token.State {
	n, err := e.node(label)
	if err != nil {
		return nil
	}
	e.mu.Lock()
	m := n.m
	e.mu.Unlock()
	if m == nil {
		return nil
	}
	return m.Node().State()
}

// Kill stops a node abruptly; its directory stays.
func (e *Env) Kill(label string) error {
	n, err := e.node(label)
	if err != nil {
		return err
	}
	e.mu.Lock()
	m := n.m
	n.m = nil
	e.mu.Unlock()
	if m == nil {
		return fmt.Errorf("target: %s is not running", label)
	}
	m.Kill()
	return nil
}

// Restart starts a killed node from its directory on its addresses; it rejoins by itself.
func (e *Env) Restart(label string) error {
	n, err := e.node(label)
	if err != nil {
		return err
	}
	return e.startNode(n)
}

// Wipe kills a node (if it runs) and deletes its data directory, as a replaced disk.
func (e *Env) Wipe(label string) error {
	n, err := e.node(label)
	if err != nil {
		return err
	}
	_ = e.Kill(label)
	if err := os.RemoveAll(n.dir); err != nil {
		return err
	}
	return os.MkdirAll(n.dir, 0o700)
}

// Rejoin starts a wiped node (same id and addresses) and joins it again.
func (e *Env) Rejoin(ctx context.Context, label string) error {
	n, err := e.node(label)
	if err != nil {
		return err
	}
	if err := e.startNode(n); err != nil {
		return err
	}
	e.mu.Lock()
	m := n.m
	e.mu.Unlock()
	return m.Join(ctx, e.peers(n))
}

// peers are the API addresses of the running members other than not.
func (e *Env) peers(not *Node) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, n := range e.nodes {
		if n != not && n.m != nil && !n.removed {
			out = append(out, n.apiAddr)
		}
	}
	return out
}

// Add starts a new HSM in az and joins it; it returns its label.
func (e *Env) Add(ctx context.Context, az string) (string, error) {
	peers := e.peers(nil)
	n, err := e.newNode(az)
	if err != nil {
		return "", err
	}
	if len(peers) == 0 {
		return n.Label, nil // the first node: the caller bootstraps it
	}
	e.mu.Lock()
	m := n.m
	e.mu.Unlock()
	if err := m.Join(ctx, peers); err != nil {
		return n.Label, fmt.Errorf("target: %s joining: %w", n.Label, err)
	}
	return n.Label, nil
}

// Remove takes a node out of the cluster through another member and stops it.
func (e *Env) Remove(ctx context.Context, label string) error {
	n, err := e.node(label)
	if err != nil {
		return err
	}
	var via *cluster.Member
	e.mu.Lock()
	for _, o := range e.nodes {
		if o != n && o.m != nil && !o.removed {
			via = o.m
			break
		}
	}
	e.mu.Unlock()
	if via == nil {
		return fmt.Errorf("target: no member left to remove %s through", label)
	}
	if err := via.RemoveHSM(ctx, n.ID); err != nil {
		return err
	}
	e.mu.Lock()
	n.removed = true
	e.mu.Unlock()
	_ = e.Kill(label)
	return nil
}

// Endpoints are the netsim names of every node and client, for faults that cut a node off from
// everyone.
func (e *Env) Endpoints() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, n := range e.nodes {
		out = append(out, n.ID)
	}
	for c := range e.clients {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// ID is the HSM id of a label.
func (e *Env) ID(label string) string {
	n, err := e.node(label)
	if err != nil {
		return ""
	}
	return n.ID
}

// Client dials every node not removed through the netsim endpoint name (not logged in).
// observe, if set, hears of every attempt.
func (e *Env) Client(name string, observe func(client.Attempt)) (*client.Client, error) {
	return e.SessionClient(name, nil, observe)
}

// SessionClient is Client sharing sess (credential and read-your-writes index) with other
// clients; nil: a session of its own.
func (e *Env) SessionClient(name string, sess *client.Session, observe func(client.Attempt)) (*client.Client, error) {
	e.mu.Lock()
	e.clients[name] = true
	var nodes []client.Node
	for _, n := range e.nodes {
		if !n.removed {
			nodes = append(nodes, client.Node{ID: n.ID, AZ: n.AZ, Addr: n.apiAddr})
		}
	}
	e.mu.Unlock()
	return client.Dial(client.Config{Nodes: nodes, CAPEM: e.CA.CertPEM, Dialer: e.Net.Dialer(netsim.Endpoint{Name: name}),
		Session: sess, AttemptTimeout: e.opts.Timeouts.Apply + time.Second, Observe: observe})
}

// Admin returns a client logged in as the admin.
func (e *Env) Admin(ctx context.Context, name string) (*client.Client, error) {
	cl, err := e.Client(name, nil)
	if err != nil {
		return nil, err
	}
	if _, err := cl.Login(ctx, token.AdminName, AdminPassword); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// ---- the KMS ----

// KMSAccount is the account every scenario request acts for.
const KMSAccount = "111122223333"

func (e *Env) startKMS() error {
	dir := filepath.Join(e.dir, "kms")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s, err := kms.Open(kms.Config{DataDir: dir, Clusters: e, NoSync: true, SweepEvery: time.Hour, AccountID: KMSAccount,
		Logger: e.log.With("face", "kms")})
	if err != nil {
		return err
	}
	e.kms = s
	e.kmsSrv = httptest.NewServer(s)
	e.mu.Lock()
	e.clients["kms"] = true
	e.mu.Unlock()
	return nil
}

// KMS is the KMS server (an http.Handler); nil when the scenario has none.
func (e *Env) KMS() *kms.Server { return e.kms }

// KMSURL is the KMS's loopback endpoint.
func (e *Env) KMSURL() string {
	if e.kmsSrv == nil {
		return ""
	}
	return e.kmsSrv.URL
}

// TrustAnchorPEM is the cluster's customerCA.crt.
func (e *Env) TrustAnchorPEM() []byte { return e.CA.CertPEM }

// Cluster implements kms.ClusterDirectory: the one cluster of the environment.
func (e *Env) Cluster(_ context.Context, account, _, id string) (*kms.Cluster, error) {
	if id != e.ClusterID || account != KMSAccount {
		return nil, kms.ErrClusterNotFound
	}
	c := &kms.Cluster{ID: e.ClusterID, State: "ACTIVE", TrustAnchorPEM: e.CA.CertPEM, ClusterCertificatePEM: e.CA.CertPEM}
	e.mu.Lock()
	nodes := append([]*Node(nil), e.nodes...)
	e.mu.Unlock()
	for _, n := range nodes {
		e.mu.Lock()
		m, removed, addr := n.m, n.removed, n.apiAddr
		e.mu.Unlock()
		if removed {
			continue
		}
		st := "DEGRADED"
		if m != nil {
			st = string(m.HSMState())
		}
		c.HSMs = append(c.HSMs, kms.HSM{ID: n.ID, AZ: n.AZ, State: st, Addr: addr})
	}
	return c, nil
}

// Dial implements kms.ClusterDirectory: a client of the cluster's HSMs through the netsim
// endpoint "kms".
func (e *Env) Dial(_ context.Context, c *kms.Cluster) (*client.Client, error) {
	var nodes []client.Node
	for _, h := range c.HSMs {
		nodes = append(nodes, client.Node{ID: h.ID, AZ: h.AZ, Addr: h.Addr})
	}
	if len(nodes) == 0 {
		return nil, errors.New("target: no HSM to dial")
	}
	return client.Dial(client.Config{Nodes: nodes, CAPEM: e.CA.CertPEM, Dialer: e.Net.Dialer(netsim.Endpoint{Name: "kms"}),
		AttemptTimeout: 2 * time.Second})
}

var _ kms.ClusterDirectory = (*Env)(nil)

// Close stops the KMS and every member, and removes a temporary directory.
func (e *Env) Close() {
	if e.kmsSrv != nil {
		e.kmsSrv.Close()
	}
	if e.kms != nil {
		_ = e.kms.Close()
	}
	e.mu.Lock()
	nodes := append([]*Node(nil), e.nodes...)
	e.mu.Unlock()
	for _, n := range nodes {
		e.mu.Lock()
		m := n.m
		n.m = nil
		e.mu.Unlock()
		if m != nil {
			_ = m.Close()
		}
	}
	if e.tempDir {
		_ = os.RemoveAll(e.dir)
	}
}
