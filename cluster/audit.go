package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/audit"
)

// The cluster layer's part of the audit log (package audit): membership changes and backup
// restores are replicated entries of this package, so it records their events, with the entry's
// Raft index as seq, before it commits them, as the token does for its commands.

// Auditor is what the FSM needs of the node's audit log.
type Auditor interface {
	Record([]audit.Event) error
	Tail(upTo uint64) audit.Tail
	Restore(audit.Tail) error
}

func (f *FSM) recordMembers(l *raft.Log, e *clusterpb.MembershipEntry) error {
	if f.audit == nil {
		return nil
	}
	ev := audit.Event{Seq: l.Index, Opcode: audit.OpMemberRemove, Response: "CKR_OK", Member: e.GetDeleteId()}
	if p := e.GetPut(); p != nil {
		ev.Opcode, ev.Member, ev.AZ = audit.OpMemberAdd, p.Id, p.Az
	}
	return f.audit.Record([]audit.Event{ev})
}

func (f *FSM) recordRestore(l *raft.Log, e *clusterpb.RestoreEntry) error {
	if f.audit == nil {
		return nil
	}
	return f.audit.Record([]audit.Event{{Seq: l.Index, Opcode: audit.OpRestoreToken, Response: "CKR_OK",
		Detail: fmt.Sprintf("cluster %s restored from a backup", e.ClusterId)}})
}

// auditTail is the audit log's tail up to index, nil without an audit log.
func (f *FSM) auditTail(index uint64) *audit.Tail {
	if f.audit == nil {
		return nil
	}
	t := f.audit.Tail(index)
	return &t
}

// encodeAuditTail is the tail as FSMSnapshot.audit_tail carries it (nil without an audit log).
func encodeAuditTail(t *audit.Tail) ([]byte, error) {
	if t == nil {
		return nil, nil
	}
	return json.Marshal(t)
}

// restoreAuditTail replaces the replicated audit log with the tail a snapshot carries. A
// snapshot without one (written before audit logs) leaves the log as it is.
func (f *FSM) restoreAuditTail(snap *clusterpb.FSMSnapshot) error {
	if f.audit == nil || len(snap.AuditTail) == 0 {
		return nil
	}
	var t audit.Tail
	if err := json.Unmarshal(snap.AuditTail, &t); err != nil {
		return fmt.Errorf("%w: snapshot audit tail: %v", ErrBadEntry, err)
	}
	return f.audit.Restore(t)
}
