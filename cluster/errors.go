package cluster

import "errors"

var (
	// ErrNoQuorum is the cause of a write refused because this node has no leader it can reach
	// (it is on the minority side of a partition, or an election is going on). Clients see it as
	// CKR_DEVICE_ERROR with gRPC code Unavailable, and fail over to another node.
	ErrNoQuorum = errors.New("no quorum: writes refused on this node")

	// ErrNotLeader is returned by leader-only operations on a follower.
	ErrNotLeader = errors.New("cluster: not the leader")

	// ErrBadEntry means a Raft log entry is not one this version can apply. Like
	// token.ErrBadCommand, it stops the node: skipping an entry would diverge from replicas that
	// applied it.
	ErrBadEntry = errors.New("cluster: undecodable log entry")

	// ErrHalted is returned by a member that stopped after a fatal state machine error (see
	// Member.Err for the cause).
	ErrHalted = errors.New("cluster: node halted after a fatal state machine error")

	// ErrNotNode is the answer to a cluster service call made without a node certificate from
	// the cluster's trust anchor.
	ErrNotNode = errors.New("cluster: caller has no node certificate from the trust anchor")

	// ErrAlreadyMember is returned by Bootstrap or a first Join on a node that already has Raft
	// state (it is, or was, a member of a cluster).
	ErrAlreadyMember = errors.New("cluster: node already has cluster state")

	// ErrClosed is returned by a member after Close or Kill.
	ErrClosed = errors.New("cluster: member is closed")

	// ErrBackup means a backup file does not open: damaged, or sealed under another service key.
	ErrBackup = errors.New("cluster: backup does not open")

	// ErrUnrelated means a backup's trust anchor is not the one the restoring cluster runs with:
	// a restored cluster keeps its source's cluster certificate.
	ErrUnrelated = errors.New("cluster: backup belongs to a cluster with another trust anchor")
)
