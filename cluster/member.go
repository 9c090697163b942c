package cluster

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/server"
	"github.com/hsmsim/hsmsim/hsmd/store"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Member is one HSM of a cluster: a server.Node whose token is replicated by Raft, serving the
// node API and the Cluster service on one gRPC server (TLS), and Raft on its own listener
// (mutual TLS between nodes). Every connection goes through the member's netsim.Network.
//
// Life cycle: Start opens the data directory and starts serving; a member with Raft state in its
// directory rejoins its cluster by itself. A new member then either Bootstraps a cluster (the
// first HSM), Joins one, or restores one from a backup (RestoreBackup). Close stops it; Kill stops
// it as abruptly as a process can be stopped in-process (see Kill).
type Member struct {
	cfg  Config
	log  *slog.Logger
	hlog hclog.Logger
	node *server.Node
	fsm  *FSM
	nw   *netsim.Network
	ep   netsim.Endpoint

	peerTLS *tls.Config // gRPC client side, presenting this node's certificate
	taFP    string      // trust anchor fingerprint
	apiLis  net.Listener
	grpcSrv *grpc.Server
	sockSrv *server.LocalServer // the node API on Config.Socket; nil without
	raftLis net.Listener
	trans   *pipelinedTransport
	logs    *raftboltdb.BoltStore
	snaps   *raft.FileSnapshotStore
	down    atomic.Bool // stopping or stopped: dialers refuse, as a dead process makes no calls

	r       atomic.Pointer[raft.Raft]
	startMu sync.Mutex

	peersMu sync.Mutex
	peers   map[string]*grpc.ClientConn

	health     health
	stopHealth chan struct{}
	wg         sync.WaitGroup

	stopOnce sync.Once
	halted   chan struct{}
	haltErr  atomic.Pointer[error]
}

// Start opens the member's data directory, listens, and serves. If the directory holds Raft
// state, Raft starts too and the member takes its place in its cluster again.
func Start(cfg Config) (*Member, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cn, err := certCommonName(cfg.CertPEM); err != nil || cn != cfg.NodeID {
		return nil, fmt.Errorf("cluster: node certificate names %q, not %s (%v)", cn, cfg.NodeID, err)
	}
	log := cfg.Logger.With("node", cfg.NodeID, "az", cfg.AZ)
	m := &Member{
		cfg: cfg, log: log, nw: cfg.Network, ep: netsim.Endpoint{Name: cfg.NodeID, AZ: cfg.AZ},
		hlog:       newHCLogger(log, cfg.RaftLogLevel),
		peers:      map[string]*grpc.ClientConn{},
		stopHealth: make(chan struct{}),
		halted:     make(chan struct{}),
	}
	ok := false
	var closers []func()
	defer func() {
		if !ok {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	node, err := server.Open(server.Config{NodeID: cfg.NodeID, AZ: cfg.AZ, DataDir: cfg.DataDir, NoSync: cfg.NoSync, KDF: cfg.KDF, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	m.node = node
	closers = append(closers, func() { node.Close() })
	if m.fsm, err = NewFSM(node, log, m.onFatal); err != nil {
		return nil, err
	}

	serverTLS, err := pki.ServerTLS(cfg.CertPEM, cfg.KeyPEM, cfg.CAPEM)
	if err != nil {
		return nil, err
	}
	if m.peerTLS, err = pki.ClientTLS(cfg.CAPEM, "", cfg.CertPEM, cfg.KeyPEM); err != nil {
		return nil, err
	}
	if m.taFP, err = pki.Fingerprint(cfg.CAPEM); err != nil {
		return nil, err
	}

	m.logs, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db"), NoSync: cfg.NoSync,
		BoltOptions: store.BoltOptions()})
	if err != nil {
		return nil, fmt.Errorf("cluster: raft.db: %w", err)
	}
	closers = append(closers, func() { m.logs.Close() })
	if m.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, m.hlog); err != nil {
		return nil, err
	}
	hasState, err := raft.HasExistingState(m.logs, m.logs, m.snaps)
	if err != nil {
		return nil, err
	}
	if hasState && node.State() == nil {
		return nil, fmt.Errorf("cluster: %s has Raft state but no cluster key (damaged data directory: wipe it and join again)", cfg.DataDir)
	}

	raftSrvTLS, raftCliTLS := raftTLS(serverTLS, m.peerTLS)
	rl, err := listen(m.nw, m.ep, cfg.RaftAddr, cfg.Bind)
	if err != nil {
		return nil, err
	}
	m.raftLis = tls.NewListener(rl, raftSrvTLS)
	closers = append(closers, func() { m.raftLis.Close() })
	m.trans = newPipelinedTransport(raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &streamLayer{Listener: m.raftLis, nw: m.nw, ep: m.ep, tls: raftCliTLS, down: &m.down},
		MaxPool: 4, Timeout: cfg.Timeouts.Transport, Logger: m.hlog,
	}))
	closers = append(closers, func() { m.trans.Close() })

	if m.apiLis, err = listen(m.nw, m.ep, cfg.APIAddr, cfg.Bind); err != nil {
		return nil, err
	}
	closers = append(closers, func() { m.apiLis.Close() })
	m.grpcSrv = grpc.NewServer(append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(node.ServerTLS(serverTLS, ValidHSMID)))}, node.ServerOptions()...)...)
	node.Register(m.grpcSrv)
	clusterpb.RegisterClusterServer(m.grpcSrv, &service{m: m})
	// Before serving: a write must never be applied by the node's local proposer.
	node.SetProposer(&proposer{m: m}, m.LeaderID)
	node.SetMembers(m.memberList)
	go func() { _ = m.grpcSrv.Serve(m.apiLis) }()
	m.serveSocket()

	if hasState {
		if err := m.startRaft(); err != nil {
			m.grpcSrv.Stop()
			if m.sockSrv != nil {
				m.sockSrv.Stop()
			}
			return nil, err
		}
	}
	m.wg.Add(1)
	go m.healthLoop()
	ok = true
	log.Info("member started", "api", m.APIAddr(), "raft", m.RaftAddr(), "rejoined", hasState)
	return m, nil
}

