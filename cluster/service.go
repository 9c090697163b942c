package cluster

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// service implements clusterpb.ClusterServer on a Member. Every call first checks that the
// caller presented a node certificate (see peerNode).
type service struct {
	clusterpb.UnimplementedClusterServer
	m *Member
}

// permanent reports whether a cluster service error will not go away by asking again or
// asking another member.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.FailedPrecondition:
		return true
	}
	return false
}

func authorize(ctx context.Context) (string, error) {
	id, err := peerNode(ctx)
	if err != nil {
		return "", status.Error(codes.PermissionDenied, err.Error())
	}
	return id, nil
}

// leader returns this member's Raft if it leads, or the redirect to the leader, or an
// Unavailable error when no leader is known.
func (s *service) leader() (*raft.Raft, string, error) {
	r := s.m.r.Load()
	if r == nil {
		return nil, "", status.Error(codes.Unavailable, "this node is not part of a cluster yet")
	}
	if r.State() == raft.Leader {
		return r, "", nil
	}
	if a := s.m.leaderAPIAddr(); a != "" {
		return nil, a, nil
	}
	return nil, "", status.Error(codes.Unavailable, ErrNoQuorum.Error()+": no leader")
}

// Forward applies a command a follower received. A member that is not the leader answers
// FailedPrecondition: the command was not applied, and the follower asks the new leader.
func (s *service) Forward(ctx context.Context, req *clusterpb.ForwardRequest) (*clusterpb.ForwardResponse, error) {
	if _, err := authorize(ctx); err != nil {
		return nil, err
	}
	// Never let an entry the state machine cannot decode into the log: it would stop every node.
	if _, err := token.Decode(req.Command); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if !s.m.IsLeader() {
		return nil, status.Error(codes.FailedPrecondition, ErrNotLeader.Error())
	}
	a, err := s.m.applyLocal(ctx, entryToken, req.Command)
	if errors.Is(err, raft.ErrNotLeader) {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &clusterpb.ForwardResponse{Rv: a.Result.RV, Msg: a.Result.Msg, Handles: a.Result.Handles, Value: a.Result.Value, Index: a.Index}, nil
}

// Join stages or promotes the calling node (see the proto).
func (s *service) Join(ctx context.Context, req *clusterpb.JoinRequest) (*clusterpb.JoinResponse, error) {
	caller, err := authorize(ctx)
	if err != nil {
		return nil, err
	}
	rec := req.GetMember()
	switch {
	case rec == nil || rec.Id != caller:
		return nil, status.Errorf(codes.PermissionDenied, "node %s may only join as itself", caller)
	case rec.Az == "" || rec.ApiAddr == "" || rec.RaftAddr == "":
		return nil, status.Error(codes.InvalidArgument, "a joining member needs an AZ, an API address and a Raft address")
	}
	r, redirect, err := s.leader()
	if err != nil || redirect != "" {
		return &clusterpb.JoinResponse{Redirect: redirect}, err
	}
	m := s.m
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	var existing *raft.Server
	for _, sv := range cf.Configuration().Servers {
		if string(sv.ID) == rec.Id {
			existing = &sv
		}
	}
	timeout := m.cfg.Timeouts.Apply
	st := m.node.State()
	clusterID, _ := st.Meta()
	if !req.Voter {
		if existing != nil && (existing.Suffrage == raft.Voter || string(existing.Address) != rec.RaftAddr) {
			// A node that asks to be staged has no Raft state. If a voter of that id is in the
			// configuration, the node lost its data (it was wiped): an amnesiac voter could vote
			// twice in one term, so it leaves and comes back as a nonvoter that catches up.
			m.log.Info("member rejoins without its state; removing its old voter first", "id", rec.Id)
			if err := r.RemoveServer(raft.ServerID(rec.Id), 0, timeout).Error(); err != nil {
				return nil, status.Error(codes.Unavailable, err.Error())
			}
		}
		if err := m.putMember(ctx, rec); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		f := r.AddNonvoter(raft.ServerID(rec.Id), raft.ServerAddress(rec.RaftAddr), 0, timeout)
		if err := f.Error(); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		m.log.Info("member staged", "id", rec.Id, "az", rec.Az, "index", f.Index())
		return &clusterpb.JoinResponse{ClusterKey: st.ClusterKey().Bytes(), ClusterId: clusterID, Index: f.Index()}, nil
	}
	if existing == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is not staged: join as a nonvoter first", rec.Id)
	}
	if old, ok := m.fsm.Member(rec.Id); !ok || old.Az != rec.Az || old.ApiAddr != rec.ApiAddr {
		if err := m.putMember(ctx, rec); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	if existing.Suffrage != raft.Voter {
		if err := r.AddVoter(raft.ServerID(rec.Id), raft.ServerAddress(rec.RaftAddr), 0, timeout).Error(); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		m.log.Info("member promoted to voter", "id", rec.Id)
	}
	return &clusterpb.JoinResponse{ClusterId: clusterID}, nil
}

// Remove takes an HSM out of the configuration and drops its record. The leader removing
// itself drops its record first (afterwards it no longer leads).
func (s *service) Remove(ctx context.Context, req *clusterpb.RemoveRequest) (*clusterpb.RemoveResponse, error) {
	if _, err := authorize(ctx); err != nil {
		return nil, err
	}
	if !ValidHSMID(req.Id) {
		return nil, status.Errorf(codes.InvalidArgument, "%q is not an HSM id", req.Id)
	}
	r, redirect, err := s.leader()
	if err != nil || redirect != "" {
		return &clusterpb.RemoveResponse{Redirect: redirect}, err
	}
	m := s.m
	self := req.Id == m.cfg.NodeID
	if self {
		if err := m.deleteMember(ctx, req.Id); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	if err := r.RemoveServer(raft.ServerID(req.Id), 0, m.cfg.Timeouts.Apply).Error(); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if !self {
		if err := m.deleteMember(ctx, req.Id); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	m.log.Info("member removed", "id", req.Id)
	return &clusterpb.RemoveResponse{}, nil
}

// Status reports this member's view.
func (s *service) Status(ctx context.Context, req *clusterpb.StatusRequest) (*clusterpb.StatusResponse, error) {
	if _, err := authorize(ctx); err != nil {
		return nil, err
	}
	st := s.m.Status()
	if req.GetWithDigest() {
		st.TokenDigest = s.m.tokenDigest(st.AppliedIndex)
	}
	return st, nil
}

// SetFaults replaces or extends this member's netsim rules.
func (s *service) SetFaults(ctx context.Context, req *clusterpb.SetFaultsRequest) (*clusterpb.SetFaultsResponse, error) {
	if _, err := authorize(ctx); err != nil {
		return nil, err
	}
	rules := make([]netsim.Rule, len(req.RulesJson))
	for i, j := range req.RulesJson {
		if err := json.Unmarshal([]byte(j), &rules[i]); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "rule %d: %v", i, err)
		}
		if err := rules[i].Validate(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "rule %d: %v", i, err)
		}
	}
	nw := s.m.nw
	if req.Clear {
		nw.Clear()
	}
	for _, r := range rules {
		if err := nw.Apply(r); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	out := &clusterpb.SetFaultsResponse{}
	for _, r := range nw.Rules() {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		out.RulesJson = append(out.RulesJson, string(b))
	}
	return out, nil
}

// Backup seals this member's token under the request's service key (see the proto): the
// control plane's backup of an HSM in another process (kms/cloudhsm calls Member.Backup itself).
func (s *service) Backup(ctx context.Context, req *clusterpb.BackupRequest) (*clusterpb.BackupResponse, error) {
	if _, err := authorize(ctx); err != nil {
		return nil, err
	}
	if len(req.ServiceKey) != ServiceKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "a backup service key is %d bytes, not %d", ServiceKeySize, len(req.ServiceKey))
	}
	b, err := s.m.Backup(req.ServiceKey)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &clusterpb.BackupResponse{Backup: b}, nil
}
