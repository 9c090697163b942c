package cluster

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// HSMState is an HSM's state, with CloudHSM's names.
type HSMState string

// HSM states.
const (
	// HSMCreateInProgress: not yet a voter (joining, catching up).
	HSMCreateInProgress HSMState = "CREATE_IN_PROGRESS"
	// HSMActive: a voter in touch with a leader (or the leader), so writes through it commit.
	HSMActive HSMState = "ACTIVE"
	// HSMDegraded: no leader contact within an election's time (partitioned, no quorum), or
	// halted. It still serves crypto with the keys it holds; writes through it are refused.
	HSMDegraded HSMState = "DEGRADED"
	// HSMDeleted: removed from the cluster.
	HSMDeleted HSMState = "DELETED"
)

// Cluster states, with CloudHSM's names, as one member sees its token.
const (
	ClusterUninitialized = "UNINITIALIZED" // no token yet
	ClusterInitialized   = "INITIALIZED"   // token bootstrapped, admin not yet activated
	ClusterActive        = "ACTIVE"        // admin activated
)

// health is what the health check last found: this member's state and the other members'.
type health struct {
	mu    sync.Mutex
	state HSMState
	conf  []raft.Server
	peers map[string]peerView
}

type peerView struct {
	state   HSMState
	applied uint64
}

// HSMState computes this member's state now.
func (m *Member) HSMState() HSMState {
	r := m.r.Load()
	if m.Err() != nil {
		return HSMDegraded
	}
	if r == nil {
		return HSMCreateInProgress
	}
	m.health.mu.Lock()
	conf := m.health.conf
	m.health.mu.Unlock()
	switch r.State() {
	case raft.Shutdown:
		if m.down.Load() {
			return HSMDegraded
		}
		return HSMDeleted // Raft shuts down when its node is removed
	case raft.Leader:
		return HSMActive
	case raft.Candidate:
		return HSMDegraded
	}
	voter, known := false, false
	for _, s := range conf {
		if string(s.ID) == m.cfg.NodeID {
			known, voter = true, s.Suffrage == raft.Voter
		}
	}
	_, leader := r.LeaderWithID()
	t := m.cfg.Timeouts
	inTouch := leader != "" && time.Since(r.LastContact()) < 2*t.Heartbeat+t.Election
	switch {
	case !known || !voter:
		if inTouch || len(conf) == 0 {
			return HSMCreateInProgress
		}
		return HSMDegraded
	case inTouch:
		return HSMActive
	}
	return HSMDegraded
}

// healthLoop keeps the member's state, its copy of the configuration and its view of the other
// members current, and logs state changes.
func (m *Member) healthLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Timeouts.Health)
	defer t.Stop()
	for {
		m.checkHealth()
		select {
		case <-m.stopHealth:
			return
		case <-t.C:
		}
	}
}

// configuration returns Raft's latest configuration (and caches it), or the cached one when
// Raft cannot answer.
func (m *Member) configuration() []raft.Server {
	if r := m.r.Load(); r != nil && !m.down.Load() {
		if f := r.GetConfiguration(); f.Error() == nil {
			conf := f.Configuration().Servers
			m.health.mu.Lock()
			m.health.conf = conf
			m.health.mu.Unlock()
			return conf
		}
	}
	m.health.mu.Lock()
	defer m.health.mu.Unlock()
	return m.health.conf
}

func (m *Member) checkHealth() {
	m.configuration()
	st := m.HSMState()
	m.health.mu.Lock()
	if st != m.health.state {
		m.log.Info("hsm state", "from", string(m.health.state), "to", string(st))
		m.health.state = st
	}
	conf := m.health.conf
	m.health.mu.Unlock()

	// Ask the other members how they are, concurrently, each bounded by the period.
	views := map[string]peerView{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range conf {
		rec, ok := m.fsm.Member(string(s.ID))
		if !ok || rec.Id == m.cfg.NodeID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := peerView{state: HSMDegraded} // unreachable from here
			if conn, err := m.peer(rec.ApiAddr); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeouts.Health)
				if r, err := clusterpb.NewClusterClient(conn).Status(ctx, &clusterpb.StatusRequest{}); err == nil {
					v = peerView{state: HSMState(r.HsmState), applied: r.AppliedIndex}
				}
				cancel()
			}
			mu.Lock()
			views[rec.Id] = v
			mu.Unlock()
		}()
	}
	wg.Wait()
	m.health.mu.Lock()
	m.health.peers = views
	m.health.mu.Unlock()
}