// listen listens through netsim, retrying a while if a fixed port is still held (a restart
// reuses its addresses). With bind, it listens on bind at addr's port and answers for addr's
// host (Config.Bind).
func listen(nw *netsim.Network, ep netsim.Endpoint, addr, bind string) (net.Listener, error) {
	at := addr
	if bind != "" {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		at = net.JoinHostPort(bind, port)
	}
	for i := 0; ; i++ {
		l, err := nw.Listen(ep, "tcp", at)
		if err == nil && bind != "" {
			return advertise(nw, ep, l, addr)
		}
		if err == nil || i == 50 || !errors.Is(err, syscall.EADDRINUSE) {
			return l, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// advertise makes l answer Addr with addr's host and l's port, and tells the network that
// address is ep's (a dial to a name is then governed by ep's fault rules too).
func advertise(nw *netsim.Network, ep netsim.Endpoint, l net.Listener, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		l.Close()
		return nil, err
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	a := advertisedAddr(net.JoinHostPort(host, port))
	nw.Register(string(a), ep)
	return advertisedListener{Listener: l, addr: a}, nil
}

type advertisedListener struct {
	net.Listener
	addr advertisedAddr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

type advertisedAddr string

func (advertisedAddr) Network() string  { return "tcp" }
func (a advertisedAddr) String() string { return string(a) }

// ID is the member's HSM id.
func (m *Member) ID() string { return m.cfg.NodeID }

// AZ is the member's availability zone.
func (m *Member) AZ() string { return m.cfg.AZ }

// APIAddr is the address of the node API and the Cluster service.
func (m *Member) APIAddr() string { return m.apiLis.Addr().String() }

// RaftAddr is the address of the Raft transport.
func (m *Member) RaftAddr() string { return string(m.trans.LocalAddr()) }

// Node is the HSM node (its token: Node().State()).
func (m *Member) Node() *server.Node { return m.node }

// FSM is the member's state machine.
func (m *Member) FSM() *FSM { return m.fsm }

// Raft is the member's Raft instance, nil before it bootstrapped or joined.
func (m *Member) Raft() *raft.Raft { return m.r.Load() }

// Record is the member's metadata as it is replicated.
func (m *Member) Record() *clusterpb.MemberRecord {
	return &clusterpb.MemberRecord{Id: m.cfg.NodeID, Az: m.cfg.AZ, ApiAddr: m.APIAddr(), RaftAddr: m.RaftAddr()}
}

// Done is closed when the member halted after a fatal state machine error.
func (m *Member) Done() <-chan struct{} { return m.halted }

// Err is the error that halted the member, nil otherwise.
func (m *Member) Err() error {
	if p := m.haltErr.Load(); p != nil {
		return *p
	}
	return nil
}

// IsLeader reports whether this member is the Raft leader.
func (m *Member) IsLeader() bool {
	r := m.r.Load()
	return r != nil && r.State() == raft.Leader
}

// LeaderID is the id of the leader as this member knows it ("" when it knows none).
func (m *Member) LeaderID() string {
	r := m.r.Load()
	if r == nil {
		return ""
	}
	_, id := r.LeaderWithID()
	return string(id)
}

// leaderAPIAddr is the API address of the leader as this member knows it.
func (m *Member) leaderAPIAddr() string {
	if rec, ok := m.fsm.Member(m.LeaderID()); ok {
		return rec.ApiAddr
	}
	return ""
}

func (m *Member) raftConfig() *raft.Config {
	t := m.cfg.Timeouts
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(m.cfg.NodeID)
	c.HeartbeatTimeout = t.Heartbeat
	c.ElectionTimeout = t.Election
	c.LeaderLeaseTimeout = t.LeaderLease
	c.CommitTimeout = t.Commit
	c.Logger = m.hlog
	// The FSM is durable (its store holds the applied index), so Raft must not restore the
	// last snapshot over it at start; startRaft restores one only if the store is behind it.
	c.NoSnapshotRestoreOnStart = true
	c.BatchApplyCh = true
	c.MaxAppendEntries = 256
	c.ShutdownOnRemove = true
	c.SnapshotInterval = m.cfg.SnapshotInterval
	c.SnapshotThreshold = cmp.Or(m.cfg.SnapshotThreshold, DefaultSnapshotThreshold)
	c.TrailingLogs = cmp.Or(m.cfg.TrailingLogs, DefaultTrailingLogs)
	return c
}

func (m *Member) startRaft() error {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	if m.r.Load() != nil {
		return nil
	}
	if m.down.Load() {
		return ErrClosed
	}
	if err := m.catchUpFromSnapshot(); err != nil {
		return err
	}
	r, err := raft.NewRaft(m.raftConfig(), m.fsm, m.logs, m.logs, m.snaps, m.trans)
	if err != nil {
		return fmt.Errorf("cluster: starting raft: %w", err)
	}
	m.r.Store(r)
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into the FSM if the store is behind it,
// which happens only if the store lost writes it had acknowledged (fsync off and a machine
// crash). Otherwise the store already holds everything the snapshot does.
func (m *Member) catchUpFromSnapshot() error {
	metas, err := m.snaps.List()
	if err != nil || len(metas) == 0 || m.fsm.DurableIndex() >= metas[0].Index {
		return err
	}
	_, rc, err := m.snaps.Open(metas[0].ID)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	idx, err := snapshotIndex(b)
	if err != nil || m.fsm.DurableIndex() >= idx {
		return err
	}
	m.log.Warn("store is behind the newest snapshot; restoring it", "store_index", m.fsm.DurableIndex(), "snapshot_index", idx)
	return m.fsm.restoreBytes(b)
}

// Bootstrap makes this member the first HSM of a new cluster: a one-voter Raft configuration,
// its member record, and a token with a fresh cluster key and the unactivated admin (the
// cluster is then INITIALIZED; it is ACTIVE once the admin changed its password).
func (m *Member) Bootstrap(ctx context.Context, clusterID, label string) error {
	if !ValidClusterID(clusterID) {
		return fmt.Errorf("cluster: cluster id %q is not of the form cluster-[2-7a-zA-Z]{11,16}", clusterID)
	}
	if err := m.bootstrapRaft(ctx); err != nil {
		return err
	}
	return m.node.Bootstrap(ctx, clusterID, label)
}

func (m *Member) bootstrapRaft(ctx context.Context) error {
	if m.r.Load() != nil {
		return ErrAlreadyMember
	}
	if err := m.startRaft(); err != nil {
		return err
	}
	r := m.r.Load()
	err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(m.cfg.NodeID), Address: m.trans.LocalAddr(),
	}}}).Error()
	if err != nil {
		return fmt.Errorf("cluster: bootstrap: %w", err)
	}
	for r.State() != raft.Leader {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: bootstrap: no leadership: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return m.putMember(ctx, m.Record())
}

// putMember replicates a member record (leader only).
func (m *Member) putMember(ctx context.Context, rec *clusterpb.MemberRecord) error {
	b, err := proto.Marshal(&clusterpb.MembershipEntry{Change: &clusterpb.MembershipEntry_Put{Put: rec}})
	if err != nil {
		return err
	}
	_, err = m.applyLocal(ctx, entryMembers, b)
	return err
}

func (m *Member) deleteMember(ctx context.Context, id string) error {
	b, err := proto.Marshal(&clusterpb.MembershipEntry{Change: &clusterpb.MembershipEntry_DeleteId{DeleteId: id}})
	if err != nil {
		return err
	}
	_, err = m.applyLocal(ctx, entryMembers, b)
	return err
}

// Join adds this member to the cluster that the members at peers (API addresses) belong to.
// It is staged first (a nonvoter, so that a node still catching up never counts toward a
// quorum), receives the cluster key, catches up from a snapshot and the log, and is then
// promoted to voter. Join on a member that was staged but not promoted (it restarted in
// between) finishes the promotion.
func (m *Member) Join(ctx context.Context, peers []string) error {
	if m.r.Load() == nil {
		var resp *clusterpb.JoinResponse
		err := m.callLeader(ctx, peers, func(ctx context.Context, c clusterpb.ClusterClient) (string, error) {
			r, err := c.Join(ctx, &clusterpb.JoinRequest{Member: m.Record()})
			if err == nil {
				resp = r
				return r.Redirect, nil
			}
			return "", err
		})
		if err != nil {
			return fmt.Errorf("cluster: join: %w", err)
		}
		ck, err := token.LoadClusterKey(resp.ClusterKey)
		if err != nil {
			return err
		}
		if s := m.node.State(); s == nil {
			if err := m.node.InstallClusterKey(ck); err != nil {
				return err
			}
		} else if !bytes.Equal(s.ClusterKey().Bytes(), resp.ClusterKey) {
			return fmt.Errorf("cluster: join: this node holds the key of another cluster")
		}
		if err := m.startRaft(); err != nil {
			return err
		}
		for m.fsm.LastIndex() < resp.Index {
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster: join: catching up to %d (at %d): %w", resp.Index, m.fsm.LastIndex(), ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	err := m.callLeader(ctx, peers, func(ctx context.Context, c clusterpb.ClusterClient) (string, error) {
		r, err := c.Join(ctx, &clusterpb.JoinRequest{Member: m.Record(), Voter: true})
		return r.GetRedirect(), err
	})
	if err != nil {
		return fmt.Errorf("cluster: join: promotion: %w", err)
	}
	m.log.Info("joined the cluster", "leader", m.LeaderID())
	return nil
}

// RemoveHSM takes the HSM id out of the cluster, through the leader.
func (m *Member) RemoveHSM(ctx context.Context, id string) error {
	var peers []string
	if a := m.leaderAPIAddr(); a != "" {
		peers = append(peers, a)
	}
	for _, r := range m.fsm.Members() {
		peers = append(peers, r.ApiAddr)
	}
	return m.callLeader(ctx, peers, func(ctx context.Context, c clusterpb.ClusterClient) (string, error) {
		r, err := c.Remove(ctx, &clusterpb.RemoveRequest{Id: id})
		return r.GetRedirect(), err
	})
}

// callLeader runs call against the peers in turn, following redirects to the leader, until one
// succeeds, a peer refuses for good (permission, bad request) or ctx ends.
func (m *Member) callLeader(ctx context.Context, peers []string, call func(context.Context, clusterpb.ClusterClient) (redirect string, err error)) error {
	if len(peers) == 0 {
		return errors.New("cluster: no peer to ask")
	}
	var last error
	for {
		for _, addr := range peers {
			for hops := 0; hops < 5 && addr != ""; hops++ {
				conn, err := m.peer(addr)
				if err != nil {
					return err
				}
				cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeouts.Apply)
				redirect, err := call(cctx, clusterpb.NewClusterClient(conn))
				cancel()
				if err != nil {
					last = err
					if permanent(err) {
						return err
					}
					break
				}
				if redirect == "" {
					return nil
				}
				addr = redirect
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// peer returns the gRPC connection to another member's API address.
func (m *Member) peer(addr string) (*grpc.ClientConn, error) {
	m.peersMu.Lock()
	defer m.peersMu.Unlock()
	if m.down.Load() {
		return nil, ErrClosed
	}
	if c, ok := m.peers[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(m.peerTLS)),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			if m.down.Load() {
				return nil, errKilled
			}
			return m.nw.Dialer(m.ep)(ctx, a)
		}),
		// A peer that comes back must be reachable again within a failover, not after gRPC's
		// default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: m.cfg.Timeouts.Transport,
		}),
	)
	if err != nil {
		return nil, err
	}
	m.peers[addr] = c
	return c, nil
}

