package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/server"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// proposer is the node's server.Proposer in a cluster: on the leader a command goes into the
// Raft log; on a follower it is forwarded to the leader (Cluster.Forward). Within
// Timeouts.Apply it follows leader changes; when that runs out, or there is no leader to ask,
// the write is refused with ErrNoQuorum wrapped in server.Unavailable, so that the client sees
// CKR_DEVICE_ERROR with gRPC code Unavailable and tries another node. Crypto with the keys this
// node holds does not come here and goes on.
type proposer struct{ m *Member }

// retryInterval is the pause between two attempts of a write while a leader is being elected.
const retryInterval = 25 * time.Millisecond

// Propose implements server.Proposer.
func (p *proposer) Propose(ctx context.Context, cmd token.Command) (token.Result, uint64, error) {
	b, err := cmd.Encode()
	if err != nil {
		return token.Result{}, 0, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "%v", err)
	}
	return p.m.proposeToken(ctx, b, cmd.RequestID != "")
}

// proposeToken applies an encoded token command through the leader. retrySafe says whether the
// command may be sent again after a failure of unknown outcome: it carries an idempotency id,
// so the state machine answers a second copy with the first one's result.
func (m *Member) proposeToken(ctx context.Context, cmd []byte, retrySafe bool) (token.Result, uint64, error) {
	t := m.cfg.Timeouts
	ctx, cancel := context.WithTimeout(ctx, t.Apply)
	defer cancel()
	// Without a leader for longer than an election takes, this node is cut off from the
	// majority (or the cluster has none): refuse now rather than at the end of Apply.
	leaderWait := t.Heartbeat + 2*t.Election
	var last error
	var noLeader time.Time
	for {
		if err := m.Err(); err != nil {
			return token.Result{}, 0, m.noQuorum(err)
		}
		r := m.r.Load()
		var (
			res     token.Result
			idx     uint64
			err     error
			unknown bool // the command may have been applied
		)
		leaderless := false
		switch {
		case r == nil:
			err = errors.New("this node is not part of a cluster yet")
			leaderless = true
		case r.State() == raft.Leader:
			var a applyResult
			a, err = m.applyLocal(ctx, entryToken, cmd)
			res, idx = a.Result, a.Index
			unknown = err != nil && !errors.Is(err, raft.ErrNotLeader)
		default:
			addr := m.leaderAPIAddr()
			if addr == "" {
				err = errors.New("no leader")
				leaderless = true
				break
			}
			res, idx, err = m.forward(ctx, addr, cmd)
			unknown = err != nil && status.Code(err) != codes.FailedPrecondition
		}
		if err == nil {
			return res, idx, nil
		}
		last = err
		if errors.Is(err, ErrHalted) || (unknown && !retrySafe) {
			return token.Result{}, 0, m.noQuorum(err)
		}
		switch {
		case !leaderless:
			noLeader = time.Time{}
		case noLeader.IsZero():
			noLeader = time.Now()
		case time.Since(noLeader) > leaderWait:
			return token.Result{}, 0, m.noQuorum(fmt.Errorf("%v for %v", err, leaderWait))
		}
		select {
		case <-ctx.Done():
			return token.Result{}, 0, m.noQuorum(last)
		case <-time.After(retryInterval):
		}
	}
}

// noQuorum is the error of a refused write: server.Unavailable (gRPC Unavailable, so clients
// fail over) of an error that is both ErrNoQuorum and CKR_DEVICE_ERROR, and whose text says
// what happened, for the PKCS#11 application's log.
func (m *Member) noQuorum(cause error) error {
	return &server.Unavailable{Err: &noQuorumError{node: m.cfg.NodeID, cause: cause}}
}

type noQuorumError struct {
	node  string
	cause error
}

func (e *noQuorumError) Error() string {
	return fmt.Sprintf("%v (node %s: %v)", ErrNoQuorum, e.node, e.cause)
}

func (e *noQuorumError) Unwrap() []error {
	return []error{ErrNoQuorum, p11.Error(p11.CKR_DEVICE_ERROR)}
}

// applyLocal puts an entry into the log (leader only) and waits until this node's state machine
// applied it, or ctx ends.
func (m *Member) applyLocal(ctx context.Context, kind entryKind, payload []byte) (applyResult, error) {
	r := m.r.Load()
	if r == nil {
		return applyResult{}, ErrClosed
	}
	f := r.Apply(encodeEntry(kind, payload), m.cfg.Timeouts.Apply)
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if err != nil {
			return applyResult{}, err
		}
	case <-ctx.Done():
		return applyResult{}, ctx.Err()
	}
	a, _ := f.Response().(*applyResult)
	if a == nil {
		return applyResult{}, ErrHalted
	}
	if a.Err != nil {
		return applyResult{}, a.Err
	}
	return *a, nil
}

// forward sends an encoded command to the leader at addr.
func (m *Member) forward(ctx context.Context, addr string, cmd []byte) (token.Result, uint64, error) {
	conn, err := m.peer(addr)
	if err != nil {
		return token.Result{}, 0, err
	}
	r, err := clusterpb.NewClusterClient(conn).Forward(ctx, &clusterpb.ForwardRequest{Command: cmd})
	if err != nil {
		return token.Result{}, 0, err
	}
	return token.Result{RV: r.Rv, Msg: r.Msg, Handles: r.Handles, Value: r.Value}, r.Index, nil
}

// barrierPoll is how often ReadBarrier looks at the applied index while it waits.
const barrierPoll = 5 * time.Millisecond

// barrierAsk bounds ReadBarrier's question to the leader: a member cut off from it (a minority
// partition) answers a login miss from its own view after this, not after the caller's whole
// deadline, and well within a client's attempt timeout.
const barrierAsk = 2 * time.Second

// ReadBarrier implements the server's read barrier: it asks the leader for its commit index
// (the leader itself reads its own) and waits until this member's state machine has seen that
// index. Every write the cluster acknowledged was committed before, so it is applied here when
// ReadBarrier returns nil. A deposed leader that does not know it yet may answer a lower index;
// the barrier is then as good as the old local check, no worse.
func (p *proposer) ReadBarrier(ctx context.Context) error {
	m := p.m
	r := m.r.Load()
	if r == nil {
		return ErrClosed
	}
	commit := r.CommitIndex()
	if r.State() != raft.Leader {
		addr := m.leaderAPIAddr()
		if addr == "" {
			return errors.New("no leader")
		}
		conn, err := m.peer(addr)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, barrierAsk)
		st, err := clusterpb.NewClusterClient(conn).Status(actx, &clusterpb.StatusRequest{})
		cancel()
		if err != nil {
			return err
		}
		commit = st.CommitIndex
	}
	if m.fsm.LastIndex() >= commit {
		return nil
	}
	t := time.NewTicker(barrierPoll)
	defer t.Stop()
	for m.fsm.LastIndex() < commit {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