// ClusterState is the cluster's state as this member's token shows it.
func (m *Member) ClusterState() string {
	s := m.node.State()
	if s == nil || !s.Initialized() {
		return ClusterUninitialized
	}
	if u, ok := s.User(token.AdminName); ok && u.Role == token.RoleAdmin {
		return ClusterActive
	}
	return ClusterInitialized
}

// tokenDigest is the hex token digest (token.State.Digest) if the token is still at applied
// when hashed, else "": a digest must name the index it belongs to, or replicas compared by it
// would differ for no reason.
func (m *Member) tokenDigest(applied uint64) string {
	s := m.node.State()
	if s == nil {
		return ""
	}
	d, err := s.Digest()
	if err != nil || s.Applied() != applied {
		return ""
	}
	return hex.EncodeToString(d)
}

// Status is this member's view of itself and the cluster.
func (m *Member) Status() *clusterpb.StatusResponse {
	out := &clusterpb.StatusResponse{
		Id: m.cfg.NodeID, Az: m.cfg.AZ, ApiAddr: m.APIAddr(), RaftAddr: m.RaftAddr(),
		ClusterState: m.ClusterState(), HsmState: string(m.HSMState()), RaftState: "NotStarted",
		LastContactMs: -1, TrustAnchorFingerprint: m.taFP,
	}
	if s := m.node.State(); s != nil {
		out.ClusterId, _ = s.Meta()
		out.AppliedIndex = s.Applied()
	}
	leader := ""
	if r := m.r.Load(); r != nil {
		out.RaftState = r.State().String()
		_, id := r.LeaderWithID()
		leader = string(id)
		out.LeaderId = leader
		out.LeaderAddr = m.leaderAPIAddr()
		out.RaftAppliedIndex = r.AppliedIndex()
		out.CommitIndex = r.CommitIndex()
		out.LastIndex = r.LastIndex()
		out.Term = r.CurrentTerm()
		switch lc := r.LastContact(); {
		case r.State() == raft.Leader:
			out.LastContactMs = 0
		case !lc.IsZero():
			out.LastContactMs = time.Since(lc).Milliseconds()
		}
	}
	conf := m.configuration()
	m.health.mu.Lock()
	peers := m.health.peers
	m.health.mu.Unlock()
	for _, s := range conf {
		ms := &clusterpb.MemberStatus{Voter: s.Suffrage == raft.Voter, Leader: string(s.ID) == leader}
		if rec, ok := m.fsm.Member(string(s.ID)); ok {
			ms.Member = rec
		} else {
			ms.Member = &clusterpb.MemberRecord{Id: string(s.ID), RaftAddr: string(s.Address)}
		}
		if string(s.ID) == m.cfg.NodeID {
			ms.HsmState, ms.AppliedIndex = out.HsmState, out.AppliedIndex
		} else if v, ok := peers[string(s.ID)]; ok {
			ms.HsmState, ms.AppliedIndex = string(v.state), v.applied
		}
		out.Members = append(out.Members, ms)
	}
	return out
}

// memberList feeds the node's GetInfo: the members of the Raft configuration with their
// replicated metadata, so clients learn of added and removed HSMs.
func (m *Member) memberList() []*hsmpb.Member {
	st := m.Status()
	out := make([]*hsmpb.Member, 0, len(st.Members))
	for _, ms := range st.Members {
		out = append(out, &hsmpb.Member{Id: ms.Member.Id, Az: ms.Member.Az, Addr: ms.Member.ApiAddr,
			State: ms.HsmState, Leader: ms.Leader, AppliedIndex: ms.AppliedIndex})
	}
	return out
}