// Snapshot makes Raft take a snapshot now (and compact its log).
func (m *Member) Snapshot() error {
	r := m.r.Load()
	if r == nil {
		return ErrClosed
	}
	return r.Snapshot().Error()
}

// Close stops the member: Raft (without a snapshot or a leave), the gRPC server, the stores.
// The member stays in its cluster's configuration; Start on the same directory brings it back.
func (m *Member) Close() error {
	m.stop(false)
	return nil
}

// Kill stops the member as abruptly as an in-process member can be: its listeners close and
// every connection to or from it is reset at once (netsim.CloseConns), its dialers refuse, and
// Raft shuts down without a snapshot. What differs from SIGKILL: goroutines finish the step they
// are in (a bbolt transaction commits or not, as it would across a crash; an FSM batch in
// progress completes) and writes not yet fsynced stay in the page cache, as they also do after
// SIGKILL (only a machine crash loses them).
func (m *Member) Kill() { m.stop(true) }

// shutdownGrace is how long a graceful stop lets Raft finish before it resets the member's
// connections.
const shutdownGrace = 3 * time.Second

func (m *Member) stop(abrupt bool) {
	m.stopOnce.Do(func() {
		m.down.Store(true)
		close(m.stopHealth)
		if abrupt {
			m.apiLis.Close()
			m.raftLis.Close()
			m.nw.CloseConns(m.cfg.NodeID)
		}
		m.grpcSrv.Stop()
		if m.sockSrv != nil {
			m.sockSrv.Stop() // closes the listener, which removes the socket
		}
		if r := m.r.Load(); r != nil {
			done := make(chan error, 1)
			go func() { done <- r.Shutdown().Error() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(shutdownGrace):
				// Raft waits for its replication goroutines, and one can be stuck on a peer
				// whose link holds the bytes (see pipelinedTransport): release them.
				m.log.Warn("raft shutdown is stuck; closing its replication pipelines and connections")
				m.trans.closePipelines()
				m.nw.CloseConns(m.cfg.NodeID)
				err = <-done
			}
			if err != nil {
				m.log.Warn("raft shutdown", "err", err)
			}
		} else {
			m.trans.Close()
		}
		m.wg.Wait()
		m.peersMu.Lock()
		for _, c := range m.peers {
			c.Close()
		}
		m.peers = map[string]*grpc.ClientConn{}
		m.peersMu.Unlock()
		if err := m.logs.Close(); err != nil {
			m.log.Warn("closing raft.db", "err", err)
		}
		if err := m.node.Close(); err != nil {
			m.log.Warn("closing the node store", "err", err)
		}
		m.log.Info("member stopped", "abrupt", abrupt)
	})
}

// onFatal stops a member whose state machine halted, like a crash, and reports it.
func (m *Member) onFatal(err error) {
	m.haltErr.Store(&err)
	close(m.halted)
	m.stop(true)
	if m.cfg.OnFatal != nil {
		m.cfg.OnFatal(err)
	}
}

// newHCLogger passes Raft's log lines (hclog) to slog at the given level and above.
func newHCLogger(log *slog.Logger, level string) hclog.Logger {
	if level == "" {
		level = "warn"
	}
	return hclog.New(&hclog.LoggerOptions{
		Name: "raft", Level: hclog.LevelFromString(level), Output: hclogWriter{log}, DisableTime: true,
	})
}

type hclogWriter struct{ log *slog.Logger }

func (w hclogWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)), "component", "raft")
	return len(p), nil
}
